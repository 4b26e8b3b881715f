"""How TensorBoard logs are laid out: the one definition of a run and its curves.

Every reader of a log directory (``tbviz leaderboard``/``compare``/``annotate``,
the TensorBoard tab, the Lightning callback's names) decides here, and only
here, three things:

1. **Which folders make a run** (:func:`group_runs`). TensorBoard sees every
   folder holding event files as a run of its own; a training run is often
   several of them:

   * ``<run>/train`` + ``<run>/validation`` (Keras, tbviz), or any split
     folder names (``train``/``test``, ``train``/``eval``: TensorFlow's
     custom-loop tutorial), holding ``epoch_<metric>`` or bare ``<metric>`` tags;
   * ``<run>/<Tag>_<split>`` (``torch.utils.tensorboard``'s ``add_scalars``) and
     ``<run>/<Tag>/<split>`` (tensorboardX's), each holding the one tag ``<Tag>``;
   * ``<run>/<time>`` holding ``_hparams_/session_start_info``
     (``torch.utils.tensorboard``'s ``add_hparams``): the run's hyperparameters;
   * anything else is a run of its own, its split in the tag names: ``train/loss``
     + ``val/loss``, ``Loss/train`` + ``Loss/val``, ``train_loss`` + ``val_loss``,
     ``loss`` + ``val_loss`` (Keras' names written by hand), Lightning's
     ``train_loss_epoch`` and ``val_loss/dataloader_idx_N``, Hugging Face's
     ``train/loss`` + ``eval/loss``; fastai's ``train_loss`` every batch, then
     ``valid_loss`` and bare metrics at each epoch's end (validation: a bare
     metric logged at exactly the validation loss's steps).

   A folder whose name merely ends in a split word (``bert_eval``,
   ``finetune_test``) is a run of its own unless it holds exactly the one tag
   its name starts with; so is a folder named just ``train`` whose own tags
   name both splits, with no other split folder beside it (Ultralytics'
   ``runs/detect/train``).

2. **Which tags are training and validation, and which are bookkeeping**
   (:func:`flat_keys`, :func:`split_folder_key`): the split words are
   ``train``/``training`` and ``val``/``valid``/``validation``/``eval``/
   ``evaluation``/``test``/``dev`` (any case); counters, timings and
   throughput (``epoch``, ``global_step``, ``grad_norm``, ``runtime``,
   ``*_per_second``, ``total_flos``, ``hp_metric``) are not metrics; the
   learning rate (``lr``, ``learning_rate``, ``lr-Adam``) is kept as
   ``learning_rate``, which the detector reads and figures do not draw.

3. **How steps become epochs** (:func:`run_history`): a Lightning log's
   ``epoch`` scalar places every value; validation steps that count 0, 1, 2, ...
   (or 1, 2, 3, ...) are epochs; training logged at global steps beside them is
   averaged per epoch, each value going to the epoch whose validation followed
   it in wall time (by step scale when the log has no wall times); validation
   at global steps makes its k-th evaluation epoch k, training averaged over
   the steps up to it.

Pure functions over folder names and ``{tag: Curve}``: the file reader and
the TensorBoard tab (through its data provider) share them.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from tbviz.core.history import VALIDATION_PREFIX, History, Series
from tbviz.logdir import metadata

_TRAIN = ("train", "training")
#: Folder names only (not tag words, where ``learn_rate`` is no split): CatBoost
#: writes ``catboost_info/learn`` beside ``catboost_info/test``.
_TRAIN_FOLDERS = (*_TRAIN, "learn")
_VALIDATION = ("val", "valid", "validation", "eval", "evaluation", "test", "dev")
_SPLIT = "|".join(_TRAIN + _VALIDATION)
_SPLIT_FIRST = re.compile(rf"^({_SPLIT})[/_.\-\s]+(.+)$", re.IGNORECASE)
_SPLIT_LAST = re.compile(rf"^(.+?)[/_.\-\s]+({_SPLIT})$", re.IGNORECASE)
_SUFFIX = re.compile(r"^(.+?)_(epoch|step)$", re.IGNORECASE)
_LOADER = re.compile(r"^(.+)/dataloader_idx_(\d+)$")
#: A folder of per-iteration training values beside the run's split folders:
#: fairseq's ``train_inner`` (its ``train`` folder holds the epoch averages).
_INNER = re.compile(
    rf"^({'|'.join(_TRAIN)})_(inner|steps?|iters?|iterations?|batch|batches)$", re.IGNORECASE
)
#: A folder name ending in a split word: ``Loss_train`` (add_scalars) or ``bert_eval``.
_NAME_SPLIT = re.compile(rf"^(.+)[_\-.]({_SPLIT})$", re.IGNORECASE)
#: Tags that count or time the training, never a metric to compare (Ray Tune's
#: own: ``done``, ``time_this_iter_s``, ``iterations_since_restore``, ...).
_BOOKKEEPING = re.compile(
    r"^(epoch|epochs|step|steps|global_step|iteration|grad_norm|hp_metric|total_flos"
    r"|train_loss|(train_|eval_|test_)?(runtime|samples_per_second|steps_per_second)"
    r"|.*_per_second|.*_vs_iterations|time|epoch_time"
    r"|done|training_iteration|iterations_since_restore|time_this_iter_s|time_since_restore"
    r"|time_total_s|timesteps_total|timesteps_since_restore|episodes_total|timestamp"
    r"|warmup_time|perf_.*"
    # fairseq's: updates, throughput, batch size, gradient norm and clipping, the
    # fp16 loss scale, timings, free memory, and the running best of a metric.
    r"|num_updates|wps|ups|wpb|bsz|gnorm|clip|loss_scale|train_wall|wall|gb_free|oom|best_.*"
    r"|dur)$"  # skorch's epoch duration
)
#: A namespace a writer puts before every tag: Ray Tune's ``ray/tune/loss``.
_NAMESPACE = re.compile(r"^ray/tune/")
#: Words that join the splits in a chart's name: "Training vs. Validation Loss".
_JOINING = frozenset({"vs", "versus", "and"})
_LEARNING_RATE = re.compile(r"^(lr|learning_rate)([_\-].*)?$")
#: The history key every learning-rate tag becomes (the detector reads it).
LEARNING_RATE = "learning_rate"
_GRAIN_RANK = {"epoch": 2, "": 1, "step": 0}


class Curve(NamedTuple):
    """One tag's logged values: steps, values and (where known) wall times."""

    steps: Sequence[int]
    values: Sequence[float]
    walls: Sequence[float] = ()


@dataclass(frozen=True)
class Part:
    """What one folder is to its run: ``root`` (the run folder), ``split`` (a
    ``train``/``validation`` folder), ``add_scalars`` (one tag's split) or
    ``hparams`` (``add_hparams``' sub-folder). ``grain`` is ``"step"`` for a split
    folder of per-iteration values (fairseq's ``train_inner``), which give way to
    the same metric logged once an epoch."""

    kind: str
    split: str = ""
    tag: str = ""
    grain: str = ""


ROOT = Part("root")


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
    """A run's History, the layout it was read as, what could not be placed, and
    what the reader chose that a user should know (``remarks``)."""

    history: History
    layout: str
    unmatched: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)


# -- split words and tag names ------------------------------------------------


def split_word(word: str) -> str | None:
    """``"train"`` or ``"val"`` for a word naming a split, else None."""
    lower = word.lower()
    if lower in _TRAIN_FOLDERS:
        return "train"
    if lower in _VALIDATION:
        return "val"
    return None


def metric_name(raw: str, *, lower: bool = True) -> str:
    """A tag's metric part as a history key: separators become ``_``."""
    name = re.sub(r"[/.\-\s]+", "_", raw).strip("_")
    return name.lower() if lower else name


def scalars_metric(tag: str) -> str:
    """The metric an ``add_scalars`` chart compares: its name less the split words
    and joining words in it, so the PyTorch tutorial's ``"Training vs. Validation
    Loss"`` (keys ``Training``, ``Validation``) is ``loss``; the whole name when
    it names no split or nothing else is left."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", tag) if w]
    kept = [w for w in words if split_word(w) is None and w.lower() not in _JOINING]
    if not kept or len(kept) == len(words):
        return metric_name(tag)
    return metric_name("_".join(dict.fromkeys(w.lower() for w in kept)))


def _kind(metric: str) -> str:
    """``"metric"``, ``"lr"`` or ``"bookkeeping"`` for a metric name."""
    lower = metric.lower()
    if _LEARNING_RATE.match(lower):
        return "lr"
    if _BOOKKEEPING.match(lower):
        return "bookkeeping"
    return "metric"


def match_flat_tag(tag: str) -> tuple[str, str, str] | None:
    """(split, metric, granularity) of a tag naming its split; granularity is
    ``"epoch"``, ``"step"`` or ``""``. None for a tag without a split word."""
    parsed = _parse_flat(tag)
    return None if parsed is None else (parsed[0], parsed[2], parsed[3])


def _parse_flat(tag: str) -> tuple[str, str, str, str] | None:
    """(split, split word as written, metric, granularity), or None.

    A chart group before the split-named part is left out: skorch's
    ``TensorBoard`` callback writes ``Loss/train_loss``, ``Loss/valid_loss`` and
    ``Loss/valid_acc`` (its history keys, every one under ``Loss/``).
    """
    found = _SPLIT_FIRST.match(tag)
    if found:
        word, metric = found.group(1), found.group(2)
    else:
        found = _SPLIT_LAST.match(tag)
        if not found:
            group, _, last = tag.rpartition("/")
            return _parse_flat(last) if group else None
        metric, word = found.group(1), found.group(2)
    grain = ""
    suffix = _SUFFIX.match(metric)
    if suffix:
        metric, grain = suffix.group(1), suffix.group(2).lower()
    metric = metric_name(metric)
    split = split_word(word)
    return (split, word.lower(), metric, grain) if metric and split else None


class FlatKeys(NamedTuple):
    """How the tags of one folder (or one ``self.log`` dict) become history keys."""

    keys: dict[str, tuple[str, str]]  # tag -> (history key, granularity)
    unmatched: list[str]
    remarks: list[str]


def flat_keys(tags: Iterable[str], mapping: TagMapping | None = None) -> FlatKeys:
    """History keys of tags that carry their split in their name.

    ``loss`` beside ``val_loss`` is training (Keras' names written by hand);
    ``test`` is validation unless a ``val``/``eval``/... tag of the same metric
    is there too (then it stays ``test_<metric>``, drawn nowhere);
    Lightning's ``val_loss/dataloader_idx_N`` gives ``val_loss`` for the first
    loader and ``val_loss_dataloader_idx_N`` for the others (a remark says so);
    bookkeeping tags are left out, learning rates become ``learning_rate``.
    """
    tags = [str(t) for t in tags]
    keys: dict[str, tuple[str, str]] = {}
    unmatched: list[str] = []
    loaders: dict[str, set[int]] = {}
    parsed: dict[str, tuple[str, str, str, int | None]] = {}
    words: dict[tuple[str, str], set[str]] = {}  # (split, metric) -> split words seen
    bare: list[str] = []
    named: dict[str, str] = {}  # tag -> the tag less its namespace
    for tag in tags:
        if tag.startswith(("tbviz/", "_hparams_/")):
            continue
        name = named[tag] = _NAMESPACE.sub("", tag)
        if mapping is not None:
            found = mapping.match(tag)
            if found:
                parsed[tag] = (found[0], metric_name(found[1]), "epoch", None)
            else:
                unmatched.append(tag)
            continue
        loader = _LOADER.match(name)
        inner, index = (loader.group(1), int(loader.group(2))) if loader else (name, None)
        found = _parse_flat(inner)
        if found is None:
            bare.append(tag)
            continue
        split, word, metric, grain = found
        words.setdefault((split, metric), set()).add(word)
        if split == "val" and word == "test":
            split = "test"  # a held-out test split: validation only if nothing else is
        parsed[tag] = (split, metric, grain, index)
    for tag, (split, metric, grain, index) in list(parsed.items()):
        if split == "test":
            beside = words.get(("val", metric), set()) - {"test"}
            parsed[tag] = ("test" if beside else "val", metric, grain, index)
    for split, metric, _, index in parsed.values():
        if index is not None:
            loaders.setdefault(f"{split}:{metric}", set()).add(index)
    validated = {m for s, m, _, _ in parsed.values() if s == "val"}
    for tag in bare:
        suffix = _SUFFIX.match(named[tag])
        name, grain = (suffix.group(1), suffix.group(2).lower()) if suffix else (named[tag], "")
        metric = metric_name(name)
        if _kind(metric) == "lr":
            keys[tag] = (LEARNING_RATE, grain)
        elif metric in validated and _kind(metric) == "metric":
            keys[tag] = (metric, grain)  # ``loss`` beside ``val_loss``
        elif _kind(metric) != "bookkeeping":
            unmatched.append(tag)
    remarks = []
    for tag, (split, metric, grain, index) in parsed.items():
        kind = _kind(metric)
        if kind == "bookkeeping":
            continue
        if kind == "lr":
            keys[tag] = (LEARNING_RATE, grain)
            continue
        if index is not None and index != min(loaders[f"{split}:{metric}"]):
            metric = f"{metric}_dataloader_idx_{index}"
        prefix = {"val": VALIDATION_PREFIX, "test": "test_"}.get(split, "")
        keys[tag] = (prefix + metric, grain)
    for name, indexes in sorted(loaders.items()):
        if len(indexes) > 1 and name.startswith("val:"):
            metric, first = name[4:], min(indexes)
            others = ", ".join(
                f"{VALIDATION_PREFIX}{metric}_dataloader_idx_{i}" for i in sorted(indexes)[1:]
            )
            remarks.append(
                f"{VALIDATION_PREFIX}{metric} is validation dataloader {first} of "
                f"{len(indexes)} (the others: {others}; pick one with --metric)"
            )
    return FlatKeys(keys, unmatched, remarks)


def split_folder_key(tag: str, split: str) -> tuple[str, str] | None:
    """(history key, granularity) of a tag in a split folder, None for bookkeeping.

    Keras writes ``epoch_<metric>`` (and ``batch_<metric>`` with
    ``update_freq``); other writers put bare ``<metric>`` tags there.
    """
    if tag.startswith(("tbviz/", "_hparams_/")):
        return None
    grain = ""
    if tag.startswith(metadata.EPOCH_TAG_PREFIX) and len(tag) > len(metadata.EPOCH_TAG_PREFIX):
        name, grain = tag[len(metadata.EPOCH_TAG_PREFIX) :], "epoch"
    elif tag.startswith("batch_") and len(tag) > len("batch_"):
        name, grain = tag[len("batch_") :], "step"
    else:
        name = tag
    metric = metric_name(name, lower=False)
    kind = _kind(metric)
    if not metric or kind == "bookkeeping":
        return None
    if kind == "lr":
        return (LEARNING_RATE, grain) if split == "train" else None
    return (VALIDATION_PREFIX if split == "val" else "") + metric, grain


def suggest_mapping(
    tags: Iterable[str], curves: Mapping[str, Curve] | None = None
) -> TagMapping | None:
    """A :class:`TagMapping` pairing unplaced tags such as ``loss/ours`` and
    ``loss/holdout`` (two words that follow, or lead, the same metric names),
    or None when no two words do. Which of the two is training is a guess,
    to be said as one: the curve that moved more from its first value to its
    last (training fits faster than it generalises), given ``curves``."""
    tags = list(tags)
    found = _pair_words(tags)
    if found is None:
        return None
    form, first, second = found
    if curves is not None and _moved(form, second, tags, curves) > _moved(
        form, first, tags, curves
    ):
        first, second = second, first
    return TagMapping(form % first, form % second)


def _moved(form: str, word: str, tags: list[str], curves: Mapping[str, Curve]) -> float:
    """How far the curves of ``word`` moved, relative to where they started."""
    pattern = TagMapping(form % word, form % word)
    moved = 0.0
    for tag in tags:
        curve = curves.get(tag)
        if curve is None or len(curve.values) < 2 or pattern.match(tag) is None:
            continue
        start, end = curve.values[0], curve.values[-1]
        moved += abs(end - start) / max(abs(start), 1e-12)
    return moved


def _pair_words(tags: list[str]) -> tuple[str, str, str] | None:
    for position in (-1, 0):
        by_word: dict[str, set[str]] = {}
        for tag in tags:
            pieces = tag.split("/")
            if len(pieces) < 2:
                continue
            word = pieces[position]
            if _kind(metric_name(word)) != "metric":
                continue  # a counter, a timing or a rate is never a split's name
            rest = "/".join(pieces[:-1] if position == -1 else pieces[1:])
            by_word.setdefault(word, set()).add(rest)
        words = sorted(by_word, key=lambda w: (-len(by_word[w]), w))
        for i, first in enumerate(words):
            for second in words[i + 1 :]:
                if by_word[first] & by_word[second]:
                    form = "{metric}/%s" if position == -1 else "%s/{metric}"
                    return form, first, second
    return None


# -- which folders make a run --------------------------------------------------


def group_runs(
    folders: Iterable[str], tags_of: Callable[[str], Collection[str]]
) -> dict[str, dict[str, Part]]:
    """Runs of a log directory: run name -> {folder: its part}.

    ``folders`` are the folders holding event files, ``/``-separated and
    relative to the log directory (``.`` for the directory itself), as
    TensorBoard names its runs. ``tags_of(folder)`` gives the tags a folder
    holds; it is asked only for folders whose name alone cannot tell (a name
    ending in a split word, a folder inside another run's folder).
    """
    known = set(folders)
    peeked: dict[str, Collection[str]] = {}

    def tags(folder: str) -> Collection[str]:
        if folder not in peeked:
            peeked[folder] = tags_of(folder)
        return peeked[folder]

    placed: dict[str, tuple[str, Part]] = {}
    runs: dict[str, dict[str, Part]] = {}
    splits = collections.Counter(
        _parent(f) for f in known if split_word(f.rpartition("/")[2]) is not None
    )
    for folder in sorted(known):  # a folder sorts after its parent: placed before it
        run, part = placed[folder] = _place(folder, known, placed, tags, splits)
        runs.setdefault(run, {})[folder] = part
    return runs


def _parent(folder: str) -> str:
    return folder.rpartition("/")[0] or "."


def _place(
    folder: str,
    known: set[str],
    placed: Mapping[str, tuple[str, Part]],
    tags_of,
    splits: Mapping[str, int],
) -> tuple[str, Part]:
    """(run, part) of one folder; ``placed`` holds every folder sorted before it,
    ``splits`` how many split-named folders each folder holds."""
    if folder == ".":
        return ".", ROOT
    parent, name = _parent(folder), folder.rpartition("/")[2]
    split = split_word(name)
    if split is not None:
        # <run>/<Tag>/<split> (tensorboardX's add_scalars): the tag folder holds no
        # events, the run folder above it does.
        if parent != "." and parent not in known and _ancestor_known(parent, known):
            owner = _add_scalars_owner(parent, tags_of(folder))
            if owner is not None:
                return owner[0], Part("add_scalars", split, owner[1])
        if splits[parent] == 1 and _names_both_splits(tags_of(folder)):
            # A run named like a split, alone beside its siblings, whose tags name
            # both splits: Ultralytics' runs/detect/train (then train2, train3...).
            return folder, ROOT
        return parent, Part("split", split)
    if splits[parent] and _INNER.match(name):
        return parent, Part("split", "train", grain="step")
    found = _NAME_SPLIT.match(name)
    if found:
        stem = f"{parent}/{found.group(1)}" if parent != "." else found.group(1)
        owner = _add_scalars_owner(stem, tags_of(folder))
        if owner is not None:
            return owner[0], Part("add_scalars", split_word(found.group(2)) or "", owner[1])
    if (
        parent in placed
        and placed[parent][1] == ROOT
        and metadata.HPARAMS_SESSION_TAG in tags_of(folder)
    ):
        return parent, Part("hparams")
    return folder, ROOT


def _names_both_splits(tags: Collection[str]) -> bool:
    """True when ``tags`` pair into training and validation curves by themselves."""
    keys = [key for key, _ in flat_keys(tags).keys.values() if key != LEARNING_RATE]
    return any(k.startswith(VALIDATION_PREFIX) for k in keys) and any(
        not k.startswith(VALIDATION_PREFIX) for k in keys
    )


def _ancestor_known(folder: str, known: set[str]) -> bool:
    while folder != ".":
        folder = _parent(folder)
        if folder in known:
            return True
    return False


def _add_scalars_owner(stem: str, tags: Collection[str]) -> tuple[str, str] | None:
    """(run, tag) when a folder ``<stem>_<split>`` holds exactly the one tag its
    stem ends with (``add_scalars`` writes ``<run>/<Tag>_<split>`` holding ``<Tag>``,
    ``/`` in the tag becoming ``_``, or ``<run>/<Tag>/<split>``)."""
    scalars = [t for t in tags if not t.startswith(("tbviz/", "_hparams_/"))]
    if len(scalars) != 1:
        return None
    tag = scalars[0]
    for form in dict.fromkeys((tag, tag.replace("/", "_"))):
        if stem == form:
            return ".", tag
        if stem.endswith("/" + form):
            return stem[: -len(form) - 1], tag
    return None


# -- curves to epochs ----------------------------------------------------------


def run_history(
    folders: Mapping[str, tuple[Part, Mapping[str, Curve]]],
    mapping: TagMapping | None = None,
) -> LayoutResult:
    """One run's History from its folders' scalars: folder -> (part, {tag: curve})."""
    chosen: dict[str, tuple[str, Curve]] = {}  # key -> (granularity, curve)
    unmatched: list[str] = []
    remarks: list[str] = []
    epochs: Curve | None = None
    keras = False

    def offer(key: str, grain: str, curve: Curve) -> None:
        if key not in chosen or _GRAIN_RANK[grain] > _GRAIN_RANK[chosen[key][0]]:
            chosen[key] = (grain, curve)

    for part, tags in folders.values():
        if part.kind == "root":
            if mapping is None and "epoch" in tags and len(tags["epoch"].steps):
                epochs = tags["epoch"]
            found = flat_keys(tags, mapping)
            # Not in a Lightning log (its ``epoch`` scalar): there a training metric
            # logged once an epoch shares the validation's steps.
            beside = _beside_validation(tags, found) if mapping is None and epochs is None else {}
            unmatched += [t for t in found.unmatched if t not in beside]
            remarks += found.remarks
            if beside:
                remarks.append(_beside_remark(beside))
            for tag, (key, grain) in {**found.keys, **beside}.items():
                offer(key, grain, tags[tag])
        elif part.kind == "split":
            for tag, curve in tags.items():
                keras = keras or tag.startswith(metadata.EPOCH_TAG_PREFIX)
                found = split_folder_key(tag, part.split)
                if found is not None:
                    offer(found[0], part.grain or found[1], curve)
        elif part.kind == "add_scalars" and part.tag in tags:
            metric = scalars_metric(part.tag)
            key = (VALIDATION_PREFIX if part.split == "val" else "") + metric
            if _kind(metric) == "metric":
                offer(key, "", tags[part.tag])
    kinds = {part.kind for part, _ in folders.values()}
    if mapping is not None:
        layout = "mapped"
    elif "split" in kinds:
        layout = "keras" if keras else "split folders"
    elif "add_scalars" in kinds:
        layout = "add_scalars"
    else:
        layout = "lightning" if epochs is not None else "flat"
    if epochs is not None:
        chosen = {k: v for k, v in chosen.items() if v[0] != "step"}
        # Training logged in training_step (``self.log``'s default there: every
        # ``log_every_n_steps`` steps) is averaged per epoch, as an epoch's
        # training loss is; validation logged more than once an epoch
        # (``val_check_interval < 1``) is read at its last evaluation.
        placed = {
            k: _by_epoch_scalar(c, epochs, mean=not k.startswith(VALIDATION_PREFIX))
            for k, (_, c) in chosen.items()
        }
        several = sorted(k for k, (_, c) in chosen.items() if len(c.steps) > len(placed[k]))
        last = [k for k in several if k.startswith(VALIDATION_PREFIX)]
        if last:
            remarks.append(
                f"{', '.join(last)} logged more than once an epoch: the last value of "
                "each epoch is read"
            )
        if averaged := [k for k in several if not k.startswith(VALIDATION_PREFIX)]:
            remarks.append(f"{', '.join(averaged)} logged at steps: averaged per epoch")
    elif layout == "keras":
        chosen = {k: v for k, v in chosen.items() if v[0] != "step"}
        placed = {k: Series(list(c.steps), list(c.values)) for k, (_, c) in chosen.items()}
        marks = sorted({s for _, c in chosen.values() for s in c.steps})
        if not marks or marks[-1] - marks[0] == len(marks) - 1:
            pass  # epochs, one after another
        elif said := _epochs_with_gaps(folders, marks):
            remarks.append(said)
        else:
            # epoch_* tags at global steps (tbviz's RunLogger.log_eval, the
            # Hugging Face callback): the k-th evaluation is point k.
            placed = _by_evaluation({k: c for k, (_, c) in chosen.items()}, marks)
            remarks.append(
                f"logged at global steps ({marks[0]:,}, ...): the k-th evaluation is read "
                "as epoch k"
            )
    else:
        placed, said = _steps_to_epochs({k: c for k, (_, c) in chosen.items()})
        remarks += said
    remarks += _sparse_training(placed, layout, folders)
    history = History()
    for key in sorted(placed, key=lambda k: (k.startswith(VALIDATION_PREFIX), k)):
        if len(placed[key]):
            history.record_series(key, placed[key])
    return LayoutResult(history, layout, unmatched, remarks)


#: Tags only the Hugging Face Trainer writes beside its evaluations.
_TRAINER_TAGS = frozenset({"eval/runtime", "train/train_runtime", "train/total_flos"})


def _sparse_training(
    placed: Mapping[str, Series],
    layout: str,
    folders: Mapping[str, tuple[Part, Mapping[str, Curve]]],
) -> list[str]:
    """A remark when training was logged at under half the epochs validation was,
    or not at all, so that overfitting cannot be told, and what to change: the
    usual cause is a library logging training every N steps, N larger than a
    small run's epoch (Lightning's ``log_every_n_steps=50``, the Trainer's
    ``logging_steps=500``)."""
    evaluated = max(
        (len(s) for k, s in placed.items() if k.startswith(VALIDATION_PREFIX)), default=0
    )
    # Training metrics: not validation, a held-out test split (logged once at the
    # end, say) or a learning rate. Only those with a validation twin can be sparse.
    trained = {
        k: len(s)
        for k, s in placed.items()
        if not k.startswith((VALIDATION_PREFIX, "test_")) and k != LEARNING_RATE and len(s)
    }
    sparse = sorted(
        k for k, n in trained.items() if VALIDATION_PREFIX + k in placed and n < evaluated / 2
    )
    if not evaluated or (trained and not sparse):
        return []
    tags = {t for _, curves in folders.values() for t in curves}
    if layout == "lightning":
        advice = (
            "log it with self.log(..., on_epoch=True), or a lower Trainer(log_every_n_steps=...)"
        )
    elif tags & _TRAINER_TAGS:
        advice = (
            "set TrainingArguments(logging_strategy=...) to the eval_strategy, "
            "or a lower logging_steps"
        )
    else:
        advice = "log the training loss once an epoch beside the validation loss"
    if not trained:
        return [f"no training metric logged, so overfitting cannot be told: {advice}"]
    least = min(trained[k] for k in sparse)
    return [f"{', '.join(sparse)} logged at only {least} of {evaluated} epochs: {advice}"]


def _beside_validation(tags: Mapping[str, Curve], found: FlatKeys) -> dict[str, tuple[str, str]]:
    """Bare metric tags (no split word) logged at exactly the validation loss's steps,
    while the training loss is logged at other, more, steps: validation metrics.

    fastai's ``TensorBoardCallback`` logs so: ``train_loss`` every batch, then at
    each epoch's end ``valid_loss`` and every metric by its bare name
    (``accuracy``, ``error_rate``), all of which fastai computes on the
    validation set. A bare name logged once an epoch beside the validation
    loss, where the training loss is logged per batch, is read the same way
    (and a remark says so); logged with the training loss, it stays unread.
    """
    keys = {key: tag for tag, (key, _) in found.keys.items()}
    val, train = keys.get(VALIDATION_PREFIX + "loss"), keys.get("loss")
    if val is None or train is None:
        return {}
    marks = list(tags[val].steps)
    if len(tags[train].steps) <= len(marks) or list(tags[train].steps) == marks:
        return {}
    beside = {}
    for tag in found.unmatched:
        metric = metric_name(_NAMESPACE.sub("", tag))
        key = VALIDATION_PREFIX + metric
        # Unmatched, with no mapping: a bare name (no split word), not bookkeeping.
        if key not in keys and list(tags[tag].steps) == marks:
            beside[tag] = (key, "")
    return beside


def _beside_remark(beside: Mapping[str, tuple[str, str]]) -> str:
    tags = ", ".join(sorted(beside))
    keys = ", ".join(sorted(key for key, _ in beside.values()))
    return (
        f"{tags} logged at the validation loss's steps, the training loss at others: "
        f"read as validation ({keys}), as fastai logs its metrics"
    )


def _epochs_with_gaps(
    folders: Mapping[str, tuple[Part, Mapping[str, Curve]]], marks: Sequence[int]
) -> str | None:
    """What to say of epoch_* scalars at steps with gaps (``marks``) when they
    are epochs missing from a Keras log, rather than evaluations at global
    steps; None when they are evaluations.

    Keras' own callback always writes them at step = epoch, and beside them
    ``evaluation_<metric>_vs_iterations`` at global steps. Epochs go missing
    from its log when a fit resumes (``initial_epoch``) or, with
    ``update_freq=N``, because it records any summary only at a step count
    divisible by N (it then writes ``batch_*`` scalars at global steps too,
    running on past twice the last mark, where evaluations every N steps
    end within one interval of it).
    """
    last_batch, batch_every, evaluations = 0, 0, False
    for part, tags in folders.values():
        if part.kind != "split":
            continue
        for tag, curve in tags.items():
            if tag.startswith("evaluation_") and tag.endswith("_vs_iterations"):
                evaluations = True
            elif tag.startswith("batch_") and len(curve.steps) > 1:
                last_batch = max(last_batch, curve.steps[-1])
                batch_every = max(batch_every, curve.steps[1] - curve.steps[0])
    if not (evaluations or last_batch >= 2 * marks[-1]):
        return None
    said = (
        f"epochs {_listed(marks)} logged ({len(marks)} in all), the ones between are not in the log"
    )
    if batch_every > 1:  # update_freq=N, N > 1: the bug's condition
        said += (
            ": keras.callbacks.TensorBoard(update_freq=N) writes an epoch's summaries only "
            "when the step count is a multiple of N (a Keras bug, "
            'tensorflow/tensorflow#49109); update_freq="epoch" (or tbviz\'s TBVizCallback, '
            "which takes the same update_freq) logs every epoch"
        )
    return said


def _listed(marks: Sequence[int], most: int = 6) -> str:
    """``marks`` (0-based epochs) as people count them, runs as ranges:
    "1-5, 11-15", or "3, 6, 9, ..., 30" past ``most`` items."""
    items: list[str] = []
    for _, group in itertools.groupby(enumerate(marks), key=lambda pair: pair[1] - pair[0]):
        run = [m + 1 for _, m in group]
        items += [f"{run[0]}-{run[-1]}"] if len(run) > 2 else [str(m) for m in run]
    if len(items) > most:
        items = [*items[: most - 1], "...", items[-1]]
    return ", ".join(items)


def _by_epoch_scalar(curve: Curve, epochs: Curve, *, mean: bool = False) -> Series:
    """Place values logged at global steps at the epoch Lightning's ``epoch`` scalar
    gives for that step (its last value at or before the step); the last value of
    an epoch wins, or with ``mean`` their mean."""
    steps, values = epochs.steps, epochs.values

    def epoch_of(i: int) -> int:
        return round(values[max(bisect.bisect_right(steps, curve.steps[i]) - 1, 0)])

    if mean:
        return _mean_by(curve, epoch_of)
    placed = {epoch_of(i): value for i, value in enumerate(curve.values)}
    ordered = sorted(placed)
    return Series(ordered, [placed[e] for e in ordered])


def _counts_epochs(marks: Sequence[int]) -> bool:
    return bool(marks) and marks[0] in (0, 1) and marks[-1] - marks[0] == len(marks) - 1


def _steps_to_epochs(curves: Mapping[str, Curve]) -> tuple[dict[str, Series], list[str]]:
    """Place curves logged at steps on 0-based epochs (see the module docstring)."""
    if not curves:
        return {}, []
    validation = {k: c for k, c in curves.items() if k.startswith(VALIDATION_PREFIX)}
    marks = sorted({s for c in (validation or curves).values() for s in c.steps})
    if not _counts_epochs(marks):
        placed = _by_evaluation(curves, marks)
        averaged = sorted(k for k, c in curves.items() if len(c.steps) > len(placed[k]))
        said = f"; {', '.join(averaged)} averaged over the steps before each" if averaged else ""
        return placed, [
            f"logged at global steps ({marks[0]:,}, ...): the k-th evaluation is read "
            f"as epoch k{said}"
        ]
    shift = marks[0]

    def at_epochs(curve: Curve) -> bool:
        return not curve.steps or (curve.steps[0] >= shift and curve.steps[-1] <= marks[-1])

    placed, remarks = {}, []
    # The epochs' wall times, only for a run with training at global steps.
    walls = None if all(map(at_epochs, curves.values())) else _mark_walls(validation, marks)
    for key, curve in curves.items():
        if at_epochs(curve):
            placed[key] = Series([s - shift for s in curve.steps], list(curve.values))
            continue
        # Training at global steps beside validation at epoch steps.
        if walls is not None and len(curve.walls) == len(curve.steps):
            epoch_of = [bisect.bisect_left(walls, wall) for wall in curve.walls]
            how = "by wall time"
        else:
            per_epoch = (curve.steps[-1] + 1) / len(marks)
            epoch_of = [int(step // per_epoch) for step in curve.steps]
            how = "by step scale (no wall times)"
        placed[key] = _first_epochs(_mean_by(curve, epoch_of.__getitem__), len(marks))
        remarks.append(
            f"{key} was logged at global steps, validation per epoch: averaged per epoch {how}"
        )
    return placed, remarks


def _mark_walls(validation: Mapping[str, Curve], marks: Sequence[int]) -> list[float] | None:
    """The wall time each epoch's validation was first logged, if wall times tell
    epochs apart (increasing), else None."""
    first: dict[int, float] = {}
    for curve in validation.values():
        if len(curve.walls) != len(curve.steps):
            return None
        for step, wall in zip(curve.steps, curve.walls, strict=True):
            first[step] = min(wall, first.get(step, wall))
    walls = [first.get(m) for m in marks]
    if None in walls or any(b <= a for a, b in itertools.pairwise(walls)):
        return None
    return walls


def _mean_by(curve: Curve, epoch_of: Callable[[int], int]) -> Series:
    sums: dict[int, list[float]] = {}
    for i, value in enumerate(curve.values):
        sums.setdefault(epoch_of(i), []).append(value)
    ordered = sorted(sums)
    return Series(ordered, [sum(sums[e]) / len(sums[e]) for e in ordered])


def _first_epochs(series: Series, count: int) -> Series:
    keep = [i for i, e in enumerate(series.epochs) if e < count]
    return Series([series.epochs[i] for i in keep], [series.values[i] for i in keep])


def _by_evaluation(curves: Mapping[str, Curve], marks: Sequence[int]) -> dict[str, Series]:
    """The k-th evaluation is epoch k; other values are averaged over the steps up
    to the evaluation they precede."""
    placed = {}
    for key, curve in curves.items():
        series = _mean_by(curve, lambda i, c=curve: bisect.bisect_left(marks, c.steps[i]))
        placed[key] = _first_epochs(series, len(marks))
    return placed
