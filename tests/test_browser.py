"""What a person sees: a real TensorBoard serving a log directory of real
training curves, looked at in a real browser (Debian's chromium, headless,
driven through Playwright's Python API).

The log directory is the one the README's pictures show: an overfitting run,
a small sweep with hparams, a plain Keras run and a run whose name is hostile
HTML. ``pytest --docs-screenshots`` also writes the README's screenshots to
``docs/`` (otherwise they go to a temporary folder, and are checked all the
same)."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tbviz.commands.cli import main
from tbviz.logdir import metadata
from tbviz.logdir.reader import read_run
from tests.conftest import ROOT, log_history, write_keras_layout_run

pytestmark = pytest.mark.slow

HOSTILE = "<img src=x onerror=alert(1)>|`x`"
SPIKE = "mlp-lr-0.5"
SWEEP = "sweep-20261129-101500"
FIXTURES = ROOT / "tests" / "fixtures" / "histories"
#: Flags for chromium in a container: no sandbox (root), no GPU, /tmp not /dev/shm.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def fixture_history(name: str, epochs: int) -> dict[str, list[float]]:
    history = json.loads((FIXTURES / f"{name}.json").read_text())["history"]
    keys = ("loss", "val_loss", "accuracy", "val_accuracy")
    return {k: history[k][:epochs] for k in keys}


@pytest.fixture(scope="module")
def showcase(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("showcase") / "runs"
    # A real run on 300 MNIST digits: overfits from about epoch 14.
    log_history(
        root,
        "cnn-300-digits",
        fixture_history("cnn-mnist-300-e80", 40),
        figure_budget=None,
        epochs=40,
        hparams={"lr": 0.001, "filters": 16, "train_size": 300},
    )
    for lr, name in ((0.001, "cnn-mnist-1000"), (0.003, "cnn-mnist-1000-lr3e-3")):
        log_history(
            root,
            f"{SWEEP}/lr={lr},filters=16",
            fixture_history(name, 20),
            figure_budget=None,
            epochs=20,
            hparams={"lr": lr, "filters": 16, "train_size": 1000},
        )
    # A first epoch far above every other value in the tab (a high learning rate).
    log_history(
        root,
        SPIKE,
        {"loss": [9.0, 0.4, 0.3], "val_loss": [30.0, 0.5, 0.45]},
        figure_every=0,
    )
    write_keras_layout_run(root / "plain-keras")
    assert main(["compare", str(root), "--no-progress"]) == 0
    assert main(["annotate", str(root), "--runs", "^plain-keras$", "--no-progress"]) == 0
    return root


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(showcase):
    from tests.conftest import TensorBoardProcess

    # The Rust data server, TensorBoard's default where it is installed, forced
    # on: the tab must work through it (context.multiplexer is None there).
    process = TensorBoardProcess(showcase, "--load_fast=true")
    process.wait_for("/data/plugins_listing", lambda b: b"tbviz" in b)
    yield process
    process.stop()


def open_tab(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.base + "/data/plugin_entry.html?name=tbviz")
    page.wait_for_function("document.querySelectorAll('tr.run').length === 5")
    page.wait_for_function("document.querySelectorAll('#overlay-chart path[data-run]').length")
    return page


@contextlib.contextmanager
def tab_of(browser, root: Path):
    """The tbviz tab of a TensorBoard of its own on ``root``, opened in a page."""
    from tests.conftest import TensorBoardProcess

    process = TensorBoardProcess(root, "--load_fast=true")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        process.wait_for("/data/plugins_listing", lambda b: b"tbviz" in b)
        page.goto(process.base + "/data/plugin_entry.html?name=tbviz")
        yield page
    finally:
        page.close()
        process.stop()


def rows(page) -> list[str]:
    return page.eval_on_selector_all("tr.run", "rows => rows.map(r => r.dataset.run)")


def test_tensorboard_lists_the_tab_and_serves_its_module(server):
    entry = json.loads(server.get("/data/plugins_listing"))["tbviz"]
    assert entry["enabled"] is True and entry["tab_name"] == "tbviz"
    mechanism = entry["loading_mechanism"]
    assert mechanism["type"] == "IFRAME"
    assert mechanism["module_path"] == "/data/plugin/tbviz/index.js"
    assert b"export async function render()" in server.get(mechanism["module_path"])


def test_the_tab_opens_on_the_worst_run_and_overlays_it_with_the_best(browser, server):
    page = open_tab(browser, server)
    try:
        assert sorted(rows(page)) == sorted(
            ["cnn-300-digits", f"{SWEEP}/lr=0.001,filters=16", f"{SWEEP}/lr=0.003,filters=16",
             SPIKE, "plain-keras"]
        )  # fmt: skip
        header = page.inner_text(".header p")
        assert re.match(r"5 runs: \d+ overfitting", header), header
        assert " 1 runs" not in header
        # Under it, what the stoppers would have done to these runs, in hindsight.
        stopping = page.inner_text(".header p.stopping")
        assert re.fullmatch(
            r"In hindsight, OverfittingStopping would have stopped \d of 5 runs, saving \d+ of "
            r"\d+ epochs \(\d+%\).*; EarlyStopping\(patience=3\) would have stopped .*\.",
            stopping,
        ), stopping
        # The overfitting run is open in the detail pane...
        assert page.inner_text("#detail h3") == "cnn-300-digits"
        # ...and ticked in the overlay, where its onset cross is drawn, next
        # to the best run (the lowest best val_loss).
        drawn = page.eval_on_selector_all(
            "#overlay-chart path[data-run]", "paths => paths.map(p => p.dataset.run)"
        )
        assert "cnn-300-digits" in drawn
        assert f"{SWEEP}/lr=0.001,filters=16" in drawn
        assert page.locator("#overlay-chart path.onset").count() >= 1
        # Round tick values, all with the same decimals; whole epochs 1-based.
        y = page.eval_on_selector_all(
            "#overlay-chart text.y-tick", "t => t.map(e => e.textContent)"
        )
        assert len({len(label.split(".")[-1]) for label in y if "." in label}) <= 1
        steps = {round(float(b) - float(a), 9) for a, b in itertools.pairwise(y)}
        assert len(steps) == 1
        mantissa = float(f"{steps.pop():e}".split("e")[0])
        assert mantissa in (1.0, 2.0, 5.0)
        x = page.eval_on_selector_all(
            "#overlay-chart text.x-tick", "t => t.map(e => e.textContent)"
        )
        assert x == ["10", "20", "30", "40"]  # 40 epochs on a 40-epoch axis
        # Numbers: the "latest vs best" column always has one decimal.
        cells = page.eval_on_selector_all(
            "tr.run td:nth-child(9)", "cells => cells.map(c => c.textContent)"
        )
        assert all(c in ("at best", "–") or re.fullmatch(r"\d+\.\d% worse", c) for c in cells)
        # The sweep's runs show the hparams that differ (train_size and lr), not filters.
        sweep_row = page.locator(f'tr.run[data-run="{SWEEP}/lr=0.003,filters=16"] td.hparams')
        assert sweep_row.inner_text() == "lr=0.003, train_size=1000"
        # The open run's notes are built as elements, not shown as markdown source.
        page.wait_for_function("document.querySelectorAll('#detail .markdown').length >= 2")
        assert page.locator("#detail .markdown strong").count() >= 1
        assert "**" not in page.inner_text("#detail")
    finally:
        page.close()


def test_a_hostile_run_name_is_text_in_the_table_the_detail_pane_and_the_overlay(browser, tmp_path):
    """Run names come from folder names: a name that is HTML (or markdown) is
    shown as the characters it holds, never built into an element. Kept out
    of the showcase, whose pictures are the README's."""
    root = tmp_path / "runs"
    log_history(root, HOSTILE, {"loss": [0.9, 0.5, 0.3], "val_loss": [0.8, 0.6, 0.7]})
    with tab_of(browser, root) as page:
        page.wait_for_function("document.querySelectorAll('#overlay-chart path[data-run]').length")
        assert page.locator("img[src=x]").count() == 0
        assert HOSTILE in page.inner_text("#runs")
        assert page.inner_text("#detail h3") == HOSTILE
        assert HOSTILE in page.inner_text("#overlay .legend")
        assert page.locator("#detail img").count() == 1  # its figure, and no other


def test_runs_without_a_stored_verdict_can_be_judged_by_another_metric(browser, tmp_path):
    """A run logging only val/box_loss (Ultralytics' names) is no-monitor by val_loss;
    the tab offers the validation metrics of the runs it diagnoses from their scalars
    and judges them by the one chosen, as `tbviz leaderboard --metric` does, while a
    run tbviz logged keeps the verdict it was logged with."""
    from tests import writers

    root = tmp_path / "runs"
    writers.write_torch_flat(root / "detect", "train/box_loss", "val/box_loss", first=0)
    writers.write_torch_flat(root / "plain", first=0)
    log_history(root, "logged", {"loss": writers.TRAIN, "val_loss": writers.VAL}, figure_every=0)
    with tab_of(browser, root) as page:
        page.wait_for_function("document.querySelectorAll('tr.run').length === 3")
        options = page.eval_on_selector_all("#judge-by option", "o => o.map(e => e.value)")
        assert options == ["val_loss", "val_box_loss"]
        detect = 'tr.run[data-run="detect"]'
        assert "no-monitor" in page.inner_text(detect)
        logged = page.inner_text('tr.run[data-run="logged"]')
        page.select_option("#judge-by", "val_box_loss")
        page.wait_for_function(
            f"document.querySelector({json.dumps(detect)})?.innerText.includes('overfitting')"
        )
        assert "no-monitor" in page.inner_text('tr.run[data-run="plain"]')
        assert page.inner_text('tr.run[data-run="logged"]') == logged
        assert page.eval_on_selector("#judge-by", "s => s.value") == "val_box_loss"
        # A run that logged no figure gets one drawn by the tab, judged as its row.
        page.click(f"{detect} td.name")
        page.wait_for_function(
            "document.querySelector('#detail h3')?.textContent === 'detect'"
            " && document.querySelector('#detail img.figure')?.complete"
        )
        assert page.evaluate("document.querySelector('#detail img.figure').naturalWidth") > 300
        assert page.inner_text("#detail .drawn").startswith("Drawn by the tab")
        # ...and the note annotate would write, by the same metric, rendered.
        page.wait_for_selector("#detail .note")
        note = page.inner_text("#detail .note")
        assert note.startswith("written by the tab from the scalars at epoch")
        assert "Overfitting since epoch" in note and "Best val_box_loss" in note
        assert 'OverfittingStopping(monitor="val_box_loss") would have stopped' in note


def test_filter_sort_select_and_untick_as_a_person_would(browser, server):
    page = open_tab(browser, server)
    try:
        page.fill("#run-filter", "^(sweep|plain)")
        assert sorted(rows(page)) == sorted(
            [f"{SWEEP}/lr=0.001,filters=16", f"{SWEEP}/lr=0.003,filters=16", "plain-keras"]
        )
        assert page.evaluate("document.activeElement.id") == "run-filter"
        page.fill("#run-filter", "")
        page.click("th[data-key=best_value]")
        ascending = rows(page)
        page.click("th[data-key=best_value]")
        assert rows(page) == ascending[::-1]
        sweep = f"{SWEEP}/lr=0.001,filters=16"
        page.click(f'tr.run[data-run="{sweep}"] td.name')
        page.wait_for_function(
            f"document.querySelector('#detail h3')?.textContent === {json.dumps(sweep)}"
        )
        page.wait_for_function("document.querySelector('#detail img.figure')?.complete")
        assert page.evaluate("document.querySelector('#detail img.figure').naturalWidth") > 300
        drawn = (
            "[...document.querySelectorAll('#overlay-chart path[data-run]')]"
            ".map(p => p.dataset.run)"
        )
        assert sweep in page.evaluate(drawn)
        page.click(f'tr.run[data-run="{sweep}"] input')
        page.wait_for_function(f"!{drawn}.includes({json.dumps(sweep)})")
    finally:
        page.close()


def test_the_filter_holds_for_the_table_the_detail_pane_and_the_overlay(browser, server):
    page = open_tab(browser, server)
    drawn = (
        "[...document.querySelectorAll('#overlay-chart path[data-run]')].map(p => p.dataset.run)"
    )
    try:
        assert page.inner_text("#detail h3") == "cnn-300-digits"
        assert "cnn-300-digits" in page.evaluate(drawn)
        page.fill("#run-filter", "^sweep")
        # The open run is filtered out: the first row shown takes its place...
        page.wait_for_function(
            "document.querySelector('#detail h3')?.textContent === "
            "document.querySelector('tr.run').dataset.run"
        )
        assert page.inner_text("#detail h3").startswith(SWEEP)
        # ...and the overlay draws only runs the filter lets through.
        page.wait_for_function(f"!{drawn}.includes('cnn-300-digits')")
        assert all(run.startswith(SWEEP) for run in page.evaluate(drawn))
        page.fill("#run-filter", "no run is called this")
        page.wait_for_function(
            "document.querySelector('#detail')?.textContent === 'No run matches the filter.'"
        )
        page.fill("#run-filter", "")
        page.wait_for_function(f"{drawn}.includes('cnn-300-digits')")
    finally:
        page.close()


STATUS_AND_DISTANCE = """rows => rows.map(r => [
  r.querySelector('td:nth-child(3)').textContent,
  r.querySelector('td:nth-child(9)').textContent,
])"""


def test_one_runs_large_first_epoch_does_not_squash_the_overlay(browser, server, shots):
    page = open_tab(browser, server)
    try:
        ticked = page.locator(f'tr.run[data-run="{SPIKE}"] input')
        if not ticked.is_checked():
            ticked.click()
        page.wait_for_function("document.querySelectorAll('#overlay-chart path.off-axis').length")
        top = max(
            float(t.replace("−", "-"))
            for t in page.eval_on_selector_all(
                "#overlay-chart text.y-tick", "t => t.map(e => e.textContent)"
            )
        )
        assert top < 2.0  # 30.0 left the axis: the 0.1-0.6 curves fill it
        off = page.eval_on_selector_all(
            "#overlay-chart path.off-axis", "paths => paths.map(p => p.dataset.run)"
        )
        assert off.count(SPIKE) == 1  # its first epoch, marked on the edge
        assert "▲ value off the axis" in page.inner_text("#overlay .legend")
        page.locator("#overlay > div").screenshot(path=str(shots / "tab-overlay.png"))
        assert Image.open(shots / "tab-overlay.png").width > 400
    finally:
        page.close()


def test_within_a_status_the_run_furthest_from_its_best_comes_first(browser, server):
    page = open_tab(browser, server)
    try:
        shown = page.eval_on_selector_all("tr.run", STATUS_AND_DISTANCE)
        severity = ["diverged", "overfitting", "not-learning", "plateau", "improving"]
        ranks = [severity.index(status) if status in severity else 9 for status, _ in shown]
        assert ranks == sorted(ranks)

        def worse(text: str) -> float:
            return float(text.split("%")[0]) if "worse" in text else 0.0

        for (status, a), (same, b) in itertools.pairwise(shown):
            if status == same:
                assert worse(a) >= worse(b), shown
    finally:
        page.close()


def test_notes_render_markdown_as_the_text_dashboard_does(browser, server):
    page = open_tab(browser, server)
    try:
        page.click('tr.run[data-run="plain-keras"] td.name')
        page.wait_for_function("document.querySelectorAll('#detail .markdown em').length >= 1")
        assert page.inner_text("#detail .markdown em").startswith("Written by tbviz annotate")
        assert page.inner_text("#detail .markdown em code") == "tbviz annotate"
        assert "*" not in page.inner_text("#detail")
    finally:
        page.close()


def test_screenshots_of_every_dashboard(browser, server, showcase, shots):
    """The README's pictures, taken from what TensorBoard serves; each one
    checked to hold a real picture, not a blank or half-loaded page."""
    page = open_tab(browser, server)
    try:
        page.wait_for_function("document.querySelector('#detail img.figure')?.complete")
        page.screenshot(path=str(shots / "tensorboard-tbviz.png"), full_page=False)
    finally:
        page.close()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        for dashboard, ready in (
            ("scalars", "text=epoch_loss"),
            ("images", "text=tbviz/comparison"),
            ("text", "text=tbviz/summary"),
            ("hparams", "text=Trial ID"),
        ):
            page.goto(f"{server.base}/#{dashboard}")
            page.wait_for_selector(ready)
            if dashboard != "hparams":
                page.get_by_label("Write a regex to filter runs").filter(visible=True).fill(
                    "^cnn-300"
                )
            if dashboard == "images":
                page.get_by_text("Show actual image size").click()
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(500)  # the charts' own transition
            page.screenshot(path=str(shots / f"tensorboard-{dashboard}.png"))
    finally:
        page.close()
    # The comparison figure at the top of the README: the overfitting run's last.
    figures = read_run(str(showcase / "cnn-300-digits")).images(metadata.TAG_FIGURE)
    (shots / "comparison-figure.png").write_bytes(figures[-1][-1])
    for name in ("tbviz", "scalars", "images", "text", "hparams"):
        image = Image.open(shots / f"tensorboard-{name}.png").convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50, f"{name}: a blank page?"


#: Words of table cells that the browser broke across lines.
BROKEN_WORDS = """cells => cells.flatMap(cell => {
  const broken = [], walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const word of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      if (range.getClientRects().length > 1) broken.push(word[0]);
    }
  }
  return broken;
})"""


def test_the_leaderboard_fits_the_text_dashboard_without_broken_words(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{server.base}/#text")
        page.wait_for_selector("text=tbviz/leaderboard")
        page.get_by_label("Write a regex to filter runs").filter(visible=True).fill("^_compare$")
        # Table cells or list items, whichever the leaderboard's width called for.
        cells = page.locator("td, li").filter(visible=True)
        cells.first.wait_for()
        text = "\n".join(cells.all_inner_texts())
        assert "overfitting" in text and f"{SWEEP}/lr=0.001,filters=16" in text
        assert cells.evaluate_all(BROKEN_WORDS) == []
    finally:
        page.close()


def test_the_group_view_folds_runs_into_configurations(browser, server, showcase, shots, capsys):
    capsys.readouterr()
    assert main(["leaderboard", str(showcase), "--group-over", "lr", "--json"]) == 0
    cli = {g["group"]: sorted(g["runs"]) for g in json.loads(capsys.readouterr().out)}
    page = open_tab(browser, server)
    try:
        page.select_option("#group-over", "lr")
        page.wait_for_function("document.querySelectorAll('tr.group').length")
        groups = page.eval_on_selector_all("tr.group", "rows => rows.map(r => r.dataset.group)")
        assert groups == list(cli), "the tab and `tbviz leaderboard --group-over` group alike"
        # The sweep's two learning rates share train_size=1000: one configuration.
        assert "train_size=1000" in groups and "train_size=300" in groups
        row = page.locator('tr.group[data-group="train_size=1000"]')
        assert row.locator("td").nth(2).inner_text() == "2"
        row.click()
        page.wait_for_function("document.querySelectorAll('tr.member').length === 2")
        members = page.eval_on_selector_all("tr.member", "rows => rows.map(r => r.dataset.run)")
        assert sorted(members) == [f"{SWEEP}/lr=0.001,filters=16", f"{SWEEP}/lr=0.003,filters=16"]
        assert sorted(members) == cli["train_size=1000"]
        # The overlay draws each group's mean with the band of its runs.
        page.wait_for_function("document.querySelectorAll('#overlay-chart polygon.band').length")
        assert "by group over lr" in page.inner_text("#overlay h3")
        assert "train_size=1000 (n=2)" in page.inner_text("#overlay .legend")
        page.locator("#overlay > div").screenshot(path=str(shots / "tab-groups.png"))
        page.select_option("#group-over", "")
        page.wait_for_function("document.querySelectorAll('tr.run').length === 5")
    finally:
        page.close()
