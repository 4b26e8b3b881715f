"""The tbviz TensorBoard tab: routes through werkzeug over a real log directory
(TensorBoard's own plugin-test pattern), then a real TensorBoard process and a
real headless chromium rendering the tab."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest
from PIL import Image
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tbviz import RunLogger
from tbviz.dashboard.plugin import TbvizPlugin
from tests.conftest import TUTORIAL, write_keras_layout_run

HOSTILE = "<img src=x onerror=alert(1)>|`x`"
SWEEP = "sweep/lr=0.01,filters=8"  # the trainer's sweep names hold commas


def _log(logdir, name, history, **options):
    with RunLogger(logdir, name, figure_budget=None, **options) as run:
        for epoch in range(len(history["loss"])):
            run.log_epoch(epoch, {k: v[epoch] for k, v in history.items()})


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin") / "runs"
    _log(root, "overfit", TUTORIAL, figure_every=3)
    _log(root, SWEEP, {"loss": [0.5, 0.2, 0.1], "val_loss": [0.3, 0.05, 0.04]})
    _log(root, HOSTILE, {"loss": [0.5, 0.4], "val_loss": [0.6, 0.5]}, figure_every=0)
    write_keras_layout_run(root / "plain-keras")
    return root


@pytest.fixture(scope="module")
def client(logdir):
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = tb_data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    context = base_plugin.TBContext(logdir=str(logdir), data_provider=provider)
    plugin = TbvizPlugin(context)
    app = application.TensorBoardWSGI([plugin])
    return werkzeug_test.Client(app, wrappers.Response)


def get_json(client, path):
    response = client.get("/data/plugin/tbviz" + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.get_data())


def test_runs_route_lists_every_run_with_its_diagnosis(client):
    rows = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
    assert set(rows) == {"overfit", SWEEP, HOSTILE, "plain-keras"}
    overfit = rows["overfit"]
    assert overfit["source"] == "tbviz" and overfit["status"] == "overfitting"
    assert overfit["best_epoch"] == 3 and overfit["onset_epoch"] == 3
    assert overfit["best_value"] == pytest.approx(0.068)
    assert overfit["gap"] == pytest.approx(0.088) and overfit["has_figure"]
    assert rows[SWEEP]["status"] == "improving"
    # Plain Keras scalars are diagnosed by the tab itself.
    keras_row = rows["plain-keras"]
    assert keras_row["source"] == "scalars" and keras_row["epochs"] == 2
    assert not keras_row["has_figure"] and not rows[HOSTILE]["has_figure"]


def test_notes_route_returns_the_notes_and_summary(client):
    notes = get_json(client, "/notes?run=overfit")["notes"]
    kinds = [n["kind"] for n in notes]
    assert kinds.count("summary") == 1 and kinds.count("note") >= 2
    assert any("overfitting" in n["markdown"].lower() for n in notes)


def test_figure_route_serves_the_latest_png(client):
    response = client.get("/data/plugin/tbviz/figure?run=overfit")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.get_data()))
    assert image.size[0] > 300
    missing = client.get("/data/plugin/tbviz/figure?run=plain-keras")
    assert missing.status_code == 404
    assert client.get("/data/plugin/tbviz/figure").status_code == 400


def test_overlay_route_gives_the_monitored_metric_with_onsets(client):
    query = "&".join(f"run={urllib.parse.quote(r)}" for r in ["overfit", "plain-keras", "nope"])
    series = get_json(client, "/overlay?" + query)["series"]
    assert [s["run"] for s in series] == ["overfit", "plain-keras"]
    overfit = series[0]
    assert overfit["monitor"] == "val_loss" and overfit["steps"] == list(range(10))
    assert overfit["values"] == pytest.approx(TUTORIAL["val_loss"], rel=1e-6)
    assert overfit["onset_epoch"] == 3
    assert len(series[1]["values"]) == 2
    (sweep,) = get_json(client, "/overlay?run=" + urllib.parse.quote(SWEEP))["series"]
    assert sweep["run"] == SWEEP and sweep["values"] == pytest.approx([0.3, 0.05, 0.04])


def test_the_module_is_served_as_javascript(client):
    response = client.get("/data/plugin/tbviz/index.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    source = response.get_data(as_text=True)
    assert "export async function render()" in source
    assert "innerHTML" not in source  # strings from the logs go in as text only


class _Elements(HTMLParser):
    """Every element of a page: (tag, attributes), and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def chromium(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=20000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_tensorboard_lists_the_tab_and_chromium_renders_it(logdir, tensorboard_server, tmp_path):
    # The Rust data server, TensorBoard's default where it is installed, forced
    # on: the tab must work through it (context.multiplexer is None there).
    server = tensorboard_server(logdir, "--load_fast=true")
    body = server.wait_for("/data/plugins_listing", lambda b: b"tbviz" in b)
    entry = json.loads(body)["tbviz"]
    assert entry["enabled"] is True and entry["tab_name"] == "tbviz"
    mechanism = entry["loading_mechanism"]
    assert mechanism["type"] == "IFRAME"
    assert mechanism["module_path"] == "/data/plugin/tbviz/index.js"
    with urllib.request.urlopen(server.base + mechanism["module_path"], timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert b"export async function render()" in response.read()

    page = server.base + "/data/plugin_entry.html?name=tbviz"
    dom = chromium("--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Elements()
    parsed.feed(dom.stdout)
    rows = {a["data-run"] for tag, a in parsed.elements if tag == "tr" and "data-run" in a}
    assert rows == {"overfit", SWEEP, HOSTILE, "plain-keras"}
    text = "".join(parsed.text)
    assert "overfitting" in text and "improving" in text
    assert "epoch 4 (step 3)" in text  # overfit's best epoch and onset
    # The hostile run name is text in a cell, not an element.
    assert HOSTILE in text
    assert not [a for tag, a in parsed.elements if tag == "img" and a.get("src") == "x"]
    # The first overfitting run is open: its notes are built as elements
    # (bold, tables), not shown as markdown source.
    assert any(tag == "strong" for tag, _ in parsed.elements)
    assert any(tag == "table" and a.get("class") == "md" for tag, a in parsed.elements)
    assert not [t for t in parsed.text if "**" in t]
    # The overlay chart drew a line for each of the best runs it starts with.
    paths = [a for tag, a in parsed.elements if tag == "path" and "data-run" in a]
    assert {"overfit", SWEEP} <= {a["data-run"] for a in paths}

    check_interactions(page)

    screenshot = tmp_path / "tbviz-tab.png"
    shot = chromium("--window-size=1400,1000", f"--screenshot={screenshot}", page)
    assert shot.returncode == 0, shot.stderr[-2000:]
    image = Image.open(screenshot)
    assert image.size == (1400, 1000)
    # Not a blank page: the status badges put colour on it.
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50


class DevTools:
    """Headless chromium driven over the DevTools protocol: evaluate JavaScript in a page."""

    def __init__(self, url: str) -> None:
        import websocket

        from tests.conftest import free_port

        port = free_port()
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--remote-debugging-port={port}", "--window-size=1400,1000", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
                    pages = [p for p in json.loads(response.read()) if p["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("chromium's DevTools endpoint did not come up")
            time.sleep(0.2)
        self.socket = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
        )
        self._id = 0

    def evaluate(self, expression: str):
        self._id += 1
        self.socket.send(
            json.dumps(
                {
                    "id": self._id,
                    "method": "Runtime.evaluate",
                    "params": {"expression": expression, "returnByValue": True},
                }
            )
        )
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._id:
                return message["result"]["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"never true in the page: {expression}")

    def close(self) -> None:
        self.socket.close()
        self.process.kill()
        self.process.wait()


ROW_NAMES = "[...document.querySelectorAll('tr.run')].map(r => r.dataset.run)"


def check_interactions(page: str) -> None:
    """Filter, sort, select and untick as a person would, in a real browser."""
    browser = DevTools(page)
    try:
        assert len(browser.wait_for(f"{ROW_NAMES}.length === 4 && {ROW_NAMES}")) == 4
        # A regex filter, typed into the box: the input keeps its focus.
        type_filter = (
            "{ const f = document.getElementById('run-filter'); f.focus(); f.value = %s;"
            " f.dispatchEvent(new Event('input')); }"
        )
        browser.evaluate(type_filter % json.dumps("^(sweep|plain)"))
        assert sorted(browser.evaluate(ROW_NAMES)) == sorted([SWEEP, "plain-keras"])
        assert browser.evaluate("document.activeElement.id") == "run-filter"
        browser.evaluate(type_filter % json.dumps(""))
        # Sorting by best value, both ways.
        browser.evaluate("document.querySelector('th[data-key=best_value]').click()")
        ascending = browser.evaluate(ROW_NAMES)
        assert ascending[0] == SWEEP  # 0.04, the lowest best val_loss
        browser.evaluate("document.querySelector('th[data-key=best_value]').click()")
        assert browser.evaluate(ROW_NAMES) == ascending[::-1]
        # Selecting a run opens its figure and notes.
        browser.evaluate(f"document.querySelector('tr.run[data-run={json.dumps(SWEEP)}]').click()")
        browser.wait_for(
            f"document.querySelector('#detail h3')?.textContent === {json.dumps(SWEEP)}"
        )
        browser.wait_for("document.querySelector('#detail img.figure')?.complete")
        assert browser.evaluate("document.querySelector('#detail img.figure').naturalWidth") > 300
        browser.wait_for("document.querySelectorAll('#detail .markdown').length >= 2")
        # Unticking a run takes its line out of the overlay.
        drawn = (
            "[...document.querySelectorAll('#overlay-chart path[data-run]')]"
            ".map(p => p.dataset.run)"
        )
        assert SWEEP in browser.wait_for(drawn)
        browser.evaluate(
            f"document.querySelector('tr.run[data-run={json.dumps(SWEEP)}] input').click()"
        )
        browser.wait_for(f"!{drawn}.includes({json.dumps(SWEEP)})")
    finally:
        browser.close()
