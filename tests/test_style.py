"""House rules that a test can hold: ruff-clean code, CI running the README's command."""

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", quick_start)
    assert len(commands) == 2, "the Quick start shows exactly two commands"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci
