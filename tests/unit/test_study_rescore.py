"""Re-scoring stored trajectories with pr-v2 from real clangd facts (the toy C set's tree, no Docker).

Pins: results.json keeps only D totals, so pr-v2's severity weighting could not be judged on stored
trajectories; the plans are regenerated, checked against the stored notes, and every state measured.
"""

from __future__ import annotations

import json
from pathlib import Path

from lanser.harness.study.rescore import rescore
from lanser.harness.study.synthetic import TrajectoryAgent
from lanser.harness.task.spec import load_tasks

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"


def row(key: str, agent: str, task: str, notes: list[str]) -> dict:
    return {
        "key": key,
        "agent": agent,
        "task": task,
        "dataset": "toy-c",
        "notes": notes,
        "components": [[0.0, 0.4, 0.0]] * len(notes),
    }


def test_rescore_toy_trajectories_with_real_clangd(tmp_path: Path) -> None:
    t = next(x for x in load_tasks(TOY / "tasks.jsonl") if x.id == "toy-c/reverse")
    seed = next(
        s for s in range(50) if TrajectoryAgent("corrupt", s).plan(t)[0]["note"].startswith("fault undeclared_name")
    )
    note = TrajectoryAgent("corrupt", seed).plan(t)[0]["note"]
    rows = [
        row("gold", "oracle", t.id, ["gold 1/1"]),
        row("bad", f"corrupt:{seed}", t.id, [note]),
        row("lie", f"corrupt:{seed}", t.id, ["gold 1/1"]),
        {**row("other", "oracle", "elsewhere/x", ["gold 1/1"]), "dataset": "another"},
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"trajectories": rows}))
    out = rescore(TOY, results)
    assert out["mismatched"] == ["lie"], "a plan that does not regenerate with its stored notes is not scored"
    gold, bad = out["trajectories"]["gold"], out["trajectories"]["bad"]
    assert set(out["trajectories"]) == {"gold", "bad"}
    assert len(gold["phis"]) == len(bad["phis"]) == 2 and len(bad["rewards_v2"]) == 1
    assert bad["severities"][-1].get("error", 0) >= 1, "an undeclared name is an error to clangd"
    # the error sits on a line the step changed: it weighs 2 (x0.5): at least -1 from this error alone
    assert bad["reward_v2"] <= gold["reward_v2"] - 1.0
    assert bad["reward_v2"] == round(bad["phis"][-1] - bad["phis"][0], 6) == bad["rewards_v2"][0]


def test_rescore_a_recorded_trajectory_from_the_datasets_trajectories(tmp_path: Path) -> None:
    """A human (``replay:NAME``) trajectory is stored under its file name only: the re-scoring reads it
    from the dataset's ``trajectories/`` and measures every state it passed through."""
    rows = [{**row("human", "replay:reverse-off-by-one.jsonl", "toy-c/reverse", []), "components": [[0.0, 0.4, 0.0]]}]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"trajectories": rows}))
    out = rescore(TOY, results)
    assert out["mismatched"] == []
    human = out["trajectories"]["human"]
    assert len(human["phis"]) == 2 and len(human["rewards_v2"]) == 1
    assert human["reward_v2"] == round(human["phis"][-1] - human["phis"][0], 6)


def test_rescore_reuses_what_an_earlier_rescoring_measured(tmp_path: Path) -> None:
    """``reuse``: an entry for the same key is copied, not measured (the task it names need not even be
    in the dataset any more), and listed as reused."""
    earlier = {"phis": [0.0, 1.0], "rewards_v2": [1.0], "reward_v2": 1.0, "severities": [{}, {}], "d": [0, 0]}
    rows = [row("old", "oracle", "toy-c/gone", ["gold 1/1"])]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"trajectories": rows}))
    out = rescore(TOY, results, reuse={"old": earlier})
    assert out["trajectories"] == {"old": earlier}
    assert out["reused"] == ["old"] and out["states_measured"] == 0


def test_rescore_main_prints_usage_for_help_and_refuses_missing_arguments(capsys) -> None:
    from lanser.harness.study.rescore import main

    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m lanser.harness.study.rescore DATASET")
    assert main(["datasets/toy-c"]) == 2  # not an IndexError
    assert "usage:" in capsys.readouterr().err
