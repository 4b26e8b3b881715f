"""The tbviz dashboard: a TensorBoard dynamic plugin with its own tab.

One tab that answers "which runs overfit, when, and how badly?": a table of
every run's diagnosis, each run's comparison figure and notes, and an overlay
of the monitored metric across runs with the overfitting onsets marked.

Registered through the ``tensorboard_plugins`` entry point. Every byte comes
through ``context.data_provider`` (so it works with TensorBoard's default
Rust data server) and every answer through ``http_util.Respond``. This module
imports only TensorBoard's plugin API at start-up; the diagnosis core (numpy)
is imported when a run without a stored diagnosis has to be diagnosed.

Routes, under ``/data/plugin/tbviz``:

    /index.js            the ES module TensorBoard's iframe imports
    /runs                every run: status, best epoch and value, onset, gap, hparams
    /notes?run=R         the run's notes and final summary (markdown source)
    /figure?run=R        the run's latest comparison figure (PNG)
    /overlay?run=A&run=B the monitored metric of those runs, with onsets
"""

from __future__ import annotations

import json
from importlib import resources

from tensorboard import errors
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tbviz.core.text import finite_or_none
from tbviz.logdir import metadata

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
        rows, _ = self.runs(ctx, eid)
        return _json(request, {"runs": rows})

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
        if not series or len(series[-1].values) < 3:
            raise errors.NotFoundError(f"run {run!r} has no comparison figure")
        png = self._provider.read_blob(ctx, blob_key=series[-1].values[2].blob_key)
        return http_util.Respond(request, png, "image/png")

    @wrappers.Request.application
    def _serve_overlay(self, request):
        ctx, eid = _context(request)
        wanted = request.args.getlist("run")  # repeated: run names may hold commas
        if not wanted:
            return _json(request, {"series": []})
        rows, curves = self.runs(ctx, eid, only=wanted)
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
        self, ctx, eid: str, only: list[str] | None = None
    ) -> tuple[list[dict], dict[str, tuple[list, list]]]:
        """One row per run (its latest stored diagnosis, or one made from its
        scalars), and each run's monitored metric as (steps, values).

        ``only`` limits the reading to those runs (the overlay's), so asking
        for a few curves does not read and diagnose the whole log directory.
        """
        histories = self._histories(ctx, eid, only)
        stored = self._provider.read_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=_ALL,
            run_tag_filter=provider.RunTagFilter(runs=only, tags=[metadata.TAG_DIAGNOSIS]),
        )
        figures = self._provider.list_blob_sequences(
            ctx,
            experiment_id=eid,
            plugin_name=_IMAGES,
            run_tag_filter=provider.RunTagFilter(runs=only, tags=[metadata.TAG_FIGURE]),
        )
        hparams = self._hparams(ctx, eid, only)
        rows, curves = [], {}
        for run in sorted(set(histories) | set(stored)):
            data = stored.get(run, {}).get(metadata.TAG_DIAGNOSIS, [])
            diagnosis = _stored(data[-1].numpy) if data else None
            if diagnosis is not None:
                source = "tbviz"
            else:
                diagnosis, source = _diagnose(histories[run]), "scalars"
                if diagnosis is None:
                    continue
            monitor = diagnosis.get("monitor", "val_loss")
            rows.append(
                {
                    "run": run,
                    "source": source,
                    "status": diagnosis.get("status"),
                    "monitor": monitor,
                    "direction": diagnosis.get("direction"),
                    "epochs": diagnosis.get("epochs"),
                    "best_epoch": diagnosis.get("best_epoch"),
                    "best_value": diagnosis.get("best_value"),
                    "last_value": diagnosis.get("last_value"),
                    "onset_epoch": diagnosis.get("onset_epoch"),
                    "diverged_at": diagnosis.get("diverged_at"),
                    "gap": diagnosis.get("gap"),
                    "generalization_loss": diagnosis.get("generalization_loss"),
                    "reason": diagnosis.get("reason", ""),
                    "has_figure": run in figures,
                    "hparams": hparams.get(run, {}),
                }
            )
            curves[run] = _series(histories.get(run, {}), monitor)
        return rows, curves

    def _hparams(self, ctx, eid: str, only: list[str] | None = None) -> dict[str, dict]:
        """Each run's hyperparameters, from what TensorBoard's HParams plugin reads."""
        from tbviz.logdir.summaries import read_hparams

        listing = self._provider.list_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.HPARAMS_PLUGIN,
            run_tag_filter=provider.RunTagFilter(runs=only, tags=[metadata.HPARAMS_SESSION_TAG]),
        )
        found = {}
        for run, tags in listing.items():
            series = tags.get(metadata.HPARAMS_SESSION_TAG)
            if series is not None and series.plugin_content:
                found[run] = read_hparams(series.plugin_content)
        return found

    def _histories(
        self, ctx, eid: str, only: list[str] | None = None
    ) -> dict[str, dict[str, tuple[list, list]]]:
        """Per run, Keras-style key -> (steps, values), in whatever layout it was logged.

        TensorBoard sees ``<run>/train`` and ``<run>/validation`` (and
        ``add_scalars``' ``<run>/<Tag>_<split>``) as runs of their own; they
        are put back together here through :mod:`tbviz.logdir.layouts`.
        """
        from tbviz.core.history import Series
        from tbviz.logdir.layouts import add_scalars_history, flat_history, keras_history

        listing = self._provider.list_scalars(ctx, experiment_id=eid, plugin_name=_SCALARS)
        groups = {tb_run: _group(tb_run, tags) for tb_run, tags in listing.items()}
        wanted = {
            tb_run: [t for t in tags if not t.startswith("tbviz/")]
            for tb_run, tags in listing.items()
            if only is None or groups[tb_run][0] in only
        }
        tags = sorted({t for ts in wanted.values() for t in ts})
        if not wanted or not tags:
            return {}
        read = self._provider.read_scalars(
            ctx,
            experiment_id=eid,
            plugin_name=_SCALARS,
            downsample=_ALL,
            run_tag_filter=provider.RunTagFilter(runs=list(wanted), tags=tags),
        )
        parts: dict[str, dict[str, dict[str, Series]]] = {}
        for tb_run, by_tag in read.items():
            run, part = groups[tb_run]
            parts.setdefault(run, {})[part] = {
                tag: Series([p.step for p in points], [float(p.value) for p in points])
                for tag, points in by_tag.items()
            }
        histories: dict[str, dict[str, tuple[list, list]]] = {}
        for run, folders in parts.items():
            if metadata.TRAIN_DIR in folders or metadata.VALIDATION_DIR in folders:
                history = keras_history(
                    folders.get(metadata.TRAIN_DIR, {}), folders.get(metadata.VALIDATION_DIR, {})
                )
            elif any(part != "" for part in folders):
                history = add_scalars_history({k: v for k, v in folders.items() if k})
            else:
                history = flat_history(folders.get("", {})).history
            if history.last_epoch is not None:
                histories[run] = {
                    key: (list(history[key].epochs), list(history[key].values)) for key in history
                }
        return histories


def _group(tb_run: str, tags) -> tuple[str, str]:
    """(run, part) of a TensorBoard run: ``"cnn/validation"`` -> ``("cnn", "validation")``,
    ``"a/Loss_train"`` holding ``Loss`` -> ``("a", "Loss_train")``; a flat run is its own
    run with part ``""``."""
    from tbviz.logdir.layouts import ADD_SCALARS_FOLDER

    head, _, last = tb_run.rpartition("/")
    if last in (metadata.TRAIN_DIR, metadata.VALIDATION_DIR):
        return head or ".", last
    found = ADD_SCALARS_FOLDER.match(last)
    if found and found.group(1) in tags:
        return head or ".", last
    return tb_run, ""


def _stored(payload) -> dict | None:
    """A stored diagnosis as a dict, read through the one checked parser; None if
    it cannot be read (the tab then diagnoses the run from its scalars)."""
    from tbviz.core.diagnosis import DiagnosisFormatError, parse_diagnosis

    try:
        return parse_diagnosis(_text(payload)).to_dict()
    except DiagnosisFormatError:
        return None


def _diagnose(history: dict[str, tuple[list, list]]) -> dict | None:
    from tbviz.core.diagnosis import diagnose
    from tbviz.core.history import History, Series

    built = History()
    for key, (steps, values) in history.items():
        built.record_series(key, Series(list(steps), [float(v) for v in values]))
    if built.last_epoch is None:
        return None
    return diagnose(built, "val_loss").to_dict()


def _series(history: dict[str, tuple[list, list]], monitor: str) -> tuple[list, list]:
    steps, values = history.get(monitor, ([], []))
    return list(steps), [finite_or_none(float(v)) for v in values]


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
