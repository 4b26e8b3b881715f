"""Read TensorBoard event files back into histories, figures, notes, diagnoses.

No TensorFlow: records are framed and checked here (TFRecord: length, masked
CRC-32C of the length, payload, masked CRC-32C of the payload) and decoded
with TensorBoard's protobuf classes. Reads logs written by tbviz and by plain
``keras.callbacks.TensorBoard`` alike.

A record cut short at the end of a file is what a live or killed writer
leaves behind; it ends that file quietly. A record whose checksum does not
match raises :class:`CorruptEventFile`.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Container, Iterator
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2, types_pb2

from tbviz.core.history import History, Series
from tbviz.errors import TbvizError
from tbviz.logdir import layouts, metadata, storage
from tbviz.logdir.crc import masked_crc32c

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


class CorruptEventFile(TbvizError, ValueError):
    """An event file has a record whose checksum or framing is wrong."""


def join_path(logdir: str, run_name: str) -> str:
    """``logdir/run_name`` for local paths and URLs (``gs://bucket/x``) alike;
    ``run_name`` is ``/``-separated."""
    return storage.join(logdir, run_name)


def event_files(folder: str) -> list[str]:
    """Event files directly inside ``folder``, oldest first (by name, as TensorBoard does)."""
    if not storage.is_url(folder):
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(
            os.path.join(folder, n)
            for n in names
            if "tfevents" in n and os.path.isfile(os.path.join(folder, n))
        )
    base = folder.rstrip("/")
    return sorted(
        f"{base}/{n}"
        for n in storage.listdir(base)
        if "tfevents" in n and not storage.isdir(f"{base}/{n}")
    )


def iter_records(path: str) -> Iterator[bytes]:
    """Yield the payload of each TFRecord in ``path``, checking both checksums.

    The file is read whole: event files are small (a run's figures make a
    few MB at most), and slicing one buffer is much cheaper than a read call
    per header, payload and footer.
    """
    buffer = storage.read_bytes(path)
    end = len(buffer)
    offset = 0
    while offset + _HEADER.size <= end:
        length, length_crc = _HEADER.unpack_from(buffer, offset)
        if masked_crc32c(buffer[offset : offset + 8]) != length_crc:
            raise CorruptEventFile(f"{path}: bad length checksum at byte {offset}")
        start = offset + _HEADER.size
        stop = start + length
        if stop + _FOOTER.size > end:
            return  # a record cut short: the writer was killed or is writing
        payload = buffer[start:stop]
        if masked_crc32c(payload) != _FOOTER.unpack_from(buffer, stop)[0]:
            raise CorruptEventFile(f"{path}: bad data checksum at byte {offset}")
        offset = stop + _FOOTER.size
        yield payload


def iter_events(path: str) -> Iterator[event_pb2.Event]:
    """Yield the ``Event`` protos of one event file."""
    for payload in iter_records(path):
        event = event_pb2.Event()
        try:
            event.ParseFromString(payload)
        except DecodeError as err:
            raise CorruptEventFile(f"{path}: a record is not an Event ({err})") from err
        yield event


@dataclass
class TagData:
    """Every value of one tag in one folder: steps, decoded values, plugin name."""

    plugin: str = ""
    content: bytes = b""
    steps: list[int] = field(default_factory=list)
    values: list[object] = field(default_factory=list)


def read_folder(
    folder: str, tags: Container[str] | None = None, problems: list[str] | None = None
) -> dict[str, TagData]:
    """Decode the summary values written directly in ``folder``, per tag.

    ``tags`` limits decoding to those tags (every record is still read and
    checked). A step written twice keeps its last value. Values are floats
    (scalars), ``str`` (text), ``list[bytes]`` (images: width, height, PNGs)
    or numpy arrays (other tensors); ``content`` keeps the tag's plugin
    content (hparams live there).

    A broken file costs only what is broken: with a ``problems`` list, a
    record with a bad checksum ends that file (the records before it count,
    the other files are read) and the file and byte offset are added to the
    list; without one, :class:`CorruptEventFile` is raised.
    """
    found: dict[str, TagData] = {}
    for path in event_files(folder):
        try:
            _read_file(path, tags, found)
        except CorruptEventFile as err:
            if problems is None:
                raise
            problems.append(str(err))
        except OSError as err:
            if problems is None:
                raise
            problems.append(f"{path}: cannot be read ({err})")
    for data in found.values():
        order = sorted(range(len(data.steps)), key=data.steps.__getitem__)
        data.steps = [data.steps[i] for i in order]
        data.values = [data.values[i] for i in order]
    return found


def _read_file(path: str, tags: Container[str] | None, found: dict[str, TagData]) -> None:
    """Add one file's decoded values to ``found`` (a re-logged step drops it and
    every later one, as TensorBoard does when a run restarts)."""
    for event in iter_events(path):
        step = int(event.step)
        for value in event.summary.value:
            tag = value.tag
            if tags is not None and tag not in tags:
                continue
            data = found.get(tag)
            if data is None:
                data = found[tag] = TagData()
            if not data.plugin and value.HasField("metadata"):
                data.plugin = value.metadata.plugin_data.plugin_name
                data.content = value.metadata.plugin_data.content
            decoded = _decode(value, data.plugin)
            if decoded is None:
                continue
            if data.steps and step <= data.steps[-1]:
                keep = [i for i, s in enumerate(data.steps) if s < step]
                data.steps = [data.steps[i] for i in keep]
                data.values = [data.values[i] for i in keep]
            data.steps.append(step)
            data.values.append(decoded)


#: Scalar tensor dtypes read without numpy: (repeated field, struct format).
_SCALAR_DTYPES = {
    types_pb2.DT_FLOAT: ("float_val", "<f"),
    types_pb2.DT_DOUBLE: ("double_val", "<d"),
}


def _decode(value, plugin: str) -> object:
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if not value.HasField("tensor"):
        return None
    tensor = value.tensor
    scalar = _SCALAR_DTYPES.get(tensor.dtype)
    if scalar is not None and not tensor.tensor_shape.dim:
        # The common case, every epoch_* scalar: 30x cheaper than make_ndarray.
        field_name, layout = scalar
        if tensor.tensor_content:
            return float(struct.unpack(layout, tensor.tensor_content)[0])
        repeated = getattr(tensor, field_name)
        return float(repeated[0]) if repeated else 0.0
    from tensorboard.util import tensor_util  # numpy and TensorBoard's dtype tables

    array = tensor_util.make_ndarray(tensor)
    if plugin == "scalars" or (array.ndim == 0 and array.dtype.kind in "fiu"):
        return float(array)
    if plugin == "images":
        return [bytes(b) for b in array.ravel()]
    if array.dtype.kind in "SO":
        if array.ndim == 0:
            item = array.item()
            return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        return array
    return array


@dataclass
class RunData:
    """What one run folder holds, decoded.

    ``layout`` says how its scalars were read (see :mod:`tbviz.logdir.layouts`);
    ``problems`` names broken files and where they broke (the run was read
    in part); ``unmatched`` lists scalar tags no layout could place.
    """

    history: History
    root: dict[str, TagData]
    layout: str = "keras"
    problems: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """True when some file of the run could not be read to its end."""
        return bool(self.problems)

    def texts(self, tag: str) -> list[tuple[int, str]]:
        """(step, markdown) of a text tag in the run folder."""
        data = self.root.get(tag)
        return list(zip(data.steps, data.values, strict=True)) if data else []

    def images(self, tag: str = metadata.TAG_FIGURE) -> list[tuple[int, int, int, bytes]]:
        """(step, width, height, png) of an image tag in the run folder."""
        data = self.root.get(tag)
        if not data:
            return []
        return [
            (step, int(v[0]), int(v[1]), v[2])
            for step, v in zip(data.steps, data.values, strict=True)
            if len(v) >= 3
        ]

    def diagnoses(self) -> list[tuple[int, dict]]:
        """(step, diagnosis dict) of every structured diagnosis written, each read
        through :func:`tbviz.core.diagnosis.parse_diagnosis` (version checked,
        older versions brought to the current layout; unreadable ones left out)."""
        from tbviz.core.diagnosis import DiagnosisFormatError, parse_diagnosis

        data = self._tbviz_tag(metadata.TAG_DIAGNOSIS)
        if data is None:
            return []
        checked = []
        for step, payload in zip(data.steps, data.values, strict=True):
            try:
                checked.append((step, parse_diagnosis(payload).to_dict()))
            except DiagnosisFormatError:
                continue
        return checked

    def json_values(self, tag: str) -> list[tuple[int, object]]:
        """(step, decoded JSON) of a tbviz JSON tensor tag (diagnosis, leaderboard)."""
        data = self._tbviz_tag(tag)
        if data is None:
            return []
        return [(step, json.loads(v)) for step, v in zip(data.steps, data.values, strict=True)]

    def _tbviz_tag(self, tag: str) -> TagData | None:
        """The tag if tbviz wrote it in a metadata version this tbviz reads, else None."""
        data = self.root.get(tag)
        if not data or data.plugin != metadata.PLUGIN_NAME:
            return None
        try:
            metadata.parse_plugin_content(data.content)
        except ValueError:
            return None
        return data

    def hparams(self) -> dict[str, object]:
        """The run's hyperparameters, as written for the HParams dashboard; {} if none."""
        return read_hparams(self.root)


def scalar_series(found: dict[str, TagData]) -> dict[str, Series]:
    """The tags of a decoded folder whose values are all numbers, as Series."""
    return {
        tag: Series(list(data.steps), [float(v) for v in data.values])
        for tag, data in found.items()
        if data.values and all(isinstance(v, float) for v in data.values)
    }


def run_structure(run_dir: str) -> tuple[str, list[str]]:
    """(layout, sub-folders to read) of a run folder, from its folders alone:
    ``keras`` (``train``/``validation``), ``add_scalars`` (``<Tag>_<split>``, or
    tensorboardX's ``<Tag>/<split>``) or ``flat`` (everything in the folder)."""
    names = [n for n in sorted(storage.listdir(run_dir)) if not n.startswith(".")]
    with_events = [n for n in names if event_files(join_path(run_dir, n))]
    keras = [n for n in with_events if n in layouts.KERAS_SPLITS]
    if keras and all(n in layouts.KERAS_SPLITS for n in with_events if layouts.is_split_folder(n)):
        return "keras", keras
    scalars = [n for n in with_events if layouts.ADD_SCALARS_FOLDER.match(n)]
    for name in names:  # tensorboardX: <Tag>/<split>, the tag folder itself empty
        if name in with_events:
            continue
        inner = join_path(run_dir, name)
        scalars += [
            f"{name}/{split}"
            for split in sorted(storage.listdir(inner))
            if layouts.is_split_folder(split) and event_files(join_path(inner, split))
        ]
    if scalars:
        return "add_scalars", scalars
    return "flat", []


def read_run(
    run_dir: str,
    tags: Container[str] | None = None,
    mapping: layouts.TagMapping | None = None,
) -> RunData:
    """Everything one run folder holds, its scalars read in whatever layout it has.

    ``tags`` limits which run-folder tags are decoded besides the scalars;
    ``mapping`` gives the tags of a layout tbviz does not know. Broken files
    are read up to the break and listed in ``problems``.
    """
    problems: list[str] = []
    layout, subfolders = run_structure(run_dir) if mapping is None else ("flat", [])
    if layout == "keras":
        train, validation = (
            scalar_series(read_folder(join_path(run_dir, name), problems=problems))
            if name in subfolders
            else {}
            for name in (metadata.TRAIN_DIR, metadata.VALIDATION_DIR)
        )
        root = read_folder(run_dir, tags, problems)
        return RunData(layouts.keras_history(train, validation), root, layout, problems)
    if layout == "add_scalars":
        children = {
            name: scalar_series(read_folder(join_path(run_dir, name), problems=problems))
            for name in subfolders
        }
        root = read_folder(run_dir, tags, problems)
        return RunData(layouts.add_scalars_history(children), root, layout, problems)
    root = read_folder(run_dir, None, problems)
    result = layouts.flat_history(scalar_series(root), mapping)
    if tags is not None:
        root = {t: d for t, d in root.items() if t in tags}
    return RunData(result.history, root, result.layout, problems, result.unmatched)


def read_history(run_dir: str) -> History:
    """The per-epoch metrics of a run, in whatever layout it was logged."""
    return read_run(run_dir, tags=()).history


def read_hparams(root: dict[str, TagData]) -> dict[str, object]:
    """Hyperparameters from a run folder's decoded tags; {} if it has none."""
    data = root.get(metadata.HPARAMS_SESSION_TAG)
    if not data or not data.content:
        return {}
    from tbviz.logdir.summaries import read_hparams as parse

    return parse(data.content)
