"""Names and plugin metadata of everything tbviz writes: the on-disk contract.

A log directory written by tbviz looks like this (``<run>`` may be nested)::

    LOGDIR/<run>/train/        epoch_<metric> scalars, training values
    LOGDIR/<run>/validation/   epoch_<metric> scalars, validation values
    LOGDIR/<run>/              tbviz/comparison image, tbviz/notes and
                               tbviz/summary text, tbviz/diagnosis tensor,
                               detector state scalars (tbviz/epochs_since_best,
                               tbviz/generalization_loss, tbviz/gap/<metric>),
                               best-epoch scalars (tbviz/best/<metric>,
                               tbviz/best_step) and hparams, when given
    LOGDIR/_compare/           written by ``tbviz compare``: cross-run figures
                               (tbviz/compare/overlay, tbviz/compare/runs),
                               tbviz/leaderboard text and JSON tensor

The scalar folders and tags are the ones ``keras.callbacks.TensorBoard``
writes, so TensorBoard draws training and validation of a metric in one chart
and tbviz reads a plain Keras log directory the same way. Tags do not depend on
the run, so the Images and Text dashboards line runs up side by side.

The structured diagnosis is a string tensor (JSON) whose ``plugin_data`` names
the ``tbviz`` plugin and carries a versioned content, as TensorBoard's own
plugins do. This module imports protobuf classes only, never TensorFlow.
"""

from __future__ import annotations

import json

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "tbviz"

#: Version of the ``plugin_data.content`` written with tbviz tensors.
PROTO_VERSION = 1

TRAIN_DIR = "train"
VALIDATION_DIR = "validation"

TAG_FIGURE = "tbviz/comparison"
TAG_NOTES = "tbviz/notes"
TAG_SUMMARY = "tbviz/summary"
TAG_DIAGNOSIS = "tbviz/diagnosis"
TAG_EPOCHS_SINCE_BEST = "tbviz/epochs_since_best"
TAG_GENERALIZATION_LOSS = "tbviz/generalization_loss"
GAP_TAG_PREFIX = "tbviz/gap/"
BEST_TAG_PREFIX = "tbviz/best/"
TAG_BEST_STEP = "tbviz/best_step"

#: TensorBoard's hparams plugin: its name, its plugin_data version, and the tag
#: of a run's hyperparameters (its session start). Kept here rather
#: than imported from ``tensorboard.plugins.hparams.metadata``, whose imports
#: (tensor_util, the TensorFlow stub, boto3 if installed) cost 0.3 s.
HPARAMS_PLUGIN = "hparams"
HPARAMS_DATA_VERSION = 0
HPARAMS_SESSION_TAG = "_hparams_/session_start_info"

#: The run folder ``tbviz compare`` writes into; ``_`` keeps it out of the run list.
COMPARE_RUN = "_compare"


def is_compare_run(run: str) -> bool:
    """True for a ``_compare`` folder (``/``-separated, relative to the log directory)
    or one inside it: what ``tbviz compare`` wrote, at the top or in a sub-folder it
    compared (``sweep/_compare`` seen from the folder above), never a run."""
    return COMPARE_RUN in run.split("/")


TAG_OVERLAY = "tbviz/compare/overlay"
TAG_SMALL_MULTIPLES = "tbviz/compare/runs"
TAG_GROUP_OVERLAY = "tbviz/compare/groups"
TAG_LEADERBOARD = "tbviz/leaderboard"
TAG_LEADERBOARD_JSON = "tbviz/leaderboard_json"

EPOCH_TAG_PREFIX = "epoch_"
BATCH_TAG_PREFIX = "batch_"

FIGURE_DESCRIPTION = (
    "Training vs validation per metric. Star: best validation epoch; red band: "
    "overfitting, from the onset; dashed red line: divergence."
)
NOTES_DESCRIPTION = "Overfitting diagnosis, written when the status changes."
SUMMARY_DESCRIPTION = "Final overfitting diagnosis of the run."


def scalar_tag(metric: str) -> str:
    """Keras' tag for a per-epoch metric: ``scalar_tag("loss") == "epoch_loss"``."""
    return EPOCH_TAG_PREFIX + metric


def batch_tag(metric: str) -> str:
    """Keras' tag for a per-batch metric: ``batch_tag("loss") == "batch_loss"``."""
    return BATCH_TAG_PREFIX + metric


def gap_tag(metric: str) -> str:
    """Tag of the validation-minus-training gap scalar of ``metric``."""
    return GAP_TAG_PREFIX + metric


def best_tag(metric: str) -> str:
    """Tag of a metric's value at the best epoch: ``tbviz/best/val_loss``."""
    return BEST_TAG_PREFIX + metric


def metric_from_tag(tag: str) -> str | None:
    """The metric name of a per-epoch scalar tag, or None for any other tag."""
    if tag.startswith(EPOCH_TAG_PREFIX) and len(tag) > len(EPOCH_TAG_PREFIX):
        return tag[len(EPOCH_TAG_PREFIX) :]
    return None


def create_json_metadata(kind: str, description: str) -> summary_pb2.SummaryMetadata:
    """``SummaryMetadata`` of a tbviz JSON tensor; ``kind`` says what it holds."""
    content = json.dumps({"version": PROTO_VERSION, "kind": kind}).encode()
    return summary_pb2.SummaryMetadata(
        display_name=f"tbviz {kind}",
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_content(content: bytes) -> dict:
    """Decode tbviz ``plugin_data.content``.

    Raises:
        ValueError: the content is not tbviz metadata, or comes from a newer
            tbviz than this one (upgrade tbviz to read it).
    """
    try:
        data = json.loads(content.decode("utf-8"))
        version = int(data["version"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"not tbviz plugin metadata: {content[:60]!r}") from err
    if version > PROTO_VERSION:
        raise ValueError(
            f"tbviz data of version {version} is newer than this tbviz understands "
            f"({PROTO_VERSION}); upgrade tbviz to read it"
        )
    return data
