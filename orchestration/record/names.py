"""Names of artifacts, outputs and tags, as recorded on runs: defined once, used everywhere."""

STEPS = ("prepare", "train", "evaluate")

# Artifacts, as named inside each run.
PREPARED_DIR = "prepared"
TRAIN_FILE = "train.csv"
VALID_FILE = "valid.csv"
PROFILE_FILE = "profile.json"
MODEL_NAME = "model"
CV_FILE = "cv_scores.json"
CONFUSION_PNG = "confusion_matrix.png"
ROC_PNG = "roc_curve.png"
SUBMISSION_FILE = "submission.csv"
PIPELINE_FILE = "pipeline.json"
RESULTS_FILE = "results.csv"  # on a sweep or tuning run: every configuration, ranked
SEARCH_PLOT = "cv_accuracy_by_parameter.png"

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
# On train and pipeline runs: which folds cross-validation scored, and each fold's accuracy
# (comma-separated): what pairs two runs' scores (orchestration.registry.selection).
TAG_FOLDS = "titanic.folds"
TAG_FOLD_ACCURACY = "titanic.fold_accuracy"
FOLD_TAGS = (TAG_FOLDS, TAG_FOLD_ACCURACY)
# MLflow's own tags that the project reads.
PROJECT_ENV_TAG = "mlflow.project.env"
PROJECT_ENTRY_TAG = "mlflow.project.entryPoint"
# On a model version: where it came from, its metrics as `metric.<name>` and parameters as
# `param.<name>`.
VERSION_SOURCE_RUN = "source_run"
VERSION_DATA_DIGEST = "data_digest"
VERSION_CODE_DIGEST = "code_digest"
VERSION_GIT_COMMIT = "git_commit"
VERSION_FOLDS = "folds"
VERSION_FOLD_ACCURACY = "fold_accuracy"
METRIC_PREFIX = "metric."
PARAM_PREFIX = "param."
# On a sweep or tuning run: its best configuration's parameters, as `best.<name>`.
BEST_PARAM_PREFIX = "best."

# Metrics: cross-validation on the training split (train), the validation split (evaluate).
CV_ACCURACY = "cv_accuracy"
CV_ACCURACY_STD = "cv_accuracy_std"
CV_ACCURACY_SE = "cv_accuracy_se"  # its standard error, corrected for the folds' overlap
VAL_ACCURACY = "val_accuracy"
VAL_PRECISION = "val_precision"
VAL_RECALL = "val_recall"
VAL_F1 = "val_f1"
VAL_ROC_AUC = "val_roc_auc"
VAL_LOG_LOSS = "val_log_loss"
FIT_SECONDS = "fit_seconds"

# The metric runs are ranked by, and the order a summary lists metrics in.
RANKING_METRIC = CV_ACCURACY
METRIC_ORDER = (
    CV_ACCURACY,
    CV_ACCURACY_STD,
    CV_ACCURACY_SE,
    VAL_ACCURACY,
    VAL_PRECISION,
    VAL_RECALL,
    VAL_F1,
    VAL_ROC_AUC,
    VAL_LOG_LOSS,
)


def failure_tags(reason: str) -> dict[str, str]:
    """The tags that show why a run failed: `titanic.error`, and its description in the UI."""
    return {TAG_ERROR: reason, NOTE_TAG: f"**Failed**: {reason}"}


def pruned_tags(reason: str) -> dict[str, str]:
    """The tags that show why a tuning trial was stopped before it ended."""
    return {TAG_PRUNED: reason, NOTE_TAG: f"**Pruned**: {reason}"}
