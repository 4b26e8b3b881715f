"""``Summary.Value`` protos of everything tbviz writes, built without TensorFlow.

The writer (:mod:`tbviz.logdir.writer`) uses these during training
(``RunLogger``) and after it (``tbviz compare``, ``tbviz annotate``). Building
the protos in one place keeps tags and metadata identical whoever writes them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata

from tbviz.logdir import metadata

if TYPE_CHECKING:
    from tbviz.core.diagnosis import Diagnosis
    from tbviz.core.history import History
    from tbviz.core.rendered import RenderedFigure

Value = summary_pb2.Summary.Value

#: The values an hparam may take, as TensorBoard's hparams plugin stores them.
HParamValue = bool | int | float | str


_SCALAR_METADATA = scalar_metadata.create_summary_metadata(display_name="", description="")


def _float_tensor(values: list[float], shape: tuple[int, ...] = ()) -> tensor_pb2.TensorProto:
    """A float32 tensor: a scalar by default, as TensorBoard's scalar summaries store it."""
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=_shape(shape), float_val=values
    )


def _string_tensor(values: bytes | list[bytes]) -> tensor_pb2.TensorProto:
    """A string tensor: a scalar for one ``bytes``, a vector for a list."""
    if isinstance(values, bytes):
        return tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING, tensor_shape=_shape(()), string_val=[values]
        )
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, tensor_shape=_shape((len(values),)), string_val=values
    )


def _shape(dims: tuple[int, ...]) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
    )


def scalar_values(values: Mapping[str, float]) -> list[Value]:
    """Scalar-plugin values (float32 tensors, as ``tf.summary.scalar`` writes)."""
    return [
        Value(tag=tag, tensor=_float_tensor([float(value)]), metadata=_SCALAR_METADATA)
        for tag, value in values.items()
    ]


def image_value(tag: str, figures: list[RenderedFigure], description: str) -> Value:
    """An image summary holding PNGs as they are (no decode and re-encode).

    Several figures in one value are "samples" in TensorBoard's image
    dashboard; all must have the same size, as the dashboard assumes.
    """
    if not figures:
        raise ValueError("an image summary needs at least one figure")
    first = figures[0]
    tensor = _string_tensor(
        [str(first.width).encode(), str(first.height).encode(), *(f.png for f in figures)]
    )
    meta = image_metadata.create_summary_metadata(display_name=tag, description=description)
    return Value(tag=tag, tensor=tensor, metadata=meta)


def text_value(tag: str, markdown: str, description: str) -> Value:
    """A text-plugin value: TensorBoard renders ``markdown`` (sanitised) in the Text tab."""
    return Value(
        tag=tag,
        tensor=_string_tensor(markdown.encode("utf-8")),
        metadata=text_metadata.create_summary_metadata(display_name=tag, description=description),
    )


def json_value(tag: str, payload: object, kind: str, description: str) -> Value:
    """A JSON string tensor under tbviz's own plugin name (diagnosis, leaderboard)."""
    text = json.dumps(payload, sort_keys=True, allow_nan=False)
    return Value(
        tag=tag,
        tensor=_string_tensor(text.encode("utf-8")),
        metadata=metadata.create_json_metadata(kind, description),
    )


def diagnosis_value(diagnosis: Mapping) -> Value:
    """The structured diagnosis of a run (see :meth:`tbviz.core.diagnosis.Diagnosis.to_dict`)."""
    return json_value(
        metadata.TAG_DIAGNOSIS,
        diagnosis,
        "diagnosis",
        "Machine-readable overfitting diagnosis (JSON).",
    )


def detector_values(
    epochs_since_best: int | None, generalization_loss: float | None, gaps: Mapping[str, float]
) -> list[Value]:
    """The detector's numbers as scalars, to chart them; missing or non-finite ones skipped."""
    values = {
        metadata.TAG_EPOCHS_SINCE_BEST: epochs_since_best,
        metadata.TAG_GENERALIZATION_LOSS: generalization_loss,
        **{metadata.gap_tag(name): gap for name, gap in gaps.items()},
    }
    return scalar_values(
        {t: float(v) for t, v in values.items() if v is not None and math.isfinite(v)}
    )


def epoch_values(
    diagnosis: Diagnosis, history: History, *, detector_scalars: bool = False
) -> list[Value]:
    """What a run folder gets after every epoch: the diagnosis and a few scalars.

    By default the charts a person reads in the Scalars dashboard: how far
    the monitored metric is above its best (%), the validation metrics at
    the best epoch and the best epoch itself (which the HParams dashboard
    then shows beside each run's last values). ``detector_scalars`` adds the
    detector's working numbers (epochs since the best, every metric's gap,
    training values at the best epoch).
    """
    values = [diagnosis_value(diagnosis.to_dict())]
    if detector_scalars:
        values += detector_values(
            diagnosis.epochs_since_best,
            diagnosis.generalization_loss,
            {m.name: m.gap for m in diagnosis.metrics if m.gap is not None},
        )
    elif diagnosis.generalization_loss is not None and math.isfinite(diagnosis.generalization_loss):
        values += scalar_values({metadata.TAG_GENERALIZATION_LOSS: diagnosis.generalization_loss})
    if diagnosis.best_epoch is not None:
        at_best = history.values_at(diagnosis.best_epoch)
        if not detector_scalars:
            at_best = {
                k: v for k, v in at_best.items() if k == diagnosis.monitor or k.startswith("val_")
            }
        values += best_epoch_values(diagnosis.best_epoch, at_best)
    return values


def best_epoch_values(best_epoch: int | None, at_best: Mapping[str, float]) -> list[Value]:
    """Scalars whose latest value is the run's result at its best epoch.

    TensorBoard's hparams dashboard shows the *last* value of each metric tag
    (tensorflow/tensorboard#4630); these tags are rewritten every epoch with
    the values at the best epoch so far of the monitored metric (what
    ``EarlyStopping(restore_best_weights=True)`` would keep), so the
    dashboard compares runs at their best.
    """
    values = {metadata.best_tag(k): v for k, v in at_best.items() if math.isfinite(v)}
    if best_epoch is not None:
        values[metadata.TAG_BEST_STEP] = float(best_epoch)
    return scalar_values(values)


def hparams_value(
    hparams: Mapping[str, HParamValue], group: str = "", start_time: float | None = None
) -> Value:
    """The HParams-plugin value of one run: its hyperparameters (a session start).

    ``group`` is the Trial ID the dashboard shows (empty: the run's name);
    sessions sharing one are repeats of a trial.

    No experiment config is written. TensorBoard uses one experiment config
    per log directory, picked arbitrarily when several runs wrote one, and
    keeps the first it read of a tag; so a config written by each run (or by
    a sweep) goes wrong as soon as a log directory holds more runs: every
    hparam shows ``differs: false``. Without one, TensorBoard builds the
    experiment from every run's session: the hparams that differ, their
    values, and as metrics every scalar of the runs, among them
    ``tbviz/best/<metric>`` and ``tbviz/best_step`` (see
    :func:`best_epoch_values`).

    Raises:
        ValueError: an hparam value is not a bool, int, float or str.
    """
    start = plugin_data_pb2.SessionStartInfo(
        group_name=group, start_time_secs=time.time() if start_time is None else start_time
    )
    for name in sorted(hparams):
        value = hparams[name]
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value = float(value)
        elif isinstance(value, str):
            start.hparams[name].string_value = value
        else:
            raise ValueError(
                f"hparams[{name!r}] = {value!r}: values must be bool, int, float or str"
            )
    return _hparams_value(
        metadata.HPARAMS_SESSION_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)
    )


def _hparams_value(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Value:
    """The HParams plugin keeps everything in the metadata; the tensor is an empty vector."""
    data.version = metadata.HPARAMS_DATA_VERSION
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=metadata.HPARAMS_PLUGIN, content=data.SerializeToString()
        )
    )
    return Value(tag=tag, metadata=meta, tensor=_float_tensor([], shape=(0,)))


def read_hparams(content: bytes) -> dict[str, HParamValue]:
    """The hparams of a session-start ``plugin_data.content``; {} if it holds none."""
    try:
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
    except DecodeError:  # foreign content: no hparams to show
        return {}
    if (
        data.version != metadata.HPARAMS_DATA_VERSION
        or data.WhichOneof("data") != "session_start_info"
    ):
        return {}
    info = data.session_start_info
    out: dict[str, HParamValue] = {}
    for name, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind in ("number_value", "string_value", "bool_value"):
            number = getattr(value, kind)
            out[name] = int(number) if kind == "number_value" and number.is_integer() else number
    return out
