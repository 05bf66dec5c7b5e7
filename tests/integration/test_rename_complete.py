"""Renames on code nobody here wrote: complete or refused, never silently partial (issue 19).

Every fixture is a small real git repository renamed by the real CLI with the
real basedpyright or clangd; each test pins one cause of a silent partial
rename or a dishonest exit code (issue 19, finding 11 of issue 17).
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gitrepo import commit_all, git, snapshot

pytestmark = pytest.mark.integration


def make_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return commit_all(root)


# -- finding 11 of issue 17: invalid names, refusals, server-to-client requests ------------------------------


@pytest.fixture
def repo(sample: Path) -> Path:
    return commit_all(sample)


@pytest.mark.parametrize("name", ["class", "a b", "1abc", "", "None", "x-y", "\ufb01le"])
def test_invalid_python_name_is_a_bad_request_not_a_crash(repo: Path, run_json, name: str) -> None:
    """Issue 17 finding 11: `rename ... class` came back E/LS_CRASH (retryable) and killed basedpyright."""
    before = snapshot(repo)
    code, b = run_json("-w", str(repo), "rename", "py://pkg.shapes#total_area", name, "--apply")
    assert code == 2 and b["error"]["code"] == "E/BAD_REQUEST", b
    assert b["error"]["details"]["field"] == "args.newName"
    assert b["error"]["message"]
    assert snapshot(repo) == before


@pytest.mark.parametrize("name", ["int", "a b", "9x", "while", "caf\u00e9"])
def test_invalid_c_name_is_a_bad_request(repo: Path, run_json, name: str) -> None:
    """Issue 17 finding 11: clangd's "invalid name: ... is a keyword" was reported as E/LS_CRASH."""
    code, b = run_json("-w", str(repo), "rename", "csrc/geometry.h@L10:C5", name)
    assert code == 2 and b["error"]["code"] == "E/BAD_REQUEST", b


def test_soft_keywords_are_names(repo: Path, run_json) -> None:
    """`match` and `type` are soft keywords: ordinary identifiers, so the rename goes through."""
    code, b = run_json("-w", str(repo), "rename", "py://pkg.shapes#total_area", "match")
    assert code == 0, b
    assert b["edits"]["complete"] is True


def test_macro_rename_is_a_refusal_not_a_crash(repo: Path, run_json) -> None:
    """Issue 19: clangd refusing a macro ("symbol is not a supported kind") came back E/LS_CRASH after two tries."""
    code, b = run_json("-w", str(repo), "rename", "csrc/geometry.h@L2:C9", "NEW_GEOMETRY_H")
    assert code == 72 and b["error"]["code"] == "E/UNSUPPORTED_CAP", b
    assert "supported kind" in b["error"]["message"]
    assert b["error"]["details"].get("attempts") is None  # not retried as a crash


def test_no_symbol_is_not_found_not_a_crash(repo: Path, run_json) -> None:
    """clangd's "there is no symbol at the given location" was E/LS_CRASH; it is E/NOT_FOUND."""
    code, b = run_json("-w", str(repo), "rename", "csrc/geometry.h@L1:C2", "X")
    assert code == 3 and b["error"]["code"] == "E/NOT_FOUND", b


def test_show_message_request_gets_an_answer_and_the_server_lives(repo: Path) -> None:
    """Issue 17 finding 11: basedpyright asks window/showMessageRequest for an invalid name; lanser answered
    "Method Not Found" and node exited 1.  Asked directly (past lanser's own name check), the server lives on."""
    from lsprotocol import types as lsp

    from lanser.lsp.registry import server_for_language
    from lanser.lsp.session import LspSession

    async def go() -> tuple[bool, Any]:
        s = LspSession(server_for_language("python"), repo)
        await s.start(60)
        try:
            doc = s.sync_document("pkg/shapes.py", "python")
            await s.diagnostics(doc, 60)
            line = next(i for i, t in enumerate(doc.text.splitlines()) if t.startswith("def total_area"))
            pos = lsp.Position(line=line, character=5)
            ident = lsp.TextDocumentIdentifier(uri=doc.uri)
            try:
                await s.request(
                    "textDocument/rename",
                    lsp.RenameParams(text_document=ident, position=pos, new_name="class"),
                    timeout=60,
                )
            except Exception:  # a refusal of the server's own is fine; dying is not
                pass
            await asyncio.sleep(0.5)
            hover = await s.request(
                "textDocument/hover", lsp.HoverParams(text_document=ident, position=pos), timeout=60
            )
            return s.alive, hover
        finally:
            await s.shutdown()

    alive, hover = asyncio.run(go())
    assert alive and hover is not None


# -- Python: the server's view is not the project ------------------------------------------------------------

PY_PROJECT = {
    "pyproject.toml": '[project]\nname = "pkg"\nversion = "0"\n\n[tool.pyright]\ninclude = ["src/pkg"]\n',
    "src/pkg/__init__.py": "",
    "src/pkg/engine.py": (
        "class Engine:\n"
        "    def start_engine(self) -> int:\n"
        "        return 1\n"
        "\n"
        "\n"
        "class Other:\n"
        "    def start_engine(self) -> int:\n"
        "        return 2\n"
        "\n"
        "\n"
        "def run(e: Engine) -> int:\n"
        "    return e.start_engine()\n"
    ),
    "tests/conftest.py": (
        "import pytest\n\nfrom pkg.engine import Engine\n\n\n@pytest.fixture\ndef engine():\n    return Engine()\n"
    ),
    "tests/test_engine.py": (
        "from pkg.engine import Engine, Other\n"
        "\n"
        "\n"
        "def test_typed() -> None:\n"
        "    assert Engine().start_engine() == 1\n"
        "    assert Other().start_engine() == 2  # start_engine of another class\n"
        "\n"
        "\n"
        "def test_fixture(engine) -> None:\n"
        "    assert engine.start_engine() == 1\n"
    ),
}


def test_untyped_receivers_outside_the_include_refuse_the_rename(tmp_path: Path, run_json) -> None:
    """Issue 19: with `[tool.pyright] include = ["src/pkg"]`, `engine.start_engine()` on a pytest fixture in
    tests/ is invisible to references; the rename came out `complete: true` and the tests then failed."""
    ws = make_repo(tmp_path / "ws", PY_PROJECT)
    before = snapshot(ws)
    code, b = run_json("-w", str(ws), "rename", "py://pkg.engine#Engine.start_engine", "ignite", "--apply")
    assert code == 70 and b["error"]["code"] == "E/APPLY_CONFLICT", b
    assert snapshot(ws) == before
    unexplained = b["error"]["details"]["unexplained"]
    assert [u["selector"] for u in unexplained] == ["tests/test_engine.py@L10:C19"], unexplained
    assert unexplained[0]["why"] == "unresolved"
    # The typed call in tests/ (outside the server's include) is edited; Other.start_engine is another symbol.
    assert b["edits"]["occurrences"]["other"] == 2
    diff = b["edits"]["diff"]
    assert "+    assert Engine().ignite() == 1" in diff
    assert "Other().ignite" not in diff


def test_allow_partial_takes_it_and_lists_what_is_left(tmp_path: Path, run_json) -> None:
    """--allow-partial applies the edit and the bundle still lists the unexplained occurrence."""
    ws = make_repo(tmp_path / "ws", PY_PROJECT)
    code, b = run_json(
        "-w", str(ws), "rename", "py://pkg.engine#Engine.start_engine", "ignite", "--apply", "--allow-partial"
    )
    assert code == 0, b
    assert b["edits"]["complete"] is False
    assert [u["selector"] for u in b["edits"]["unexplained"]] == ["tests/test_engine.py@L10:C19"]
    assert "engine.start_engine()" in (ws / "tests" / "test_engine.py").read_text()
    assert "Engine().ignite()" in (ws / "tests" / "test_engine.py").read_text()


def test_typed_references_outside_the_include_are_edited(tmp_path: Path, run_json) -> None:
    """Issue 19: references in files outside `[tool.pyright] include` were never reported; the files holding the
    old name are opened first, so they are, and the rename is complete."""
    files = dict(PY_PROJECT)
    files["tests/test_engine.py"] = files["tests/test_engine.py"].replace(
        "def test_fixture(engine) -> None:\n    assert engine.start_engine() == 1\n",
        "def test_fixture(engine: Engine) -> None:\n    assert engine.start_engine() == 1\n",
    )
    ws = make_repo(tmp_path / "ws", files)
    code, b = run_json("-w", str(ws), "rename", "py://pkg.engine#Engine.start_engine", "ignite", "--apply")
    assert code == 0, b
    assert b["edits"]["complete"] is True and b["edits"]["unexplained"] == []
    text = (ws / "tests" / "test_engine.py").read_text()
    assert "engine.ignite()" in text and "Engine().ignite()" in text and "Other().start_engine()" in text


KEYWORD_PROJECT = {
    "pkg/__init__.py": "",
    "pkg/build.py": 'class Builder:\n    add_str = None\n\n    def add_repr(self) -> "Builder":\n        return self\n\n\n'
    "def make() -> Builder:\n    return Builder().add_repr()\n",
    "tests/test_build.py": "from pkg.build import Builder\n\n\ndef given(**kw):\n    return lambda f: f\n\n\n"
    "@given(add_repr=True, add_str=False)\ndef test_it(add_repr, add_str) -> None:\n"
    "    assert Builder().add_repr() is not None and add_repr and not add_str\n",
}


def test_an_unresolved_keyword_argument_is_no_method(tmp_path: Path, run_json) -> None:
    """Regression (rename truth, attrs `_ClassBuilder.add_str`): `@given(add_str=booleans())` in a test names
    a parameter of the test; the server cannot resolve a keyword of a `**kwargs` callee, and the rename of
    the method was refused as unexplained.  A method is no parameter: it is another symbol, and the rename
    is complete; for a class attribute (a field a generated __init__ may take) it stays unexplained."""
    ws = make_repo(tmp_path / "ws", KEYWORD_PROJECT)
    code, b = run_json("-w", str(ws), "rename", "py://pkg.build#Builder.add_repr", "add_text", "--apply")
    assert code == 0, b
    assert b["edits"]["complete"] is True and b["edits"]["occurrences"]["other"] == 3  # keyword, parameter, use
    text = (ws / "tests" / "test_build.py").read_text()
    assert "@given(add_repr=True" in text and "Builder().add_text()" in text
    code, b = run_json("-w", str(ws), "rename", "py://pkg.build#Builder.add_str", "add_text2", "--allow-dirty")
    assert code == 70, b
    assert [u["selector"] for u in b["error"]["details"]["unexplained"]] == ["tests/test_build.py@L8:C23"]


VISITOR_PROJECT = {
    "pkg/__init__.py": "",
    "pkg/visitor.py": "class Visitor:\n    def visit(self, node: dict) -> object:\n"
    '        return getattr(self, "visit_" + node["type"])(node)\n\n'
    '    def visit_field(self, node: dict) -> object:\n        return node["value"]\n',
    "tests/test_visitor.py": "from pkg.visitor import Visitor\n\n\ndef test() -> None:\n"
    '    assert Visitor().visit({"type": "field", "value": 1}) == 1\n',
}


def test_a_dispatcher_built_from_a_prefix_refuses_the_rename(tmp_path: Path, run_json) -> None:
    """Regression (rename bench, jmespath 1.0.1 `TreeInterpreter.visit_field`): the visitor dispatches with
    `getattr(self, "visit_" + node["type"])`; nothing names `visit_field`, the rename came out complete and
    the tests failed.  The dispatcher is unexplained (why: dynamic) and the rename refused."""
    ws = make_repo(tmp_path / "ws", VISITOR_PROJECT)
    before = snapshot(ws)
    code, b = run_json("-w", str(ws), "rename", "py://pkg.visitor#Visitor.visit_field", "visit_name", "--apply")
    assert code == 70 and b["error"]["code"] == "E/APPLY_CONFLICT", b
    unexplained = b["error"]["details"]["unexplained"]
    assert [(u["selector"], u["why"]) for u in unexplained] == [("pkg/visitor.py@L3:C30", "dynamic")]
    assert snapshot(ws) == before


def test_speculative_diagnostics_naming_the_names_refuse_the_rename(tmp_path: Path, run_json) -> None:
    """Issue 19: lanser's own speculative diagnostics saw the break (a new diagnostic naming the old or new
    name) and the rename was applied anyway.  Renaming `old` onto an existing `new` obscures it."""
    ws = make_repo(
        tmp_path / "ws",
        {
            "a.py": 'def old() -> int:\n    return 1\n\n\ndef new() -> str:\n    return "x"\n'
            "\n\nx: int = old()\ny: str = new()\n"
        },
    )
    before = snapshot(ws)
    code, b = run_json("-w", str(ws), "rename", "a.py@L1:C5", "new", "--apply")
    assert code == 70 and b["error"]["code"] == "E/APPLY_CONFLICT", b
    assert any('"new"' in d[3] for d in b["error"]["details"]["broke"])
    assert snapshot(ws) == before
    code, b = run_json("-w", str(ws), "rename", "a.py@L1:C5", "new", "--allow-partial")
    assert code == 0 and b["edits"]["complete"] is False and b["edits"]["broke"]


# -- Python: overrides through expressions and class attributes --------------------------------------------

HIERARCHY = {
    "pkg/__init__.py": "",
    "pkg/core.py": (
        "class Engine:\n    default_fuel = int\n\n    def start(self) -> int:\n        return 1\n\n\n"
        "def go(e: Engine) -> int:\n    return e.start()\n"
    ),
    "pkg/registry.py": "from pkg import core\n\n\nclass Holder:\n    Base = core.Engine\n\n\nreg = Holder()\n",
    "pkg/bad.py": (
        "from pkg.registry import reg\n\n\nclass Bad(reg.Base):\n    def start(self) -> int:\n        return 2\n"
    ),
    "pkg/sub.py": "from pkg.core import Engine\n\n\nclass Diesel(Engine):\n    default_fuel = float\n",
}


def test_override_behind_an_expression_base_is_found(tmp_path: Path, run_json) -> None:
    """Issue 19: `class Bad(reg.Base)` (an attribute holding Engine) overrides Engine.start; the overrides check
    matched bases by name only and the rename came out complete, silently ending the override."""
    ws = make_repo(tmp_path / "ws", HIERARCHY)
    code, b = run_json("-w", str(ws), "rename", "py://pkg.core#Engine.start", "ignite", "--apply")
    assert code == 70, b
    assert [m[:3] for m in b["error"]["details"]["missing"]] == [["pkg/bad.py", 4, 8]]
    code, b = run_json("-w", str(ws), "rename", "py://pkg.core#Engine.start", "ignite", "--with-overrides", "--apply")
    assert code == 0, b
    assert "def ignite(self)" in (ws / "pkg" / "bad.py").read_text()


def test_subclass_attribute_override_is_found(tmp_path: Path, run_json) -> None:
    """Issue 19: `default_fuel = float` in a subclass overrides Engine.default_fuel and was left behind."""
    ws = make_repo(tmp_path / "ws", HIERARCHY)
    code, b = run_json("-w", str(ws), "rename", "pkg/core.py@L2:C5", "fuel_type", "--apply")
    assert code == 70, b
    assert [m[:3] for m in b["error"]["details"]["missing"]] == [["pkg/sub.py", 4, 4]]


def test_unresolvable_base_is_unexplained(tmp_path: Path, run_json) -> None:
    """A base the server cannot resolve to a class (a call's result) may hide an override: listed, refused."""
    files = dict(HIERARCHY)
    files["pkg/bad.py"] = (
        "from pkg.core import Engine\n\n\ndef make():  # untyped: the server cannot say\n"
        "    return Engine\n\n\nclass Bad(make()):\n    def start(self) -> int:\n"
        "        return 2\n"
    )
    ws = make_repo(tmp_path / "ws", files)
    code, b = run_json("-w", str(ws), "rename", "py://pkg.core#Engine.start", "ignite")
    assert code == 70, b
    bases = [u for u in b["error"]["details"]["unexplained"] if u["why"] == "base"]
    assert [u["selector"] for u in bases] == ["pkg/bad.py@L8:C11"], b["error"]["details"]["unexplained"]


def test_same_answer_warm_or_cold(tmp_path: Path, daemon_env: dict[str, str]) -> None:
    """Issue 19: on a warm daemon that happened to open tests/ first, the same rename came out complete; from a
    fresh process it did not.  Now both refuse it alike, listing the same occurrence."""
    import json
    import sys

    ws = make_repo(tmp_path / "ws", PY_PROJECT)

    def lanser(*args: str, daemon: bool = True) -> dict[str, Any]:
        env = dict(daemon_env)
        if not daemon:
            env["LANSER_NO_DAEMON"] = "1"
        out = subprocess.run(
            [sys.executable, "-c", "from lanser.cli.main import main; main()", "--json", "-w", str(ws), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return dict(json.loads(out.stdout))

    def essence(b: dict[str, Any]) -> Any:
        return (
            (b.get("error") or {}).get("code"),
            (b.get("error") or {}).get("details", {}).get("unexplained"),
            b["edits"].get("diff"),
        )

    rename = ("rename", "py://pkg.engine#Engine.start_engine", "ignite")
    try:
        cold = lanser(*rename, daemon=False)
        lanser("diag", "tests/test_engine.py")  # the daemon opens tests/ first
        warm = lanser(*rename)
        warm_again = lanser(*rename)
    finally:
        subprocess.run(
            [sys.executable, "-c", "from lanser.cli.main import main; main()", "-w", str(ws), "daemon", "stop"],
            env=daemon_env,
            capture_output=True,
            timeout=60,
        )
    assert essence(cold)[0] == "E/APPLY_CONFLICT"
    assert essence(cold) == essence(warm) == essence(warm_again)


# -- C: inactive branches, macro-heavy definitions -----------------------------------------------------------

C_PROJECT = {
    "lib.h": "#ifndef LIB_H\n#define LIB_H\n#define LIB_INTERNAL\nint old_fn(int x);\nint entry(void);\n#endif\n",
    "lib.c": (
        '#include "lib.h"\n'
        "#define local static\n"
        "\n"
        "local int helper(s)\n"
        "    int s;\n"
        "{\n"
        "    return s + 1;\n"
        "}\n"
        "\n"
        "LIB_INTERNAL int guarded(int v) { return v * 2; }\n"
        "\n"
        "typedef enum { RED, GREEN } color;\n"
        "\n"
        "int old_fn(int x) { return helper(x) + guarded(x) + GREEN; }\n"
        "\n"
        "#ifdef ALT\n"
        "int entry(void) { return old_fn(2) - 1; }\n"
        "#else\n"
        "int entry(void) { return old_fn(3) - 4; }\n"
        "#endif\n"
    ),
    "main.c": '#include "lib.h"\nint main(void) { return entry() == 7 ? 0 : 1; }\n',
    "compile_commands.json": (
        '[{"directory": ".", "file": "lib.c", "arguments": ["cc", "-std=gnu89", "-c", "lib.c"]},'
        ' {"directory": ".", "file": "main.c", "arguments": ["cc", "-std=gnu89", "-c", '
        '"main.c"]}]\n'
    ),
}


def build(ws: Path, out: Path, *defines: str) -> int:
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed"
    subprocess.run([cc, "-std=gnu89", *defines, "-o", str(out), "lib.c", "main.c"], cwd=ws, check=True)
    return subprocess.run([str(out)]).returncode


def test_inactive_branch_is_renamed_and_both_configurations_build(tmp_path: Path, run_json) -> None:
    """Issue 19: an `#ifdef ALT` branch is invisible to clangd; the rename left `old_fn` there and the ALT
    configuration no longer built.  The token scan finds it; it provably names the same file-scope function."""
    ws = make_repo(tmp_path / "ws", C_PROJECT)
    assert build(ws, tmp_path / "a0") == 0 and build(ws, tmp_path / "b0", "-DALT") == 0
    code, b = run_json("-w", str(ws), "rename", "c://lib.c#old_fn", "new_fn", "--apply")
    assert code == 0, b
    assert b["edits"]["complete"] is True and b["edits"]["branches"] == ["lib.c@L17:C26"]
    assert "old_fn" not in (ws / "lib.c").read_text() + (ws / "lib.h").read_text()
    assert build(ws, tmp_path / "a") == 0 and build(ws, tmp_path / "b", "-DALT") == 0


def test_shadowed_name_in_an_inactive_branch_is_refused_with_its_location(tmp_path: Path, run_json) -> None:
    """An inactive occurrence that may name something else (a parameter of that name) is not edited: refused."""
    files = dict(C_PROJECT)
    files["lib.c"] += "\n#ifdef DEBUG\nint trace(int old_fn) { return old_fn; }\n#endif\n"
    ws = make_repo(tmp_path / "ws", files)
    code, b = run_json("-w", str(ws), "rename", "c://lib.c#old_fn", "new_fn", "--apply")
    assert code == 70, b
    assert sorted(u["selector"] for u in b["error"]["details"]["unexplained"]) == ["lib.c@L23:C15", "lib.c@L23:C32"]


@pytest.mark.parametrize(
    "selector,new", [("c://lib.c#helper", "helper2"), ("c://lib.c#guarded", "guarded2"), ("c://lib.c#GREEN", "EMERALD")]
)
def test_kr_storage_macro_and_anonymous_enum_selectors_rename(
    tmp_path: Path, run_json, selector: str, new: str
) -> None:
    """Issue 19: K&R definitions behind `#define local static`, `LIB_INTERNAL int g(...)` and values of an
    anonymous `typedef enum` answered E/NOT_FOUND to c:// selectors."""
    ws = make_repo(tmp_path / "ws", C_PROJECT)
    code, b = run_json("-w", str(ws), "rename", selector, new, "--apply")
    assert code == 0, b
    assert b["edits"]["complete"] is True
    assert build(ws, tmp_path / "a") == 0 and build(ws, tmp_path / "b", "-DALT") == 0


def test_selector_miss_suggests_the_nearest_names(tmp_path: Path, run_json) -> None:
    ws = make_repo(tmp_path / "ws", C_PROJECT)
    code, b = run_json("-w", str(ws), "locate", "c://lib.c#old_fnn")
    assert code == 3 and b["error"]["details"]["nearest"] == ["c://lib.c#old_fn"]


def test_renaming_an_override_of_a_library_method_is_refused(tmp_path: Path, run_json) -> None:
    """Rename bench (MarkupSafe 2.1.5): renaming `Markup.upper`, a class attribute overriding `str.upper`, was
    applied as complete; Markup().upper() then ran str's code (no escaping), with no reference left to see."""
    ws = make_repo(
        tmp_path / "ws",
        {
            "m.py": (
                "from typing import Any\n\n\ndef wrap(f: Any) -> Any:\n    return f\n\n\n"
                "class Markup(str):\n    upper = wrap(str.upper)\n\n    def shout(self) -> str:\n"
                "        return self + '!'\n"
            ),
        },
    )
    code, b = run_json("-w", str(ws), "rename", "py://m#Markup.upper", "upper2")
    assert code == 70, b
    [u] = b["error"]["details"]["unexplained"]
    assert u["why"] == "library-override" and "str.upper" in u["reason"] and u["selector"] == "m.py@L9:C5"
    code, b = run_json("-w", str(ws), "rename", "py://m#Markup.shout", "yell")
    assert code == 0 and b["edits"]["complete"] is True, b


def test_macro_bodies_are_renamed_and_the_build_holds(tmp_path: Path, run_json) -> None:
    """clangd leaves `old_fn` in `#define CALL(x) old_fn(x)` and reports the use at `CALL(2)` in main.c;
    the rename was refused as partial.  The body names the file-scope function: edited; the build holds."""
    files = dict(C_PROJECT)
    files["lib.h"] = files["lib.h"].replace("int entry(void);\n", "int entry(void);\n#define CALL(x) old_fn(x)\n")
    files["main.c"] = '#include "lib.h"\nint main(void) { return entry() == 7 && CALL(1) == 5 ? 0 : 1; }\n'
    ws = make_repo(tmp_path / "ws", files)
    assert build(ws, tmp_path / "a0") == 0
    code, b = run_json("-w", str(ws), "rename", "c://lib.c#old_fn", "new_fn", "--apply")
    assert code == 0, b
    assert "lib.h@L6:C17" in b["edits"]["branches"]
    assert build(ws, tmp_path / "a") == 0 and build(ws, tmp_path / "b", "-DALT") == 0


def test_token_pasting_macro_use_is_refused(tmp_path: Path, run_json) -> None:
    """`MK(old)` makes `old_fn` by token pasting: the name is written nowhere, so no edit can cover it."""
    files = dict(C_PROJECT)
    files["main.c"] = (
        '#include "lib.h"\n#define MK(n) n##_fn\nint main(void) { return entry() == 7 && MK(old)(1) == 5 ? 0 : 1; }\n'
    )
    ws = make_repo(tmp_path / "ws", files)
    assert build(ws, tmp_path / "a0") == 0
    code, b = run_json("-w", str(ws), "rename", "c://lib.c#old_fn", "new_fn", "--apply")
    assert code == 70, b
    assert ["main.c", 2, 40] in [m[:3] for m in b["error"]["details"]["missing"]]


def test_a_definition_that_is_not_the_name_explains_nothing(tmp_path: Path, run_json) -> None:
    """Rename bench (six 1.16.0): `dir(six.moves.urllib.robotparser)` reaches the attribute through a module
    object's `__getattr__`; basedpyright's definition there answered `dir` (builtins.pyi), which was taken for
    "another symbol", and renaming `Module_six_moves_urllib.robotparser` came out complete with tests red."""
    ws = make_repo(
        tmp_path / "ws",
        {
            "lib.py": (
                "import types\n\n\nclass Urllib(types.ModuleType):\n    robotparser = 1\n\n\n"
                "class Moves(types.ModuleType):\n    pass\n\n\nmoves = Moves('moves')\n"
                "setattr(moves, 'urllib', Urllib('urllib'))\n"
            ),
            "test_lib.py": "import lib\n\n\ndef test() -> None:\n    assert dir(lib.moves.urllib.robotparser)\n",
        },
    )
    code, b = run_json("-w", str(ws), "rename", "lib.py@L5:C5", "robots")
    assert code == 70, b
    assert [u["selector"] for u in b["error"]["details"]["unexplained"]] == ["test_lib.py@L5:C33"]


def test_token_pasting_the_renamed_name_into_another_is_refused(tmp_path: Path, run_json) -> None:
    """Rename bench (Brotli 1.1.0, DecodeCommandBlockSwitch): `BROTLI_SAFE(M)` pastes `Safe##M`; renaming the
    function made the macro name a function that does not exist, and the rename came out complete."""
    files = dict(C_PROJECT)
    files["lib.c"] += (
        "\nstatic int step(void) { return 1; }\nstatic int Safestep(void) { return 2; }\n"
        "#define PICK(safe, M) ((safe) ? Safe##M : M)\n"
        "int pick(int safe) { return PICK(safe, step)(); }\n"
    )
    ws = make_repo(tmp_path / "ws", files)
    assert build(ws, tmp_path / "a0") == 0
    before = snapshot(ws)
    code, b = run_json("-w", str(ws), "rename", "c://lib.c#step", "stride", "--apply")
    assert code == 70, b
    assert "Safestride" in b["error"]["details"]["broke"][0][3]
    assert snapshot(ws) == before


def test_inactive_branch_in_a_file_with_its_own_static_of_that_name_is_refused(tmp_path: Path, run_json) -> None:
    """An `#ifdef` branch in a file that defines its own `static old_fn` means that one: it is never edited as
    the renamed symbol (clangd resolves it to the file's static; lanser also edits no branch in a file where the
    name means something else)."""
    files = dict(C_PROJECT)
    files["other.c"] = (
        "static int old_fn(int x) { return -x; }\n#ifdef ALT\nint other(void) { return old_fn(1); }\n"
        "#else\nint other(void) { return old_fn(2); }\n#endif\n"
    )
    files["compile_commands.json"] = files["compile_commands.json"].replace(
        "]\n", ', {"directory": ".", "file": "other.c", "arguments": ["cc", "-std=gnu89", "-c", "other.c"]}]\n'
    )
    ws = make_repo(tmp_path / "ws", files)
    code, b = run_json("-w", str(ws), "rename", "c://lib.c#old_fn", "new_fn")
    assert code == 0, b
    assert "other.c" not in {f["path"] for f in b["edits"]["files"]}, b["edits"]["diff"]
    assert b["edits"]["branches"] == ["lib.c@L17:C26"]


def test_inactive_branch_in_a_bom_crlf_file(tmp_path: Path, run_json) -> None:
    """The branch and override checks read files as the servers count them (after a BOM, CRLF kept): the #ifdef
    occurrence of a BOM + CRLF file is found at its place and edited, byte for byte around it."""
    files = dict(C_PROJECT)
    ws = make_repo(tmp_path / "ws", files)
    lib = ws / "lib.c"
    lib.write_bytes(b"\xef\xbb\xbf" + lib.read_bytes().replace(b"\n", b"\r\n"))
    git(ws, "commit", "-qam", "bom crlf")
    code, b = run_json("-w", str(ws), "rename", "c://lib.c#old_fn", "new_fn", "--apply")
    assert code == 0, b
    assert b["edits"]["branches"] == ["lib.c@L17:C26"]
    data = lib.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"old_fn" not in data and data.count(b"\r\n") == data.count(b"\n")
    assert b"int entry(void) { return new_fn(2) - 1; }\r\n" in data
