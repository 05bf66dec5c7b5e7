"""The rename completeness check: every remaining occurrence of the old name explained (issue 19)."""

from __future__ import annotations

from lanser.edits.completeness import Occurrence, judge, owned, scan, selector_of

PY = b'''"""old_name in a docstring."""
import mod
from mod import old_name as alias  # old_name in a comment


def use(obj, fixture):
    obj.old_name()
    s = "old_name"
    t = f"{obj.old_name} and old_name"
    return fixture.old_name_x + old_name(keyword=old_name)
'''


def test_python_tokens_are_told_apart() -> None:
    occ = scan("python", "a.py", PY, "old_name")
    kinds = [(o.line, o.col, o.kind, o.member) for o in occ]
    assert (0, 3, "string", False) in kinds  # docstring
    assert (2, 16, "code", False) in kinds
    assert (2, 37, "comment", False) in kinds
    assert (6, 8, "code", True) in kinds  # obj.old_name: a member
    assert (7, 9, "string", False) in kinds
    assert (8, 15, "code", True) in kinds  # inside an f-string interpolation: code
    assert (8, 29, "string", False) in kinds
    assert (9, 32, "code", False) in kinds and (9, 49, "code", False) in kinds
    assert not any(o.line == 9 and o.col == 23 for o in occ)  # old_name_x is another word
    assert len([o for o in occ if o.kind == "code"]) == 5


def test_python_columns_are_code_points() -> None:
    occ = scan("python", "a.py", "x = 'é'; old_name()\n".encode(), "old_name")
    assert [(o.line, o.col) for o in occ] == [(0, 9)]


C = b"""#define local static
#define CALL() old_fn(1)
local int old_fn(int s);
#ifdef ALT
int alt(void) { return old_fn(2); }
#else
int other(struct s *p) { return p->old_fn + p2.old_fn; }
#endif
/* old_fn */ const char *n = "old_fn";
"""


def test_c_tokens_branches_members_and_macro_bodies() -> None:
    occ = {(o.line, o.col): o for o in scan("c", "a.c", C, "old_fn")}
    assert occ[(1, 15)].kind == "macro"
    assert occ[(2, 10)].kind == "code" and not occ[(2, 10)].conditional
    assert occ[(4, 23)].conditional and occ[(4, 23)].kind == "code"
    assert occ[(6, 35)].member and occ[(6, 35)].conditional
    assert occ[(6, 47)].member
    assert occ[(8, 3)].kind == "comment" and occ[(8, 30)].kind == "string"


def test_judge() -> None:
    a, b, c, d, e = (Occurrence("a.py", i, 0, "code") for i in range(5))
    m = Occurrence("a.py", 9, 0, "comment")
    decl = ("a.py", 0, 0)
    v = judge(
        [a, b, c, d, e, m],
        edited={a.where},
        symbol={decl},
        definitions={b.where: [("lib.py", 3, 4)], c.where: [decl], d.where: None, e.where: []},
    )
    assert v.edited == [a] and v.other == [b] and v.mentions == [m]
    assert v.unexplained == [(c, "same"), (d, "unresolved"), (e, "unresolved")]
    assert not v.complete
    assert selector_of(d) == "a.py@L4:C1"


def test_a_definition_the_rename_edits_is_the_renamed_symbol() -> None:
    o = Occurrence("t.py", 3, 4, "code")
    v = judge([o], edited={("s.py", 1, 4)}, symbol=set(), definitions={o.where: [("s.py", 1, 4)]})
    assert v.unexplained == [(o, "same")]


def test_owned_skips_environments_and_builds() -> None:
    assert owned(
        ["src/a.py", ".venv/lib/x.py", "build/lib/a.py", "pkg.egg-info/x.py", "tests/t.py", "a/node_modules/b.c"]
    ) == ["src/a.py", "tests/t.py"]


def test_a_keyword_argument_name_is_marked_and_other_only_for_a_non_parameter() -> None:
    """A keyword argument's name (`@given(old_name=...)`) names a parameter of the callee: when the server
    cannot resolve it, it is another symbol if the renamed one can be no parameter, else unexplained."""
    occ = scan("python", "t.py", b"given(old_name=True)\nf(x=old_name)\n", "old_name")
    assert [(o.line, o.col, o.keyword) for o in occ] == [(0, 6, True), (1, 4, False)]
    v = judge(occ, set(), {}, set())
    assert len(v.unexplained) == 2 and not v.other
    v = judge(occ, set(), {}, set(), keywords_other=True)
    assert [o.where for o in v.other] == [("t.py", 0, 6)]
    assert [(o.where, why) for o, why in v.unexplained] == [(("t.py", 1, 4), "unresolved")]


def test_a_dispatcher_built_from_a_prefix_of_the_name_is_found() -> None:
    """jmespath 1.0.1: `getattr(self, 'visit_' + node['type'])` reaches `visit_field`, `.startswith('_func_')`
    fills the function table from `_func_abs`; renaming either breaks it while nothing names it."""
    from lanser.edits.completeness import dynamic_prefixes

    src = (
        b'def visit(self, node, name):\n    m = getattr(self, "visit_" + node["type"], None)\n'
        b'    n = getattr(self, f"visit_{name}")\n    o = getattr(self, "visit_%s" % name)\n'
        b'    if name.startswith("_func_"):\n        pass\n    x, y = "visit_", "visit_field"\n'
    )
    assert [(o.line, o.col) for o in dynamic_prefixes("v.py", src, "visit_field")] == [(1, 22), (2, 22), (3, 22)]
    assert [(o.line, o.col) for o in dynamic_prefixes("v.py", src, "_func_abs")] == [(4, 23)]
    assert dynamic_prefixes("v.py", src, "visitor") == []  # no prefix of it is built on
    assert dynamic_prefixes("v.py", src, "visit_") == []  # the prefix itself is not reached by it
