"""Every navigation command against the real servers, on the shipped sample."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_definition_python(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "def", "pkg/report.py@L10:C33")
    assert code == 0, b
    (loc,) = b["facts"]["definitions"]
    assert loc["path"] == "pkg/shapes.py"
    assert loc["range"] == [37, 4, 37, 14]
    assert loc["selector"] == "pkg/shapes.py@L38:C5"
    assert loc["preview"].startswith("def total_area(")
    assert b["environment"]["server"] == {
        "name": "basedpyright",
        "version": "1.40.2",
        "pinned": "1.40.2",
        "reported": "1.40.2",
    }
    assert b["environment"]["positionEncoding"] == "utf-16"
    assert b["bundleId"].startswith("sha256:")


def test_definition_into_typeshed_is_external(sample: Path, run_json) -> None:
    # `math` in `math.pi` (pkg/shapes.py line 25) resolves outside the workspace.
    code, b = run_json("-w", str(sample), "def", "pkg/shapes.py@L25:C16")
    assert code == 0, b
    (loc,) = b["facts"]["definitions"]
    assert loc["external"] is True
    assert loc["path"].startswith("typeshed:stdlib/math")
    assert "selector" not in loc
    assert str(sample) not in str(b["facts"])


def test_references_python_sorted(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "refs", "pkg/shapes.py@L38:C5")
    assert code == 0, b
    refs = b["facts"]["references"]
    keys = [(r["path"], *r["range"]) for r in refs]
    assert keys == sorted(keys)
    assert {r["path"] for r in refs} == {"pkg/__init__.py", "pkg/report.py", "pkg/shapes.py"}
    assert b["facts"]["total"] == len(refs) == 5
    assert b["facts"]["truncated"] is False


def test_references_paging(sample: Path, run_json) -> None:
    _, full = run_json("-w", str(sample), "refs", "pkg/shapes.py@L38:C5")
    code, first = run_json("-w", str(sample), "refs", "pkg/shapes.py@L38:C5", "--limit", "2")
    assert code == 0 and first["facts"]["truncated"] is True
    pages = list(first["facts"]["references"])
    cursor = first["facts"]["nextCursor"]
    while cursor:
        code, page = run_json("-w", str(sample), "refs", "pkg/shapes.py@L38:C5", "--limit", "2", "--cursor", cursor)
        assert code == 0
        pages += page["facts"]["references"]
        cursor = page["facts"].get("nextCursor")
    assert pages == full["facts"]["references"]


def test_stale_cursor_is_content_modified(sample: Path, run_json) -> None:
    _, first = run_json("-w", str(sample), "refs", "pkg/shapes.py@L38:C5", "--limit", "2")
    report = sample / "pkg" / "report.py"
    report.write_text(report.read_text() + "\n\ndef again() -> float:\n    return total_area([])\n")
    code, b = run_json(
        "-w", str(sample), "refs", "pkg/shapes.py@L38:C5", "--limit", "2", "--cursor", first["facts"]["nextCursor"]
    )
    assert code == 74 and b["error"]["code"] == "E/CONTENT_MODIFIED"


def test_hover_python(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "hover", "pkg/shapes.py@L38:C5")
    assert code == 0, b
    assert "def total_area(shapes: list[Shape]) -> float" in b["facts"]["hover"]["contents"]
    assert "Sum of the areas" in b["facts"]["hover"]["contents"]


def test_hover_nothing_is_not_found(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "hover", "pkg/shapes.py@L2:C1")
    assert code == 3 and b["error"]["code"] == "E/NOT_FOUND"
    assert b["status"] == "error" and b["meta"]["exit_code"] == 3


def test_document_symbols(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "symbols", "pkg/shapes.py")
    assert code == 0, b
    names = {(s["container"] + "." if s.get("container") else "") + s["name"]: s["kind"] for s in b["facts"]["symbols"]}
    assert names["Circle"] == "class"
    assert names["Circle.area"] == "method"
    assert names["total_area"] == "function"


def test_workspace_symbols_both_languages(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "symbols", "--query", "Circle", "--language", "python")
    assert code == 0
    assert [(s["name"], s["path"]) for s in b["facts"]["symbols"]] == [("Circle", "pkg/shapes.py")]
    code, b = run_json("-w", str(sample), "symbols", "--query", "manhattan", "--language", "c")
    assert code == 0
    assert ("manhattan", "csrc/geometry.c") in [(s["name"], s["path"]) for s in b["facts"]["symbols"]]


def test_diagnostics_file_tagged_with_content_hash(sample: Path, run_json) -> None:
    import hashlib

    code, b = run_json("-w", str(sample), "diag", "pkg/report.py")
    assert code == 0, b
    (group,) = b["facts"]["diagnostics"]
    digest = "sha256:" + hashlib.sha256((sample / "pkg/report.py").read_bytes()).hexdigest()
    assert group["contentHash"] == digest
    assert group["counts"] == {"error": 1}
    assert [d["code"] for d in group["diagnostics"]] == ["reportAssignmentType"]
    assert group["diagnostics"][0]["range"][0] == 13


def test_diagnostics_see_edits_on_disk(sample: Path, run_json) -> None:
    """Regression: diagnostics must describe the bytes on disk now, never an earlier state."""
    report = sample / "pkg" / "report.py"
    report.write_text(
        report.read_text()
        .replace("label: int = describe", "label: str = describe")
        .replace("def broken() -> int:", "def broken() -> str:")
    )
    code, b = run_json("-w", str(sample), "diag", "pkg/report.py")
    assert code == 0
    assert b["facts"]["diagnostics"][0]["counts"] == {}
    assert b["facts"]["diagnostics"][0]["diagnostics"] == []


def test_workspace_diagnostics(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "diag")
    assert code == 0, b
    paths = [g["path"] for g in b["facts"]["diagnostics"]]
    assert paths == sorted(paths)
    assert {"pkg/report.py", "pkg/shapes.py", "csrc/main.c", "csrc/geometry.c"} <= set(paths)
    errors = sum(g["counts"].get("error", 0) for g in b["facts"]["diagnostics"])
    assert errors == 1
    assert [s["name"] for s in b["environment"]["servers"]] == ["basedpyright", "clangd"]


def test_c_definition_and_cross_file_references(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "def", "csrc/main.c@L9:C17")
    assert code == 0, b
    assert b["environment"]["server"]["name"] == "clangd"
    assert [d["path"] for d in b["facts"]["definitions"]] in (["csrc/geometry.h"], ["csrc/geometry.c"])
    code, b = run_json("-w", str(sample), "refs", "csrc/main.c@L9:C17")
    assert code == 0, b
    assert [(r["path"], r["range"][0]) for r in b["facts"]["references"]] == [
        ("csrc/geometry.c", 7),
        ("csrc/geometry.h", 9),
        ("csrc/main.c", 8),
        ("csrc/main.c", 9),
    ]


def test_c_diagnostics(sample: Path, run_json) -> None:
    main = sample / "csrc" / "main.c"
    main.write_text(main.read_text().replace("return manhattan(p, origin)", "return manhattan(p)"))
    code, b = run_json("-w", str(sample), "diag", "csrc/main.c")
    assert code == 0
    (group,) = b["facts"]["diagnostics"]
    assert group["counts"].get("error") == 1
    assert "few arguments" in group["diagnostics"][0]["message"]


def test_locate_range_preview(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "locate", "pkg/shapes.py@R(18,1->19,20)")
    assert code == 0
    loc = b["facts"]["location"]
    assert loc["range"] == [17, 0, 18, 19]
    assert loc["preview"] == 'class Circle(Shape):\n    name = "circle"'


def test_index_io_utf8_columns(sample: Path, run_json) -> None:
    """A column after non-ASCII text means different things in utf-8 and utf-16."""
    uni = sample / "pkg" / "uni.py"
    uni.write_text('from pkg.shapes import total_area\nlabel = "é€😀"; x = total_area([])\n')
    line = uni.read_text().splitlines()[1]
    cp = line.index("total_area")
    u16 = len(line[:cp].encode("utf-16-le")) // 2
    u8 = len(line[:cp].encode("utf-8"))
    assert len({cp, u16, u8}) == 3
    code16, b16 = run_json("-w", str(sample), "def", f"pkg/uni.py@L2:C{u16 + 1}")
    code8, b8 = run_json("-w", str(sample), "--index-io", "utf-8", "def", f"pkg/uni.py@L2:C{u8 + 1}")
    codecp, bcp = run_json("-w", str(sample), "--index-io", "codepoint", "def", f"pkg/uni.py@L2:C{cp + 1}")
    assert code16 == code8 == codecp == 0
    assert b16["facts"]["definitions"] == b8["facts"]["definitions"] == bcp["facts"]["definitions"]
    # The bundle keeps server (utf-16) coordinates whatever the I/O indexing.
    assert b8["resolution"]["resolved"]["range"][1] == u16


def test_verbose_shows_both_coordinates(sample: Path, run_cli) -> None:
    uni = sample / "pkg" / "uni.py"
    uni.write_text('from pkg.shapes import total_area\nlabel = "é€😀"; x = total_area([])\n')
    line = uni.read_text().splitlines()[1]
    u8 = len(line[: line.index("total_area")].encode("utf-8"))
    code, out, err = run_cli("-w", str(sample), "-v", "--index-io", "utf-8", "def", f"pkg/uni.py@L2:C{u8 + 1}")
    assert code == 0
    assert "encoding utf-16" in err and "index-io utf-8" in err
    assert f"io range [1, {u8}, 1, {u8}]" in err


def test_text_output_and_no_json(sample: Path, run_cli) -> None:
    code, out, err = run_cli("-w", str(sample), "def", "pkg/report.py@L10:C33")
    assert code == 0
    assert out == "pkg/shapes.py@L38:C5  def total_area(shapes: list[Shape]) -> float:\n"


def test_same_query_twice_is_byte_identical(sample: Path, run_cli) -> None:
    first = run_cli("--json", "-w", str(sample), "refs", "pkg/shapes.py@L38:C5")
    second = run_cli("--json", "-w", str(sample), "refs", "pkg/shapes.py@L38:C5")
    assert first == second


def test_bundle_id_independent_of_directory(sample: Path, tmp_path: Path, run_json) -> None:
    import shutil

    other = tmp_path / "elsewhere" / "copy"
    shutil.copytree(sample, other)
    for args in (("def", "pkg/report.py@L10:C33"), ("diag", "pkg/report.py"), ("refs", "csrc/main.c@L9:C17")):
        _, a = run_json("-w", str(sample), *args)
        _, b = run_json("-w", str(other), *args)
        assert a["status"] == "ok"
        assert a["bundleId"] == b["bundleId"], args
        assert a["environment"]["host"]["workspace"] != b["environment"]["host"]["workspace"]


def test_symbol_selectors_drive_server_queries(sample: Path, run_json) -> None:
    """A symbol selector's query position is the symbol's name, whatever its role."""
    code, b = run_json("-w", str(sample), "refs", "py://pkg#total_area:body")
    assert code == 0, b
    assert b["resolution"]["kind"] == "symbol"
    assert b["resolution"]["resolved"]["path"] == "pkg/shapes.py"
    assert b["resolution"]["symbolId"].startswith("sym:")
    assert b["resolution"]["weights"] == {"ast": 0.5, "module": 0.2, "token": 0.2, "prox": 0.1}
    assert b["facts"]["total"] == 5
    code, b = run_json("-w", str(sample), "hover", "c://csrc/geometry.c#manhattan:sig")
    assert code == 0, b
    assert "manhattan" in b["facts"]["hover"]["contents"]


def test_ambiguous_selector_exit_4_with_candidates(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "def", "py://pkg.shapes#Triangle.area")
    assert code == 4 and b["error"]["code"] == "E/AMBIGUOUS"
    quals = [c["qualname"] for c in b["error"]["details"]["candidates"]]
    assert sorted(quals) == ["Circle.area", "Shape.area", "Square.area"]


def test_locate_mints_selectors_that_resolve_back(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "locate", "pkg/shapes.py@L24:C9")
    assert code == 0
    minted = b["facts"]["selectors"]
    assert minted["symbol"] == "py://pkg.shapes#Circle.area"
    assert minted["ast"] == "ast://[module=pkg.shapes]/[class=Circle]/[def=area]"
    for selector in minted.values():
        code, again = run_json("-w", str(sample), "locate", selector)
        assert code == 0, selector
        assert again["facts"]["location"]["path"] == "pkg/shapes.py"
        assert again["facts"]["location"]["range"][0] == 23


def test_text_mode_diag_exits_with_the_bundle_code(sample: Path, run_cli) -> None:
    """Regression: a loop variable named `code` once replaced the exit code in text mode."""
    code, out, err = run_cli("-w", str(sample), "diag", "pkg/report.py")
    assert code == 0
    assert out.startswith("pkg/report.py:14:18: error:") and "[reportAssignmentType]" in out
    assert err.strip() == "1 error in 1 file"


def test_doc_version_maps_a_cursor_exactly_across_edits(sample: Path, run_json) -> None:
    """Algorithm 1, step 1: a position taken in a known version is mapped through the diff."""
    import hashlib

    shapes = sample / "pkg" / "shapes.py"
    version = hashlib.sha256(shapes.read_bytes()).hexdigest()[:12]
    selector = f"pkg/shapes.py@L38:C5?v={version}"
    code, first = run_json("-w", str(sample), "hover", selector)  # lanser now knows this version
    assert code == 0
    shapes.write_text('"""Moved down by three lines."""\n\n\n' + shapes.read_text())
    code, moved = run_json("-w", str(sample), "hover", selector)
    assert code == 0, moved
    assert moved["resolution"]["resolved"]["range"][0] == 37 + 3
    assert moved["facts"]["hover"]["contents"] == first["facts"]["hover"]["contents"]
    # The line itself changed: no exact map, and lanser says so.
    shapes.write_text(shapes.read_text().replace("def total_area(shapes", "def total_area(items"))
    code, skew = run_json("-w", str(sample), "hover", selector)
    assert code == 10 and skew["error"]["code"] == "E/VERSION_SKEW"
    # A version lanser never read names nothing: E/NOT_FOUND, not a retryable skew (issue 17, finding 12).
    code, unknown = run_json("-w", str(sample), "hover", "pkg/shapes.py@L38:C5?v=00000000")
    assert code == 3 and unknown["error"]["details"]["reason"] == "unknown-version", unknown


def test_definition_keeps_stub_and_source(sample: Path, run_json) -> None:
    """Regression (daemon bench, rich): advertising the `declaration` capability made basedpyright
    drop `typing.pyi` from definition answers that also had `typing.py`."""
    (sample / "pkg" / "t.py").write_text("import typing\n\nX: typing.Any = 1\n")
    code, b = run_json("-w", str(sample), "def", "pkg/t.py@L1:C8")
    assert code == 0, b
    paths = [d["path"] for d in b["facts"]["definitions"]]
    assert "typeshed:stdlib/typing.pyi" in paths and any(p.startswith("stdlib:typing.py") for p in paths), paths
