"""Canonical JSON and the ``bundleId``.

``bundleId = "sha256:" + sha256(JCS(hash domain))`` with JCS per RFC 8785.
The hash domain is the bundle without ``bundleId`` and without its volatile
or machine-specific fields (timings, ``environment.host``: absolute paths,
pids, platform), so the same snapshot, toolchain and request give the same
id in any directory and on any machine.

JCS bytes come from the standard library's C encoder whenever it provably
writes what RFC 8785 prescribes, and from ``rfc8785`` (pure Python, about
ten times slower) otherwise; see :func:`canonical_json`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

from lanser.bundle.models import Bundle

__all__ = ["EXCLUDED", "HASH_ALGO", "bundle_id", "canonical_json", "finalize", "hash_domain", "render_json"]

HASH_ALGO = "sha256-jcs-v1"
#: Dotted paths removed from the hash domain.
EXCLUDED: tuple[str, ...] = ("bundleId", "meta.timing", "environment.host", "edits.commit")

#: RFC 8785 (I-JSON): integers beyond +-(2**53 - 1) are refused, as ``rfc8785`` does.
_INT_LIMIT = 2**53 - 1
#: Integral floats below this print without an exponent (``repr`` switches at 1e16).
_FIXED_LIMIT = 1e16
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


class _NotPlain(Exception):
    """The value holds something the C encoder would write differently from RFC 8785."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``value``.

    The C encoder (keys sorted, no spaces, no ASCII escaping) writes JCS
    byte for byte for exact ``dict``/``list``/``tuple``/``str``/``int``/
    ``bool``/``None`` values when every key is a ``str`` of the Basic
    Multilingual Plane (code point order is then UTF-16 order) and every
    integer is within +-(2**53 - 1); both escape exactly ``"``, ``\\`` and
    the C0 controls, the same way.  A float is written as JCS writes it
    only when it is integral (JCS drops the ``.0``: it becomes an ``int``)
    or finite with an exponent-free ``repr`` (the same shortest digits).
    Anything else, and anything the encoder refuses, goes to ``rfc8785``,
    which also raises its own errors for what JCS cannot express.
    ``tests/unit/test_bundle.py`` checks both paths agree on random values.
    """
    try:
        return _ENCODE(_plain(value)).encode("utf-8")
    except (_NotPlain, UnicodeEncodeError, ValueError, TypeError, RecursionError):
        return rfc8785.dumps(value)


def _plain(value: Any) -> Any:
    """``value`` with integral floats as ints; raises :class:`_NotPlain` if the fast path cannot serve it.

    Returns ``value`` itself (no copy) when nothing needed converting.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_INT_LIMIT <= value <= _INT_LIMIT:
            return value
        raise _NotPlain
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise _NotPlain
        if value.is_integer() and -_FIXED_LIMIT < value < _FIXED_LIMIT:
            return int(value)
        if "e" in repr(value):
            raise _NotPlain
        return value
    if kind is dict:
        out: dict[str, Any] | None = None
        for key, item in value.items():
            if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                raise _NotPlain
            new = _plain(item)
            if new is not item:
                if out is None:
                    out = dict(value)
                out[key] = new
        return value if out is None else out
    if kind is list or kind is tuple:
        items: list[Any] | None = None
        for i, item in enumerate(value):
            if type(item) is str or type(item) is int and -_INT_LIMIT <= item <= _INT_LIMIT:
                continue
            new = _plain(item)
            if new is not item:
                if items is None:
                    items = list(value)
                items[i] = new
        return value if items is None else items
    raise _NotPlain


def hash_domain(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the :data:`EXCLUDED` fields; ``data`` itself is left as it is.

    Only the dicts on an excluded path are copied (shallowly): the rest of
    the domain is shared with ``data`` and must not be mutated.
    """
    domain = dict(data)
    for dotted in EXCLUDED:
        node: Any = domain
        *parents, last = dotted.split(".")
        for part in parents:
            child = node.get(part) if isinstance(node, dict) else None
            if isinstance(child, dict):
                child = node[part] = dict(child)
            node = child
        if isinstance(node, dict):
            node.pop(last, None)
    return domain


def bundle_id(data: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(hash_domain(data))).hexdigest()


def to_data(bundle: Bundle) -> dict[str, Any]:
    return bundle.model_dump(mode="json", exclude_none=True)


def finalize(bundle: Bundle) -> dict[str, Any]:
    """The bundle as JSON data with its ``bundleId`` filled in."""
    bundle.meta.hashing = {"algo": HASH_ALGO, "excluded": list(EXCLUDED)}
    data = to_data(bundle)
    data["bundleId"] = bundle_id(data)
    return data


def render_json(data: dict[str, Any], *, pretty: bool = False) -> str:
    """Keys sorted; one line unless ``pretty``."""
    if pretty:
        return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=2)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
