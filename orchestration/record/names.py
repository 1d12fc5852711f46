"""Names of artifacts, outputs and tags, as recorded on runs: defined once, used everywhere."""

STEPS = ("prepare", "train", "evaluate")

# Artifacts, as named inside each run.
PREPARED_DIR = "prepared"
TRAIN_FILE = "train.csv"
VALID_FILE = "valid.csv"
PROFILE_FILE = "profile.json"
MODEL_NAME = "model"
CV_FILE = "cv_scores.json"
SUBMISSION_FILE = "submission.csv"
PIPELINE_FILE = "pipeline.json"
# What MLflow's evaluation of a model leaves: a metric linked to the model, a SHAP plot.
EVALUATED_METRIC = "roc_auc"
EXPLAINED_PLOT = "shap_beeswarm_plot.png"
RESULTS_FILE = "results.csv"  # on a sweep or tuning run: every configuration, ranked
SEARCH_PLOT = "cv_accuracy_by_parameter.png"

# What each step leaves in its run's artifacts (beyond the outputs it hands on), and what a
# logged model holds: a step run is reused only while the artifact store still lists them.
ARTIFACTS = {
    "prepare": (f"{PREPARED_DIR}/{TRAIN_FILE}", f"{PREPARED_DIR}/{VALID_FILE}", PROFILE_FILE),
    "train": (CV_FILE,),
    "evaluate": (SUBMISSION_FILE,),
}
MODEL_FILE = "MLmodel"

# Outputs a step hands to the next one, by the name of the parameter that takes them
# (recorded on the run as `titanic.output.<name>`).
OUT_PREPARED = "prepared"
OUT_MODEL = "model_uri"

# Tags.
TAG_STEP = "titanic.step"
TAG_CACHE_KEY = "titanic.cache_key"
TAG_CODE_DIGEST = "titanic.code_digest"
TAG_REUSED_FROM = "titanic.reused_from"
TAG_MODEL_URI = "titanic.model_uri"  # on a main run: the model it ended with
TAG_REUSED_STEPS = "titanic.reused_steps"  # on a main run: the steps it reused, comma-separated
TAG_APPLIED = "titanic.applied_params"  # on train: the hyperparameters its family used
TAG_ERROR = "titanic.error"  # on a FAILED run: the one-line reason
TAG_WARNING = "titanic.warning"  # on a FINISHED run: what was odd about it
TAG_PRUNED = "titanic.pruned"  # on a KILLED tuning trial and its train step: why it was stopped
TAG_BEST_RUN = "titanic.best_run"  # on a sweep or tuning run: its best configuration's run
TAG_BEST_MODEL_URI = "titanic.best_model_uri"  # ... and that run's model
TAG_STUDY = "titanic.study"  # on a tuning run: the Optuna study and its storage
TAG_PRUNER = "titanic.pruner"  # ... and the pruner it used (what `-P pruner=auto` chose)
TAG_PROMOTED = "titanic.promoted"  # on a promote (or main) run: the version and its alias
OUTPUT_TAG = "titanic.output."
NOTE_TAG = "mlflow.note.content"
# On an experiment: what the MLflow UI opens it on (its runs, not its GenAI views).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# A run's process, for telling a dead run from a live one (liveness).
TAG_HOST = "titanic.host"
TAG_BOOT = "titanic.boot_time"
TAG_PID = "titanic.pid"
TAG_PID_START = "titanic.pid_start"
TAG_HEARTBEAT = "titanic.heartbeat"  # seconds since the epoch, refreshed while running
TAG_CLAIMED_AT = "titanic.claimed_at"  # on a claim: seconds since the epoch, on its machine
# Tags about the process that ran a run, not what it computed: a run that stands for it has its
# own.
PROCESS_TAGS = (TAG_HOST, TAG_BOOT, TAG_PID, TAG_PID_START, TAG_HEARTBEAT, TAG_CLAIMED_AT)
# On train and pipeline runs: which folds cross-validation scored, and each fold's accuracy
# (comma-separated): what pairs two runs' scores (orchestration.registry.selection).
TAG_FOLDS = "titanic.folds"
TAG_FOLD_ACCURACY = "titanic.fold_accuracy"
FOLD_TAGS = (TAG_FOLDS, TAG_FOLD_ACCURACY)
# Tags `mlflow run` puts on a project run; a step run inside `main` takes them from the parent.
PROJECT_TAGS = (
    "mlflow.user",
    "mlflow.source.name",
    "mlflow.source.type",
    "mlflow.source.git.commit",
    "mlflow.source.git.branch",
    "mlflow.source.git.repoURL",
    "mlflow.gitRepoURL",
    "mlflow.project.env",
    "mlflow.project.backend",
)
# MLflow's own tags that the project reads.
PROJECT_ENV_TAG = "mlflow.project.env"
PROJECT_ENTRY_TAG = "mlflow.project.entryPoint"
# On a sweep or tuning run: its best configuration's parameters, as `best.<name>`.
BEST_PARAM_PREFIX = "best."

# Metrics, as each step logs them: cross-validation on the training split (train), the
# validation split and the rows scored (evaluate). A reused step carries every one, and the
# pipeline's parent run shows train's then evaluate's, in this order (a test checks that a step
# logs exactly what is declared here).
CV_ACCURACY = "cv_accuracy"
CV_ACCURACY_STD = "cv_accuracy_std"
CV_ACCURACY_SE = "cv_accuracy_se"  # its standard error, corrected for the folds' overlap
FIT_SECONDS = "fit_seconds"
VAL_ACCURACY = "val_accuracy"
VAL_PRECISION = "val_precision"
VAL_RECALL = "val_recall"
VAL_F1 = "val_f1"
VAL_ROC_AUC = "val_roc_auc"
VAL_LOG_LOSS = "val_log_loss"
# Categories no training row has, counted in each split evaluate scores.
UNSEEN_VALUES = {"valid": "unseen_values_valid", "test": "unseen_values_test"}
METRICS = {
    "prepare": ("rows", "train_rows", "valid_rows", "survival_rate"),
    "train": (CV_ACCURACY, CV_ACCURACY_STD, CV_ACCURACY_SE, FIT_SECONDS),
    "evaluate": (
        VAL_ACCURACY,
        VAL_PRECISION,
        VAL_RECALL,
        VAL_F1,
        VAL_ROC_AUC,
        VAL_LOG_LOSS,
        *UNSEEN_VALUES.values(),
    ),
}
# prepare also counts each column's missing cells, as `missing_<column>`, where there are any.
MISSING_PREFIX = "missing_"
# What a pipeline's parent run shows, in this order: the model's metrics.
PIPELINE_METRICS = (*METRICS["train"], *METRICS["evaluate"])
# The metric runs are ranked by.
RANKING_METRIC = CV_ACCURACY


def failure_tags(reason: str) -> dict[str, str]:
    """The tags that show why a run failed: `titanic.error`, and its description in the UI."""
    return {TAG_ERROR: reason, NOTE_TAG: f"**Failed**: {reason}"}


def pruned_tags(reason: str) -> dict[str, str]:
    """The tags that show why a tuning trial was stopped before it ended."""
    return {TAG_PRUNED: reason, NOTE_TAG: f"**Pruned**: {reason}"}
