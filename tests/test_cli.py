"""``tbviz leaderboard`` on real log directories: tbviz runs, a Keras TensorBoard run,
an empty run, an unrelated folder and a corrupt file."""

import json
import shutil
import subprocess
import sys

import pytest

from tbviz.commands.cli import main
from tbviz.logdir.reader import read_run


@pytest.fixture(scope="module")
def logdir(mixed_logdir):
    return mixed_logdir


def test_leaderboard_ranks_every_run_best_first(logdir, capsys):
    assert main(["leaderboard", str(logdir), "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["run"] for r in rows][:2] == ["sweep/better", "overfit"]
    assert {r["run"] for r in rows} == {"sweep/better", "overfit", "plain-keras"}
    overfit = next(r for r in rows if r["run"] == "overfit")
    assert overfit["status"] == "overfitting" and overfit["best_epoch"] == 3
    assert overfit["onset_epoch"] == 3 and overfit["final_value"] == pytest.approx(0.097)
    assert "skipping run 'corrupt'" in captured.err and "checksum" in captured.err


def test_leaderboard_text_and_filter(logdir, capsys):
    assert main(["leaderboard", str(logdir), "--runs", "^sweep/"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["#", "run", "best"]
    assert len(out) == 2 and "sweep/better" in out[1] and "improving" in out[1]


def test_bad_input_is_a_one_line_error(logdir, capsys):
    assert main(["leaderboard", str(logdir / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["leaderboard", str(logdir), "--runs", "("]) == 2
    assert "not a regular expression" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["leaderboard", "compare", "annotate"])
def test_the_command_does_not_import_tensorflow(logdir, tmp_path, command):
    work = tmp_path / "runs"
    shutil.copytree(logdir, work)  # compare and annotate write
    code = (
        "import sys; from tbviz.commands.cli import main; main(sys.argv[1:]); "
        "print('TF' if 'tensorflow' in sys.modules else 'no TF')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, command, str(work)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().endswith("no TF")
    assert "overfit" in out or "annotated plain-keras" in out
    help_text = subprocess.run(
        [sys.executable, "-m", "tbviz", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "leaderboard" in help_text


def test_ranking_a_pytorch_log_directory_starts_without_numpy(tmp_path):
    """numpy costs a command 60 ms to import, a sixth of ranking 1,000 runs: a
    directory of plain scalars (what PyTorch writers leave) needs none of it."""
    import math

    from tensorboard.compat.proto import summary_pb2

    from tbviz.logdir.writer import EventFileWriter

    for run, onset in (("early", 3), ("late", 8)):
        with EventFileWriter(str(tmp_path / run)) as writer:
            for epoch in range(12):
                loss = math.exp(-0.3 * epoch)
                for tag, value in (
                    ("train/loss", loss),
                    ("val/loss", loss + 0.1 * max(0, epoch - onset)),
                ):
                    writer.add(epoch, [summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    code = (
        "import sys; from tbviz.commands.cli import main; main(sys.argv[1:]); "
        "print('numpy' if 'numpy' in sys.modules else 'no numpy')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "leaderboard", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().endswith("no numpy") and "early" in out and "overfitting" in out


def test_only_tbviz_errors_become_exit_2_bugs_show_in_full(tmp_path, monkeypatch, capsys):
    assert main(["leaderboard", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    import tbviz.commands.discovery as runs

    def bug(*args, **kwargs):
        raise ValueError("a bug, not a user mistake")

    monkeypatch.setattr(runs, "diagnose_runs", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["leaderboard", str(tmp_path)])


def test_a_metric_no_run_has_is_an_error_that_names_the_metrics_and_writes_nothing(
    mixed_logdir, capsys
):
    assert main(["leaderboard", str(mixed_logdir), "--metric", "val_los"]) == 2
    err = capsys.readouterr().err
    assert "no run has the metric 'val_los'; did you mean 'val_loss'?" in err
    assert "val_accuracy" in err
    assert main(["compare", str(mixed_logdir), "--metric", "val_acc", "--no-progress"]) == 2
    assert "did you mean 'val_accuracy'?" in capsys.readouterr().err
    assert not (mixed_logdir / "_compare").exists()
    files = sorted(mixed_logdir.rglob("*"))
    assert main(["annotate", str(mixed_logdir), "--metric", "val_los", "--no-progress"]) == 2
    assert "did you mean 'val_loss'?" in capsys.readouterr().err
    assert sorted(mixed_logdir.rglob("*")) == files  # no run annotated by a metric it lacks


def test_annotate_leaves_the_runs_that_lack_the_metric_for_their_own(tmp_path, capsys):
    """Once, a run without the metric got a no-monitor annotation, which then counted
    as current: annotating it again by a metric it has did nothing."""
    from tests import writers

    writers.write_torch_flat(tmp_path / "loss-only")
    writers.write_hand_keras_names(tmp_path / "with-accuracy")
    files = sorted((tmp_path / "loss-only").iterdir())
    assert main(["annotate", str(tmp_path), "--metric", "val_accuracy", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert (
        "1 of 2 runs have no 'val_accuracy': 'loss-only' (they log val_loss; not annotated: "
        "annotate them with --metric and one of those)" in err
    )
    assert "1 annotated, 0 brought up to date, 0 already current, 1 skipped" in out
    assert sorted((tmp_path / "loss-only").iterdir()) == files
    assert main(["annotate", str(tmp_path), "--metric", "val_loss", "--no-progress"]) == 0
    assert "annotated loss-only" in capsys.readouterr().out
    assert read_run(str(tmp_path / "loss-only")).diagnoses()[-1][1]["status"] == "overfitting"


def test_a_metric_some_runs_lack_names_those_runs(mixed_logdir, capsys):
    assert main(["leaderboard", str(mixed_logdir), "--metric", "val_accuracy"]) == 0
    err = capsys.readouterr().err
    assert "runs have no 'val_accuracy': 'sweep/better'" in err


def test_tbviz_alone_shows_what_it_can_do(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "leaderboard" in err and "compare" in err and "annotate" in err
    assert "required" not in err


def test_a_file_or_an_empty_folder_gets_an_answer_that_fits(tmp_path, capsys):
    (tmp_path / "README.md").write_text("# not a log directory")
    assert main(["leaderboard", str(tmp_path / "README.md")]) == 2
    assert "is a file, not a log directory" in capsys.readouterr().err
    event = tmp_path / "events.out.tfevents.1.host"
    event.write_bytes(b"")
    assert main(["leaderboard", str(event)]) == 2
    assert "it is an event file: pass the folder that holds it" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["leaderboard", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "no event files under" in err and "warnings above" not in err


def test_a_bad_flag_is_answered_with_the_subcommands_usage(logdir, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard", str(logdir), "--bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tbviz leaderboard") and "--json" in err
    assert "tbviz leaderboard: error: unrecognized arguments: --bogus" in err
    with pytest.raises(SystemExit):
        main(["compare", str(logdir), "--json"])
    err = capsys.readouterr().err
    assert err.startswith("usage: tbviz compare") and "--out FILE.json" in err
    assert "tbviz leaderboard LOGDIR --json" in err
    assert not (logdir / "_compare").exists()


def test_a_runs_pattern_or_a_knob_that_matches_nothing_is_an_error_that_shows_the_names(
    mixed_logdir, capsys
):
    """A typo in --runs or --group-over once gave "no event files under ..." or a group
    per run, without a word about the typo."""
    assert main(["leaderboard", str(mixed_logdir), "--runs", "^sweep/worse"]) == 2
    err = capsys.readouterr().err
    assert "no run under" in err and "matches --runs '^sweep/worse'" in err
    assert "the 4 runs there include 'corrupt', 'overfit'" in err  # what names look like
    assert main(["compare", str(mixed_logdir), "--group-over", "lrr", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no run has 'lrr' in its hparams or its name; did you mean 'lr'?" in err
    assert not (mixed_logdir / "_compare").exists()


def test_the_board_says_what_stopping_would_have_done_in_hindsight(tmp_path, capsys):
    """Under the table: where tbviz's stopper and EarlyStopping would have stopped
    these runs, the epochs saved, and which stop restored an epoch over 1% worse
    than the run's best (a run that turned, rose five epochs, then beat its best);
    --setting changes the stopper's line, so a user can tune it on finished runs."""
    from tbviz import RunLogger
    from tests.conftest import TUTORIAL

    turned = [1.0, 0.8, 0.6, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.45, 0.4, 0.38]
    runs = {
        "tutorial": TUTORIAL,
        "turned": {"loss": [0.8**i for i in range(len(turned))], "val_loss": turned},
    }
    for name, history in runs.items():
        with RunLogger(tmp_path, name, figure_every=0) as run:
            for epoch in range(len(history["loss"])):
                run.log_epoch(epoch, {k: v[epoch] for k, v in history.items()})
    assert main(["leaderboard", str(tmp_path), "--json"]) == 0
    rows = {r["run"]: r for r in json.loads(capsys.readouterr().out)}
    ours = {name: rows[name]["overfitting_stopping"] for name in runs}
    saved = sum(o["epochs_saved"] for o in ours.values())
    assert ours["turned"]["restored_epoch"] == 3 and ours["tutorial"]["restored_epoch"] == 3
    assert main(["leaderboard", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("stopping:")]
    assert lines[0] == (
        f"stopping: OverfittingStopping() would have stopped 2 of 2 runs, saving {saved} "
        f"of 22 epochs ({100 * saved / 22:.0f}%); 1 restored an epoch over 1% worse than "
        "the run's best (turned)"
    )
    assert lines[1].startswith("stopping: EarlyStopping(patience=3) would have stopped 2 of 2")
    assert main(["leaderboard", str(tmp_path), "--setting", "min_generalization_loss=50"]) == 0
    strict = [line for line in capsys.readouterr().out.splitlines() if "Overfitting" in line]
    assert strict[0].startswith(
        "stopping: OverfittingStopping(settings=DetectorSettings(min_generalization_loss=50.0))"
        " would have stopped 0 of 2 runs"
    )
    # The leaderboard compare writes for TensorBoard's Text dashboard says the same.
    from tbviz.commands.discovery import diagnose_runs
    from tbviz.commands.leaderboard import leaderboard_markdown

    markdown = leaderboard_markdown(diagnose_runs(str(tmp_path), None, "val_loss"), "val_loss")
    assert f"- `OverfittingStopping()` would have stopped 2 of 2 runs, saving {saved}" in markdown
    assert markdown.endswith("over 1% worse than the run's best (`turned`)")
