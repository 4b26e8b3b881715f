"""The tbviz dashboard: a TensorBoard dynamic plugin with its own tab.

One tab that answers "which runs overfit, when, and how badly?": a table of
every run's diagnosis, each run's comparison figure and notes, and an overlay
of the monitored metric across runs with the overfitting onsets marked.

Registered through the ``tensorboard_plugins`` entry point. Every byte comes
through ``context.data_provider`` (so it works with TensorBoard's default
Rust data server) and every answer through ``http_util.Respond``. Runs are
put together and read by the layout rule the ``tbviz`` command uses, and a run
without a stored diagnosis is diagnosed as the command does, by ``val_loss``
or the metric the tab asks for.

Routes, under ``/data/plugin/tbviz``:

    /index.js            the ES module TensorBoard's iframe imports
    /runs?metric=M       every run: status, best epoch and value, onset, gap, hparams,
                         its groups; runs without a stored diagnosis judged by M
                         (default val_loss), and the validation metrics they have
    /notes?run=R&metric=M    the run's notes and final summary (markdown source);
                         for a run logged without them, the final note written
                         here from its scalars (``kind`` "drawn"), judged as its row
    /figure?run=R&metric=M   the run's latest comparison figure (PNG); for a run
                         logged without one (another library's, or tbviz's with
                         figures off), drawn here from its scalars, judged as its row
    /overlay?run=A&run=B&metric=M   the monitored metric of those runs, with onsets
"""

from __future__ import annotations

import json
import threading
from importlib import resources

from tensorboard import errors
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tbviz.core.history import is_validation
from tbviz.core.results import NAMING_HPARAMS, group_placement, stop_outcome, varying_hparams
from tbviz.core.text import finite_or_none
from tbviz.core.verdicts import STATUS_TABLE
from tbviz.logdir import metadata

#: What a run without a stored diagnosis is judged by unless the tab asks otherwise
#: (the ``tbviz`` command's default ``--metric``).
DEFAULT_METRIC = "val_loss"

_SCALARS = "scalars"
_TEXT = "text"
_IMAGES = "images"
#: Ask the data provider for everything it kept (its own sampling still applies).
_ALL = 100_000


class TbvizPlugin(base_plugin.TBPlugin):
    """TensorBoard's tbviz tab: which runs overfit, when, and how badly."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._provider = context.data_provider
        #: run -> what was read of it, under its freshness key: see :meth:`runs`.
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # TensorBoard answers requests on several threads
        self._drawing = threading.Lock()  # one matplotlib figure, reused: one drawing at a time
        self._plotter = None  # made at the first drawing: matplotlib loads only then

    def get_plugin_apps(self) -> dict:
        return {
            "/index.js": self._serve_js,
            "/runs": self._serve_runs,
            "/notes": self._serve_notes,
            "/figure": self._serve_figure,
            "/overlay": self._serve_overlay,
        }

    def is_active(self) -> bool:
        # Only a fallback: TensorBoard decides from data_plugin_names() and
        # the data it holds, without calling this.
        return False

    def data_plugin_names(self) -> tuple[str, ...]:
        # Active with tbviz data, and with the scalars of plain Keras runs,
        # which the tab diagnoses itself.
        return (metadata.PLUGIN_NAME, _SCALARS)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="tbviz")

    # -- routes ------------------------------------------------------------

    @wrappers.Request.application
    def _serve_js(self, request):
        source = resources.files("tbviz.dashboard").joinpath("static", "index.js").read_bytes()
        return http_util.Respond(request, source, "text/javascript")

    @wrappers.Request.application
    def _serve_runs(self, request):
        ctx, eid = _context(request)
        metric = request.args.get("metric") or DEFAULT_METRIC
        rows, _ = self.runs(ctx, eid, metric=metric)
        # The status table (worst first, colours, meanings): the tab draws from it.
        statuses = [
            {"status": status, "color": color, "meaning": meaning}
            for status, (color, meaning) in STATUS_TABLE.items()
        ]
        # As the leaderboard's hparams column and --group-over read them: the hparams
        # that vary, and for each one a knob, each run's group when grouped over it.
        varying = varying_hparams([row.get("hparams") or {} for row in rows])
        knobs = [name for name in varying if name not in NAMING_HPARAMS]
        rows = [{**row, "groups": _groups(row, knobs, varying)} for row in rows]
        return _json(
            request,
            {
                "runs": rows,
                "statuses": statuses,
                "varying": varying,
                "knobs": knobs,
                # Runs diagnosed from their scalars are judged by ``metric``; the
                # validation metrics they have are the choices.
                "metric": metric,
                "metrics": self.metrics(),
            },
        )

    @wrappers.Request.application
    def _serve_notes(self, request):
        ctx, eid = _context(request)
        run = _required(request, "run")
        found = self._provider.read_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=_TEXT,
            downsample=_ALL,
            run_tag_filter=provider.RunTagFilter(
                runs=[run], tags=[metadata.TAG_NOTES, metadata.TAG_SUMMARY]
            ),
        ).get(run, {})
        notes = [
            {"step": datum.step, "kind": kind, "markdown": _text(datum.numpy)}
            for tag, kind in ((metadata.TAG_NOTES, "note"), (metadata.TAG_SUMMARY, "summary"))
            for datum in found.get(tag, [])
        ]
        if not notes:  # logged without tbviz: the note annotate would write
            metric = request.args.get("metric") or DEFAULT_METRIC
            drawn = self.drawn_note(ctx, eid, run, metric)
            notes = [drawn] if drawn is not None else []
        return _json(request, {"run": run, "notes": notes})

    @wrappers.Request.application
    def _serve_figure(self, request):
        ctx, eid = _context(request)
        run = _required(request, "run")
        series = (
            self._provider.read_blob_sequences(
                ctx,
                experiment_id=eid,
                plugin_name=_IMAGES,
                downsample=_ALL,
                run_tag_filter=provider.RunTagFilter(runs=[run], tags=[metadata.TAG_FIGURE]),
            )
            .get(run, {})
            .get(metadata.TAG_FIGURE, [])
        )
        if series and len(series[-1].values) >= 3:
            png = self._provider.read_blob(ctx, blob_key=series[-1].values[2].blob_key)
            return http_util.Respond(request, png, "image/png")
        png = self.drawn_figure(ctx, eid, run, request.args.get("metric") or DEFAULT_METRIC)
        if png is None:
            raise errors.NotFoundError(f"run {run!r} has no comparison figure")
        return http_util.Respond(request, png, "image/png")

    @wrappers.Request.application
    def _serve_overlay(self, request):
        ctx, eid = _context(request)
        wanted = request.args.getlist("run")  # repeated: run names may hold commas
        if not wanted:
            return _json(request, {"series": []})
        metric = request.args.get("metric") or DEFAULT_METRIC
        rows, curves = self.runs(ctx, eid, only=wanted, metric=metric)
        by_run = {row["run"]: row for row in rows}
        series = []
        for run in wanted:
            row = by_run.get(run)
            if row is None:
                continue
            values = curves[run]
            series.append(
                {
                    "run": run,
                    "monitor": row["monitor"],
                    "steps": values[0],
                    "values": values[1],
                    "best_epoch": row["best_epoch"],
                    "onset_epoch": row["onset_epoch"],
                    "status": row["status"],
                }
            )
        return _json(request, {"series": series})

    # -- data --------------------------------------------------------------

    def runs(
        self, ctx, eid: str, only: list[str] | None = None, metric: str = DEFAULT_METRIC
    ) -> tuple[list[dict], dict[str, tuple[list, list]]]:
        """One row per run (its latest stored diagnosis, or one made from its
        scalars, judged by ``metric``), and each run's monitored metric as
        (steps, values).

        Runs are put together from TensorBoard's runs (folders) by
        :func:`tbviz.logdir.layouts.group_runs`, as the ``tbviz`` command does.
        ``only`` limits the answer to those runs (the overlay's). A run whose
        folders hold nothing new since the last call (same tags, last steps and
        wall times) is not read or diagnosed again.
        """
        with self._lock:
            return self._runs(ctx, eid, only, metric)

    def metrics(self) -> list[str]:
        """The validation metrics of the runs diagnosed from their scalars (read so
        far): what they can be judged by."""
        with self._lock:
            histories = [
                e.history
                for e in self._cache.values()
                if e.history is not None and e.stored is None
            ]
        return sorted({key for h in histories for key in h if is_validation(key)})

    def drawn_figure(self, ctx, eid: str, run: str, metric: str) -> bytes | None:
        """The comparison figure of a run that logged none, drawn from the scalars
        the tab read and judged as its row is (its stored verdict, else by
        ``metric``); None when the run has no epochs to draw. Kept until the run
        gets new data."""
        found = self._judged_entry(ctx, eid, run, metric)
        if found is None:
            return None
        entry, key, diagnosis = found
        if key not in entry.figures:
            from tbviz.core.text import figure_title

            last = entry.history.last_epoch
            with self._drawing:
                if self._plotter is None:
                    from tbviz.figures.run_figure import ComparisonPlotter

                    self._plotter = ComparisonPlotter()
                figure = self._plotter.render(
                    entry.history,
                    diagnosis,
                    figure_title(run, last, diagnosis.status),
                    epochs=last + 1,
                )
            entry.figures = {key: figure.png}  # the latest metric's only
        return entry.figures[key]

    def drawn_note(self, ctx, eid: str, run: str, metric: str) -> dict | None:
        """The final note of a run that logged none, written from its scalars and
        judged as its row is: what tbviz annotate would write into it (the verdict,
        the numbers, where EarlyStopping and OverfittingStopping would have
        stopped). None when the run has no epochs."""
        found = self._judged_entry(ctx, eid, run, metric)
        if found is None:
            return None
        diagnosis = found[2]
        from tbviz.core.notes import note

        return {
            "step": diagnosis.last_epoch,
            "kind": "drawn",
            "markdown": note(diagnosis, final=True),
        }

    def _judged_entry(self, ctx, eid: str, run: str, metric: str):
        """(entry, metric key, full Diagnosis) of a run, judged as its row is (its
        stored verdict, else by ``metric``, every metric replayed: the figure's
        panels and the note's table need them all); None without epochs."""
        self.runs(ctx, eid, only=[run], metric=metric)  # reads the run if it is new
        entry = self._cache.get(run)
        if entry is None or entry.history is None or entry.history.last_epoch is None:
            return None
        key = "" if entry.diagnosis is not None else metric
        if key not in entry.diagnoses:
            from tbviz.core.diagnosis import diagnose

            entry.diagnoses = {key: entry.diagnosis or diagnose(entry.history, metric)}
        return entry, key, entry.diagnoses[key]

    def _runs(self, ctx, eid: str, only: list[str] | None, metric: str):
        scalars = self._provider.list_scalars(ctx, experiment_id=eid, plugin_name=_SCALARS)
        stored = self._provider.list_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(tags=[metadata.TAG_DIAGNOSIS]),
        )
        sessions = self._provider.list_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.HPARAMS_PLUGIN,
            run_tag_filter=provider.RunTagFilter(tags=[metadata.HPARAMS_SESSION_TAG]),
        )
        figures = self._provider.list_blob_sequences(
            ctx,
            experiment_id=eid,
            plugin_name=_IMAGES,
            run_tag_filter=provider.RunTagFilter(tags=[metadata.TAG_FIGURE]),
        )
        every = [r.run_name for r in self._provider.list_runs(ctx, experiment_id=eid)]
        groups = _group_runs(every, scalars, stored, sessions)
        wanted = {run: parts for run, parts in groups.items() if only is None or run in only}
        fresh = {}
        for run, parts in wanted.items():
            key = _freshness(parts, scalars, stored, sessions)
            cached = self._cache.get(run)
            if cached is None or cached.key != key:
                fresh[run] = key
        self._read(ctx, eid, {run: wanted[run] for run in fresh}, scalars, sessions, fresh)
        rows, curves = [], {}
        for run in sorted(wanted):
            cached = self._cache.get(run)
            judged = cached.judged(metric) if cached is not None else None
            if judged is None:
                continue
            rows.append(dict(judged[0], has_figure=run in figures))
            curves[run] = judged[1]
        if only is None:
            for run in set(self._cache) - set(groups):
                del self._cache[run]
        return rows, curves

    def _read(self, ctx, eid, groups, scalars, sessions, keys) -> None:
        """Read and diagnose the runs in ``groups`` (run -> {TensorBoard run: part})
        and keep each row and curve under its freshness key."""
        if not groups:
            return
        from tbviz.logdir.layouts import Curve, run_history
        from tbviz.logdir.summaries import read_hparams

        tb_runs = sorted({tb for parts in groups.values() for tb in parts})
        tags = sorted(
            {t for tb in tb_runs for t in scalars.get(tb, {}) if not t.startswith("tbviz/")}
        )
        read = (
            self._provider.read_scalars(
                ctx,
                experiment_id=eid,
                plugin_name=_SCALARS,
                downsample=_ALL,
                run_tag_filter=provider.RunTagFilter(runs=tb_runs, tags=tags),
            )
            if tags
            else {}
        )
        diagnoses = self._provider.read_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=_ALL,
            run_tag_filter=provider.RunTagFilter(runs=list(groups), tags=[metadata.TAG_DIAGNOSIS]),
        )
        for run, parts in groups.items():
            folders = {
                tb: (
                    part,
                    {
                        tag: Curve(
                            [p.step for p in points],
                            [float(p.value) for p in points],
                            [p.wall_time for p in points],
                        )
                        for tag, points in read.get(tb, {}).items()
                    },
                )
                for tb, part in parts.items()
            }
            result = run_history(folders)
            hparams = {}
            for tb in parts:
                series = sessions.get(tb, {}).get(metadata.HPARAMS_SESSION_TAG)
                if series is not None and series.plugin_content:
                    hparams = read_hparams(series.plugin_content)
            data = diagnoses.get(run, {}).get(metadata.TAG_DIAGNOSIS, [])
            stored = _stored(data[-1].numpy) if data else None
            diagnosis = None if stored is None else stored.to_dict()
            base = {
                "run": run,
                "source": "tbviz" if diagnosis is not None else "scalars",
                "layout": result.layout,
                "remarks": result.remarks,
                "paired": result.history.paired(),
                "hparams": hparams,
            }
            entry = _Entry(keys[run], base)
            if diagnosis is not None:  # judged when it was logged, by its own monitor
                entry.stored = _judged(base, diagnosis, result.history)
                entry.diagnosis = stored
            if result.history.last_epoch is not None:
                entry.history = result.history
            self._cache[run] = entry


#: Verdicts by how many metrics a run diagnosed from its scalars keeps.
_METRICS_KEPT = 4


class _Entry:
    """What the tab read of one run, under the freshness key it was read at: its
    row's run-level fields, its history, and its stored verdict or, for a run
    diagnosed from its scalars, one (row, curve) per metric asked for so far; and
    the comparison figure the tab drew for it, if it logged none."""

    def __init__(self, key: tuple, base: dict) -> None:
        self.key = key
        self.base = base
        self.stored: tuple[dict, tuple[list, list]] | None = None
        self.diagnosis = None  # the stored Diagnosis itself, for drawing
        self.history = None
        self.figures: dict[str, bytes] = {}  # metric judged by ("" if stored) -> PNG
        self.diagnoses: dict = {}  # the same key -> the full Diagnosis drawn from
        self._by_metric: dict[str, tuple[dict, tuple[list, list]] | None] = {}

    def judged(self, metric: str) -> tuple[dict, tuple[list, list]] | None:
        """(row, monitored curve): the stored verdict, else the scalars judged by
        ``metric`` (None: nothing to judge)."""
        if self.stored is not None or self.history is None:
            return self.stored
        if metric not in self._by_metric:
            if len(self._by_metric) >= _METRICS_KEPT:  # the oldest choice goes
                del self._by_metric[next(iter(self._by_metric))]
            diagnosis = _diagnose(self.history, metric)
            self._by_metric[metric] = (
                None if diagnosis is None else _judged(self.base, diagnosis, self.history)
            )
        return self._by_metric[metric]


def _judged(base: dict, diagnosis: dict, history) -> tuple[dict, tuple[list, list]]:
    """A run's row and monitored curve, given its diagnosis."""
    from tbviz.core.detector import changed_settings, stored_settings

    monitor = diagnosis.get("monitor", DEFAULT_METRIC)
    settings = stored_settings(diagnosis.get("settings"))  # defaults where absent
    row = {
        **base,
        **{field: diagnosis.get(field) for field in _ROW_FIELDS},
        "monitor": monitor,
        "reason": diagnosis.get("reason", ""),
        # The thresholds it was judged by, where they are not the defaults.
        "settings": changed_settings(settings),
        # What OverfittingStopping and EarlyStopping would have done to it, in
        # hindsight: [epochs saved, too soon] or None (the header sums them).
        "stopping": {
            "ours": _stop(diagnosis, "overfitting_stopping"),
            "early": _stop(diagnosis, "early_stopping"),
            "epochs": (diagnosis.get("last_epoch") or 0) + 1,
            "patience": settings.patience,
        },
    }
    return row, _series(history, monitor)


def _stop(diagnosis: dict, key: str) -> list | None:
    """One stopper's what-if of a stored diagnosis as [epochs saved, too soon]."""
    what_if = diagnosis.get(key)
    if not what_if or diagnosis.get("best_epoch") is None:
        return None
    found = stop_outcome(
        diagnosis.get("direction", "min"),
        diagnosis.get("best_value"),
        what_if.get("stopped_epoch"),
        what_if.get("restored_value"),
        what_if.get("epochs_saved", 0),
    )
    return None if found is None else list(found)


#: Diagnosis fields every row carries.
_ROW_FIELDS = (
    "status",
    "direction",
    "epochs",
    "best_epoch",
    "best_value",
    "last_value",
    "onset_epoch",
    "diverged_at",
    "gap",
    "generalization_loss",
)


def _group_runs(every, scalars, stored, sessions) -> dict[str, dict[str, object]]:
    """tbviz runs from TensorBoard's runs (folders with event files), by the one
    layout rule; runs with nothing to read are dropped later."""
    from tbviz.logdir.layouts import group_runs

    folders = {
        tb
        for listing in (every, scalars, stored, sessions)
        for tb in listing
        if not metadata.is_compare_run(tb)
    }

    def tags_of(tb: str) -> set[str]:
        return set(scalars.get(tb, {})) | set(sessions.get(tb, {}))

    return group_runs(folders, tags_of)


def _freshness(parts, scalars, stored, sessions) -> tuple:
    """What changes when any folder of a run gets new data: its tags, last steps
    and last wall times."""
    return tuple(
        (tb, tag, series.max_step, series.max_wall_time)
        for tb in sorted(parts)
        for listing in (scalars, stored, sessions)
        for tag, series in sorted(listing.get(tb, {}).items())
    )


def _stored(payload):
    """A stored diagnosis, read through the one checked parser; None if it cannot
    be read (the tab then diagnoses the run from its scalars)."""
    from tbviz.core.diagnosis import DiagnosisFormatError, parse_diagnosis

    try:
        return parse_diagnosis(_text(payload))
    except DiagnosisFormatError:
        return None


def _groups(row: dict, knobs: list[str], varying: list[str]) -> dict[str, list[str]]:
    """Knob -> [group key, group label] of one run, as ``--group-over KNOB`` places it."""
    found = {}
    for knob in knobs:
        key, label, _ = group_placement(row["run"], row.get("hparams") or {}, [knob], varying)
        found[knob] = [json.dumps(key), label]
    return found


def _diagnose(history, metric: str) -> dict | None:
    from tbviz.core.diagnosis import diagnose

    if history.last_epoch is None:
        return None
    # As the leaderboard does: a row needs the monitored metric's verdict and the
    # others' best values, not a replay of every metric (several times slower).
    return diagnose(history, metric, every_metric=False).to_dict()


def _series(history, monitor: str) -> tuple[list, list]:
    series = history.get(monitor)
    if series is None:
        return [], []
    return list(series.epochs), [finite_or_none(float(v)) for v in series.values]


def _text(array) -> str:
    item = array.item() if hasattr(array, "item") else array
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)


def _context(request):
    from tensorboard import plugin_util

    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def _required(request, name: str) -> str:
    value = request.args.get(name)
    if not value:
        raise errors.InvalidArgumentError(f"missing query parameter {name!r}")
    return value


def _json(request, payload: dict):
    return http_util.Respond(request, json.dumps(payload, allow_nan=False), "application/json")
