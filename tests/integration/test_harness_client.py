"""A harness episode asks lanser through the client SDK (issue 21): a ``lanser`` action and an
``edit`` (lanser check --apply) in a task's work area, answered by real clangd in one in-process
session that lasts from reset() until grading, and the same bytes a fresh client gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.client import Client
from lanser.harness.env import project
from lanser.harness.run.runner import TaskEnv
from lanser.harness.task.spec import TaskSpec

IMAGE_ID = "sha256:" + "0" * 64
SOURCE = "int add(int a, int b) { return a - b; }\nint twice(int x) { return add(x, x); }\n"
FIX = """--- a/calc.c
+++ b/calc.c
@@ -1,2 +1,2 @@
-int add(int a, int b) { return a - b; }
+int add(int a, int b) { return a + b; }
 int twice(int x) { return add(x, x); }
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = tmp_path / "data" / "src"
    src.mkdir(parents=True)
    (src / "calc.c").write_text(SOURCE)
    (src / "compile_flags.txt").write_text("-std=c99\n")
    monkeypatch.setattr(project, "_failed", {})
    monkeypatch.setattr(project, "_memo", {})
    monkeypatch.setenv(project.CACHE_ENV, str(tmp_path / "layers"))
    task = TaskSpec.model_validate(
        {
            "id": "calc/add",
            "language": "c",
            "source": {"kind": "dir", "path": "src"},
            "commands": {"build": "true", "test": "true"},
            "problem": "add subtracts",
            "gold_patch": FIX,
        }
    )
    episode = TaskEnv(task, tmp_path / "data", "base", tmp_path / "work", image_id=IMAGE_ID)
    episode.reset()
    yield episode
    episode.close()


def test_an_episode_asks_lanser_through_one_client_session(env: TaskEnv) -> None:
    request = {"cmd": "references", "selector": "calc.c@L1:C5", "args": {}}
    _, _, _, record = env.step({"type": "lanser", "request": request})
    session = env.lanser
    assert isinstance(session, Client) and session._session is not None  # servers kept up between steps
    bundle = record["result"]["bundle"]
    assert bundle["status"] == "ok", bundle
    answer = env._lanser(request)
    assert len(answer["facts"]["references"]) == 2 and answer["bundleId"] == bundle["bundleId"]
    # A fresh in-process client (servers started for the one call) gives the same bytes.
    assert Client(env.work, daemon=False, cache=False).batch([request])[0].data == answer
    _, reward, _, record = env.step({"type": "edit", "patch": FIX})
    assert record["result"]["status"] == "ok" and reward == record["result"]["processReward"]["r"]
    assert "a + b" in (env.work / "calc.c").read_text()
    assert (
        env.step({"type": "lanser", "request": {"cmd": "nope"}})[3]["result"]["bundle"]["error"]["code"]
        == "E/BAD_REQUEST"
    )
    assert env.lanser is session
    env.close()
    assert env.lanser is None and session._session is None
