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

import bisect
import json
import os
import struct
from collections.abc import Container, Iterator
from dataclasses import dataclass, field

import google_crc32c
from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2, types_pb2

from tbviz.core.history import History
from tbviz.errors import TbvizError
from tbviz.logdir import layouts, metadata, storage
from tbviz.logdir.crc import MASK_DELTA, masked_crc32c

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_WALL = struct.Struct("<d").unpack_from
_FLOAT = struct.Struct("<f").unpack_from


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


#: Bytes read at a time. A run's scalars and figures make a few MB, read in one
#: go; a file of histograms or images can make gigabytes, and is read in blocks
#: of this size, so memory does not grow with it.
READ_BLOCK = 16 << 20


def iter_records(path: str) -> Iterator[bytes]:
    """Yield the payload of each TFRecord in ``path``, checking its checksums."""
    for batch in _record_batches(path):
        yield from batch


def _record_batches(path: str) -> Iterator[list[bytes]]:
    """The payloads of ``path``'s records, checked, a block's worth at a time.

    The file is read in blocks of :data:`READ_BLOCK` (a small file whole):
    slicing one buffer is much cheaper than a read call per header, payload
    and footer, and handing over a list per block saves the readers a
    generator step per record. This loop runs once per scalar of every run
    a command reads, so it is lean: the checksum's masking is written out
    rather than called, and the length's own checksum is checked only where
    the payload's does not already vouch for the length (a payload checksum
    that matches at the end the length points to is a wrong length's chance
    of 1 in 2**32): when the record is cut short or its payload fails. The
    records before a bad one are handed over before the error is raised.
    """
    header, header_size = _HEADER.unpack_from, _HEADER.size
    footer, footer_size = _FOOTER.unpack_from, _FOOTER.size
    crc = google_crc32c.value
    with storage.open_read(path) as stream:
        buffer = stream.read(READ_BLOCK)
        base = 0  # where ``buffer`` starts in the file
        offset = 0
        while True:
            end = len(buffer)
            stop = 0
            batch: list[bytes] = []
            append = batch.append
            while offset + header_size <= end:
                length = header(buffer, offset)[0]
                start = offset + header_size
                stop = start + length
                if stop + footer_size > end:
                    # The rest is in the next block, or cut short: first make sure
                    # the length is one (garbage would ask for gigabytes).
                    if _length_ok(buffer, offset):
                        break
                    yield batch
                    raise CorruptEventFile(f"{path}: bad length checksum at byte {base + offset}")
                payload = buffer[start:stop]
                value = crc(payload)
                if (((value >> 15) | (value << 17)) + MASK_DELTA) & 0xFFFFFFFF != footer(
                    buffer, stop
                )[0]:
                    yield batch
                    what = "data" if _length_ok(buffer, offset) else "length"
                    raise CorruptEventFile(f"{path}: bad {what} checksum at byte {base + offset}")
                offset = stop + footer_size
                append(payload)
            yield batch
            more = stream.read(max(READ_BLOCK, stop + footer_size - end))
            if not more:
                return  # a record cut short: the writer was killed or is writing
            buffer = buffer[offset:] + more
            base += offset
            offset = 0


def _length_ok(buffer: bytes, offset: int) -> bool:
    """True if the length of the record at ``offset`` matches its checksum."""
    return masked_crc32c(buffer[offset : offset + 8]) == _HEADER.unpack_from(buffer, offset)[1]


def iter_events(path: str) -> Iterator[event_pb2.Event]:
    """Yield the ``Event`` protos of one event file."""
    parse = event_pb2.Event.FromString
    for payload in iter_records(path):
        try:
            event = parse(payload)
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
    walls: list[float] = field(default_factory=list)

    def add(self, step: int, value: object, wall: float) -> None:
        """Append one value; a step at or before the last drops it and every later
        one first (a run restarted from there, as TensorBoard reads it).

        The lists are changed in place, never replaced (the reader holds their
        ``append`` methods), and so stay in step order."""
        steps = self.steps
        if steps and step <= steps[-1]:
            keep = bisect.bisect_left(steps, step)
            del steps[keep:], self.values[keep:], self.walls[keep:]
        steps.append(step)
        self.values.append(value)
        self.walls.append(wall)


def read_folder(
    folder: str, tags: Container[str] | None = None, problems: list[str] | None = None
) -> dict[str, TagData]:
    """Decode the summary values written directly in ``folder``, per tag.

    ``tags`` limits decoding to those tags and the scalars (every record is
    still read and checked). A step written twice keeps its last value. Values are floats
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
    return found


def tag_steps(folder: str, tag: str) -> list[int]:
    """The steps at which ``tag`` was written in ``folder``'s event files, sorted,
    nothing decoded (decoding a tensor imports TensorBoard's TensorFlow stub, a
    fifth of a second, and ``compare`` only needs the next free step).

    Raises :class:`CorruptEventFile` or ``OSError`` as :func:`read_folder` does.
    """
    steps: set[int] = set()
    for path in event_files(folder):
        for event in iter_events(path):
            if any(value.tag == tag for value in event.summary.value):
                steps.add(event.step)
    return sorted(steps)


def _read_file(path: str, tags: Container[str] | None, found: dict[str, TagData]) -> None:
    """Add one file's decoded values to ``found`` (a re-logged step drops it and
    every later one, as TensorBoard does when a run restarts).

    The hot loop of every command. Most records of a PyTorch log directory
    are a plain ``simple_value`` scalar (what ``torch.utils.tensorboard``,
    tensorboardX and Lightning write for every scalar), read here from its
    bytes rather than through protobuf, at a third of the cost. Such an
    event's bytes are fixed in layout: wall time (field 1, a double), the
    step (field 2, a varint; absent when 0), then the summary (field 5)
    holding one value made of the tag and the float (field 2, 4 bytes).
    Everything from the summary's start to the float depends only on the
    tag, so once :func:`_simple_tail` has checked that part of one record,
    the same bytes in the next record of that tag are known good: a plain
    scalar then costs a dictionary lookup and three appends. Any other event
    (a second value, metadata, a long tag, a tensor) is decoded by protobuf,
    its tag's kind settled at its first value and remembered.
    """
    skipped: set[str] = set()
    parse = event_pb2.Event.FromString
    wall_of, float_of = _WALL, _FLOAT
    # The checked bytes between step and float -> the appends of that tag's lists.
    tails: dict[bytes, tuple] = {}
    for batch in _record_batches(path):
        for payload in batch:
            if len(payload) >= 20 and payload[0] == 0x09:  # wall time first: maybe plain
                if payload[9] == 0x10:  # the step, a varint
                    byte = payload[10]
                    if byte < 0x80:
                        step, at = byte, 11
                    else:
                        step, at = _varint(payload, 10)
                else:
                    step, at = 0, 9
                known = tails.get(payload[at:-4])
                if known is None and at > 0:
                    known = _simple_tail(payload, at, found, tails, skipped)
                if known is not None:
                    data, add_step, add_value, add_wall = known
                    steps = data.steps
                    if steps and step <= steps[-1]:
                        data.add(
                            step, float_of(payload, len(payload) - 4)[0], wall_of(payload, 1)[0]
                        )
                    else:
                        add_step(step)
                        add_value(float_of(payload, len(payload) - 4)[0])
                        add_wall(wall_of(payload, 1)[0])
                    continue
            try:
                event = parse(payload)
            except DecodeError as err:
                raise CorruptEventFile(f"{path}: a record is not an Event ({err})") from err
            step = event.step
            wall = event.wall_time
            for value in event.summary.value:
                tag = value.tag
                data = found.get(tag)
                if data is None:
                    if tag in skipped:
                        continue
                    if tags is not None and tag not in tags and not _is_scalar(value):
                        skipped.add(tag)
                        continue
                    data = found[tag] = TagData()
                if value.WhichOneof("value") == "simple_value":  # its metadata says "scalars"
                    decoded: object = value.simple_value
                else:
                    if not data.plugin and value.HasField("metadata"):
                        data.plugin = value.metadata.plugin_data.plugin_name
                        data.content = value.metadata.plugin_data.content
                    decoded = _decode(value, data.plugin)
                    if decoded is None:
                        continue
                data.add(step, decoded, wall)


def _varint(payload: bytes, at: int) -> tuple[int, int]:
    """The varint at ``at`` and where it ends; (0, 0) when it runs past 9 bytes or
    the payload (then no tail matches and protobuf decodes the record)."""
    value = shift = 0
    size = len(payload)
    while at < size and shift <= 56:
        byte = payload[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7
    return 0, 0


def _simple_tail(
    payload: bytes,
    at: int,
    found: dict[str, TagData],
    tails: dict[bytes, tuple],
    skipped: set[str],
) -> tuple | None:
    """Check that ``payload`` from ``at`` (past wall time and step) is a summary of
    one ``simple_value`` and nothing else, every length one byte; if so,
    remember its bytes up to the float in ``tails`` and return its tag's
    (data, and the appends of its steps, values and walls). None otherwise,
    or for a tag whose first value was not a scalar."""
    size = len(payload)
    rest = size - at
    if (
        rest >= 0x82  # a length of two bytes
        or rest < 11
        or payload[at] != 0x2A  # field 5 (summary), length-delimited
        or payload[at + 1] != rest - 2
        or payload[at + 2] != 0x0A  # its field 1 (value)
        or payload[at + 3] != rest - 4
        or payload[at + 4] != 0x0A  # the value's field 1 (tag)
        or payload[at + 5] != rest - 11
        or payload[size - 5] != 0x15  # the value's field 2 (simple_value), 4 bytes
    ):
        return None
    try:
        tag = payload[at + 6 : size - 5].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if tag in skipped:
        return None
    data = found.get(tag)
    if data is None:
        data = found[tag] = TagData()
    known = tails[payload[at:-4]] = (
        data,
        data.steps.append,
        data.values.append,
        data.walls.append,
    )
    return known


def _is_scalar(value) -> bool:
    """True for a summary value holding one number (cheap to decode)."""
    if value.HasField("simple_value"):
        return True
    tensor = value.tensor
    return tensor.dtype in _SCALAR_DTYPES and not tensor.tensor_shape.dim


#: Scalar tensor dtypes read without numpy: (repeated field, struct format).
_SCALAR_DTYPES = {
    types_pb2.DT_FLOAT: ("float_val", "<f"),
    types_pb2.DT_DOUBLE: ("double_val", "<d"),
}


def _decode(value, plugin: str) -> object:
    """A tensor value decoded (simple_value scalars are read in :func:`_read_file`)."""
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
    in part); ``unmatched`` lists scalar tags no layout could place;
    ``remarks`` says what the reader chose (which validation loader, how
    training steps were placed on epochs).
    """

    history: History
    root: dict[str, TagData]
    layout: str = "keras"
    problems: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

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


def scalar_curves(found: dict[str, TagData]) -> dict[str, layouts.Curve]:
    """The tags of a decoded folder whose values are all numbers, as curves."""
    curves = {}
    for tag, data in found.items():
        values = data.values
        if not values:
            continue
        if set(map(type, values)) == {float}:  # the common case, checked in C
            curves[tag] = layouts.Curve(data.steps, list(values), data.walls)
        elif all(isinstance(v, float) for v in values):
            curves[tag] = layouts.Curve(data.steps, [float(v) for v in values], data.walls)
    return curves


def event_folders(logdir: str, problems: list[str] | None = None) -> list[str]:
    """Every folder under ``logdir`` holding event files, ``/``-separated and relative
    to it (``.`` for ``logdir`` itself), as TensorBoard lists its runs: hidden
    (``.``) folders and symbolic links included, tbviz's own ``_compare`` folders
    left out (also one ``tbviz compare`` wrote into a sub-folder).
    Folders that cannot be listed are named in ``problems``."""
    found = []
    if not storage.is_url(logdir):
        seen: set[str] = set()

        def unreadable(err: OSError) -> None:
            if problems is not None:
                where = os.path.relpath(err.filename or logdir, logdir).replace(os.sep, "/")
                problems.append(f"cannot read folder {where!r}: {err.strerror or err}")

        for folder, subfolders, files in os.walk(logdir, onerror=unreadable, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:  # a symbolic link back up the tree
                subfolders[:] = []
                continue
            seen.add(real)
            rel = os.path.relpath(folder, logdir).replace(os.sep, "/")
            if metadata.is_compare_run(rel):
                subfolders[:] = []
                continue
            subfolders.sort()
            if any("tfevents" in f for f in files):
                found.append(rel)
        return sorted(found)
    base = logdir.rstrip("/")
    for folder in storage.walk_dirs(base):
        rel = folder.rstrip("/")[len(base) :].strip("/") or "."
        if not metadata.is_compare_run(rel) and event_files(folder.rstrip("/")):
            found.append(rel)
    return sorted(found)


#: How much of an event file :func:`peek_tags` reads: a few records are enough.
_PEEK_BYTES = 1 << 16


def peek_tags(folder: str) -> set[str]:
    """The tags in the first records of each of ``folder``'s event files: enough to
    tell one writer's folder from another's without reading it whole (every
    file, since a file ``annotate`` added may sort first)."""
    tags: set[str] = set()
    for path in event_files(folder):
        try:
            buffer = storage.read_head(path, _PEEK_BYTES)
        except OSError:
            continue
        offset = 0
        while offset + _HEADER.size <= len(buffer):
            length, _ = _HEADER.unpack_from(buffer, offset)
            start = offset + _HEADER.size
            if start + length > len(buffer):
                break
            event = event_pb2.Event()
            try:
                event.ParseFromString(buffer[start : start + length])
            except DecodeError:
                break
            tags.update(value.tag for value in event.summary.value)
            offset = start + length + _FOOTER.size
    return tags


def group_logdir(
    logdir: str, problems: list[str] | None = None
) -> dict[str, dict[str, layouts.Part]]:
    """The runs under ``logdir``: run -> {folder: part}, folders relative to ``logdir``,
    by :func:`tbviz.logdir.layouts.group_runs` over :func:`event_folders`, with
    :func:`peek_tags` where a folder's name alone cannot tell."""
    folders = event_folders(logdir, problems)
    return layouts.group_runs(folders, lambda rel: peek_tags(join_path(logdir, rel)))


def read_run(
    run_dir: str,
    tags: Container[str] | None = None,
    mapping: layouts.TagMapping | None = None,
    parts: dict[str, layouts.Part] | None = None,
) -> RunData:
    """Everything one run folder holds, its scalars read in whatever layout it has.

    ``tags`` limits which run-folder tags are decoded besides the scalars;
    ``mapping`` gives the tags of a layout tbviz does not know; ``parts``
    (folder relative to ``run_dir`` -> part, as :func:`tbviz.commands.discovery`
    found them) saves looking at the folders again. Broken files are read up
    to the break and listed in ``problems``.
    """
    problems: list[str] = []
    if parts is None:
        parts = group_logdir(run_dir, problems).get(".") or {".": layouts.ROOT}
    folders: dict[str, tuple[layouts.Part, dict[str, layouts.Curve]]] = {}
    root: dict[str, TagData] = {}
    hparams: dict[str, TagData] = {}
    wanted = None if tags is None else {*tags, metadata.HPARAMS_SESSION_TAG}
    for rel, part in parts.items():
        folder = run_dir if rel == "." else join_path(run_dir, rel)
        found = read_folder(folder, wanted if part.kind in ("root", "hparams") else (), problems)
        if part.kind == "root":
            root = found
        elif part.kind == "hparams":
            hparams = found
        folders[rel] = (part, scalar_curves(found))
    result = layouts.run_history(folders, mapping)
    if metadata.HPARAMS_SESSION_TAG not in root and metadata.HPARAMS_SESSION_TAG in hparams:
        root[metadata.HPARAMS_SESSION_TAG] = hparams[metadata.HPARAMS_SESSION_TAG]
    return RunData(result.history, root, result.layout, problems, result.unmatched, result.remarks)


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
