"""The README's shell commands, run exactly as written, in a fresh folder.

Every line of every ```bash block is run with bash from a folder that holds
only ``.venv`` and ``scripts`` (links to this checkout's), so relative paths
work as in a fresh clone and the logs land in the folder. Set aside, with the
reason: the install steps (what ``.ci/run`` itself does), the test command
(CI runs it) and the Ray sweep (tests/test_ray.py runs a small one).

The overfitting demo's run is read back (stopped before its 40 epochs, its
stored diagnosis overfitting, a figure for at least 75% of its epochs and for
every status change: issue 21), and the default demo's figures are counted:
at least 5 of its 10 epochs get a comparison figure (issue 15), the first
epoch's among them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tbviz.logdir import metadata
from tbviz.logdir.reader import read_run
from tests.conftest import ROOT, write_keras_layout_run

pytestmark = pytest.mark.slow

#: Commands run elsewhere: the test command (CI runs it) and the Ray sweep
#: (tests/test_ray.py runs one on a local Ray instance).
SET_ASIDE = ("-m pytest", "--executor ray")


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def runnable(command: str) -> str | None:
    """The command as it is run here, or None if it is set aside. Install steps
    are dropped: the venv exists (.ci/run makes it on a clean clone)."""
    if any(marker in command for marker in SET_ASIDE):
        return None
    steps = command.split(" && ")
    kept = [s for s in steps if "python3 -m venv" not in s and "pip install" not in s]
    return " && ".join(kept) or None


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fresh-clone")
    for name in (".venv", "scripts"):
        (folder / name).symlink_to(ROOT / name)
    write_keras_layout_run(folder / "old-keras-logs" / "keras-run", epochs=3)
    return folder


def run(command: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TF_CPP"))}
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_every_readme_command_is_covered():
    commands = readme_commands()
    assert len(commands) >= 10
    shown = [c for c in commands if runnable(c) is not None]
    assert any(c.endswith("scripts/train.py") for c in shown)  # the default demo
    assert any("--stop-on-overfitting" in c for c in shown)
    assert any(c.startswith(".venv/bin/tbviz compare") for c in shown)


def test_the_readme_commands_work_as_written(fresh, shots):
    """In README order: the default demo, the overfitting demo, TensorBoard,
    the commands of the comparison section, the sweep."""
    servers = []
    for command in readme_commands():
        line = runnable(command)
        if line is None:
            continue
        if line.startswith(".venv/bin/tensorboard"):
            servers.append(check_tensorboard(line, fresh))
            continue
        result = run(line, fresh)
        assert result.returncode == 0, f"{line}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        if line.endswith("scripts/train.py"):
            check_default_demo(result, fresh)
        if "--stop-on-overfitting" in line:
            check_overfitting_demo(result, fresh, shots)
    assert servers, "the README's TensorBoard command was not run"
    assert (fresh / "board.md").read_text().startswith("**Leaderboard**")
    assert json.loads((fresh / "board.json").read_text())["runs"]
    assert (fresh / "overlay.png").read_bytes().startswith(b"\x89PNG")
    annotated = read_run(str(fresh / "old-keras-logs" / "keras-run"))
    assert annotated.images(metadata.TAG_FIGURE)


def check_default_demo(result: subprocess.CompletedProcess, fresh: Path) -> None:
    """The default 10-epoch run: quiet output, and a figure for at least half its epochs."""
    both = result.stdout + result.stderr
    assert "absl" not in both and "oneDNN" not in both and "\x1b[" not in both
    name = re.search(r"Logged run '([^']+)'", result.stdout).group(1)
    figures = read_run(str(fresh / "runs" / name)).images(metadata.TAG_FIGURE)
    steps = [step for step, *_ in figures]
    assert steps[0] == 0, "the first epoch's figure is drawn at once"
    assert steps[-1] == 9
    assert len(steps) >= 5, f"figures at steps {steps}: fewer than 5 of 10 epochs"


def check_overfitting_demo(result: subprocess.CompletedProcess, fresh: Path, shots: Path) -> None:
    """300 training digits overfit, and the stopper ends the run before its 40 epochs.
    Its figures at epochs 5, 14 (about the onset here) and the last are the
    README's pictures of the step slider."""
    assert "Diagnosis: Overfitting since epoch" in result.stdout
    assert "Stopped by OverfittingStopping after epoch" in result.stdout
    name = re.search(r"Logged run '([^']+)'", result.stdout).group(1)
    data = read_run(str(fresh / "runs" / name))
    epochs = data.history["val_loss"].epochs
    assert len(epochs) < 40
    stored = data.diagnoses()[-1][1]
    assert stored["status"] == "overfitting" and stored["onset_epoch"] < epochs[-1]
    # The slider tells the story: most epochs have a figure, every status change does.
    figures = {step for step, *_ in data.images(metadata.TAG_FIGURE)}
    assert len(figures) >= 0.75 * len(epochs), f"figures at {sorted(figures)}"
    assert {step for step, _ in data.texts(metadata.TAG_NOTES)} <= figures
    pngs = {step: png for step, *_, png in data.images(metadata.TAG_FIGURE)}
    for name, epoch in (("early", 5), ("onset", 14), ("final", epochs[-1] + 1)):
        nearest = min(pngs, key=lambda step: abs(step + 1 - epoch))
        (shots / f"demo-{name}.png").write_bytes(pngs[nearest])


def check_tensorboard(line: str, fresh: Path) -> bool:
    """Start the README's TensorBoard command (on a free port of 127.0.0.1 rather
    than 6006, which may be taken); it serves the runs and the tab."""
    server = subprocess.Popen(
        ["bash", "-c", f"exec {line} --port 0 --host 127.0.0.1"],
        cwd=fresh,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        base = None
        while base is None and time.monotonic() < deadline:
            found = re.search(r"http://127\.0\.0\.1:(\d+)", server.stderr.readline())
            if found:
                base = f"http://127.0.0.1:{found.group(1)}"
        assert base, "tensorboard did not say where it serves"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + "/data/plugins_listing", timeout=5) as answer:
                    listing = json.loads(answer.read())
                if listing.get("tbviz", {}).get("enabled"):
                    return True
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError("the tbviz tab never came up in the README's TensorBoard")
    finally:
        server.terminate()
        server.wait(timeout=10)
