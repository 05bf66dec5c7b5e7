"""Canonical JSON and the ``bundleId``.

``bundleId = "sha256:" + sha256(JCS(hash domain))`` with JCS per RFC 8785.
The hash domain is the bundle without ``bundleId`` and without its volatile
or machine-specific fields (timings, ``environment.host``: absolute paths,
pids, platform), so the same snapshot, toolchain and request give the same
id in any directory and on any machine.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import rfc8785

from lanser.bundle.models import Bundle

__all__ = ["EXCLUDED", "HASH_ALGO", "bundle_id", "canonical_json", "finalize", "hash_domain", "render_json"]

HASH_ALGO = "sha256-jcs-v1"
#: Dotted paths removed from the hash domain.
EXCLUDED: tuple[str, ...] = ("bundleId", "meta.timing", "environment.host", "edits.commit")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``value``."""
    return rfc8785.dumps(value)


def hash_domain(data: dict[str, Any]) -> dict[str, Any]:
    domain = copy.deepcopy(data)
    for dotted in EXCLUDED:
        node: Any = domain
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
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
