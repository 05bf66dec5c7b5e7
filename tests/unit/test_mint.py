"""Minted selectors resolve back to the definition they were minted for (no servers)."""

from __future__ import annotations

import shutil
import sysconfig
import textwrap
from pathlib import Path

import click
import pytest
import rich

from lanser.errors import NotFound
from lanser.resolve import resolve_target
from lanser.selectors import format_selector, parse_selector
from lanser.selectors.mint import ANCHOR_MAX_LINES, mint, mint_at
from lanser.syntax import SymbolDef, definitions, to_codepoints
from lanser.workspace import Workspace

PY_DUPS = '''\
"""Duplicates the way real modules have them."""
import sys
from typing import overload

try:
    import json

    def loads(text):
        return json.loads(text)
except ImportError:
    def loads(text):
        return eval(text)

if sys.platform == "win32":
    SEP = "\\\\"
else:
    SEP = "/"


class Attribute:
    def __repr__(self):
        return "Attribute"


Attribute = staticmethod(Attribute)


class Box:
    def __repr__(self):
        return "Box"

    @property
    def size(self) -> int:
        return 1

    @size.setter
    def size(self, value: int) -> None:
        pass

    @overload
    def get(self, key: int) -> int: ...
    @overload
    def get(self, key: str) -> str: ...
    def get(self, key):
        return key


if sys.version_info >= (3, 8):
    @overload
    def conv(x: int) -> int: ...
    @overload
    def conv(x: str) -> str: ...
    def conv(x):
        return x
else:
    def conv(x):
        return x

s = "\U0001f600"; t = 1
'''

C_DUPS = """\
#include <stdint.h>
#ifdef _WIN32
#define EXPORT __declspec(dllexport)
static int helper(int x)
{
    return x + 1;
}
#else
#define EXPORT
static int helper(int x)
{
    return x + 2;
}
#endif

static int later(int);

static int
later(int x) { return helper(x); }

typedef struct point { int x, y; } point;
enum mode { MODE_A, MODE_B };
struct pair {
    int a;
    int b;
};
int counter = 0, other = 1;
#if defined(BIG)
#define LIMIT 100
#elif defined(SMALL)
#define LIMIT 10
#else
#define LIMIT 1
#endif
/* \U0001f600 */ int wide = 2;
"""

#: Ten identical lines in two branches: the anchor must grow past ANCHOR_MAX_LINES.
TWINS = (
    "if X:\n    def twin():\n"
    + "        x = 1\n" * 9
    + '        return "alpha"\nelse:\n    def twin():\n'
    + ("        x = 1\n" * 9 + '        return "beta"\n')
)


def _ws(tmp_path: Path) -> Workspace:
    pkg = tmp_path / "src" / "rich"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in ("progress.py", "text.py", "repr.py"):
        shutil.copy(Path(rich.__file__).parent / name, pkg / name)
    (tmp_path / "click").mkdir()
    (tmp_path / "click" / "__init__.py").write_text("")
    shutil.copy(Path(click.__file__).parent / "_compat.py", tmp_path / "click" / "_compat.py")
    (tmp_path / "dups").mkdir()
    (tmp_path / "dups" / "__init__.py").write_text(PY_DUPS)
    (tmp_path / "dups" / "twins.py").write_text(TWINS)
    (tmp_path / "native").mkdir()
    (tmp_path / "native" / "dups.c").write_text(C_DUPS)
    include = Path(sysconfig.get_paths()["include"])
    for header in ("pyport.h", "pymacro.h"):  # real C with #if-duplicated macros, when headers are installed
        if (include / header).is_file():
            shutil.copy(include / header, tmp_path / "native" / header)
    return Workspace(tmp_path)


def _files(ws: Workspace) -> list[tuple[str, str]]:
    py = [
        "src/rich/progress.py",
        "src/rich/text.py",
        "src/rich/repr.py",
        "click/_compat.py",
        "dups/__init__.py",
        "dups/twins.py",
    ]
    c = sorted(p.relative_to(ws.root).as_posix() for p in (ws.root / "native").iterdir())
    return [(p, "python") for p in py] + [(p, "c") for p in c]


def _check(ws: Workspace, rel: str, d: SymbolDef, sels: dict[str, str]) -> None:
    lines = ws.read_bytes(rel).split(b"\n")
    name = to_codepoints(lines, d.name[0])
    first = to_codepoints(lines, d.roles["sig"][0])
    for kind, sel in sels.items():
        assert format_selector(parse_selector(sel)) == sel, sel
        t = resolve_target(parse_selector(sel), ws, "utf-16")
        where = f"{kind} {sel} for {d.qualname} at {name}"
        assert t.path == rel, where
        if kind in ("symbol", "ast"):
            assert t.point == name and t.confidence == 1.0, where
        elif kind == "cursor":
            assert t.start == name, where
        else:
            assert kind == "anchor"
            assert t.start[0] == first[0] and t.start <= name < t.end and t.confidence == 1.0, where


def test_every_definition_round_trips(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    seen = 0
    for rel, language in _files(ws):
        defs = definitions(language, ws.read_bytes(rel))
        for d in defs:
            sels = mint(ws, rel, d, language)
            _check(ws, rel, d, sels)
            assert {"anchor", "cursor"} <= set(sels), (rel, d.qualname)
            same = [x for x in defs if x.qualname == d.qualname]
            overloads = [o for o in same if any(x.split(".")[-1] == "overload" for x in o.decorators)]
            # A C prototype beside its definition in the same file: a symbol selector names the definition.
            hidden = d.kind == "prototype" and any(o.kind == "function" for o in same)
            if d.qualname.isascii():
                # Only an @overload implementation beside another implementation has no symbol selector.
                assert "symbol" in sels or (overloads and d not in overloads) or hidden, (rel, d.qualname)
            if len(same) == 1:
                assert "ast" in sels and "?" not in sels.get("symbol", ""), (rel, d.qualname)
            elif "symbol" in sels and "?overload=" not in sels["symbol"]:
                assert overloads and d not in overloads, (rel, d.qualname)  # the implementation
            seen += 1
    assert seen > 300


def test_duplicates_get_the_index_the_resolver_uses(tmp_path: Path) -> None:
    ws = _ws(tmp_path)

    def minted(rel: str, qualname: str, language: str = "python") -> list[dict[str, str]]:
        defs = definitions(language, ws.read_bytes(rel))
        return [mint(ws, rel, d, language) for d in defs if d.qualname == qualname]

    assert [m["symbol"] for m in minted("dups/__init__.py", "loads")] == [
        "py://dups#loads?overload=0",
        "py://dups#loads?overload=1",
    ]
    # @overload pool: the overloads are indexed among themselves, the implementation is named plainly.
    assert [m["symbol"] for m in minted("dups/__init__.py", "Box.get")] == [
        "py://dups#Box.get?overload=0",
        "py://dups#Box.get?overload=1",
        "py://dups#Box.get",
    ]
    # Two implementations beside @overloads: the resolver can reach neither of them by symbol.
    conv = minted("dups/__init__.py", "conv")
    assert [m.get("symbol") for m in conv] == ["py://dups#conv?overload=0", "py://dups#conv?overload=1", None, None]
    # A class and its rebinding differ by AST step kind; a getter and its setter do not.
    attribute = minted("dups/__init__.py", "Attribute")
    assert [m["ast"] for m in attribute] == [
        "ast://[module=dups]/[class=Attribute]",
        "ast://[module=dups]/[var=Attribute]",
    ]
    size = minted("dups/__init__.py", "Box.size")
    assert [m["symbol"] for m in size] == ["py://dups#Box.size?overload=0", "py://dups#Box.size?overload=1"]
    assert size[0]["ast"] == "ast://[module=dups]/[class=Box]/[def=size]" and "ast" not in size[1]
    helper = minted("native/dups.c", "helper", "c")
    assert [m["symbol"] for m in helper] == [
        "c://native/dups.c#helper?overload=0",
        "c://native/dups.c#helper?overload=1",
    ]
    assert all("ast" not in m for m in helper)
    assert minted("native/dups.c", "pair.b", "c")[0]["ast"] == "ast://[file=native%2Fdups.c]/[struct=pair]/[field=b]"


def test_anchors_grow_until_unique(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    reprs = [
        mint(ws, "dups/__init__.py", d, "python")["anchor"]
        for d in definitions("python", ws.read_bytes("dups/__init__.py"))
        if d.short == "__repr__"
    ]
    assert reprs == [
        'anchor://dups/__init__.py#"def%20__repr__(self):%0A%20%20%20%20%20%20%20%20return%20%22Attribute%22"',
        'anchor://dups/__init__.py#"def%20__repr__(self):%0A%20%20%20%20%20%20%20%20return%20%22Box%22"',
    ]
    helper = next(d for d in definitions("c", ws.read_bytes("native/dups.c")) if d.qualname == "helper")
    assert mint(ws, "native/dups.c", helper, "c")["anchor"].endswith('%0A{%0A%20%20%20%20return%20x%20+%201;"')
    # The C definition starts a line before its name: the anchor covers both lines.
    later = [d for d in definitions("c", ws.read_bytes("native/dups.c")) if d.qualname == "later"][1]
    assert (
        mint(ws, "native/dups.c", later, "c")["anchor"]
        == 'anchor://native/dups.c#"static%20int%0Alater(int%20x)%20{%20return%20helper(x);%20}"'
    )
    # Past ANCHOR_MAX_LINES lines: the shortest unique prefix, cut inside the line that differs.
    twins = [
        mint(ws, "dups/twins.py", d, "python")["anchor"] for d in definitions("python", ws.read_bytes("dups/twins.py"))
    ]
    assert ANCHOR_MAX_LINES < 11
    assert [a.rsplit("%20", 1)[1] for a in twins] == ['%22a"', '%22b"']
    assert all(a.count("%0A") == 10 for a in twins)


def test_cursor_counts_utf16_and_paths_fall_back_to_file(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    t = next(d for d in definitions("python", ws.read_bytes("dups/__init__.py")) if d.qualname == "t")
    assert mint(ws, "dups/__init__.py", t, "python")["cursor"] == "dups/__init__.py@L59:C11"  # the emoji is 2 units
    wide = next(d for d in definitions("c", ws.read_bytes("native/dups.c")) if d.qualname == "wide")
    assert mint(ws, "native/dups.c", wide, "c")["cursor"] == "native/dups.c@L35:C14"
    # A stub next to its module: the module name leads to the .py, so no symbol and an AST path by file.
    (ws.root / "click" / "_compat.pyi").write_text("def is_ascii_encoding(encoding: str) -> bool: ...\n")
    d = definitions("python", ws.read_bytes("click/_compat.pyi"))[0]
    sels = mint(ws, "click/_compat.pyi", d, "python")
    assert "symbol" not in sels and sels["ast"] == "ast://[file=click%2F_compat.pyi]/[def=is_ascii_encoding]"
    _check(ws, "click/_compat.pyi", d, sels)
    assert mint(ws, "src/rich/repr.py", definitions("python", ws.read_bytes("src/rich/repr.py"))[0], "python")[
        "symbol"
    ].startswith("py://rich.repr#")


def test_mint_at_a_name(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    rel = "dups/__init__.py"
    data = ws.read_bytes(rel)
    lines = data.split(b"\n")
    for d in definitions("python", data):
        (row, col), (_, end) = to_codepoints(lines, d.name[0]), to_codepoints(lines, d.name[1])
        assert mint_at(ws, rel, row, col) == mint(ws, rel, d, "python")
        assert mint_at(ws, rel, row, end) == mint(ws, rel, d, "python")  # just after the name
    with pytest.raises(NotFound):
        mint_at(ws, rel, 1, 0)  # `import sys`
    source = textwrap.dedent("""\
        def outer():
            def inner():
                pass
    """)
    (ws.root / "dups" / "nest.py").write_text(source)
    assert mint_at(ws, "dups/nest.py", 1, 9)["symbol"] == "py://dups.nest#outer.inner"
    assert mint_at(ws, "dups/nest.py", 1, 9)["ast"] == "ast://[module=dups.nest]/[def=outer]/[def=inner]"
