"""Which files clangd's index must list a C symbol in before a rename (lanser/edits/index_check.py)."""

from __future__ import annotations

from lanser.edits.completeness import scan
from lanser.edits.index_check import defining_files


def scans_of(files: dict[str, str], name: str) -> dict[str, tuple[list, list[str]]]:
    out = {}
    for rel, text in files.items():
        occ = scan("c", rel, text.encode(), name)
        if occ:
            out[rel] = (occ, text.split("\n"))
    return out


def test_the_defining_files_not_the_declaring_ones() -> None:
    files = {
        "lib.h": "extern const int table[3];\nint old_fn(int x);\n",
        "lib.c": '#include "lib.h"\nconst int table[3] = {1, 2, 3};\nint old_fn(int x) { return table[x]; }\n',
        "main.c": '#include "lib.h"\nint main(void) { return old_fn(0); }\n',
    }
    assert defining_files(scans_of(files, "old_fn"), "old_fn") == ["lib.c"]
    assert defining_files(scans_of(files, "table"), "table") == ["lib.c"]  # `extern` declares


def test_two_statics_of_one_name_are_two_defining_files() -> None:
    files = {
        "a.c": "static int f(void) { return 1; }\n",
        "b.c": "static int f(void) { return 2; }\nint g(void) { return f(); }\n",
    }
    assert defining_files(scans_of(files, "f"), "f") == ["a.c", "b.c"]


def test_only_declared_means_the_declaring_files() -> None:
    files = {"api.h": "int ext_fn(void);\n", "use.c": '#include "api.h"\nint g(void) { return ext_fn(); }\n'}
    assert defining_files(scans_of(files, "ext_fn"), "ext_fn") == ["api.h"]


def test_a_member_or_a_string_is_no_definition() -> None:
    files = {"s.c": 'struct s { int old; };\nconst char *m = "old";\nint h(struct s *p) { return p->old; }\n'}
    assert defining_files(scans_of(files, "old"), "old") == []
