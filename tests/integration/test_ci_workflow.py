"""The documented CI workflow end to end, here: the steps of the repository's GitHub Action
(action.yml) run as GitHub runs them (bash -eo pipefail, inputs through the environment,
$GITHUB_OUTPUT between steps) against a throwaway git repository with a local bare origin.
The rename is applied, the gate passes or fails as it should, the branch is committed and
pushed only when it passes, and the SARIF file validates against the shipped OASIS schema.
Not run here: pip install (lanser is already on PATH) and `gh pr create` (needs GitHub)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "data" / "schemas" / "sarif-schema-2.1.0.json"
_EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


_GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, env=_GIT_ENV, check=True, capture_output=True, text=True, timeout=120
    ).stdout


@dataclass
class Outcome:
    failed: str | None = None  # the id of the step that failed
    code: int = 0
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    log: str = ""


def run_action(workspace: Path, inputs: dict[str, str], env: dict[str, str], tmp: Path) -> Outcome:
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs)
    done = Outcome()

    def expand(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr.startswith("inputs."):
                return values[expr.removeprefix("inputs.")]
            if expr == "github.action_path":
                return str(REPO)
            step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
            if step:
                return done.outputs.get(step.group(1), {}).get(step.group(2), "")
            raise AssertionError(f"an expression this runner does not know: {expr}")

        return _EXPR.sub(one, text)

    for i, step in enumerate(action["runs"]["steps"]):
        assert "${{" not in step["run"], "inputs reach a step's shell through env only"
        assert step["shell"] == "bash"
        out_file = tmp / f"output-{i}"
        out_file.write_text("")
        script = tmp / f"step-{i}.sh"
        script.write_text(step["run"])
        step_env = {
            **env,
            "GITHUB_OUTPUT": str(out_file),
            **{k: expand(str(v)) for k, v in (step.get("env") or {}).items()},
        }
        cwd = workspace / expand(step.get("working-directory", "."))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        done.log += f"--- {step['id']} ({proc.returncode})\n{proc.stdout}{proc.stderr}"
        done.outputs[step["id"]] = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if line)
        if proc.returncode != 0:
            done.failed, done.code = step["id"], proc.returncode
            break
    return done


@pytest.fixture
def project(sample: Path, tmp_path: Path, daemon_env: dict[str, str]) -> tuple[Path, Path, dict[str, str]]:
    """The sample as a git repository with a bare origin; lanser on PATH, as the install step leaves it."""
    git(sample, "init", "-q", "-b", "main")
    git(sample, "add", "-A")
    git(sample, "commit", "-q", "-m", "the project")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git(sample, "remote", "add", "origin", str(origin))
    env = {
        **daemon_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return sample, origin, env


def validate_sarif(path: Path) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(log)
    return log


RENAME = {
    "install": "false",
    "rename": "py://pkg.shapes#total_area",
    "to": "sum_of_areas",
    "branch": "lanser/rename-total-area",
    "push": "true",
}


def test_rename_gate_passes_commit_and_push(project: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    repo, origin, env = project
    report = repo / "pkg" / "report.py"  # fix the sample's deliberate error first: this project is clean
    report.write_text(report.read_text(encoding="utf-8").split("\n\ndef broken")[0] + "\n", encoding="utf-8")
    git(repo, "commit", "-q", "-am", "fix")
    done = run_action(repo, RENAME, env, tmp_path)
    assert done.failed is None, done.log
    assert done.outputs["rename"]["changed"] == "true"
    assert done.outputs["commit"]["branch"] == "lanser/rename-total-area"
    # the rename is the branch's commit, on the origin too, and touched every file that names it
    changed = git(repo, "diff", "--name-only", "main", "lanser/rename-total-area").split()
    assert sorted(changed) == ["pkg/__init__.py", "pkg/report.py", "pkg/shapes.py"]
    assert "sum_of_areas" in git(repo, "show", "lanser/rename-total-area:pkg/report.py")
    assert git(origin, "rev-parse", "lanser/rename-total-area") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    log = validate_sarif(repo / done.outputs["diagnostics"]["sarif"])
    assert [r for r in log["runs"][0]["results"] if r["level"] == "error"] == []


def test_gate_fails_on_an_error_in_a_changed_file_and_nothing_is_committed(
    project: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, origin, env = project  # the sample as it is: pkg/report.py has a type error, and the rename touches it
    done = run_action(repo, RENAME, env, tmp_path)
    assert (done.failed, done.code) == ("diagnostics", 1), done.log
    assert "reportAssignmentType" in done.log
    assert git(repo, "branch", "--list", "lanser/*") == "" and git(origin, "branch", "--list") == ""
    log = validate_sarif(repo / "lanser.sarif")  # written before the gate: uploaded even when it fails
    assert [r["ruleId"] for r in log["runs"][0]["results"] if r["level"] == "error"] == ["reportAssignmentType"]


def test_gate_ignores_errors_in_files_the_change_did_not_touch(
    project: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """The error in pkg/report.py is old: a change since `base` that touches only shapes.py passes."""
    repo, _, env = project
    shapes = repo / "pkg" / "shapes.py"
    shapes.write_text(shapes.read_text(encoding="utf-8") + "\n\nUNIT = 1.0\n", encoding="utf-8")
    git(repo, "commit", "-q", "-am", "a change elsewhere")
    done = run_action(repo, {"install": "false", "base": "HEAD~1", "sarif": ""}, env, tmp_path)
    assert done.failed is None, done.log
    everything = run_action(repo, {"install": "false", "gate": "all", "sarif": ""}, env, tmp_path)
    assert (everything.failed, everything.code) == ("diagnostics", 1), everything.log


def test_a_bad_selector_stops_the_workflow_with_lansers_code(
    project: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, _, env = project
    done = run_action(repo, {**RENAME, "rename": "py://pkg.shapes#no_such_thing"}, env, tmp_path)
    assert (done.failed, done.code) == ("rename", 3), done.log
    partial = run_action(repo, {**RENAME, "rename": "py://pkg.shapes#Shape.area", "to": "surface"}, env, tmp_path)
    assert (partial.failed, partial.code) == ("rename", 70), partial.log  # overrides left behind: nothing written
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    hostile = run_action(repo, {"install": "false", "base": "--output=/tmp/x", "sarif": ""}, env, tmp_path)
    assert (hostile.failed, hostile.code) == ("diagnostics", 2), hostile.log


def run_gitlab_job(workspace: Path, variables: dict[str, str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The template's job as a GitLab runner runs it: its variables, then its script lines as one
    POSIX shell script with -e (dash here, so nothing bash-only slips in)."""
    job = yaml.safe_load((REPO / "ci" / "gitlab" / "lanser.gitlab-ci.yml").read_text(encoding="utf-8"))[".lanser"]
    job_env = {**env, **{k: str(v) for k, v in job["variables"].items()}, **variables}
    script = "\n".join(job["script"])
    return subprocess.run(
        ["sh", "-e", "-c", script], cwd=workspace, env=job_env, capture_output=True, text=True, timeout=600
    )


def test_gitlab_template_renames_gates_reports_and_pushes_for_a_merge_request(
    project: tuple[Path, Path, dict[str, str]],
) -> None:
    repo, origin, env = project
    git(origin, "config", "receive.advertisePushOptions", "true")  # GitLab accepts merge_request.* push options
    variables = {
        "LANSER_RENAME": RENAME["rename"],
        "LANSER_TO": RENAME["to"],
        "LANSER_BRANCH": RENAME["branch"],
        "LANSER_PUSH_URL": str(origin),
    }
    failing = run_gitlab_job(repo, variables, env)  # pkg/report.py's type error is in a changed file
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert git(origin, "branch", "--list") == ""
    [issue] = [i for i in json.loads((repo / "gl-code-quality-report.json").read_text()) if i["severity"] == "major"]
    assert issue["location"]["path"] == "pkg/report.py"
    validate_sarif(repo / "lanser.sarif")

    git(repo, "checkout", "-q", "--", ".")  # a fresh job on a fixed project
    report = repo / "pkg" / "report.py"
    report.write_text(report.read_text(encoding="utf-8").split("\n\ndef broken")[0] + "\n", encoding="utf-8")
    git(repo, "commit", "-q", "-am", "fix")
    passing = run_gitlab_job(repo, variables, env)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "sum_of_areas" in git(origin, "show", f"{RENAME['branch']}:pkg/report.py")
    assert json.loads((repo / "gl-code-quality-report.json").read_text()) == []
    assert validate_sarif(repo / "lanser.sarif")["runs"][0]["results"] == []


def test_the_install_step_puts_lanser_and_its_pinned_servers_on_path(
    project: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """`install: true` as a runner after actions/setup-python: a fresh Python whose pip installs
    lanser from the action's checkout; the later steps then run that lanser."""
    repo, _, env = project
    venv = tmp_path / "runner-python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    runner_env = {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}  # not the test's lanser
    done = run_action(repo, {"gate": "none"}, runner_env, tmp_path)
    assert done.failed is None, done.log
    assert (venv / "bin" / "lanser").exists() and (venv / "bin" / "basedpyright-langserver").exists()
    version = subprocess.run([str(venv / "bin" / "lanser"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout in done.log
    log = validate_sarif(repo / "lanser.sarif")
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["reportAssignmentType"]
