"""Each feature transformer on tiny frames, and what a passenger's features may not know."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from orchestration.project.params import entry_point_defaults, parse_params
from steps.train import cv_scores, train
from tests.support import DATA, default_training_rows
from titanic.encoding import Ordinal
from titanic.errors import InputError
from titanic.features import AgeByTitle, Cabin, Family, GroupSurvival, TicketGroup, Title, title_of
from titanic.models import ModelSpec, engineered_features
from titanic.passengers import FEATURES, TARGET, read_passengers

HP = {
    "C": 1.0,
    "max_iter": 500,
    "solver": "lbfgs",
    "learning_rate": 0.1,
    "max_depth": 3,
    "n_trees": 20,
    "min_samples_leaf": 2,
}


def rows(*people: dict) -> pd.DataFrame:
    """Passenger rows in Kaggle's layout; each dict overrides a plain third-class man."""
    base = {
        "PassengerId": 0,
        "Pclass": 3,
        "Name": "Doe, Mr. John",
        "Sex": "male",
        "Age": 30.0,
        "SibSp": 0,
        "Parch": 0,
        "Ticket": "T0",
        "Fare": 8.0,
        "Cabin": None,
        "Embarked": "S",
    }
    return pd.DataFrame([{**base, "PassengerId": i + 1, **p} for i, p in enumerate(people)])


@pytest.mark.parametrize(
    "name, title",
    [
        ("Braund, Mr. Owen Harris", "Mr"),
        ("Cumings, Mrs. John Bradley", "Mrs"),
        ("Heikkinen, Miss. Laina", "Miss"),
        ("Palsson, Master. Gosta", "Master"),
        ("Aubart, Mme. Leontine", "Mrs"),
        ("Reynaldo, Ms. Encarnacion", "Miss"),
        ("Rothes, the Countess. of", "Rare"),
        ("Byles, Rev. Thomas", "Rare"),
        ("Nobody, Admiral. X", "Rare"),  # never seen anywhere
        ("No title at all", "Rare"),
        (None, "Rare"),
        (float("nan"), "Rare"),
    ],
)
def test_title_groups_rare_unseen_and_missing(name: object, title: str) -> None:
    assert title_of(name) == title
    assert Title().fit_transform(rows({"Name": name}))["Title"].tolist() == [title]


def test_family_size_and_alone_with_missing_counts() -> None:
    out = Family().fit_transform(rows({"SibSp": 1, "Parch": 2}, {}, {"SibSp": None}))
    assert out["FamilySize"].tolist() == [4, 1, 1]
    assert out["IsAlone"].tolist() == [0, 1, 1]


def test_cabin_deck_unknown_and_unseen() -> None:
    out = Cabin().fit_transform(
        rows({"Cabin": "C85"}, {"Cabin": None}, {"Cabin": "T"}, {"Cabin": "Z9"}, {"Cabin": "F G73"})
    )
    assert out["Deck"].tolist() == ["C", "U", "U", "U", "F"]
    assert out["HasCabin"].tolist() == [1, 0, 1, 1, 1]


def test_ticket_group_counts_training_mates_and_the_passenger() -> None:
    training = rows(
        {"Ticket": "A", "Fare": 30.0}, {"Ticket": "A", "Fare": 30.0}, {"Ticket": "B", "Fare": 10.0}
    )
    group = TicketGroup().fit(training)
    seen = group.transform(training)
    assert seen["TicketGroupSize"].tolist() == [2, 2, 1]
    assert seen["FarePerPerson"].tolist() == [15.0, 15.0, 10.0]
    # New passengers: their training mates plus themselves, however many arrive together.
    new = rows(
        {"PassengerId": 10, "Ticket": "A", "Fare": 45.0},
        {"PassengerId": 11, "Ticket": "Z", "Fare": 7.0},
        {"PassengerId": 12, "Ticket": None, "Fare": 7.0},
    )
    assert group.transform(new)["TicketGroupSize"].tolist() == [3, 1, 1]
    assert group.transform(new.iloc[:1])["TicketGroupSize"].tolist() == [3]


def test_age_by_title_uses_training_medians() -> None:
    training = rows(
        {"Name": "A, Master. X", "Age": 4.0},
        {"Name": "B, Master. Y", "Age": 6.0},
        {"Name": "C, Mr. Z", "Age": 40.0},
        {"Name": "D, Mr. W", "Age": None},
    )
    age = AgeByTitle().fit(training)
    new = rows(
        {"Name": "E, Master. V", "Age": None},
        {"Name": "F, Dr. U", "Age": None},
        {"Name": "G, Mr. T", "Age": 22.0},
    )
    assert age.transform(new)["Age"].tolist() == [5.0, 6.0, 22.0]  # Dr: no Rare in training
    assert age.transform(training)["Age"].tolist() == [4.0, 6.0, 40.0, 40.0]


def test_age_by_title_when_no_age_is_known() -> None:
    training = rows({"Age": None}, {"Age": None})
    assert AgeByTitle().fit(training).transform(training)["Age"].tolist() == [0.0, 0.0]


FAMILY = [
    {"Name": "Smith, Mrs. Anna", "Sex": "female", "Ticket": "S1"},
    {"Name": "Smith, Miss. Beth", "Sex": "female", "Ticket": "S1"},
    {"Name": "Smith, Master. Carl", "Ticket": "S1"},
    {"Name": "Smith, Mr. Dan", "Ticket": "S1"},
    {"Name": "Jones, Miss. Eve", "Sex": "female", "Ticket": "J1"},
]


def test_group_survival_leaves_out_the_passengers_own_label() -> None:
    training = rows(*FAMILY)
    labels = pd.Series([1, 0, 1, 0, 1])
    out = GroupSurvival().fit(training, labels).transform(training)
    # Women and boys see their women-and-boy mates by family and by ticket (each counted
    # once per shared key), never themselves; the man and the lone passenger see no group.
    assert out["GroupSurvival"].tolist() == pytest.approx([0.5, 1.0, 0.5, 0.6, 0.6])
    assert out["GroupKnown"].tolist() == [1, 1, 1, 0, 0]


def test_group_survival_for_new_passengers_uses_training_mates_or_the_prior() -> None:
    training = rows(*FAMILY)
    group = GroupSurvival().fit(training, pd.Series([1, 0, 1, 0, 1]))
    new = rows(
        {"PassengerId": 20, "Name": "Smith, Miss. Fay", "Sex": "female", "Ticket": "S1"},
        {"PassengerId": 21, "Name": "Brown, Mrs. Gail", "Sex": "female", "Ticket": "B9"},
        {"PassengerId": 22, "Name": None, "Ticket": None},
    )
    out = group.transform(new)
    assert out["GroupSurvival"].tolist() == pytest.approx([2 / 3, 0.6, 0.6])
    assert out["GroupKnown"].tolist() == [1, 0, 0]


def test_group_whose_members_are_all_in_validation_is_unknown() -> None:
    training = rows(*FAMILY[3:])  # only the man and Miss Jones are training rows
    group = GroupSurvival().fit(training, pd.Series([0, 1]))
    valid = rows(*FAMILY[:3]).assign(PassengerId=[31, 32, 33])
    out = group.transform(valid)
    assert out["GroupKnown"].tolist() == [0, 0, 0]
    assert out["GroupSurvival"].tolist() == [0.5, 0.5, 0.5]


def test_group_family_keys_match_a_class_read_as_a_whole_or_a_decimal_number() -> None:
    """A file with a missing Pclass is read with decimal classes (3.0): its families are still
    those of files read with whole ones (3)."""
    training = rows(*FAMILY, {"Name": "Nobody, Mr. X", "Pclass": None})
    assert training["Pclass"].dtype.kind == "f"
    group = GroupSurvival().fit(training, pd.Series([1, 0, 1, 0, 1, 0]))
    new = rows({"PassengerId": 40, "Name": "Smith, Miss. Fay", "Sex": "female", "Ticket": "OTHER"})
    assert new["Pclass"].dtype.kind == "i"
    out = group.transform(new)
    assert out["GroupKnown"].tolist() == [1]
    assert out["GroupSurvival"].tolist() == pytest.approx([2 / 3])  # the family, not the ticket


def real_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_csv(DATA / "train.csv")
    return raw.iloc[:600].reset_index(drop=True), raw.iloc[600:].reset_index(drop=True)


def test_validation_labels_change_no_training_side_value() -> None:
    """Leakage: flip every validation label; the fitted model's features for any row, and
    its predictions, are unchanged, because only training rows' labels are ever read."""
    training, valid = real_split()
    pipeline = ModelSpec("logreg", "engineered", HP, 0).pipeline()
    fitted = pipeline.fit(training[list(FEATURES)], training["Survived"])
    before = fitted[:-1].transform(pd.concat([training, valid])[list(FEATURES)])
    flipped = pd.concat([training, valid.assign(Survived=1 - valid["Survived"])])
    refit = (
        ModelSpec("logreg", "engineered", HP, 0)
        .pipeline()
        .fit(flipped.iloc[:600][list(FEATURES)], flipped.iloc[:600]["Survived"])
    )
    after = refit[:-1].transform(flipped[list(FEATURES)])
    np.testing.assert_array_equal(before, after)


def test_a_rows_group_feature_never_uses_its_own_label() -> None:
    """Flip one training label: a grouped row's own value is unchanged; an ungrouped row
    gets the prior, one constant shared by every ungrouped row, so it tells nothing of it."""
    training, _ = real_split()
    labels = training["Survived"]
    base = GroupSurvival().fit(training, labels).transform(training)
    grouped = list(np.flatnonzero(base["GroupKnown"] == 1)[:5])
    alone = list(np.flatnonzero(base["GroupKnown"] == 0)[:3])
    assert len(grouped) == 5 and len(alone) == 3
    for i in grouped + alone:
        changed = labels.copy()
        changed.iloc[i] = 1 - changed.iloc[i]
        out = GroupSurvival().fit(training, changed).transform(training)
        if i in grouped:
            assert out["GroupSurvival"].iloc[i] == pytest.approx(base["GroupSurvival"].iloc[i])
        else:
            ungrouped = out.loc[out["GroupKnown"] == 0, "GroupSurvival"]
            assert ungrouped.nunique() == 1 and ungrouped.iloc[0] == changed.mean()


@pytest.mark.parametrize("model", ["logreg", "hgb", "rf", "vote"])
@pytest.mark.parametrize("features", ["tutorial", "engineered"])
def test_every_family_and_feature_set_fits_raw_rows(model: str, features: str) -> None:
    training, valid = real_split()
    fitted = train(training, ModelSpec(model, features, HP, 0))
    test = pd.read_csv(DATA / "test.csv")  # missing Age, Fare, Cabin; unseen tickets
    predicted = fitted.predict(test)
    assert len(predicted) == 418 and set(predicted) == {0, 1}
    assert fitted.score(valid[list(FEATURES)], valid["Survived"]) > 0.7


def test_engineered_features_handle_empty_and_odd_columns() -> None:
    training, _ = real_split()
    odd = training.assign(Cabin=None, Embarked=None)
    fitted = train(odd, ModelSpec("logreg", "engineered", HP, 0))
    assert len(fitted.predict(odd[list(FEATURES)])) == 600


def test_cv_scores_are_per_fold_and_refuse_too_many_folds() -> None:
    training, _ = real_split()
    scores = cv_scores(training, ModelSpec("logreg", "tutorial", HP, 0), 3, 2)
    assert len(scores) == 6 and 0.6 < scores.mean() < 0.95
    few = training.iloc[:40]
    smaller = int(few["Survived"].value_counts().min())
    with pytest.raises(
        InputError,
        match=f"cv_folds={smaller + 1} is more than the {smaller} "
        "training rows of the smaller class",
    ):
        cv_scores(few, ModelSpec("logreg", "tutorial", HP, 0), smaller + 1, 1)


def test_a_new_passenger_reusing_a_training_id_is_not_taken_for_it() -> None:
    """A served row may carry any PassengerId: only the same id under the same ticket or
    family is the training passenger itself."""
    training = rows(*FAMILY)
    stranger = rows(
        {"Name": "Other, Mrs. Zoe", "Sex": "female", "Ticket": "J1"},
        {"Name": "Stray, Mr. Y", "Ticket": "NEW", "Fare": 7.0},
    )
    assert stranger["PassengerId"].tolist() == [1, 2]  # ids of Mrs and Miss Smith
    tickets = TicketGroup().fit(training).transform(stranger)
    assert tickets["TicketGroupSize"].tolist() == [2, 1]  # Miss Jones and herself; himself
    assert np.isfinite(tickets["FarePerPerson"]).all()
    group = GroupSurvival().fit(training, pd.Series([1, 0, 1, 0, 1])).transform(stranger)
    assert group["GroupSurvival"].tolist() == pytest.approx([1.0, 0.6])  # Miss Jones lived
    pipeline = train(pd.read_csv(DATA / "train.csv"), ModelSpec("logreg", "engineered", HP, 0))
    single = rows({"Age": None, "Ticket": "x", "Fare": 7.0})  # PassengerId 1, a training id
    assert pipeline.predict(single).tolist() == [0]


# The engineered columns the feature steps add, pinned on Kaggle's files (fitted on train.csv).
PINNED = Path(__file__).resolve().parent / "expected" / "engineered_features.csv"


def test_engineered_features_keep_their_pinned_values_on_kaggles_files() -> None:
    """A faster transformer must compute what the models were chosen on: every value of
    train.csv (each passenger left out of its own group) and test.csv (new passengers)."""
    expected = pd.read_csv(PINNED, keep_default_na=False, na_values=[""])
    train = read_passengers(DATA / "train.csv", with_target=True, source="train.csv")
    steps = Pipeline(engineered_features()[:-1]).fit(train[list(FEATURES)], train[TARGET])
    for name, rows in (
        ("train.csv", train),
        ("test.csv", read_passengers(DATA / "test.csv", with_target=False, source="test.csv")),
    ):
        pinned = expected[expected["file"] == name].drop(columns="file").reset_index(drop=True)
        got = steps.transform(rows[list(FEATURES)])[list(pinned.columns)].reset_index(drop=True)
        for column in pinned.columns:
            if pinned[column].dtype.kind in "if":
                np.testing.assert_allclose(
                    got[column].to_numpy(dtype=float),
                    pinned[column].to_numpy(dtype=float),
                    rtol=0,
                    atol=1e-9,
                    err_msg=f"{name}: {column}",
                )
            else:
                assert got[column].astype(str).tolist() == pinned[column].astype(str).tolist(), (
                    f"{name}: {column}"
                )


def test_cv_accuracy_at_the_defaults_is_pinned() -> None:
    """`main` at MLproject's defaults: the split `prepare` makes, then train's cross-validation."""
    defaults = parse_params(entry_point_defaults("main"))
    scores = cv_scores(
        default_training_rows(),
        ModelSpec.of(defaults),
        defaults["cv_folds"],
        defaults["cv_repeats"],
    )
    assert round(float(scores.mean()), 4) == 0.8353


ODD_TRAINING = {
    "kaggle": lambda train: train,
    "missing and unseen": lambda train: train.assign(
        Sex=[None] * 40 + list(train["Sex"].iloc[40:]),
        Embarked=["Q", "C"] * (len(train) // 2),
    ),
    "nothing known": lambda train: train.assign(Embarked=None),
}


@pytest.mark.parametrize("training", ODD_TRAINING)
def test_ordinal_codes_are_category_encoders(training: str) -> None:
    """The tutorial's `Ordinal` gives category_encoders' OrdinalEncoder's codes (its defaults)
    on Kaggle's files, on odd training columns, and on rows with values training never saw
    or with nothing known; it keeps them as arrays skops stores."""
    from category_encoders import OrdinalEncoder

    columns = ["Sex", "Embarked"]
    train = read_passengers(DATA / "train.csv", with_target=True, source="train.csv")
    train = ODD_TRAINING[training](train.iloc[:700])
    ours = Ordinal(tuple(columns)).fit(train)
    theirs = OrdinalEncoder(cols=columns).fit(train[columns].astype(object))
    test = read_passengers(DATA / "test.csv", with_target=False, source="test.csv")
    strange = rows({"Sex": "other", "Embarked": "X"}, {"Sex": None, "Embarked": None})
    for frame in (train, test, strange):
        expected = theirs.transform(frame[columns].astype(object))
        pd.testing.assert_frame_equal(
            ours.transform(frame)[columns], expected.astype("int64"), check_names=False
        )
