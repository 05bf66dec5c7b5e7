"""Rename and code actions through the CLI, on real git repositories and real servers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gitrepo import commit_all, git, snapshot

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(sample: Path) -> Path:
    return commit_all(sample)


def test_preview_writes_nothing_and_shows_the_diff(repo: Path, run_json) -> None:
    before = snapshot(repo)
    code, b = run_json("-w", str(repo), "rename", "py://pkg.shapes#total_area", "sum_areas")
    assert code == 0, b
    assert snapshot(repo) == before
    edits = b["edits"]
    assert edits["applied"] is False and edits["complete"] is True
    assert [f["path"] for f in edits["files"]] == ["pkg/__init__.py", "pkg/report.py", "pkg/shapes.py"]
    assert (
        "-def total_area(shapes: list[Shape]) -> float:\n+def sum_areas(shapes: list[Shape]) -> float:" in edits["diff"]
    )
    # The preview is a patch git accepts as it is.
    patch = repo / ".." / "p.patch"
    patch.write_text(edits["diff"])
    subprocess.run(["git", "apply", "--check", str(patch.resolve())], cwd=repo, check=True)


def test_apply_and_commit_then_the_server_sees_the_new_code(repo: Path, run_json) -> None:
    code, b = run_json("-w", str(repo), "rename", "py://pkg.shapes#total_area", "sum_areas", "--apply", "--commit")
    assert code == 0, b
    assert b["edits"]["applied"] is True and len(b["edits"]["commit"]) == 40
    assert "total_area" not in (repo / "pkg" / "report.py").read_text()
    assert git(repo, "status", "--porcelain") == ""
    assert "Rename py://pkg.shapes#total_area to sum_areas" in git(repo, "log", "-1", "--format=%s")
    code, b = run_json("-w", str(repo), "refs", "py://pkg.shapes#sum_areas")
    assert code == 0 and b["facts"]["total"] == 5
    code, b = run_json("-w", str(repo), "diag", "pkg/report.py")
    assert b["facts"]["diagnostics"][0]["counts"] == {"error": 1}  # only the deliberate one


def test_dirty_worktree_refused_unless_allowed(repo: Path, run_json) -> None:
    (repo / "pkg" / "report.py").write_text((repo / "pkg" / "report.py").read_text() + "# wip\n")
    before = snapshot(repo)
    code, b = run_json("-w", str(repo), "rename", "py://pkg.shapes#total_area", "sum_areas", "--apply")
    assert code == 71 and b["error"]["code"] == "E/FS_PERMISSIONS"
    assert b["error"]["details"]["dirty"] == ["pkg/report.py"]
    assert snapshot(repo) == before
    code, b = run_json("-w", str(repo), "rename", "py://pkg.shapes#total_area", "sum_areas", "--apply", "--allow-dirty")
    assert code == 0
    assert (repo / "pkg" / "report.py").read_text().endswith("# wip\n")


def test_deny_and_allow_globs(repo: Path, run_json) -> None:
    before = snapshot(repo)
    code, b = run_json(
        "-w", str(repo), "rename", "py://pkg.shapes#total_area", "x", "--apply", "--deny", "pkg/__init__.py"
    )
    assert code == 71 and b["error"]["details"]["path"] == "pkg/__init__.py"
    code, b = run_json(
        "-w", str(repo), "rename", "py://pkg.shapes#total_area", "x", "--apply", "--allow", "pkg/shapes.py"
    )
    assert code == 71
    assert snapshot(repo) == before


def test_via_git_and_conflict_reporting(repo: Path, run_json) -> None:
    code, b = run_json("-w", str(repo), "rename", "py://pkg.shapes#total_area", "sum_areas", "--apply", "--via-git")
    assert code == 0 and b["edits"]["via"] == "git apply --3way"
    assert "def sum_areas(" in (repo / "pkg" / "shapes.py").read_text()


def test_ambiguous_selector_refused_when_asked(repo: Path, run_json) -> None:
    # An anchor found fuzzily resolves with confidence < 1.
    sel = 'anchor://pkg/shapes.py#"def%20total_area(shapes:%20list[Shape])%20->%20int:"'
    code, b = run_json("-w", str(repo), "locate", sel)
    assert code == 0 and b["resolution"]["confidence"] < 1.0
    code, b = run_json("-w", str(repo), "rename", sel, "sum_areas", "--apply", "--deny-apply-on-ambiguous")
    assert code == 4 and b["error"]["code"] == "E/AMBIGUOUS"


def test_prepare_rename_refusal(repo: Path, run_json) -> None:
    code, b = run_json("-w", str(repo), "prepare-rename", "py://pkg.shapes#total_area")
    assert code == 0 and b["edits"]["placeholder"] == "total_area"
    code, b = run_json("-w", str(repo), "prepare-rename", "pkg/shapes.py@L2:C1")  # a blank line
    assert code == 3 and b["error"]["code"] == "E/NOT_FOUND"


def test_c_rename_builds_afterwards(repo: Path, run_json, tmp_path: Path) -> None:
    code, b = run_json("-w", str(repo), "rename", "c://csrc/geometry.c#manhattan", "taxicab", "--apply")
    assert code == 0, b
    assert {f["path"] for f in b["edits"]["files"]} == {"csrc/geometry.c", "csrc/geometry.h", "csrc/main.c"}
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed"
    exe = tmp_path / "geometry"
    subprocess.run(
        [cc, "-std=c11", "-Wall", "-Werror", "-o", str(exe), "csrc/main.c", "csrc/geometry.c"], cwd=repo, check=True
    )
    assert subprocess.run([str(exe)], capture_output=True, text=True).stdout == "7\n"


def test_code_action_listed_then_applied(repo: Path, run_json) -> None:
    (repo / "pkg" / "imp.py").write_text(
        'import sys\n\n\ndef f() -> str:\n    return sys.argv[0] + path.join("a", "b")\n'
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "imp")
    code, b = run_json("-w", str(repo), "action", "pkg/imp.py@L5:C26")
    assert code == 0, b
    titles = {a["title"]: a["id"] for a in b["edits"]["actions"]}
    assert "from os import path" in titles
    code, b = run_json("-w", str(repo), "action", "pkg/imp.py@L5:C26", "--id", titles["from os import path"], "--apply")
    assert code == 0, b
    assert "from os import path" in (repo / "pkg" / "imp.py").read_text()
    code, b = run_json("-w", str(repo), "diag", "pkg/imp.py")
    assert b["facts"]["diagnostics"][0]["counts"] == {}
    code, b = run_json(
        "-w", str(repo), "action", "pkg/imp.py@L5:C26", "--id", "000000000000", "--apply", "--allow-dirty"
    )
    assert code == 3


def test_rename_through_the_daemon_then_query(repo: Path, run_json, monkeypatch) -> None:
    """The warm daemon applies, then answers from the new files (no stale documents)."""
    import os
    import sys

    env = dict(os.environ)
    env.pop("LANSER_NO_DAEMON", None)
    env["XDG_RUNTIME_DIR"] = str(repo.parent / "run")
    (repo.parent / "run").mkdir()

    def lanser(*args: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", "from lanser.cli.main import main; main()", "--json", "-w", str(repo), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return json.loads(out.stdout)

    try:
        assert lanser("refs", "py://pkg.shapes#total_area")["facts"]["total"] == 5
        assert lanser("rename", "py://pkg.shapes#total_area", "sum_areas", "--apply")["edits"]["applied"]
        after = lanser("refs", "py://pkg.shapes#sum_areas")
        assert after["status"] == "ok" and after["facts"]["total"] == 5
        assert lanser("diag", "pkg/report.py")["facts"]["diagnostics"][0]["counts"] == {"error": 1}
    finally:
        subprocess.run(
            [sys.executable, "-c", "from lanser.cli.main import main; main()", "-w", str(repo), "daemon", "stop"],
            env=env,
            capture_output=True,
            timeout=60,
        )


def _stub_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    ws = tmp_path / "ws"
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "init")
    return ws


def test_rename_renames_the_stub_beside_the_module(tmp_path: Path, run_json) -> None:
    """Regression (rename bench, attrs 23.2.0 and more-itertools 10.2.0, 7 of 15 refusals): with a .pyi
    stub beside the module, basedpyright's rename and references cover the .py symbol alone; every
    import of it resolves to the stub, so a rename was either partial (before the import check) or
    refused.  The stub's declaration (every overload) is renamed with it, and its users."""
    ws = _stub_repo(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/exc.py": "class NotThere(Exception):\n    pass\n\n\ndef make(x):\n    return NotThere(x)\n",
            "pkg/exc.pyi": "from typing import overload\n\nclass NotThere(Exception): ...\n\n@overload\n"
            "def make(x: int) -> NotThere: ...\n@overload\ndef make(x: str) -> NotThere: ...\n",
            "pkg/user.py": "from pkg.exc import NotThere, make\n\n\ndef f() -> None:\n    raise NotThere()\n",
            "tests/test_exc.py": "import pkg.exc as e\n\n\ndef test() -> None:\n    assert isinstance(e.make(1), e.NotThere)\n",
        },
    )
    code, b = run_json("-w", str(ws), "rename", "py://pkg.exc#NotThere", "Missing", "--apply")
    assert code == 0, b
    assert b["edits"]["complete"] is True and b["edits"]["unexplained"] == []
    assert "class Missing(Exception): ..." in (ws / "pkg" / "exc.pyi").read_text()
    assert "-> Missing: ..." in (ws / "pkg" / "exc.pyi").read_text()
    assert (ws / "pkg" / "user.py").read_text().startswith("from pkg.exc import Missing, make")
    assert "e.Missing)" in (ws / "tests" / "test_exc.py").read_text()
    assert "NotThere" not in "".join(p.read_text() for p in ws.rglob("*.py*"))
    # Overloads: one rename at the first declaration renames every one of them.
    code, b = run_json("-w", str(ws), "rename", "py://pkg.exc#make", "build", "--apply", "--allow-dirty")
    assert code == 0, b
    assert (ws / "pkg" / "exc.pyi").read_text().count("def build(") == 2
    assert "e.build(1)" in (ws / "tests" / "test_exc.py").read_text()


def test_rename_renames_the_stub_of_a_re_exporting_package(tmp_path: Path, run_json) -> None:
    """Regression (rename bench, attrs 23.2.0 `astuple`): the package re-exports the function
    (`from ._funcs import astuple` in __init__.py) and its __init__.pyi declares it; the tests'
    `from pkg import astuple` resolve to that stub declaration, which is renamed with it."""
    ws = _stub_repo(
        tmp_path,
        {
            "pkg/__init__.py": 'from ._funcs import astuple\n\n__all__ = ["astuple"]\n',
            "pkg/__init__.pyi": "def astuple(inst: object) -> tuple[object, ...]: ...\n",
            "pkg/_funcs.py": "def astuple(inst):\n    return (inst,)\n",
            "tests/test_funcs.py": "from pkg import astuple\nimport pkg\n\n\ndef test() -> None:\n"
            "    assert astuple(1) == pkg.astuple(1)\n",
        },
    )
    code, b = run_json("-w", str(ws), "rename", "py://pkg._funcs#astuple", "as_tuple", "--apply")
    assert code == 0, b
    assert b["edits"]["complete"] is True
    assert "def as_tuple(inst: object)" in (ws / "pkg" / "__init__.pyi").read_text()
    assert (ws / "tests" / "test_funcs.py").read_text().count("as_tuple") == 3
    assert "astuple" not in (ws / "tests" / "test_funcs.py").read_text()


def test_rename_from_the_stub_is_never_a_silent_partial(tmp_path: Path, run_json) -> None:
    """Renamed at its declaration in the .pyi (a cursor selector in the stub): every occurrence in exc.py
    resolves to exc.py's own class, "another symbol", so a rename of the stub and its users alone would
    be called complete while `from pkg.exc import Missing` fails at runtime.  Either the module beside the
    stub is renamed with it, or nothing is written (basedpyright 1.40 will not rename from a stub: 3)."""
    ws = _stub_repo(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/exc.py": "class NotThere(Exception):\n    pass\n\n\ndef make():\n    return NotThere()\n",
            "pkg/exc.pyi": "class NotThere(Exception): ...\n\ndef make() -> NotThere: ...\n",
            "pkg/user.py": "from pkg.exc import NotThere\n\n\ndef f() -> None:\n    raise NotThere()\n",
        },
    )
    before = snapshot(ws)
    code, b = run_json("-w", str(ws), "rename", "pkg/exc.pyi@L1:C7", "Missing", "--apply")
    if code == 0:
        assert b["edits"]["complete"] is True and b["edits"]["stubs"] == ["pkg/exc.py"]
        assert "NotThere" not in "".join(p.read_text() for p in ws.rglob("*.py*"))
    else:
        assert code in (3, 70), b
        assert snapshot(ws) == before


def test_an_import_of_another_symbol_of_the_name_is_no_miss(tmp_path: Path, run_json) -> None:
    """Regression (rename truth, attrs 23.2.0 `attr._funcs.astuple`): `from attr._next_gen import astuple`
    (attrs' own astuple, another function) was reported as an import of the old name left behind, and the
    rename refused; the server resolves it to the other declaration, so it is that symbol's."""
    ws = _stub_repo(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/funcs.py": "def astuple(x):\n    return (x,)\n",
            "pkg/next_gen.py": "def astuple(x):\n    return [x]\n",
            "pkg/user.py": "from pkg.funcs import astuple\nfrom pkg.next_gen import astuple as ng\n"
            "from pkg import next_gen\n\n\ndef f() -> object:\n    return astuple(1), ng(2), next_gen.astuple(3)\n",
            "pkg/other.py": "from pkg.next_gen import astuple\n\n\ndef g() -> object:\n    return astuple(4)\n",
        },
    )
    code, b = run_json("-w", str(ws), "rename", "py://pkg.funcs#astuple", "as_tuple", "--apply")
    assert code == 0, b
    assert b["edits"]["complete"] is True and b["edits"]["missing"] == []
    assert (ws / "pkg" / "other.py").read_text().startswith("from pkg.next_gen import astuple\n")
    assert "return as_tuple(1), ng(2), next_gen.astuple(3)" in (ws / "pkg" / "user.py").read_text()


def test_rename_with_a_stub_that_lacks_the_name_is_refused(tmp_path: Path, run_json) -> None:
    """Regression (rename bench, attrs 23.2.0): a stub beside the module that does not declare the
    name cannot be renamed with it (its users' imports resolve to nothing); before the completeness
    scan an import of it elsewhere was left to break while the plan said complete."""
    ws = _stub_repo(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/exc.py": "class NotThere(Exception):\n    pass\n",
            "pkg/exc.pyi": "class Other(Exception): ...\n",
            "pkg/user.py": "from pkg.exc import NotThere\n\n\ndef f() -> None:\n    raise NotThere()\n",
        },
    )
    before = snapshot(ws)
    code, b = run_json("-w", str(ws), "rename", "py://pkg.exc#NotThere", "Missing", "--apply")
    assert code == 70 and b["error"]["code"] == "E/APPLY_CONFLICT"
    details = b["error"]["details"]
    left = {tuple(m[:3]) for m in details["missing"]} | {
        (u["path"], u["line"], u["col"]) for u in details["unexplained"]
    }
    assert ("pkg/user.py", 0, 20) in left
    assert snapshot(ws) == before  # nothing written


def test_src_layout_imports_resolve(tmp_path: Path, run_json) -> None:
    """Regression (rename bench, click 8.1.7): tests importing a src/ package must resolve."""
    ws = tmp_path / "ws"
    (ws / "src" / "lib").mkdir(parents=True)
    (ws / "tests").mkdir()
    (ws / "src" / "lib" / "__init__.py").write_text("def helper() -> int:\n    return 1\n")
    (ws / "tests" / "test_lib.py").write_text(
        "from lib import helper\n\n\ndef test() -> None:\n    assert helper() == 1\n"
    )
    code, b = run_json("-w", str(ws), "--python", "/nonexistent-python", "def", "tests/test_lib.py@L5:C12")
    assert code == 0, b
    assert b["facts"]["definitions"][0]["path"] == "src/lib/__init__.py"


OVERRIDES = {
    "pkg/__init__.py": "",
    "pkg/base.py": "class Shape:\n    def area(self) -> float:\n        return 0.0\n\n\n"
    "def total(shapes: list[Shape]) -> float:\n    return sum(s.area() for s in shapes)\n",
    "pkg/sub.py": "from pkg.base import Shape, total\n\n\nclass Square(Shape):\n"
    "    def __init__(self, side: float) -> None:\n        self.side = side\n\n"
    "    def area(self) -> float:\n        return self.side * self.side\n\n\n"
    "class Tile(Square):\n    def area(self) -> float:\n        return super().area() * 2\n\n\n"
    "class Unrelated:\n    def area(self) -> float:\n        return 1.0\n\n\n"
    "def main() -> float:\n    return total([Square(2), Tile(1)]) + Unrelated().area()\n",
}


@pytest.fixture
def family_repo(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    for rel, text in OVERRIDES.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "init")
    return ws


def run_main(ws: Path) -> str:
    return subprocess.run(
        [sys.executable, "-c", "from pkg.sub import main; print(main())"],
        cwd=ws,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_renaming_a_method_alone_leaves_its_overrides_behind_so_it_is_refused(family_repo: Path, run_json) -> None:
    """basedpyright renames Shape.area and its calls but not Square.area / Tile.area, which then stop
    overriding it (no diagnostic says so: `total` would silently return 0)."""
    code, b = run_json("-w", str(family_repo), "rename", "py://pkg.base#Shape.area", "surface", "--apply")
    assert code == 70 and b["error"]["code"] == "E/APPLY_CONFLICT"
    missing = b["error"]["details"]["missing"]
    assert [m[:3] for m in missing] == [["pkg/sub.py", 7, 8], ["pkg/sub.py", 12, 8]]
    assert all("override" in m[3] for m in missing)
    assert "2 override(s) left behind" in b["error"]["message"]
    assert b["processReward"]["components"]["safety"] == 0
    assert git(family_repo, "status", "--porcelain") == ""  # nothing written


def test_with_overrides_renames_the_family_from_any_member_and_behaviour_is_kept(family_repo: Path, run_json) -> None:
    before = run_main(family_repo)
    code, b = run_json(
        "-w", str(family_repo), "rename", "py://pkg.sub#Square.area", "surface", "--with-overrides", "--apply"
    )
    assert code == 0, b
    assert b["edits"]["complete"] is True and b["edits"]["applied"] is True
    assert b["edits"]["overrides"] == ["pkg/base.py#Shape.area", "pkg/sub.py#Tile.area"]
    sub = (family_repo / "pkg" / "sub.py").read_text()
    assert sub.count("def surface(self)") == 2 and "super().surface()" in sub
    assert "def area(self) -> float:\n        return 1.0" in sub  # the unrelated class keeps its name
    assert "s.surface()" in (family_repo / "pkg" / "base.py").read_text()
    assert run_main(family_repo) == before == "7.0"
