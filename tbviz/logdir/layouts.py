"""How TensorBoard logs are laid out, and how each becomes a tbviz History.

A History is metric -> training and validation series, indexed by 0-based
epoch. Writers lay the same data out differently:

* **keras**: ``<run>/train`` and ``<run>/validation`` hold ``epoch_<metric>``
  (``keras.callbacks.TensorBoard``, tbviz itself);
* **flat**: one folder per run, the split in the tag: ``train/loss`` +
  ``val/loss``, ``Loss/train`` + ``Loss/val``, ``train_loss`` + ``val_loss``
  (tensorboardX, ``torch.utils.tensorboard``; case-insensitive; ``val``,
  ``valid``, ``validation``, ``eval``, ``test`` name validation);
* **add_scalars**: ``<run>/<Tag>_train`` and ``<run>/<Tag>_val`` sub-folders
  (``torch.utils.tensorboard``), or ``<run>/<Tag>/train`` and
  ``<run>/<Tag>/val`` (tensorboardX), each holding the tag ``<Tag>``
  (``SummaryWriter.add_scalars``);
* **lightning**: a flat folder (``lightning_logs/version_N``) with an ``epoch``
  scalar: values logged at global steps are placed at the epoch that scalar
  gives for their step, and per-step values (``*_step``) are left out;
* **mapped**: any other tags, through :class:`TagMapping` patterns.

Steps of flat logs are epochs when they count 0, 1, 2, ... (or 1, 2, 3, ...,
then shifted to 0-based); otherwise the k-th logged validation value is
epoch k and training values are taken at the last step of each epoch.

Pure functions over ``{folder: {tag: Series}}``: the file reader and the
TensorBoard tab (through its data provider) share them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tbviz.core.history import VALIDATION_PREFIX, History, Series
from tbviz.logdir import metadata

_TRAIN = ("train", "training")
_VALIDATION = ("val", "valid", "validation", "eval", "evaluation", "test", "dev")
_SPLIT = "|".join(_TRAIN + _VALIDATION)
_SPLIT_FIRST = re.compile(rf"^({_SPLIT})[/_.\-](.+)$", re.IGNORECASE)
_SPLIT_LAST = re.compile(rf"^(.+?)[/_.\-]({_SPLIT})$", re.IGNORECASE)
_SUFFIX = re.compile(r"^(.+?)_(epoch|step)$", re.IGNORECASE)
#: ``<Tag>_<split>`` sub-folders written by ``add_scalars`` (``torch.utils.tensorboard``;
#: tensorboardX nests them, ``<Tag>/<split>``).
ADD_SCALARS_FOLDER = re.compile(rf"^(.+)[_/]({_SPLIT})$", re.IGNORECASE)
#: Keras' split folders.
KERAS_SPLITS = (metadata.TRAIN_DIR, metadata.VALIDATION_DIR)

Folders = Mapping[str, Mapping[str, Series]]


@dataclass(frozen=True)
class TagMapping:
    """An explicit mapping from tags to metrics, for logs no layout recognises.

    Each pattern holds ``{metric}``, matching the metric's name, and may
    hold ``*`` for anything: ``train_tag="loss/{metric}/train"``,
    ``val_tag="loss/{metric}/holdout"``.
    """

    train_tag: str
    val_tag: str

    def __post_init__(self) -> None:
        for name in ("train_tag", "val_tag"):
            if "{metric}" not in getattr(self, name):
                raise ValueError(
                    f"{name} must contain {{metric}} where the metric name goes, "
                    f"got {getattr(self, name)!r}"
                )

    def match(self, tag: str) -> tuple[str, str] | None:
        """(``"train"`` | ``"val"``, metric) for a tag the patterns match, else None."""
        for split, pattern in (("train", self.train_tag), ("val", self.val_tag)):
            parts = [re.escape(p).replace(r"\*", ".*") for p in pattern.split("{metric}")]
            found = re.fullmatch("(.+?)".join(parts), tag)
            if found:
                return split, found.group(1)
        return None


@dataclass
class LayoutResult:
    """A run's History, the layout it was read as, and what could not be placed."""

    history: History
    layout: str
    unmatched: list[str] = field(default_factory=list)


def is_split_folder(name: str) -> bool:
    """True for a folder named after a split (``train``, ``val``, ``validation``...)."""
    return split_word(name) is not None


def split_word(word: str) -> str | None:
    """``"train"`` or ``"val"`` for a word naming a split, else None."""
    lower = word.lower()
    if lower in _TRAIN:
        return "train"
    if lower in _VALIDATION:
        return "val"
    return None


def match_flat_tag(tag: str) -> tuple[str, str, str] | None:
    """(split, metric, granularity) of a flat tag; granularity is "epoch", "step" or ""."""
    found = _SPLIT_FIRST.match(tag)
    if found:
        split, metric = split_word(found.group(1)), found.group(2)
    else:
        found = _SPLIT_LAST.match(tag)
        if not found:
            return None
        metric, split = found.group(1), split_word(found.group(2))
    grain = ""
    suffix = _SUFFIX.match(metric)
    if suffix:
        metric, grain = suffix.group(1), suffix.group(2).lower()
    metric = re.sub(r"[/.\-\s]+", "_", metric).strip("_").lower()
    return (split, metric, grain) if metric else None


def keras_history(train: Mapping[str, Series], validation: Mapping[str, Series]) -> History:
    """The Keras layout: ``epoch_<metric>`` tags in ``train/`` and ``validation/``."""
    history = History()
    for tags, prefix in ((train, ""), (validation, VALIDATION_PREFIX)):
        for tag, series in tags.items():
            name = metadata.metric_from_tag(tag)
            if name is not None:
                history.record_series(prefix + name, series)
    return history


def flat_history(tags: Mapping[str, Series], mapping: TagMapping | None = None) -> LayoutResult:
    """A flat folder (split in the tag), Lightning's included."""
    chosen: dict[str, tuple[str, Series]] = {}  # history key -> (granularity, series)
    unmatched = []
    for tag, series in tags.items():
        if tag.startswith("tbviz/") or tag.lower() in ("epoch", "step", "lr", "learning_rate"):
            continue
        found = mapping.match(tag) if mapping else None
        if found:
            split, metric, grain = found[0], found[1], "epoch"
        else:
            parsed = match_flat_tag(tag)
            if parsed is None:
                unmatched.append(tag)
                continue
            split, metric, grain = parsed
        key = (VALIDATION_PREFIX if split == "val" else "") + metric
        rank = {"epoch": 2, "": 1, "step": 0}[grain]
        if key not in chosen or rank > {"epoch": 2, "": 1, "step": 0}[chosen[key][0]]:
            chosen[key] = (grain, series)
    epochs = tags.get("epoch")
    layout = "lightning" if epochs is not None and len(epochs) else "flat"
    if mapping is not None:
        layout = "mapped"
    if layout == "lightning":
        chosen = {k: v for k, v in chosen.items() if v[0] != "step"}
        placed = {k: _by_epoch_scalar(s, epochs) for k, (_, s) in chosen.items()}
    else:
        placed = _steps_to_epochs({k: s for k, (_, s) in chosen.items()})
    history = History()
    for key, series in placed.items():
        if len(series):
            history.record_series(key, series)
    return LayoutResult(history, layout, unmatched)


def add_scalars_history(children: Mapping[str, Mapping[str, Series]]) -> History:
    """``<Tag>_<split>`` (or ``<Tag>/<split>``) sub-folders, each with the tag ``<Tag>``."""
    tags: dict[str, Series] = {}
    for folder, folder_tags in children.items():
        found = ADD_SCALARS_FOLDER.match(folder)
        if not found:
            continue
        for tag, series in folder_tags.items():
            tags[f"{tag}/{found.group(2)}"] = series
    return flat_history(tags).history


def _by_epoch_scalar(series: Series, epochs: Series) -> Series:
    """Place values logged at global steps at the epoch Lightning's ``epoch`` scalar
    gives for that step (its last value at or before the step); the last value of
    an epoch wins."""
    steps, values = epochs.epochs, epochs.values
    placed: dict[int, float] = {}
    for step, value in zip(series.epochs, series.values, strict=True):
        i = max(bisect.bisect_right(steps, step) - 1, 0)
        placed[round(values[i])] = value
    ordered = sorted(placed)
    return Series(ordered, [placed[e] for e in ordered])


def _steps_to_epochs(series: Mapping[str, Series]) -> dict[str, Series]:
    """Steps that count epochs are kept (1-based shifted to 0-based); other steps
    (global steps) become the k-th validation point, training at each epoch's end."""
    if not series:
        return {}
    all_steps = sorted({s for one in series.values() for s in one.epochs})
    validation = [
        s for k, one in series.items() if k.startswith(VALIDATION_PREFIX) for s in one.epochs
    ]
    marks = sorted(set(validation)) or all_steps
    if marks == list(range(marks[0], marks[0] + len(marks))) and marks[0] in (0, 1):
        shift = marks[0]
        if all_steps[0] >= shift and all_steps[-1] <= marks[-1]:
            return {
                k: Series([s - shift for s in one.epochs], list(one.values))
                for k, one in series.items()
            }
    placed = {}
    for key, one in series.items():
        by_epoch: dict[int, float] = {}
        for step, value in zip(one.epochs, one.values, strict=True):
            epoch = bisect.bisect_left(marks, step)
            if epoch < len(marks):
                by_epoch[epoch] = value  # the last value up to the epoch's mark
        ordered = sorted(by_epoch)
        placed[key] = Series(ordered, [by_epoch[e] for e in ordered])
    return placed
