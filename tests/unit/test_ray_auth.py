"""The Ray executor's driver side of token authentication (lanser/harness/run/executor.py: require_token):
no token, an explicit other mode, or an empty token file is refused before anything connects; a token
from the environment or a file turns Ray's token mode on.  The cluster side (a cluster that lets a
client without the token in is refused) is tests/docker/test_ray.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.errors import BadRequest
from lanser.harness.run.executor import require_token


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token of this user
    monkeypatch.setenv("RAY_AUTH_MODE", "unset-by-test")  # restored after the test, whatever require_token sets
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)


def test_no_token_is_refused_and_says_where_one_goes() -> None:
    with pytest.raises(BadRequest, match="has no token: put the cluster's token in ~/.ray/auth_token") as caught:
        require_token()
    assert caught.value.details["field"] == "ray_auth"


@pytest.mark.parametrize("mode", ["disabled", "k8s"])
def test_another_auth_mode_is_refused(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0" * 64)
    monkeypatch.setenv("RAY_AUTH_MODE", mode)
    with pytest.raises(
        BadRequest, match=f"RAY_AUTH_MODE={mode}: the Ray executor submits only to a cluster with token"
    ):
        require_token()


def test_an_empty_or_unreadable_token_file_is_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").write_text("\n")
    for path in (tmp_path / "empty", tmp_path / "missing"):
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
        with pytest.raises(BadRequest, match="has no token"):
            require_token()


@pytest.mark.parametrize("where", ["env", "path", "home"])
def test_a_token_turns_token_mode_on(where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    if where == "env":
        monkeypatch.setenv("RAY_AUTH_TOKEN", "1" * 64)
    elif where == "path":
        (tmp_path / "token").write_text("2" * 64)
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
    else:
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text("3" * 64)
    require_token()
    assert os.environ["RAY_AUTH_MODE"] == "token"
