"""The project's declarations: `params` (every parameter of every entry point, declared once,
with its check), `mlproject` (MLproject and the parameters page, written from it), `naming` (run
names that say what a run computed)."""
