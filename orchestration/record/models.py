"""The pipeline as a logged model, and a logged model read back: MLflow's `Model.log` with the
project's flavor (`titanic.survival`: MLflow's scikit-learn flavor in skops format, and the
project's pyfunc face), pinned to the packages that fitted it, with the model package's code
inside; read back only if it holds nothing the project does not trust."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from packaging.requirements import InvalidRequirement, Requirement
from sklearn.pipeline import Pipeline

import titanic
from orchestration.record.datasets import schema_rows
from orchestration.record.inputs import fetch
from orchestration.record.names import MODEL_NAME
from titanic import survival
from titanic.survival import load_pipeline, predictions

# What the logged model needs to load elsewhere; pinned to what fitted it.
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "skops")
# The model's own code travels inside it: the `titanic` package, and nothing else.
MODEL_CODE = Path(titanic.__file__).parent


def log_model(pipeline: Pipeline, rows: pd.DataFrame) -> ModelInfo:
    """The pipeline as a model that loads anywhere: with `mlflow.sklearn.load_model` as the
    pipeline, with `mlflow.pyfunc.load_model` as label and probability (`titanic.survival`)."""
    sample = schema_rows(rows)
    # No input schema: the model checks its rows itself (`titanic.survival`). A typed one
    # refuses a CSV's ticket of digits (read as a number) or a column empty in every row; an
    # untyped one (AnyType) makes MLflow's server refuse every CSV. The input example still
    # shows the columns.
    outputs = infer_signature(sample, predictions(pipeline, sample)).outputs
    return Model.log(
        artifact_path=None,  # required positionally, though `name` replaces it
        name=MODEL_NAME,
        flavor=survival,
        pipeline=pipeline,
        signature=ModelSignature(outputs=outputs),
        input_example=rows.head(5),
        code_paths=[str(MODEL_CODE)],
        # Listed rather than inferred: inference loads the model again in a subprocess.
        pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
    )


def trusted_model(model_uri: str) -> tuple[Path, Pipeline, Model]:
    """The model's folder, its pipeline (refused before loading if it holds a type the
    project does not trust) and its MLmodel."""
    local = fetch(model_uri, "model_uri")
    pipeline = load_pipeline(local, f"model_uri {model_uri!r}")
    return local, pipeline, Model.load(local / "MLmodel")


def environment_mismatches(model_dir: Path, model: Model) -> list[str]:
    """Where this environment differs from the one that fitted the model (a model reused from
    another machine's run): its pinned packages and its Python version. What MLflow's check on
    loading finds, without first mapping every installed package's files (most of a second
    in every process that loads a model)."""
    found = []
    pins = model_dir / "requirements.txt"  # absent from a model saved some other way
    for line in pins.read_text().splitlines() if pins.exists() else []:
        try:
            pinned = Requirement(line)
        except InvalidRequirement:  # a comment, a blank line, a path
            continue
        try:
            here = version(pinned.name)
        except PackageNotFoundError:
            here = None
        if here is None or not pinned.specifier.contains(here, prereleases=True):
            found.append(f"{pinned.name} {here or 'missing'} (fitted with {pinned.specifier})")
    fitted = model.flavors.get("python_function", {}).get("python_version")
    if fitted and fitted.split(".")[:2] != platform.python_version().split(".")[:2]:
        found.append(f"Python {platform.python_version()} (fitted with {fitted})")
    return found
