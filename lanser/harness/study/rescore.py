"""Re-score stored study trajectories with pr-v2 from real language-server facts (IO: a language server).

``results.json`` keeps each trajectory's D totals, not its diagnostics, so severities and lines are
gone.  The synthetic agents are deterministic, though: a trajectory's plan is regenerated from its
agent spec and task (with the generator version that ran it), checked against the stored notes, and
every state it passed through is rebuilt on a copy of the task's tree and measured in a fresh server.
Each state's Phi (:func:`lanser.reward_v2.potential`, severity-weighted, changed lines against the
start state) gives pr-v2's step rewards and sum.  Trees that need a Docker project layer (the OSS and
kernel sets) are not rebuilt here; the toy set's tree is in the repository.

``python -m lanser.harness.study.rescore DATASET RESULTS.json OUT.json [GENERATOR.py] [--layers] [--reuse EARLIER.json]``
(``--layers``: rebuild states on the task's cached project layer, for datasets with a setup step;
``--reuse``: copy the entries an earlier re-scoring measured for the same keys).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["rescore"]


def _load_generator(path: Path | None) -> Any:
    if path is None:
        from lanser.harness.study import synthetic as trajectories

        return trajectories
    spec = importlib.util.spec_from_file_location("lanser_traj_stored", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _plan(agent: str, task: Any, gen: Any, dataset: Path | None = None) -> list[dict[str, Any]]:
    """The edit patches of a stored agent spec's plan (a ``replay:NAME`` trajectory is read from the
    dataset's ``trajectories/``, where the human ones live)."""
    from lanser.harness.run.agents import make_agent

    if agent.split(":")[0] in gen.KINDS:
        kind, _, seed = agent.partition(":")
        actions = gen.TrajectoryAgent(kind, int(seed or 0)).plan(task)
    else:
        base = dataset / "trajectories" if dataset is not None and agent.startswith("replay:") else None
        plan = getattr(make_agent(agent, base=base), "plan", None)
        actions = plan(task) if plan is not None else []
    return [a for a in actions if a.get("type") == "edit"]


def _measure(root: Path, paths: list[str]) -> list[dict[str, Any]]:
    from lanser.client import Client

    groups: list[dict[str, Any]] = []
    with Client(root, daemon=False, timeout=120.0, cache=False) as lanser:
        for rel in paths:
            result = lanser.diagnostics(rel)
            if not result.ok:
                raise RuntimeError(f"diagnostics of {rel} failed: {result.data.get('error')}")
            groups += [g for g in result.facts.get("diagnostics") or [] if g.get("path") == rel]
    return groups


def _tree_finder(dataset: Path, layers: bool) -> Callable[[Any], Path | None]:
    """The tree a task's states are rebuilt on: its source, or with ``layers`` its project layer
    (build directory, compile database) when that layer is already in the cache (None otherwise:
    building one takes Docker and minutes, which a re-scoring does not spend)."""
    from lanser.harness.task.sources import materialize

    if not layers:
        return lambda task: materialize(task.source, dataset)
    from lanser.harness.env import project
    from lanser.harness.env.images import bootstrap_base, image_digest

    image = bootstrap_base()
    image_id = image_digest(image)

    def find(task: Any) -> Path | None:
        if task.commands.setup is None:
            return materialize(task.source, dataset)
        tree = materialize(task.source, dataset)
        source_id = f"{task.source.kind}:{task.source.sha256}" if task.source.sha256 else project._digest_of(tree)
        if not (project.cache_root() / project.layer_key(source_id, image_id, task.commands.setup)).is_dir():
            return None
        path: Path = project.prepare(task, dataset, image, image_id=image_id).path
        return path

    return find


def rescore(
    dataset: Path,
    results: Path,
    *,
    generator: Path | None = None,
    layers: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    reuse: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """key -> {"phis", "rewards_v2", "reward_v2", "severities", "d"} for every stored trajectory whose
    plan regenerates with the stored notes (``mismatched`` lists the others, ``no_tree`` those whose
    project layer is not cached).  ``d``: each state's error + warning count, to check against the
    stored D.  ``reuse``: key -> an entry an earlier re-scoring measured (same key: same task, image and
    plan), copied instead of measured again and listed in ``reused``."""
    from lanser.harness.study.diag import _materialise
    from lanser.harness.task.spec import load_tasks
    from lanser.reward_v2 import changed_lines, potential, process_reward_v2

    gen = _load_generator(generator)
    tasks = {t.id: t for t in load_tasks(dataset / "tasks.jsonl")}
    stored = json.loads(results.read_text())["trajectories"]
    cache: dict[str, list[dict[str, Any]]] = {}
    out: dict[str, Any] = {"trajectories": {}, "mismatched": [], "no_tree": [], "states_measured": 0, "reused": []}
    known = reuse or {}
    tree_of = _tree_finder(dataset, layers)
    work = Path(tempfile.mkdtemp(prefix="rescore-"))
    try:
        for n, row in enumerate(stored, 1):
            if row.get("dataset", dataset.name) != dataset.name:  # a study over several datasets
                continue
            if row["key"] in known:
                out["trajectories"][row["key"]] = known[row["key"]]
                out["reused"].append(row["key"])
                continue
            task = tasks[row["task"]]
            edits = _plan(row["agent"], task, gen, dataset)
            notes = [a["note"] for a in edits if isinstance(a.get("note"), str)]
            if len(edits) != len(row["components"]) or (row["notes"] and notes != row["notes"]):
                out["mismatched"].append(row["key"])
                continue
            found = tree_of(task)
            if found is None:
                out["no_tree"].append(row["key"])
                continue
            tree = found
            start = [task.start_patch] if task.start_patch else []
            patches = [a["patch"] for a in edits]
            touched: set[str] = set()
            for i in range(1, len(patches) + 1):
                touched |= set(_materialise(tree, work / "probe", start + patches[:i]))
            paths = sorted(p for p in touched if p.endswith((".c", ".h", ".py")))
            texts0: dict[str, str] = {}
            phis: list[float] = []
            sev: list[dict[str, int]] = []
            d: list[int] = []
            for i in range(len(patches) + 1):
                state = work / "state"
                _materialise(tree, state, start + patches[:i])
                texts = {p: (state / p).read_text(errors="replace") if (state / p).is_file() else "" for p in paths}
                if i == 0:
                    texts0 = texts
                digest = hashlib.sha256(json.dumps([task.id, texts], sort_keys=True).encode()).hexdigest()
                if digest not in cache:
                    cache[digest] = _measure(state, [p for p in paths if (state / p).is_file()])
                    out["states_measured"] += 1
                groups = cache[digest]
                changed = {p: changed_lines(texts0.get(p, ""), texts[p]) for p in paths}
                phis.append(potential(groups, changed, paths))
                counts: dict[str, int] = {}
                for g in groups:
                    for diag in g.get("diagnostics") or []:
                        counts[diag["severity"]] = counts.get(diag["severity"], 0) + 1
                sev.append(counts)
                d.append(counts.get("error", 0) + counts.get("warning", 0))
            rs = [process_reward_v2(a, b, True, 1.0)["r"] for a, b in zip(phis, phis[1:], strict=False)]
            out["trajectories"][row["key"]] = {
                "phis": phis,
                "rewards_v2": rs,
                "reward_v2": round(phis[-1] - phis[0], 6),
                "severities": sev,
                "d": d,
            }
            say(
                f"[{n}/{len(stored)}] {row['task']} {row['agent']}: pr-v2 {out['trajectories'][row['key']]['reward_v2']}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


USAGE = """usage: python -m lanser.harness.study.rescore DATASET RESULTS.json OUT.json [GENERATOR] [--layers] [--reuse EARLIER.json]...

Re-score a study's trajectories with pr-v2 from real language-server facts: each trajectory's
states are made again (from the dataset's project layers with --layers) and measured by clangd.
--reuse copies entries an earlier re-scoring measured for the same keys (repeatable)."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    layers = "--layers" in args
    pos = [a for a in args if a != "--layers"]
    reuse: dict[str, Any] = {}
    while "--reuse" in pos:  # --reuse EARLIER.json (repeatable): entries measured before, copied
        i = pos.index("--reuse")
        reuse.update(json.loads(Path(pos[i + 1]).read_text())["trajectories"])
        del pos[i : i + 2]
    if len(pos) < 3 or len(pos) > 4:
        print(USAGE, file=sys.stderr)
        return 2
    dataset, results, dest = Path(pos[0]), Path(pos[1]), Path(pos[2])
    gen = Path(pos[3]) if len(pos) > 3 else None
    out = rescore(
        dataset,
        results,
        generator=gen,
        layers=layers,
        say=lambda m: print(m, file=sys.stderr, flush=True),
        reuse=reuse,
    )
    out["command"] = "python -m lanser.harness.study.rescore " + " ".join(args)
    dest.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
