"""One rule book: the detector's settings travel with the run (issue 23). Change one
threshold and the verdict, the note's words, the tab and the command change
together; a setting nobody has is an error that names the ones that exist."""

from __future__ import annotations

import json

import pytest

from tbviz import RunLogger
from tbviz.commands.cli import main
from tbviz.core.detector import DetectorSettings
from tbviz.core.diagnosis import diagnose, parse_diagnosis
from tbviz.core.notes import note
from tbviz.logdir import metadata
from tbviz.logdir.reader import read_run
from tests.conftest import TUTORIAL
from tests.writers import cli_rows, tab_rows

#: The tutorial's curve ends 42.6% above its best: overfitting by the default rule
#: book, not by one that wants validation 50% worse before it calls it.
STRICT = DetectorSettings(min_generalization_loss=50.0)


def log(logdir, name, settings=None):
    with RunLogger(logdir, name, figure_every=0, settings=settings) as run:
        for epoch in range(len(TUTORIAL["loss"])):
            run.log_epoch(epoch, {k: v[epoch] for k, v in TUTORIAL.items()})


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("rules") / "runs"
    log(root, "default")
    log(root, "strict", STRICT)
    return root


def test_one_threshold_moves_the_verdict_the_words_and_the_tab_together(logdir, capsys):
    default, strict = (read_run(str(logdir / name)) for name in ("default", "strict"))
    # The verdict, stored with the rule book it was judged by.
    assert default.diagnoses()[-1][1]["status"] == "overfitting"
    stored = parse_diagnosis(strict.diagnoses()[-1][1])
    assert stored.status != "overfitting" and stored.settings == STRICT
    # The words: the default run's notes call it, the strict run's never do.
    assert any("**Overfitting**" in text for _, text in default.texts(metadata.TAG_NOTES))
    strict_words = strict.texts(metadata.TAG_SUMMARY)[-1][1]
    assert "**Overfitting**" not in strict_words and "42.6% above its best" in strict_words
    # ...and its stopper, configured as the run was judged, would not have stopped it.
    assert (
        "`OverfittingStopping(settings=DetectorSettings(min_generalization_loss=50.0))` "
        "would not have stopped" in strict_words
    )
    # The tab shows each run as it was judged, and says by which rule book.
    rows = tab_rows(logdir)
    assert rows["default"]["status"] == "overfitting" and rows["default"]["settings"] == {}
    assert rows["strict"]["status"] == stored.status
    assert rows["strict"]["settings"] == {"min_generalization_loss": 50.0}
    # The command judges every run by the rule book it is given.
    by_default = cli_rows(logdir, capsys)
    assert by_default["default"]["status"] == by_default["strict"]["status"] == "overfitting"
    strict_cli = cli_rows(logdir, capsys, "--setting", "min_generalization_loss=50")
    assert strict_cli["default"]["status"] == strict_cli["strict"]["status"] == stored.status


def test_the_notes_words_follow_the_settings_not_a_copy_of_them():
    """The note says training "improved" by the detector's own bar."""
    history = {k: list(v) for k, v in TUTORIAL.items()}
    words = note(diagnose(history))
    assert "while training improved" in words
    picky = note(diagnose(history, settings=DetectorSettings(min_train_improvement=99.0)))
    assert "while training improved" not in picky


def test_settings_come_from_a_file_or_flags_and_bad_ones_are_named(logdir, tmp_path, capsys):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"min_generalization_loss": 50}))
    rows = cli_rows(logdir, capsys, "--settings", str(path))
    assert rows["default"]["status"] != "overfitting"
    assert main(["leaderboard", str(logdir), "--setting", "sustaned_epochs=4"]) == 2
    err = capsys.readouterr().err
    assert "unknown detector setting 'sustaned_epochs'; did you mean sustained_epochs?" in err
    assert main(["leaderboard", str(logdir), "--setting", "noise_multiplier"]) == 2
    assert "write NAME=VALUE" in capsys.readouterr().err
    path.write_text("[1, 2]")
    assert main(["leaderboard", str(logdir), "--settings", str(path)]) == 2
    assert "a JSON object" in capsys.readouterr().err


def test_a_diagnosis_stored_before_settings_were_stored_reads_with_the_defaults():
    stored = diagnose({k: list(v) for k, v in TUTORIAL.items()}).to_dict()
    del stored["settings"]
    assert parse_diagnosis(stored).settings == DetectorSettings()


def test_the_rule_table_is_the_one_place_every_rule_and_threshold_is_named():
    import dataclasses
    import inspect

    from tbviz.core.detector import REASON_CODES, RULES
    from tbviz.core.verdicts import STATUS_TABLE, reason_text

    codes = {rule.code for rule in RULES} - {"held", "held-unstable"}
    assert codes <= set(REASON_CODES)
    assert {rule.status for rule in RULES} <= set(STATUS_TABLE)
    words = inspect.getsource(reason_text)
    assert all(f'"{code}"' in words for code in REASON_CODES)  # each code has its words
    named = {name for rule in RULES for name in rule.settings}
    fields = {f.name for f in dataclasses.fields(DetectorSettings)}
    assert named <= fields
    # patience is EarlyStopping's, for the notes' what-if, not a rule of the detector.
    assert fields - named == {"patience"}
