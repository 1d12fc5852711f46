"""Pruned tuning without MLflow runs: folds reported to a study in a sqlite file, the pruners'
decisions, and what the study is told of a pruned trial."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from scipy import stats
from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score

from orchestration.lifecycle.runs import Pruned
from orchestration.project.params import parse_params
from orchestration.search.driver import failed_line
from orchestration.search.points import Outcome
from orchestration.search.pruning import FoldReporter, TrialRef, make_pruner
from orchestration.search.study import Study, open_study
from orchestration.search.wilcoxon import p_worse
from orchestration.search.worker import hooks
from tests.support import DATA, LOGREG
from titanic import models
from titanic.errors import InputError
from titanic.models import Hooks, ModelSpec, fold_accuracies
from titanic.passengers import FEATURES, TARGET, read_passengers


def study_with_finished_trials(
    tmp_path: Path, means: list[float], folds: int = 6
) -> tuple[str, optuna.Study]:
    """A study whose finished trials reported `mean` after every fold."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    for mean in means:
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                value=mean,
                intermediate_values={step: mean for step in range(1, folds + 1)},
            )
        )
    return storage, study


def reporter(
    storage: str, study: optuna.Study, pruner: str = "median", warmup: int = 3
) -> tuple[FoldReporter, optuna.Trial]:
    trial = study.ask()
    return FoldReporter(TrialRef(storage, "s", trial._trial_id, pruner, warmup)), trial


def test_fold_accuracies_reports_each_fold_and_scores_as_sklearn_does() -> None:
    passengers = read_passengers(DATA / "train.csv", with_target=True, source="train.csv")
    heard: list[tuple[list[float], int]] = []
    scores = fold_accuracies(
        ModelSpec("logreg", "tutorial", LOGREG, 0),
        passengers,
        3,
        2,
        Hooks(after_fold=lambda s, total: heard.append((list(s), total))),
    )
    assert [len(s) for s, _ in heard] == [1, 2, 3, 4, 5, 6] and {t for _, t in heard} == {6}
    assert heard[-1][0] == scores.tolist()
    splits = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    expected = cross_val_score(
        ModelSpec("logreg", "tutorial", LOGREG, 0).pipeline(),
        passengers[list(FEATURES)],
        passengers[TARGET],
        cv=splits,
    )
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)


def test_a_raising_fold_callback_stops_cross_validation() -> None:
    passengers = read_passengers(DATA / "train.csv", with_target=True, source="train.csv")
    seen: list[int] = []

    def stop_at_two(scores: list[float], total: int) -> None:
        seen.append(len(scores))
        if len(scores) == 2:
            raise Pruned("enough")

    with pytest.raises(Pruned, match="enough"):
        fold_accuracies(
            ModelSpec("logreg", "tutorial", LOGREG, 0),
            passengers,
            3,
            2,
            Hooks(after_fold=stop_at_two),
        )
    assert seen == [1, 2]


@pytest.mark.parametrize("features", ["tutorial", "engineered"])
@pytest.mark.parametrize("model", ["logreg", "vote"])
def test_kept_folds_fit_features_once_and_score_the_same(
    model: str, features: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search worker's later configurations fit only their classifier on each fold: the
    scores are those of refitting the whole pipeline."""
    passengers = read_passengers(DATA / "train.csv", with_target=True, source="train.csv")
    hp = {**LOGREG, "learning_rate": 0.1, "max_depth": 3, "n_trees": 10, "min_samples_leaf": 2}
    fitted: list[int] = []
    fit = models.fold_features

    def counted(*args: Any) -> Any:
        fitted.append(1)
        return fit(*args)

    monkeypatch.setattr(models, "fold_features", counted)
    kept: dict[int, models.FoldFeatures] = {}
    keeping = Hooks(kept_folds=lambda *_: kept)
    for C, max_depth in ((1.0, 3), (0.1, 5)):
        spec = ModelSpec(model, features, {**hp, "C": C, "max_depth": max_depth}, 0)
        alone = fold_accuracies(spec, passengers, 3, 2)
        remembered = fold_accuracies(spec, passengers, 3, 2, keeping)
        np.testing.assert_array_equal(remembered, alone)
    assert len(fitted) == 2 * 6 + 6  # each alone, and the first with `kept` only
    assert sorted(kept) == list(range(6))


def test_median_pruner_stops_a_trial_below_the_median_after_the_first_pass(tmp_path: Path) -> None:
    storage, study = study_with_finished_trials(tmp_path, [0.80, 0.81, 0.82, 0.83, 0.84])
    report, _ = reporter(storage, study)
    report([0.5, 0.5], 6)  # inside the first pass: nothing reported, never pruned
    with pytest.raises(
        Pruned,
        match=r"stopped after 3 of 6 folds: mean accuracy 0\.5000 is "
        r"below the median of earlier trials",
    ):
        report([0.5, 0.5, 0.5], 6)
    assert study.trials[-1].intermediate_values == {3: 0.5}
    good, _ = reporter(storage, study)
    for done in range(1, 7):
        good([0.9] * done, 6)
    assert study.trials[-1].intermediate_values == {s: pytest.approx(0.9) for s in range(3, 7)}


def test_median_pruner_waits_for_five_finished_trials_and_spares_the_last_fold(
    tmp_path: Path,
) -> None:
    storage, study = study_with_finished_trials(tmp_path, [0.80, 0.81, 0.82, 0.83])
    early, _ = reporter(storage, study)
    early([0.5] * 3, 6)  # four finished trials: too few to judge by
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.COMPLETE,
            value=0.84,
            intermediate_values={step: 0.84 for step in range(1, 7)},
        )
    )
    last, _ = reporter(storage, study)
    last([0.5] * 3, 3)  # the last fold: nothing left to save
    assert study.trials[-1].intermediate_values == {3: 0.5}
    judged, _ = reporter(storage, study)
    with pytest.raises(Pruned):
        judged([0.5] * 3, 6)


def test_successive_halving_keeps_only_the_best_third(tmp_path: Path) -> None:
    storage, study = study_with_finished_trials(tmp_path, [])
    first, _ = reporter(storage, study, pruner="halving")
    first([0.8] * 3, 6)  # alone at its rung: promoted
    second, _ = reporter(storage, study, pruner="halving")
    with pytest.raises(Pruned, match="not in the best 1/3 of trials"):
        second([0.7] * 3, 6)


def test_wilcoxon_pruner_pairs_each_fold_with_the_best_trials_same_fold(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    best = [0.85, 0.80, 0.88, 0.82, 0.86, 0.84]  # folds differ in how hard they are
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.COMPLETE,
            value=float(np.mean(best)),
            intermediate_values=dict(enumerate(best)),
        )
    )
    # As good on every fold, though its folds' mean dips below the best mean on the way.
    even, _ = reporter(storage, study, pruner="wilcoxon")
    for folds in range(1, 7):
        even(best[:folds], 6)
    assert study.trials[-1].intermediate_values == dict(enumerate(best))
    # Worse than the best trial on every fold, though above the best's mean on its easy folds:
    # stopped once the test is sure, after the first pass (3 folds) and before the last.
    worse, _ = reporter(storage, study, pruner="wilcoxon")
    scores = [score - 0.02 for score in best]
    reported = 0
    with pytest.raises(
        Pruned,
        match=r"stopped after \d of 6 folds: mean accuracy 0\.\d{4} is "
        r"worse than the best trial's on the same folds \(Wilcoxon",
    ):
        for reported in range(1, 7):
            worse(scores[:reported], 6)
    assert 3 < reported < 6
    assert study.trials[-1].intermediate_values == dict(enumerate(scores[:reported]))


def tied_differences(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fold accuracies' differences as they come: multiples of one row in a fold, with ties
    and zeros."""
    return (rng.integers(100, 116, size=n) - rng.integers(100, 116, size=n)) / 134


def test_wilcoxon_p_value_is_scipys_permutation_test_without_scoring_each_flip() -> None:
    rng = np.random.default_rng(7)
    for n in [1, 2, 3, 5, 8, 11] * 4:
        for differences in (tied_differences(rng, n), rng.normal(size=n)):
            # SciPy's own choice for these: a permutation test when they tie, else exact.
            expected = stats.wilcoxon(differences, alternative="less", zero_method="zsplit")
            assert p_worse(differences) == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-15)
    assert p_worse(np.zeros(4)) == 1.0


def test_wilcoxon_pruner_decides_as_optunas() -> None:
    """The same decisions as Optuna's WilcoxonPruner, on trials of up to ten folds (where
    SciPy's own test takes at most a tenth of a second)."""
    rng = np.random.default_rng(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        theirs = optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=3)
    ours = make_pruner("wilcoxon", warmup=3)
    decisions = []
    for case in range(40):
        study = optuna.create_study(direction="maximize")
        best = 0.8 + tied_differences(rng, 10)
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                value=float(best.mean()),
                intermediate_values=dict(enumerate(best)),
            )
        )
        folds = 3 + case % 8
        scores = best[:folds] + tied_differences(rng, folds) - 0.01 * (case % 4)
        trial = optuna.trial.create_trial(
            state=TrialState.RUNNING, intermediate_values=dict(enumerate(scores))
        )
        decisions.append(ours.prune(study, trial))
        assert decisions[-1] == theirs.prune(study, trial), (best, scores)
    assert 5 < sum(decisions) < 35


def test_a_study_keeps_to_the_kind_of_fold_report_its_pruner_reads(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    assert open_study(storage, "means", 0, "median")[1] == "median"
    assert open_study(storage, "means", 0, "halving")[1] == "halving"
    assert open_study(storage, "means", 0, "none")[1] == "none"
    assert open_study(storage, "means", 0, "auto")[1] == "median"
    with pytest.raises(InputError) as refused:
        open_study(storage, "means", 0, "wilcoxon")
    assert str(refused.value) == (
        f"the Optuna study 'means' in {storage} holds trials that reported the running mean "
        f"of its folds, and -P pruner=wilcoxon judges by each fold's own accuracy: pass "
        f"another -P study= name, or the pruner that study was started with"
    )
    study, pruner = open_study(storage, "folds", 0, "auto")  # new: the paired test
    assert (
        pruner == "wilcoxon"
        and study.user_attrs["titanic_fold_reports"] == "each fold's own accuracy"
    )
    assert open_study(storage, "folds", 0, "auto")[1] == "wilcoxon"
    with pytest.raises(
        InputError,
        match="reported each fold's own accuracy, and -P pruner=median judges by the running mean",
    ):
        open_study(storage, "folds", 0, "median")
    # A study pruned before studies recorded their kind holds running means.
    _, older = study_with_finished_trials(tmp_path, [0.8])
    with pytest.raises(InputError, match=r"study 's' .* reported the running mean"):
        open_study(storage, older.study_name, 0, "wilcoxon")
    assert open_study(storage, older.study_name, 0, "auto")[1] == "median"


def test_a_worker_that_cannot_open_the_study_says_how_to_fix_it(tmp_path: Path) -> None:
    missing = TrialRef(f"sqlite:///{tmp_path / 'elsewhere.db'}", "s", 1, "median", 3)
    with pytest.raises(
        InputError,
        match=r"cannot open the Optuna study 's' .* pass -P storage= "
        r"a URL every worker reaches .* or -P pruner=none",
    ):
        FoldReporter(missing)


def test_reporting_is_per_configuration_and_off_without_a_trial(tmp_path: Path) -> None:
    storage, study = study_with_finished_trials(tmp_path, [])
    assert hooks(None).after_fold is None
    trial = TrialRef(storage, "s", study.ask()._trial_id, "median", 3)
    assert isinstance(hooks(trial).after_fold, FoldReporter)
    assert hooks(trial).after_fold is not hooks(trial).after_fold  # one per configuration


def test_a_pruned_trial_is_told_pruned_never_best_and_no_failure(tmp_path: Path) -> None:
    storage, study = study_with_finished_trials(tmp_path, [])
    points = Study(study, storage, 3, {"cv_folds": "5"}, "median")
    first, second, third = points.ask(), points.ask(), points.ask()
    assert first and second and third and points.ask() is None
    assert first.report_to == TrialRef(storage, "s", first.handle._trial_id, "median", 5)
    first.handle.report(0.9, 5)
    pruned = Outcome(
        first.label,
        first.config,
        status="PRUNED",
        error="stopped after 5",
        metrics={"cv_accuracy": 0.99},
    )
    finished = Outcome(second.label, second.config, status="FINISHED", metrics={"cv_accuracy": 0.8})
    points.tell(first, pruned)
    points.tell(second, finished)
    points.tell(third, Outcome(third.label, third.config))  # FAILED
    assert [t.state for t in study.trials] == [
        TrialState.PRUNED,
        TrialState.COMPLETE,
        TrialState.FAIL,
    ]
    assert study.trials[0].value == 0.9  # the last mean it reported
    assert study.best_trial.number == second.handle.number
    assert pruned.score is None
    error = failed_line([pruned, finished, Outcome(third.label, third.config)])
    assert error is not None and str(error).startswith("1 of 3 configurations did not finish")
    assert failed_line([pruned, finished]) is None


def test_no_pruner_sends_no_trial(tmp_path: Path) -> None:
    storage, study = study_with_finished_trials(tmp_path, [])
    point = Study(study, storage, 1, {"cv_folds": "5"}, "none").ask()
    assert point is not None and point.report_to is None


def test_pruner_parameter_is_checked() -> None:
    assert parse_params({"pruner": "halving"}) == {"pruner": "halving"}
    with pytest.raises(
        InputError, match="pruner must be one of auto, median, halving, wilcoxon, none"
    ):
        parse_params({"pruner": "hyperband"})
