"""SARIF 2.1.0 from a diagnostics bundle (GitHub code scanning, SARIF viewers).

Hand-written rather than built on ``sarif-om``: that package (last release 2019) is
attrs classes with Python attribute names and no serializer of its own (it needs
``jschema-to-python`` and ``pbr`` to write camelCase JSON); the subset lanser emits is a
few plain dicts, checked in the tests against the official OASIS JSON Schema.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from lanser import __version__
from lanser.formats.common import findings

__all__ = ["SARIF_SCHEMA", "to_sarif"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

#: SARIF has three levels for problems; information and hints are notes.
_LEVEL = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}
#: How the bundle counted columns -> SARIF's columnKind (SARIF has no UTF-8 kind: columns are then left out).
_COLUMN_KIND = {"utf-16": "utf16CodeUnits", "codepoint": "unicodeCodePoints"}
_BASE = "SRCROOT"


def _uri(path: str) -> str:
    # A workspace path may hold '%', '#', '?', spaces: a relative URI reference must escape them.
    return quote(path, safe="/")


def to_sarif(bundle: dict[str, Any]) -> dict[str, Any]:
    found = findings(bundle)
    encoding = str(
        (bundle.get("request") or {}).get("indexIo")
        or (bundle.get("environment") or {}).get("positionEncoding")
        or "utf-16"
    )
    column_kind = _COLUMN_KIND.get(encoding)

    groups = (bundle.get("facts") or {}).get("diagnostics") or []
    artifacts: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for group in groups:
        artifact: dict[str, Any] = {"location": {"uri": _uri(group["path"]), "uriBaseId": _BASE}}
        digest = str(group.get("contentHash") or "")
        if digest.startswith("sha256:"):
            artifact["hashes"] = {"sha-256": digest.removeprefix("sha256:")}
        index[group["path"]] = len(artifacts)
        artifacts.append(artifact)

    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for f in found:
        if f.rule not in rule_index:
            rule_index[f.rule] = len(rules)
            rule: dict[str, Any] = {"id": f.rule, "shortDescription": {"text": f"{f.source or 'lanser'}: {f.rule}"}}
            if f.source:
                rule["properties"] = {"source": f.source}
            rules.append(rule)
        sl, sc, el, ec = f.range
        region: dict[str, Any] = {"startLine": sl + 1, "endLine": el + 1}
        if column_kind is not None:
            region["startColumn"], region["endColumn"] = sc + 1, ec + 1  # SARIF's end column is exclusive too
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": rule_index[f.rule],
                "level": _LEVEL.get(f.severity, "error"),
                "message": {"text": f.message or f.rule},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(f.path), "uriBaseId": _BASE, "index": index[f.path]},
                            "region": region,
                        }
                    }
                ],
                "partialFingerprints": {"lanserFinding/v1": f.fingerprint},
            }
        )

    servers = (bundle.get("environment") or {}).get("servers") or []
    driver: dict[str, Any] = {
        "name": "lanser",
        "version": str((bundle.get("environment") or {}).get("lanser") or __version__),
        "rules": rules,
    }
    run: dict[str, Any] = {
        "tool": {
            "driver": driver,
            "extensions": [
                {"name": str(s["name"]), "version": str(s.get("version") or s.get("pinned"))}
                for s in servers
                if s.get("name")
            ],
        },
        "originalUriBaseIds": {_BASE: {"description": {"text": "The lanser workspace root"}}},
        "artifacts": artifacts,
        "results": results,
        "invocations": [{"executionSuccessful": True}],
        "properties": {"bundleId": bundle.get("bundleId"), "positionEncoding": encoding},
    }
    if column_kind is not None:
        run["columnKind"] = column_kind
    if not run["tool"]["extensions"]:
        del run["tool"]["extensions"]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
