"""Reading passenger files (titanic/passengers.py): the real files, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import DATA, passengers
from titanic.errors import InputError
from titanic.passengers import FEATURES, read_passengers


def test_read_passengers_real_files() -> None:
    train_rows = read_passengers(DATA / "train.csv", with_target=True, source="data")
    test_rows = read_passengers(DATA / "test.csv", with_target=False, source="test_data")
    assert (len(train_rows), len(test_rows)) == (891, 418)
    assert train_rows["Survived"].sum() == 342
    assert train_rows["Age"].isna().sum() == 177


@pytest.mark.parametrize(
    "content, says",
    [
        ("", "is empty"),
        (",".join(["Survived", *FEATURES]) + "\n", "has a header but no rows"),
        ("PassengerId,Survived,Name\n1,0,A\n", "lacks required column(s) Pclass, Sex, Age"),
        (
            ",".join(["Survived", *FEATURES]) + "\n2,1,1,A,male,22,1,0,T,7.25,,S\n",
            "column Survived must be 0 or 1",
        ),
        (
            ",".join(["Survived", *FEATURES]) + "\n1,1,first,A,male,22,1,0,T,7.25,,S\n",
            "column Pclass must be numeric",
        ),
    ],
)
def test_read_passengers_rejects(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=says.replace("(", r"\(").replace(")", r"\)")):
        read_passengers(path, with_target=True, source="data")


def test_read_passengers_semicolons_decimal_commas_and_latin1(tmp_path: Path) -> None:
    frame = passengers(6).assign(Name=["Bräund, Mr. A"] * 6, Fare=[7.25, 8.5, 9.0, 1.5, 2.0, 3.0])
    path = tmp_path / "excel.csv"
    path.write_bytes(frame.to_csv(index=False, sep=";", decimal=",").encode("latin-1"))
    read = read_passengers(path, with_target=True, source="data")
    assert read["Fare"].tolist() == [7.25, 8.5, 9.0, 1.5, 2.0, 3.0]
    assert read["PassengerId"].tolist() == list(range(1, 7))
    assert read["Name"].iloc[0] == "Bräund, Mr. A"
