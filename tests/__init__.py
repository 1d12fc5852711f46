"""The project's tests: pure, entry points through `mlflow run`, whole pipelines."""
