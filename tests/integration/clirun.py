"""The lanser CLI as a subprocess, the way a user's shell starts it, with a given environment."""

from __future__ import annotations

import subprocess
import sys

ENTRY = "from lanser.cli.main import main; main()"


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
