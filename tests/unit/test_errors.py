"""lanser.errors: the paper's error codes and exit codes (appendix C)."""

from __future__ import annotations

import json

import pytest

from lanser import errors
from lanser.errors import ERROR_CLASSES, BadSelectorSyntax, InfrastructureError, LanserError, NotFound

#: The paper's table, appendix C: code -> (exit code, retryable).  Exit code
#: 0 (OK) has no error class.  "Sometimes" is None (not stated in to_dict);
#: "Manual" (APPLY_CONFLICT) is False: never retried automatically.
PAPER_TABLE: dict[str, tuple[int, bool | None]] = {
    "E/BAD_SELECTOR_SYNTAX": (2, False),
    "E/NOT_FOUND": (3, None),
    "E/AMBIGUOUS": (4, True),
    "E/VERSION_SKEW": (10, True),
    "E/LS_TIMEOUT": (64, True),
    "E/LS_CRASH": (65, True),
    "E/APPLY_CONFLICT": (70, False),
    "E/FS_PERMISSIONS": (71, False),
    "E/UNSUPPORTED_CAP": (72, False),
    "E/REQUEST_CANCELLED": (73, True),
    "E/CONTENT_MODIFIED": (74, True),
    "E/INDEXING_UNSUPPORTED": (75, False),
    "E/REPLAY_MISMATCH": (76, False),
}
#: lanser's additions: a malformed request or batch line (2, like any usage error), and the
#: benchmark harness's own machinery failing (77, the first exit code the paper leaves free).
LANSER_EXTRA: dict[str, tuple[int, bool | None]] = {"E/BAD_REQUEST": (2, False), "E/INFRASTRUCTURE": (77, True)}


def _make(cls: type[LanserError]) -> LanserError:
    if cls is BadSelectorSyntax:
        return BadSelectorSyntax("bad", selector="a.py@Lx", column=7)
    return cls("something happened")


def test_codes_and_exit_codes_match_the_paper() -> None:
    table = {cls.code: (cls.exit_code, cls.retryable) for cls in ERROR_CLASSES}
    assert table == PAPER_TABLE | LANSER_EXTRA
    assert sorted({cls.exit_code for cls in ERROR_CLASSES}) == [2, 3, 4, 10, 64, 65, 70, 71, 72, 73, 74, 75, 76, 77]


def test_codes_are_unique_and_well_formed() -> None:
    codes = [cls.code for cls in ERROR_CLASSES]
    assert len(codes) == len(set(codes)) == 15
    exit_codes = [cls.exit_code for cls in ERROR_CLASSES if cls.code in PAPER_TABLE]
    assert len(exit_codes) == len(set(exit_codes))
    for cls in ERROR_CLASSES:
        assert cls.code.startswith("E/") and cls.code == cls.code.upper(), cls
        assert cls.code != LanserError.code
        assert issubclass(cls, LanserError)
        assert cls.exit_code != 0


def test_error_classes_lists_every_public_error() -> None:
    public = {
        obj
        for name in errors.__all__
        if isinstance(obj := getattr(errors, name), type) and issubclass(obj, LanserError) and obj is not LanserError
    }
    assert public == set(ERROR_CLASSES)


def test_base_error() -> None:
    err = LanserError("boom")
    assert (err.code, err.exit_code) == ("E/INTERNAL", 1)
    assert err.to_dict() == {"code": "E/INTERNAL", "exitCode": 1, "message": "boom"}
    assert str(err) == "E/INTERNAL: boom"


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_to_dict_shape(cls: type[LanserError]) -> None:
    err = _make(cls)
    data = err.to_dict()
    exit_code, retryable = (PAPER_TABLE | LANSER_EXTRA)[cls.code]
    assert data["code"] == cls.code
    assert data["exitCode"] == exit_code
    assert data["message"] == err.message
    assert ("retryable" in data) == (retryable is not None)
    if retryable is not None:
        assert data["retryable"] is retryable
    expected_keys = {"code", "exitCode", "message"} | ({"retryable"} if retryable is not None else set())
    if cls is BadSelectorSyntax:
        expected_keys.add("details")
    assert set(data) == expected_keys
    json.dumps(data)  # JSON-serialisable
    if cls is InfrastructureError:  # its text is what a run's results store: kept as it was
        assert str(err) == f"infrastructure failure: {err.message}"
    else:
        assert str(err).startswith(f"{cls.code}: {err.message}")
    assert isinstance(err, Exception)


def test_infrastructure_error_joins_the_tree() -> None:
    """Issue 21: InfrastructureError was a second root beside LanserError, turned into text
    (click's "Error: ...", exit 1) by every bench command, even under --json.  It is a LanserError
    with its own code and exit status; stage and log tail travel in details, and it survives the
    pickling a worker process or a Ray task sends it back with."""
    import pickle

    from lanser.harness.errors import InfrastructureError as FromHarness

    assert FromHarness is InfrastructureError and issubclass(InfrastructureError, LanserError)
    err = InfrastructureError("docker is gone", stage="docker", log_tail="line 1\nline 2\n")
    assert err.to_dict() == {
        "code": "E/INFRASTRUCTURE",
        "exitCode": 77,
        "message": "docker is gone",
        "retryable": True,
        "details": {"stage": "docker", "logTail": "line 1\nline 2\n"},
    }
    assert str(err) == "infrastructure failure (docker): docker is gone\nline 1\nline 2"
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.stage, back.log_tail, back.to_dict()) == (
        InfrastructureError,
        "docker",
        "line 1\nline 2\n",
        err.to_dict(),
    )


def test_details_are_carried() -> None:
    err = NotFound("no such file", path="pkg/x.py", candidates=[])
    assert err.to_dict()["details"] == {"path": "pkg/x.py", "candidates": []}
    assert "retryable" not in err.to_dict()


@pytest.mark.parametrize(
    ("selector", "column"),
    [("a.py@Lx:C1", 7), ("a.py@R(2,1->1,5)", 13), ("py://m#", 8), ("x", 1), ("é😀@Q", 4)],
)
def test_caret_points_under_the_column(selector: str, column: int) -> None:
    err = BadSelectorSyntax("bad", selector=selector, column=column)
    assert err.details["column"] == column
    assert err.details["selector"] == selector
    first, caret = err.details["caret"].split("\n")
    assert first == selector
    assert caret == " " * (column - 1) + "^"
    assert caret.index("^") == column - 1
    assert str(err) == f"E/BAD_SELECTOR_SYNTAX: bad (column {column})\n{selector}\n{caret}"
    assert err.to_dict()["details"] == {"selector": selector, "column": column, "caret": err.details["caret"]}


def test_caret_past_the_end_and_clamped() -> None:
    end = BadSelectorSyntax("ends early", selector="py://m", column=7)
    assert end.details["caret"] == "py://m\n      ^"
    clamped = BadSelectorSyntax("odd", selector="abc", column=0)
    assert clamped.details["caret"] == "abc\n^"


def test_caret_from_the_parser() -> None:
    from lanser.selectors import parse_selector

    with pytest.raises(BadSelectorSyntax) as info:
        parse_selector("a.py@R(2,1->1,5)")
    selector, caret = info.value.details["caret"].split("\n")
    assert selector[caret.index("^")] == "1"  # under the end line that precedes the start
    assert caret.index("^") == info.value.details["column"] - 1


@pytest.mark.parametrize("as_json", [True, False])
def test_ctrl_c_before_a_command_handles_it_is_73_not_clicks_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    """Issue 17, finding 4's rest: Ctrl-C while `lanser batch` was still starting (imports, reading
    its input) ended in click's "Aborted!" and exit 1, outside the exit-code table; under --json
    stdout stayed empty."""
    import click

    from lanser.cli import main as entry

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise click.Abort()

    monkeypatch.setattr(entry.cli, "main", interrupted)
    monkeypatch.setattr("sys.argv", ["lanser", *(["--json"] if as_json else []), "batch", "-"])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 73
    out, err = capsys.readouterr()
    if as_json:
        [line] = out.splitlines()
        assert json.loads(line)["error"]["code"] == "E/REQUEST_CANCELLED"
    else:
        assert out == "" and "E/REQUEST_CANCELLED" in err and "nothing was written" in err
