"""lanser.bundle: canonical JSON, bundleId, and normalisation of server answers."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lanser.bundle.hashing import (
    EXCLUDED,
    HASH_ALGO,
    bundle_id,
    canonical_json,
    finalize,
    hash_domain,
    render_json,
)
from lanser.bundle.models import Bundle, Environment, Facts, Location, Meta, Request, ServerInfo
from lanser.bundle.normalize import (
    PathMapper,
    diagnostic_group,
    flat_range,
    hover,
    locations,
    sort_locations,
    symbols,
)

# --------------------------------------------------------------------------
# hashing


def _bundle(**facts: Any) -> Bundle:
    return Bundle(
        request=Request(cmd="definition", selector="pkg/a.py@L3:C5"),
        facts=Facts(**facts) if facts else Facts(definitions=[Location(path="pkg/b.py", range=[1, 4, 1, 9])]),
        environment=Environment(
            server=ServerInfo(name="basedpyright", version="1.40.2", pinned="1.40.2"),
            positionEncoding="utf-16",
            lanser="0.1.0",
            host={"root": "/home/alice/ws", "platform": "linux"},
        ),
        meta=Meta(timing={"total": 0.123}),
    )


def test_finalize_fills_in_bundle_id_and_hashing_meta() -> None:
    data = finalize(_bundle())
    assert data["bundleId"].startswith("sha256:")
    assert len(data["bundleId"]) == len("sha256:") + 64
    assert data["meta"]["hashing"] == {"algo": HASH_ALGO, "excluded": list(EXCLUDED)}
    assert HASH_ALGO == "sha256-jcs-v1"
    # The id is sha256 over the JCS bytes of the hash domain.
    expected = hashlib.sha256(canonical_json(hash_domain(data))).hexdigest()
    assert data["bundleId"] == "sha256:" + expected
    assert bundle_id(data) == data["bundleId"]


def test_hash_domain_drops_exactly_the_excluded_fields() -> None:
    data = finalize(_bundle())
    before = copy.deepcopy(data)
    domain = hash_domain(data)
    assert data == before, "hash_domain must not mutate its input"
    assert "bundleId" not in domain
    assert "timing" not in domain["meta"]
    assert "host" not in domain["environment"]
    assert domain["environment"]["server"] == data["environment"]["server"]
    assert domain["facts"] == data["facts"]
    # Missing parents are fine.
    assert hash_domain({"facts": {}}) == {"facts": {}}


def test_bundle_id_ignores_excluded_fields() -> None:
    reference = finalize(_bundle())["bundleId"]
    other = _bundle()
    other.meta.timing = {"total": 9.5, "server": 8.0}
    other.environment.host = {"root": "/tmp/elsewhere", "platform": "darwin", "pid": "4242"}
    assert finalize(other)["bundleId"] == reference
    none = _bundle()
    none.meta.timing = None
    none.environment.host = {}
    assert finalize(none)["bundleId"] == reference
    # bundleId itself is outside the domain: hashing a finalized bundle again is stable.
    data = finalize(_bundle())
    assert bundle_id(data) == bundle_id({**data, "bundleId": "sha256:whatever"})


def test_bundle_id_changes_with_facts_and_request() -> None:
    reference = finalize(_bundle())["bundleId"]
    moved = _bundle(definitions=[Location(path="pkg/b.py", range=[1, 4, 1, 10])])
    assert finalize(moved)["bundleId"] != reference
    renamed = _bundle(definitions=[Location(path="pkg/c.py", range=[1, 4, 1, 9])])
    assert finalize(renamed)["bundleId"] != reference
    other_request = _bundle()
    other_request.request.selector = "pkg/a.py@L3:C6"
    assert finalize(other_request)["bundleId"] != reference
    other_server = _bundle()
    assert other_server.environment.server is not None
    other_server.environment.server.version = "1.40.3"
    assert finalize(other_server)["bundleId"] != reference


def test_bundle_id_is_independent_of_key_order() -> None:
    data = finalize(_bundle())
    shuffled = json.loads(json.dumps(data, sort_keys=True))
    reversed_keys = {k: shuffled[k] for k in reversed(list(shuffled))}
    assert bundle_id(reversed_keys) == data["bundleId"]


def test_jcs_rfc8785_section_3_2_3_sample() -> None:
    # RFC 8785, section 3.2.3: number serialisation, string escaping, key order.
    value = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == expected.encode("utf-8")


def test_jcs_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785, section 3.2.3 sorting example: U+1F600 (D83D DE00 in UTF-16)
    # sorts before U+FB33, unlike a code point sort.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = [k for k in json.loads(canonical_json(value))]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        # RFC 8785, appendix B.
        (0.0, "0"),
        (-0.0, "0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (295147905179352830000.0, "295147905179352830000"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (333333333.3333332, "333333333.3333332"),
    ],
)
def test_jcs_numbers(number: float, text: str) -> None:
    assert canonical_json(number) == text.encode()


def test_jcs_has_no_whitespace_and_keeps_utf8() -> None:
    assert canonical_json({"b": [1, 2], "a": {"é": "ü"}}) == '{"a":{"é":"ü"},"b":[1,2]}'.encode()


def test_render_json_sorts_keys() -> None:
    data = {"b": 1, "a": {"d": [3, {"z": 1, "y": 2}], "c": "é"}}
    assert render_json(data) == '{"a":{"c":"é","d":[3,{"y":2,"z":1}]},"b":1}'
    assert render_json(data, pretty=True) == json.dumps(data, sort_keys=True, ensure_ascii=False, indent=2)
    assert render_json(data, pretty=True).splitlines()[1] == '  "a": {'


# --------------------------------------------------------------------------
# PathMapper


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    ws = tmp_path / "ws"
    site = ws / ".venv" / "lib" / "python3.11" / "site-packages"
    typeshed = tmp_path / "typeshed"
    stdlib = tmp_path / "py" / "lib" / "python3.11"
    stdlib_site = stdlib / "site-packages"
    for d in (ws / "pkg", site / "requests", typeshed / "stdlib", stdlib_site / "six", tmp_path / "elsewhere"):
        d.mkdir(parents=True)
    files = {
        "ws_file": ws / "pkg" / "a b.py",
        "venv_file": site / "requests" / "api.py",
        "typeshed_file": typeshed / "stdlib" / "math.pyi",
        "stdlib_file": stdlib / "json.py",
        "stdlib_site_file": stdlib_site / "six" / "x.py",
        "outside": tmp_path / "elsewhere" / "z.c",
    }
    for f in files.values():
        f.write_text("x\n")
    return {
        "tmp": tmp_path,
        "ws": ws,
        "site": site,
        "typeshed": typeshed,
        "stdlib": stdlib,
        "stdlib_site": stdlib_site,
        **files,
    }


@pytest.fixture
def mapper(tree: dict[str, Path]) -> PathMapper:
    return PathMapper(
        tree["ws"],
        [
            ("typeshed", tree["typeshed"]),
            ("stdlib", tree["stdlib"]),
            ("site-packages", tree["stdlib_site"]),
            ("site-packages", tree["site"]),
            ("home", tree["tmp"]),  # contains the workspace: must not win over it
        ],
    )


def test_workspace_files_are_relative_posix(tree: dict[str, Path], mapper: PathMapper) -> None:
    assert mapper.path_of(tree["ws_file"]) == ("pkg/a b.py", False)
    assert mapper.path_of_uri(tree["ws_file"].as_uri()) == ("pkg/a b.py", False)
    assert "%20" in tree["ws_file"].as_uri()
    assert mapper.uri_of("pkg/a b.py") == tree["ws_file"].resolve().as_uri()


def test_external_roots_are_labelled(tree: dict[str, Path], mapper: PathMapper) -> None:
    assert mapper.path_of_uri(tree["typeshed_file"].as_uri()) == ("typeshed:stdlib/math.pyi", True)
    assert mapper.path_of(tree["stdlib_file"]) == ("stdlib:json.py", True)
    # The longest (most specific) root names the path.
    assert mapper.path_of(tree["stdlib_site_file"]) == ("site-packages:six/x.py", True)
    # An external root inside the workspace (its .venv) wins over the workspace.
    assert mapper.path_of(tree["venv_file"]) == ("site-packages:requests/api.py", True)
    # A root that merely contains the workspace names only what is outside it.
    assert mapper.path_of(tree["outside"]) == ("home:elsewhere/z.c", True)


def test_unknown_outside_paths_and_other_schemes(tree: dict[str, Path]) -> None:
    bare = PathMapper(tree["ws"])
    path, external = bare.path_of(tree["outside"])
    assert external is True and path == tree["outside"].resolve().as_posix()
    assert bare.path_of_uri("untitled:Untitled-1") == ("untitled:Untitled-1", True)
    # Without an external root, a .venv inside the workspace is workspace code.
    assert bare.path_of(tree["venv_file"])[1] is False


def test_symlinked_workspace_root(tree: dict[str, Path]) -> None:
    link = tree["tmp"] / "link"
    link.symlink_to(tree["ws"])
    assert PathMapper(link).path_of(link / "pkg" / "a b.py") == ("pkg/a b.py", False)


# --------------------------------------------------------------------------
# locations


def _rng(sl: int, sc: int, el: int, ec: int) -> dict[str, Any]:
    return {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}}


def test_flat_range() -> None:
    assert flat_range(_rng(1, 2, 3, 4)) == [1, 2, 3, 4]


def test_locations_none_and_empty(mapper: PathMapper) -> None:
    assert locations(None, mapper) == []
    assert locations([], mapper) == []


def test_locations_single_location(tree: dict[str, Path], mapper: PathMapper) -> None:
    raw = {"uri": tree["ws_file"].as_uri(), "range": _rng(4, 1, 4, 7)}
    (loc,) = locations(raw, mapper)
    assert loc == Location(path="pkg/a b.py", range=[4, 1, 4, 7])


def test_location_link_uses_target_selection_range(tree: dict[str, Path], mapper: PathMapper) -> None:
    links = [
        {
            "originSelectionRange": _rng(0, 0, 0, 3),
            "targetUri": tree["ws_file"].as_uri(),
            "targetRange": _rng(10, 0, 20, 0),
            "targetSelectionRange": _rng(10, 4, 10, 9),
        },
        {"targetUri": tree["typeshed_file"].as_uri(), "targetRange": _rng(5, 0, 5, 12)},
    ]
    out = locations(links, mapper)
    assert [(loc.path, loc.range, loc.external) for loc in out] == [
        ("pkg/a b.py", [10, 4, 10, 9], None),
        ("typeshed:stdlib/math.pyi", [5, 0, 5, 12], True),  # no selection range: targetRange
    ]


def test_locations_sorted_and_deduplicated(tree: dict[str, Path], mapper: PathMapper) -> None:
    uri = tree["ws_file"].as_uri()
    other = (tree["ws"] / "pkg" / "0.py").as_uri()
    raw = [
        {"uri": uri, "range": _rng(9, 0, 9, 2)},
        {"uri": uri, "range": _rng(2, 5, 2, 6)},
        {"uri": other, "range": _rng(30, 0, 30, 1)},
        {"uri": uri, "range": _rng(2, 5, 2, 6)},  # duplicate
        {"uri": uri, "range": _rng(2, 1, 3, 0)},
        {"uri": uri, "range": _rng(2, 1, 2, 9)},
    ]
    out = locations(raw, mapper)
    assert [(loc.path, loc.range) for loc in out] == [
        ("pkg/0.py", [30, 0, 30, 1]),
        ("pkg/a b.py", [2, 1, 2, 9]),
        ("pkg/a b.py", [2, 1, 3, 0]),
        ("pkg/a b.py", [2, 5, 2, 6]),
        ("pkg/a b.py", [9, 0, 9, 2]),
    ]
    # The order does not depend on the server's order.
    assert locations(list(reversed(raw)), mapper) == out


def test_locations_selector_and_preview_hooks(tree: dict[str, Path], mapper: PathMapper) -> None:
    raw = [
        {"uri": tree["ws_file"].as_uri(), "range": _rng(0, 0, 0, 1)},
        {"uri": tree["typeshed_file"].as_uri(), "range": _rng(1, 0, 1, 1)},
    ]
    seen: list[tuple[str, bool]] = []

    def preview_of(path: str, rng: list[int], external: bool) -> str:
        seen.append((path, external))
        return f"preview {rng[0]}"

    out = locations(raw, mapper, selector_of=lambda p, r: f"{p}@L{r[0] + 1}:C{r[1] + 1}", preview_of=preview_of)
    assert out[0].selector == "pkg/a b.py@L1:C1" and out[0].preview == "preview 0"
    assert out[1].selector is None and out[1].external is True  # no selector outside the workspace
    assert sorted(seen) == [("pkg/a b.py", False), ("typeshed:stdlib/math.pyi", True)]


def test_sort_locations_keeps_first_duplicate() -> None:
    a = Location(path="x.py", range=[1, 0, 1, 1], preview="first")
    b = Location(path="x.py", range=[1, 0, 1, 1], preview="second")
    c = Location(path="a.py", range=[5, 0, 5, 1])
    assert sort_locations([a, b, c]) == [c, a]


# --------------------------------------------------------------------------
# hover


def test_hover_markup_content() -> None:
    h = hover({"contents": {"kind": "markdown", "value": "```python\ndef f() -> int\n```"}, "range": _rng(1, 2, 1, 3)})
    assert h is not None
    assert (h.contents, h.kind, h.range) == ("```python\ndef f() -> int\n```", "markdown", [1, 2, 1, 3])
    plain = hover({"contents": {"kind": "plaintext", "value": "int"}})
    assert plain is not None and (plain.contents, plain.kind, plain.range) == ("int", "plaintext", None)


def test_hover_marked_string() -> None:
    h = hover({"contents": {"language": "c", "value": "int manhattan(struct point a)"}})
    assert h is not None
    assert (h.contents, h.kind) == ("```c\nint manhattan(struct point a)\n```", "markdown")
    s = hover({"contents": "just text"})
    assert s is not None and (s.contents, s.kind) == ("just text", "plaintext")


def test_hover_list() -> None:
    h = hover({"contents": [{"language": "python", "value": "x: int"}, "The x."]})
    assert h is not None
    assert (h.contents, h.kind) == ("```python\nx: int\n```\n\nThe x.", "markdown")


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {},
        {"contents": ""},
        {"contents": []},
        {"contents": {"kind": "markdown", "value": "  \n"}},
        {"contents": None},
    ],
)
def test_hover_empty(raw: Any) -> None:
    assert hover(raw) is None


# --------------------------------------------------------------------------
# symbols


def _docsym(
    name: str, kind: int, rng: dict[str, Any], sel: dict[str, Any], children: list[Any] | None = None, **extra: Any
) -> dict[str, Any]:
    out = {"name": name, "kind": kind, "range": rng, "selectionRange": sel, **extra}
    if children is not None:
        out["children"] = children
    return out


def test_document_symbols_are_flattened_with_dotted_container(mapper: PathMapper) -> None:
    raw = [
        _docsym("helper", 12, _rng(20, 0, 22, 0), _rng(20, 4, 20, 10)),
        _docsym(
            "Shape",
            5,
            _rng(1, 0, 15, 0),
            _rng(1, 6, 1, 11),
            [
                _docsym(
                    "area",
                    6,
                    _rng(5, 4, 9, 0),
                    _rng(5, 8, 5, 12),
                    [_docsym("inner", 12, _rng(6, 8, 7, 0), _rng(6, 12, 6, 17))],
                    detail="(self) -> float",
                ),
                _docsym("name", 7, _rng(2, 4, 2, 20), _rng(2, 4, 2, 8)),
            ],
        ),
    ]
    out = symbols(raw, mapper, "pkg/shapes.py", selector_of=lambda p, r: f"{p}@L{r[0] + 1}:C{r[1] + 1}")
    assert [(s.name, s.kind, s.container, s.range) for s in out] == [
        ("Shape", "class", None, [1, 0, 15, 0]),
        ("name", "property", "Shape", [2, 4, 2, 20]),
        ("area", "method", "Shape", [5, 4, 9, 0]),
        ("inner", "function", "Shape.area", [6, 8, 7, 0]),
        ("helper", "function", None, [20, 0, 22, 0]),
    ]
    area = out[2]
    assert area.path == "pkg/shapes.py" and area.detail == "(self) -> float"
    assert area.selectionRange == [5, 8, 5, 12]
    assert area.selector == "pkg/shapes.py@L6:C9"  # from the selection range
    assert all(s.external is None for s in out)


def test_symbol_information_list(tree: dict[str, Path], mapper: PathMapper) -> None:
    raw = [
        {"name": "sqrt", "kind": 12, "location": {"uri": tree["typeshed_file"].as_uri(), "range": _rng(3, 4, 3, 8)}},
        {
            "name": "Point",
            "kind": 23,
            "containerName": "geometry",
            "location": {"uri": tree["ws_file"].as_uri(), "range": _rng(7, 0, 7, 5)},
        },
    ]
    out = symbols(raw, mapper, None, selector_of=lambda p, r: "sel")
    assert [(s.name, s.kind, s.path, s.container, s.external, s.selector) for s in out] == [
        ("Point", "struct", "pkg/a b.py", "geometry", None, "sel"),
        ("sqrt", "function", "typeshed:stdlib/math.pyi", None, True, None),
    ]
    assert out[0].range == out[0].selectionRange == [7, 0, 7, 5]


def test_symbols_empty(mapper: PathMapper) -> None:
    assert symbols(None, mapper, "a.py") == []
    assert symbols([], mapper, "a.py") == []


# --------------------------------------------------------------------------
# diagnostics


def test_diagnostic_group_sorts_and_counts() -> None:
    raw = [
        {
            "range": _rng(9, 0, 9, 4),
            "severity": 2,
            "message": "unused",
            "code": "reportUnused",
            "source": "basedpyright",
        },
        {"range": _rng(1, 4, 1, 8), "severity": 1, "message": "undefined b", "code": 42},
        {"range": _rng(1, 4, 1, 8), "severity": 1, "message": "undefined a"},
        {"range": _rng(1, 0, 1, 2), "severity": 3, "message": "info"},
        {"range": _rng(5, 0, 5, 1), "message": "no severity"},
        {"range": _rng(6, 0, 6, 1), "severity": 4, "message": "hint"},
    ]
    group = diagnostic_group("pkg/a.py", raw, "sha256:abc", 3)
    # The server's document version (3) is session history, not content: bundles say 0 (issue 20).
    assert (group.path, group.contentHash, group.version) == ("pkg/a.py", "sha256:abc", 0)
    assert [(d.range, d.severity, d.message, d.code) for d in group.diagnostics] == [
        ([1, 0, 1, 2], "information", "info", None),
        ([1, 4, 1, 8], "error", "undefined a", None),
        ([1, 4, 1, 8], "error", "undefined b", "42"),
        ([5, 0, 5, 1], "error", "no severity", None),
        ([6, 0, 6, 1], "hint", "hint", None),
        ([9, 0, 9, 4], "warning", "unused", "reportUnused"),
    ]
    assert group.diagnostics[-1].source == "basedpyright"
    assert group.counts == {"information": 1, "error": 3, "hint": 1, "warning": 1}
    assert diagnostic_group("pkg/a.py", list(reversed(raw)), "sha256:abc", 3) == group


def test_diagnostic_group_empty() -> None:
    group = diagnostic_group("a.c", [], "sha256:0", 0)
    assert group.diagnostics == [] and group.counts == {}


def test_diagnostic_order_is_total() -> None:
    raw = [
        {"range": _rng(1, 0, 1, 1), "severity": 1, "message": "m", "source": "clang"},
        {"range": _rng(1, 0, 1, 1), "severity": 1, "message": "m", "source": "clang-tidy"},
    ]
    assert diagnostic_group("a.c", raw, "sha256:0", 0) == diagnostic_group("a.c", raw[::-1], "sha256:0", 0)


def test_diagnostic_messages_name_workspace_paths_relatively(tmp_path: Path) -> None:
    """Issue 20: basedpyright's import-cycle message lists absolute paths, so two checkouts of one
    repository had different bundleIds; the workspace's paths become relative, external ones labelled."""
    from lanser.bundle.normalize import PathMapper, diagnostic_group

    ws, lib = tmp_path / "ws", tmp_path / "venv" / "site"
    ws.mkdir(), lib.mkdir(parents=True)
    mapper = PathMapper(ws, [("site-packages", lib)])
    root = str(ws.resolve())
    msg = (
        f"Cycle detected in import chain\n  {root}/pkg/a.py\n  {root}/pkg/b.py\n  {lib.resolve()}/x/y.py\n"
        f"  {root}2/other.py in {root}; see {ws.resolve().as_uri()}/pkg/a.py"
    )
    raw = [{"range": _rng(0, 0, 0, 1), "severity": 1, "message": msg}]
    (d,) = diagnostic_group("pkg/a.py", raw, "sha256:abc", 1, mapper=mapper).diagnostics
    assert d.message == (
        "Cycle detected in import chain\n  pkg/a.py\n  pkg/b.py\n  site-packages:x/y.py\n"
        f"  {root}2/other.py in .; see pkg/a.py"
    )
