"""The Titanic survival model: what a logged model carries as its code, and all it needs to
load and predict raw passenger rows. Imports no MLflow tracking and nothing of the machinery
that runs, tracks, caches and searches (that is `orchestration`)."""
