"""JSON Schemas of lanser's contracts, generated from the models.

``lanser schema export DIR`` writes them; the copies committed under
``lanser/schemas/`` ship with the package (so ``schema validate`` works
from an install) and a test fails when they drift from the models.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from lanser.bundle.models import Bundle, Request
from lanser.selectors.spec import POSITION_SPEC

__all__ = ["KINDS", "detect_kind", "generate", "load", "render", "request_schema", "validate"]

KINDS = ("selector", "request", "bundle", "trace-event", "task")

_TRACE_EVENT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "TraceEvent",
    "description": "One line of a lanser trace (lanser --trace-file).",
    "type": "object",
    "required": ["event"],
    "oneOf": [
        {
            "properties": {
                "event": {"const": "header"},
                "lanser": {"type": "string"},
                "workspace": {
                    "type": "object",
                    "required": ["snapshot"],
                    "properties": {"snapshot": {"type": "string"}, "path": {"type": "string"}},
                },
                "interpreter": {"type": "object"},
                "roots": {"type": "array", "items": {"type": "string"}},
                "options": {"type": "object"},
            },
            "required": ["event", "lanser", "workspace"],
        },
        {
            "properties": {
                "event": {"const": "request"},
                "seq": {"type": "integer", "minimum": 1},
                # As lanser received it, arguments it then refused included (as a bundle echoes it).
                "request": {"$ref": "bundle.schema.json#/$defs/Request"},
                "snapshot": {"type": "string"},
            },
            "required": ["event", "seq", "request"],
        },
        {
            "properties": {
                "event": {"const": "spawn"},
                "server": {"type": "object", "required": ["name", "version", "languages", "needsIndex"]},
            },
            "required": ["event", "server"],
        },
        {
            "properties": {
                "event": {"const": "frame"},
                "server": {"type": "string"},
                "dir": {"enum": ["in", "out"]},
                "message": {"type": "object"},
            },
            "required": ["event", "server", "dir", "message"],
        },
        {
            "properties": {
                "event": {"const": "bundle"},
                "seq": {"type": "integer", "minimum": 1},
                "bundle": {"$ref": "bundle.schema.json"},
            },
            "required": ["event", "seq", "bundle"],
        },
    ],
}


def generate() -> dict[str, dict[str, Any]]:
    """Schemas by kind, freshly generated from the models."""
    return {
        "selector": {"title": "PositionSpec", **POSITION_SPEC.json_schema()},
        "request": request_schema(),
        "bundle": Bundle.model_json_schema(),
        "trace-event": _TRACE_EVENT,
        "task": _task_schema(),
    }


def request_schema() -> dict[str, Any]:
    """:class:`Request`'s schema with each command's ``args`` as its typed model
    (:mod:`lanser.commands.args`, paired with the command in ``HANDLERS``): a union discriminated
    by ``cmd``, each branch refusing the keys its model refuses.

    The branches are ``if``/``then`` pairs under ``allOf`` rather than a ``oneOf``: the same
    union, but a validator then reports the wrong argument of the command given (``args:
    Additional properties are not allowed``) instead of "not valid under any of the given schemas".
    """
    from lanser.commands import HANDLERS

    schema = Request.model_json_schema()
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    branches = []
    for cmd, entry in HANDLERS.items():
        name = entry.args.__name__
        if name not in defs:
            model = entry.args.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(model.pop("$defs", {}))
            defs[name] = model
        branches.append(
            {
                "if": {"properties": {"cmd": {"const": cmd}}, "required": ["cmd"]},
                "then": {"properties": {"args": {"$ref": f"#/$defs/{name}"}}},
            }
        )
    schema["properties"]["args"] = {
        "description": "The command's arguments, as its model in lanser.commands.args names them (see allOf).",
        "title": "Args",
        "type": "object",
    }
    schema["allOf"] = branches
    return schema


def _task_schema() -> dict[str, Any]:
    from lanser.harness.task.spec import TaskSpec

    return TaskSpec.model_json_schema()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load(kind: str) -> dict[str, Any]:
    """The committed schema of ``kind`` (shipped as package data)."""
    text = resources.files("lanser").joinpath(f"schemas/{kind}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def detect_kind(obj: Any) -> str:
    if isinstance(obj, dict):
        if "event" in obj:
            return "trace-event"
        if "gold_patch" in obj:
            return "task"
        if "bundleId" in obj:
            return "bundle"
        if "cmd" in obj:
            return "request"
        if "kind" in obj:
            return "selector"
    return "request"


def validate(obj: Any, kind: str) -> list[str]:
    """Every schema violation of ``obj`` as ``path: message``; empty when valid."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resources(
        (f"{k}.schema.json", Resource.from_contents(load(k), default_specification=DRAFT202012)) for k in KINDS
    )
    validator = jsonschema.Draft202012Validator(load(kind), registry=registry)
    out = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{where}: {err.message}")
    return out


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, schema in generate().items():
        path = directory / f"{kind}.schema.json"
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
