"""Groups of runs over seeds (issue 25): aggregates checked against values computed by
hand, a stopped member, runs without hparams grouped by name, the significance
words, and the group figure written into ``_compare``."""

from __future__ import annotations

import io
import json
import statistics

import pytest
from PIL import Image

from tbviz.commands.cli import main
from tbviz.commands.groups import paired_t_test, t_two_sided, welch_t_test
from tbviz.core.results import varying_hparams
from tbviz.logdir import metadata
from tbviz.logdir.reader import read_run
from tests.conftest import log_history


def curve(best: float, best_epoch: int, epochs: int = 10) -> dict[str, list[float]]:
    """Validation falls to ``best`` at ``best_epoch`` and rises after; training falls."""
    val = [best + 0.05 * abs(e - best_epoch) for e in range(epochs)]
    return {"loss": [1.0 / (e + 1) for e in range(epochs)], "val_loss": val}


#: lr -> seed -> (best val_loss, best epoch); lr=0.001's seed 2 stopped after 6 epochs.
PLAN = {
    0.001: {0: (0.30, 4), 1: (0.32, 5), 2: (0.31, 4)},
    0.01: {0: (0.40, 3), 1: (0.43, 3), 2: (0.41, 2)},
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups") / "runs"
    for lr, seeds in PLAN.items():
        for seed, (best, at) in seeds.items():
            epochs = 6 if (lr, seed) == (0.001, 2) else 10
            log_history(
                root,
                f"sw/lr={lr},seed={seed}",
                curve(best, at, epochs),
                figure_every=0,
                hparams={"lr": lr, "seed": seed, "run": f"sw/lr={lr},seed={seed}"},
            )
    return root


def test_group_rows_hold_the_aggregates_a_researcher_computes_by_hand(sweep, capsys):
    assert main(["leaderboard", str(sweep), "--group-over", "seed", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["group"] for r in rows] == ["lr=0.001", "lr=0.01"]
    first = rows[0]
    bests = [b for b, _ in PLAN[0.001].values()]
    assert first["n"] == 3 and sorted(first["runs"]) == [f"sw/lr=0.001,seed={s}" for s in (0, 1, 2)]
    assert first["best_value_mean"] == pytest.approx(statistics.mean(bests))
    assert first["best_value_std"] == pytest.approx(statistics.stdev(bests))
    assert (first["best_value_min"], first["best_value_max"]) == pytest.approx((0.30, 0.32))
    epochs = [e for _, e in PLAN[0.001].values()]
    assert first["best_epoch_mean"] == pytest.approx(statistics.mean(epochs))
    assert first["best_epoch_std"] == pytest.approx(statistics.stdev(epochs))
    assert first["status"] == f"overfitting in {len(first['overfitting_runs'])}/3"
    # Seeds match between the groups: a paired test over them, and it holds up.
    verdict = first["versus_next"]
    assert verdict["test"] == "paired t" and verdict["p_value"] < 0.05
    diffs = [PLAN[0.001][s][0] - PLAN[0.01][s][0] for s in (0, 1, 2)]
    assert verdict["p_value"] == pytest.approx(paired_t_test(diffs), rel=1e-3)  # float32 logs
    assert "versus_next" not in rows[1]  # the last group has no next


def test_the_table_says_it_in_words(sweep, capsys):
    assert main(["leaderboard", str(sweep), "--group-over", "seed"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["#", "group", "n"]
    assert "lr=0.001" in table[1] and "holds up (p=" in table[1] and "paired t" in table[1]


def test_runs_without_hparams_group_by_name_and_welch_decides(tmp_path, capsys):
    root = tmp_path / "runs"
    for name, best in (
        ("a/seed=1", 0.30),
        ("a/seed=2", 0.5),
        ("b/seed=7", 0.35),
        ("b/seed=9", 0.33),
    ):
        log_history(root, name, curve(best, 4), figure_every=0)
    assert main(["leaderboard", str(root), "--group-over", "seed", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["group"] for r in rows] == ["b/seed=*", "a/seed=*"]
    verdict = rows[0]["versus_next"]
    assert verdict["test"] == "Welch t"  # no seed in common: not paired
    assert verdict["p_value"] == pytest.approx(welch_t_test([0.35, 0.33], [0.30, 0.5]))
    assert verdict["words"].startswith("may be chance")


def test_compare_draws_one_curve_per_group_into_compare(sweep, capsys):
    assert main(["compare", str(sweep), "--group-over", "seed", "--no-progress"]) == 0
    assert "groups over seed:" in capsys.readouterr().out
    data = read_run(str(sweep / "_compare"))
    [(_, width, height, png)] = data.images(metadata.TAG_GROUP_OVERLAY)
    assert Image.open(io.BytesIO(png)).size == (width, height)
    stored = data.json_values(metadata.TAG_LEADERBOARD_JSON)[-1][1]
    assert [g["group"] for g in stored["groups"]] == ["lr=0.001", "lr=0.01"]


def test_the_t_distribution_is_right():
    # Reference values of Student's t (two-sided), from tables.
    assert t_two_sided(2.228, 10) == pytest.approx(0.05, abs=2e-4)
    assert t_two_sided(12.706, 1) == pytest.approx(0.05, abs=2e-4)
    assert t_two_sided(0.0, 5) == pytest.approx(1.0)
    assert t_two_sided(1.96, 1e6) == pytest.approx(0.05, abs=2e-4)


def test_the_hparams_worth_showing_are_those_that_vary_between_runs_logging_hparams():
    """One rule for the leaderboard's column, --group-over's labels and the tab
    (the plugin serves this list): plain runs and the ``run`` name do not count."""
    sweep = [{"lr": 0.1, "filters": 16, "run": "a"}, {"lr": 0.3, "filters": 16, "run": "b"}]
    assert varying_hparams([*sweep, {}, {}]) == ["lr"]
    assert varying_hparams([{"lr": 0.1, "run": "a"}, {}]) == ["lr"]  # a lone run: all of them
    assert varying_hparams([{}, {}]) == []


def test_the_tab_places_runs_in_the_groups_the_command_does(tmp_path, capsys):
    """The plugin serves each run's group over each knob, placed by the same function
    as --group-over; a run whose hparams only name it groups by its name in both."""
    from tests.writers import tab_rows

    for lr in (0.001, 0.003):
        for seed in (0, 1):
            log_history(
                tmp_path,
                f"sweep/lr={lr},seed={seed}",
                curve(0.5 + lr * 10 + seed / 100, 3),
                figure_every=0,
                hparams={"lr": lr, "seed": seed, "sweep": "sweep"},
            )
    log_history(tmp_path, "named/seed=4", curve(0.7, 3), figure_every=0, hparams={"sweep": "x"})
    assert main(["leaderboard", str(tmp_path), "--group-over", "seed", "--json"]) == 0
    cli = {g["group"]: sorted(g["runs"]) for g in json.loads(capsys.readouterr().out)}
    assert cli == {
        "lr=0.001": ["sweep/lr=0.001,seed=0", "sweep/lr=0.001,seed=1"],
        "lr=0.003": ["sweep/lr=0.003,seed=0", "sweep/lr=0.003,seed=1"],
        "named/seed=*": ["named/seed=4"],
    }
    tab: dict[str, list[str]] = {}
    for run, row in tab_rows(tmp_path).items():
        tab.setdefault(row["groups"]["seed"][1], []).append(run)
    assert {label: sorted(runs) for label, runs in tab.items()} == cli
