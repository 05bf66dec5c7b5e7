"""C symbol discovery for c:// selectors on code written for old compilers and macro-heavy builds (issue 19)."""

from __future__ import annotations

from lanser.syntax import c

ZLIB_STYLE = b"""#define local static
#define ZEXPORT
#define OF(args) args
#define FAR

local int updatewindow OF((int strm, unsigned out));
ZEXTERN int ZEXPORT deflate OF((z_streamp strm, int flush));

local void FAR *zcalloc (opaque, items, size)
    voidpf opaque;
    unsigned items;
{
    return 0;
}

int ZEXPORT deflateEnd(strm)
    int strm;
{
    return strm;
}

local void lf(s)
    int s;
{
    (void)s;
}

LIB_INTERNAL int guarded(int v) { return v * 2; }

typedef enum {
    need_more,
    block_done
} block_state;

enum { ANON_A = 1, ANON_B };

int after(void) { return 1; }
"""


def defs() -> dict[str, tuple[str, tuple[int, int]]]:
    return {s.qualname: (s.kind, s.name[0]) for s in c.symbols(c.parse(ZLIB_STYLE))}


def test_macro_wrapped_prototypes() -> None:
    """`local int f OF((...));` was read as a variable `int` and a prototype `OF`."""
    d = defs()
    assert d["updatewindow"] == ("prototype", (5, 10))
    assert d["deflate"] == ("prototype", (6, 20))
    assert "int" not in d and "OF" in d and d["OF"][0] == "macro"


def test_kr_definition_behind_a_macro_split_from_its_body() -> None:
    """`local void FAR *zcalloc (a, b) ... {` came out as a prototype and a variable `items`."""
    d = defs()
    assert d["zcalloc"] == ("function", (8, 16))
    assert "items" not in d and "opaque" not in d
    assert d["deflateEnd"][0] == "function" and d["lf"][0] == "function"
    assert d["after"] == ("function", (36, 4))  # what follows is read as before


def test_visibility_macro_definition() -> None:
    assert defs()["guarded"][0] == "function"


def test_anonymous_enum_values() -> None:
    """Values of an anonymous `typedef enum {...}` were not found by their name."""
    d = defs()
    assert d["need_more"] == ("enumerator", (30, 4)) and d["block_done"][0] == "enumerator"
    assert d["ANON_A"][0] == "enumerator" and d["ANON_B"][0] == "enumerator"
    assert d["block_state"][0] == "typedef"


def test_a_definition_is_chosen_over_its_prototype(tmp_path) -> None:
    """Rename bench (Brotli 1.1.0): `void f(int);` right before `void f(int x) {...}` made `c://x.c#f` E/AMBIGUOUS."""
    from lanser.selectors.parse import parse_selector
    from lanser.selectors.structural import resolve_structural
    from lanser.workspace import Workspace

    (tmp_path / "x.c").write_text("void f(int);\nvoid f(int x) {\n    (void)x;\n}\n")
    target = resolve_structural(parse_selector("c://x.c#f"), Workspace(tmp_path))
    assert target.start == (1, 0) and target.confidence == 1.0
