"""Filters an agent asks for: diagnostics by profile, severity and count, symbols by depth and kind.

Pure functions over the facts a command built, applied before the bundle is
finalised: the bundle's ``request.args`` say which filter ran, its
``bundleId`` is of what it shows, and ``facts.total`` / ``facts.truncated``
say how much was left out.  A request without filter arguments is left
exactly as it was (its bundle is byte-identical to one from before filters
existed).

Diagnostics keep each file's ``counts`` as the server reported them (what
the file has, so ``--fail-on-error`` still sees an error a filter hid);
``diagnostics`` lists what is shown.

The ``agent`` profile: every error; warnings except the rules of
basedpyright's strict defaults that flag style or missing annotations
rather than likely bugs (:data:`STRICT_NOISE`: ``reportAny``,
``reportUnknown*``, ``reportImplicitOverride``, ...); no information or
hints.  A project that configures pyright or basedpyright itself chose its
rules: then the profile keeps every error and warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lanser.errors import BadRequest

if TYPE_CHECKING:
    from lanser.bundle.models import Facts, Symbol

__all__ = [
    "DIAGNOSTIC_ARGS",
    "PROFILES",
    "SEVERITIES",
    "STRICT_NOISE",
    "SYMBOL_ARGS",
    "diagnostic_filter",
    "filter_diagnostics",
    "filter_symbols",
    "keeps",
    "pyright_configured",
    "symbol_filter",
]

#: Most to least severe, as bundles name them.
SEVERITIES = ("error", "warning", "information", "hint")
_SEVERITY_ALIASES = {"info": "information", "warn": "warning", "err": "error"}
PROFILES = ("all", "agent")
#: The request arguments each filter reads.
DIAGNOSTIC_ARGS = ("profile", "severity", "limit")
SYMBOL_ARGS = ("depth", "kind", "locals")

#: basedpyright rules its default ("recommended") mode turns on and pyright's standard mode leaves
#: off, that say "annotate this" or "write it this way" rather than "this is likely wrong".  On
#: click's core.py they are 560 of 599 diagnostics.  A rule not named here is kept: a new rule is
#: shown until someone decides it is noise.
STRICT_NOISE = frozenset(
    {
        "reportAny",
        "reportExplicitAny",
        "reportUnknownMemberType",
        "reportUnknownVariableType",
        "reportUnknownArgumentType",
        "reportUnknownParameterType",
        "reportUnknownLambdaType",
        "reportMissingParameterType",
        "reportMissingTypeArgument",
        "reportMissingTypeStubs",
        "reportUnannotatedClassAttribute",
        "reportImplicitOverride",
        "reportUnusedCallResult",
        "reportImplicitStringConcatenation",
        "reportDeprecated",
        "reportPrivateUsage",
        "reportUnusedParameter",
        "reportUnnecessaryIsInstance",
        "reportUnnecessaryCast",
        "reportUnnecessaryComparison",
        "reportUnnecessaryContains",
        "reportUnnecessaryTypeIgnoreComment",
        "reportMissingSuperCall",
        "reportUninitializedInstanceVariable",
        "reportCallInDefaultInitializer",
        "reportImplicitRelativeImport",
        "reportUnsafeMultipleInheritance",
        "reportIgnoreCommentWithoutRule",
        "reportPrivateLocalImportUsage",
        "reportUntypedFunctionDecorator",
        "reportUntypedClassDecorator",
        "reportUntypedBaseClass",
        "reportUntypedNamedTuple",
        "reportTypeCommentUsage",
        "reportConstantRedefinition",
        "reportIncompatibleUnannotatedOverride",
        "reportUnreachable",
        "reportShadowedImports",
        "reportInvalidStubStatement",
        "reportUnusedClass",
        "reportUnusedFunction",
    }
)
#: Symbol kinds that open a local scope: a variable directly inside one is a local.
_SCOPES = frozenset({"function", "method", "constructor"})
_LOCAL_KINDS = frozenset({"variable", "constant"})


def _severity(value: Any) -> str:
    name = _SEVERITY_ALIASES.get(value, value) if isinstance(value, str) else value
    if name not in SEVERITIES:
        raise BadRequest(f"severity: expected one of {', '.join(SEVERITIES)} (or info)", field="severity")
    return str(name)


def _count(name: str, value: Any, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise BadRequest(f"{name}: expected an integer of at least {least}", field=name)
    return value


def keeps(diagnostic: Any, *, profile: str, floor: str, configured: bool) -> bool:
    """Whether ``diagnostic`` (a model or a dict with ``severity`` and ``code``) passes the
    ``profile`` and the minimum severity ``floor``."""

    def get(key: str) -> Any:
        return diagnostic.get(key) if isinstance(diagnostic, Mapping) else getattr(diagnostic, key, None)

    severity = get("severity") or "error"
    rank = SEVERITIES.index(severity) if severity in SEVERITIES else 0
    if rank > SEVERITIES.index(floor):
        return False
    if profile == "agent":
        if rank > SEVERITIES.index("warning"):
            return False
        if rank > 0 and not configured and get("code") in STRICT_NOISE:
            return False
    return True


def diagnostic_filter(args: Mapping[str, Any]) -> tuple[str, str, int | None] | None:
    """``(profile, minimum severity, limit)`` of a request's arguments, None without a filter;
    E/BAD_REQUEST for a value no filter knows (checked before the server is asked)."""
    if all(args.get(k) is None for k in DIAGNOSTIC_ARGS):
        return None
    profile = args.get("profile") or "all"
    if profile not in PROFILES:
        raise BadRequest(f"profile: expected one of {', '.join(PROFILES)}", field="profile")
    floor = _severity(args["severity"]) if args.get("severity") is not None else "hint"
    limit = _count("limit", args["limit"], 0) if args.get("limit") is not None else None
    return profile, floor, limit


def filter_diagnostics(facts: Facts, args: Mapping[str, Any], *, configured: bool) -> None:
    """Apply ``args``' profile, severity and limit to ``facts.diagnostics`` in place.

    ``configured``: the workspace configures pyright/basedpyright itself (the agent profile
    then keeps every warning).  Nothing changes when no filter argument is given.
    """
    chosen = diagnostic_filter(args)
    if chosen is None or facts.diagnostics is None:
        return
    profile, floor, limit = chosen
    total = shown = 0
    for group in facts.diagnostics:
        total += len(group.diagnostics)
        kept = [d for d in group.diagnostics if keeps(d, profile=profile, floor=floor, configured=configured)]
        if limit is not None:
            kept = kept[: max(0, limit - shown)]
        shown += len(kept)
        group.diagnostics = kept
    facts.total, facts.truncated = total, shown < total


def symbol_filter(args: Mapping[str, Any]) -> tuple[int | None, frozenset[str] | None, bool] | None:
    """``(depth, kinds, no locals)`` of a request's arguments, None without a filter;
    E/BAD_REQUEST for a value no filter knows (checked before the server is asked)."""
    if all(args.get(k) is None for k in SYMBOL_ARGS):
        return None
    depth = _count("depth", args["depth"], 1) if args.get("depth") is not None else None
    if args.get("locals") is not None and not isinstance(args["locals"], bool):
        raise BadRequest("locals: expected a boolean", field="locals")
    return depth, _kinds(args.get("kind")), args.get("locals") is False


def filter_symbols(facts: Facts, args: Mapping[str, Any]) -> None:
    """Apply ``args``' depth, kind and locals filters to ``facts.symbols`` in place.

    ``depth`` 1 keeps top-level symbols, 2 also their members, and so on; ``kind`` keeps
    the symbols of those kinds; ``locals`` false leaves out variables and constants declared
    directly in a function or method.  Nothing changes when no filter argument is given.
    """
    chosen = symbol_filter(args)
    if chosen is None or facts.symbols is None:
        return
    depth, kinds, no_locals = chosen
    scopes = _scope_kinds(facts.symbols)
    kept: list[Symbol] = []
    for sym in facts.symbols:
        parents = sym.container.split(".") if sym.container else []
        if depth is not None and len(parents) + 1 > depth:
            continue
        if kinds is not None and sym.kind not in kinds:
            continue
        if no_locals and sym.kind in _LOCAL_KINDS and scopes.get((sym.path, sym.container or "")) in _SCOPES:
            continue
        kept.append(sym)
    facts.total, facts.truncated = len(facts.symbols), len(kept) < len(facts.symbols)
    facts.symbols = kept


def _kinds(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(k, str) for k in items):
        raise BadRequest("kind: expected a list of symbol kinds", field="kind")
    kinds = frozenset(k.strip() for k in items if k.strip())
    if not kinds:
        raise BadRequest("kind: expected at least one symbol kind", field="kind")
    return kinds


def _scope_kinds(symbols: Iterable[Symbol]) -> dict[tuple[str, str], str]:
    """(path, dotted name) -> kind of each symbol that can contain others (the first of a name wins,
    as a container is named by its dotted parents alone)."""
    out: dict[tuple[str, str], str] = {}
    for sym in symbols:
        name = f"{sym.container}.{sym.name}" if sym.container else sym.name
        out.setdefault((sym.path, name), sym.kind)
    return out


#: Where pyright and basedpyright read a project's settings (at the workspace root, as lanser starts them).
_PYRIGHT_TABLES = ("pyright", "basedpyright")


def pyright_configured(read: Callable[[str], bytes]) -> bool:
    """Whether the workspace configures pyright or basedpyright itself: a ``pyrightconfig.json``, or a
    ``[tool.pyright]`` / ``[tool.basedpyright]`` table in ``pyproject.toml``.  ``read`` reads a
    workspace-relative file (OSError when it is missing or refused); a file the server could not
    parse either configures nothing."""
    try:
        read("pyrightconfig.json")
        return True
    except (OSError, ValueError):
        pass
    try:
        import tomllib

        tool = tomllib.loads(read("pyproject.toml").decode("utf-8")).get("tool")
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(tool, dict) and any(isinstance(tool.get(t), dict) for t in _PYRIGHT_TABLES)
