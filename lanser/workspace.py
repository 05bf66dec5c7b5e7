"""The workspace on disk: its root, its files, its configuration.

IO lives here so that the orchestrator's helpers and the bundle code stay
pure.  Paths handed out are workspace-relative POSIX strings; every path
that comes in from a user goes through :func:`Workspace.rel`, the read-side
half of the workspace jail.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lanser import gitsafe
from lanser.errors import FsPermissions, NotFound
from lanser.state import ignore_in_git, read_nofollow, workspace_private, write_exclusive
from lanser.text import document_text, split_lines

__all__ = ["Source", "Workspace", "cache_dir"]

_SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".cache",
    ".lanser",
    ".tox",
    ".mypy_cache",
}
_CONFIG_FILES = ("pyrightconfig.json", ".clangd", "compile_flags.txt")


@dataclass(frozen=True)
class Source:
    """One file's content as read at one (mtime, size, inode); shared, never to be mutated."""

    data: bytes
    text: str
    lines: list[str]
    sha256: str


def _is_unicode(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lanser"


class Workspace:
    def __init__(self, root: Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise NotFound(f"workspace {str(root)!r} is not a directory")
        self.root = Path(os.path.realpath(root))
        self._root_str = str(self.root)
        self._root_prefix = self._root_str.rstrip("/") + "/"
        self._listed: tuple[tuple[object, ...], list[str]] | None = None
        self._sources: dict[str, tuple[tuple[int, int, int], Source]] = {}
        #: Digests known to be under .lanser/versions (a version file is never removed by lanser).
        self._remembered: set[str] = set()
        self._config: tuple[object, str] | None = None

    # -- jail ----------------------------------------------------------

    def rel(self, path: str) -> str:
        """A user-given path as workspace-relative POSIX; refused outside the root."""
        # String operations, not pathlib: this runs for every request a daemon answers.
        root = self._root_str
        real = os.path.realpath(path if os.path.isabs(path) else os.path.join(root, path))
        if real == root:
            rel = "."
        elif real.startswith(self._root_prefix):
            rel = real[len(self._root_prefix) :]
        else:
            raise FsPermissions(
                f"{path!r} is outside the workspace {self.root.name!r} (resolved through symlinks)",
                path=path,
            )
        if not os.path.isfile(real):
            raise NotFound(f"no such file in the workspace: {rel}", path=rel)
        return rel

    def inside(self, rel: str) -> str:
        """The real path of workspace-relative ``rel``; E/FS_PERMISSIONS if a symlink leads it out.

        Every read of a workspace file goes through here (not only user-given
        paths): a module, a re-export or a moved file found by search may be a
        symlink to a host file, whose content must never reach an answer.
        """
        real = os.path.realpath(os.path.join(self._root_str, rel))
        if real != self._root_str and not real.startswith(self._root_prefix):
            raise FsPermissions(
                f"{rel!r} leads outside the workspace {self.root.name!r} (resolved through "
                "symlinks); lanser reads no file outside it",
                path=rel,
            )
        return real

    def read_bytes(self, rel: str) -> bytes:
        # O_NOFOLLOW: a symlink swapped in after the check is refused, not followed.
        with open(os.open(self.inside(rel), os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:
            return fh.read()

    def source(self, rel: str) -> Source:
        """``rel``'s content, decoded, split into lines and hashed; memoised while its stat is unchanged.

        A warm daemon resolves many selectors in the same files: one
        ``stat`` instead of a read, a decode, a line split and two sha256
        per request.  The validation is (mtime_ns, size, inode), the same
        that :class:`lanser.snapshot.SnapshotTracker` trusts.
        """
        path = Path(self.inside(rel))
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        kept = self._sources.get(rel)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:  # as read_bytes: no link swapped in
            data = fh.read()
        text = document_text(data)  # positions count after a BOM, as the servers count them
        src = Source(data, text, split_lines(text), hashlib.sha256(data).hexdigest())
        if len(self._sources) >= 256:
            self._sources.clear()
        self._sources[rel] = (stamp, src)
        return src

    # -- versions (for docVersion selectors) ------------------------------------

    def remember_version(self, data: bytes, digest: str | None = None) -> str:
        """Keep ``data`` under ``.lanser/versions/`` so selectors made against it can be
        mapped after edits; returns its sha256 (hex, ``digest`` if the caller has it).
        Best effort: a read-only workspace still answers, it just cannot map old positions;
        a ``.lanser`` or ``versions`` that is a symlink (or no directory) is not used at all."""
        digest = digest or hashlib.sha256(data).hexdigest()
        if digest in self._remembered:
            return digest
        directory = workspace_private(self.root, ".lanser/versions", create=True)
        if directory is None:
            return digest
        path = directory / digest
        if os.path.lexists(path):
            self._remembered.add(digest)
            return digest
        ignore_in_git(directory.parent)
        tmp = directory / f".{digest}.{os.getpid()}.tmp"
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            write_exclusive(tmp, data)
            os.replace(tmp, path)
            self._remembered.add(digest)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return digest

    def find_version(self, prefix: str) -> bytes | None:
        """The remembered content whose sha256 starts with ``prefix``: a regular file (never a
        symlink) whose bytes hash to its name (a file a repository planted there does not)."""
        directory = workspace_private(self.root, ".lanser/versions")
        if directory is None or not directory.is_dir():
            return None
        matches = sorted(p for p in directory.iterdir() if p.name.startswith(prefix) and len(p.name) == 64)
        if len(matches) != 1:
            return None
        data = read_nofollow(matches[0])
        if data is None or hashlib.sha256(data).hexdigest() != matches[0].name:
            return None
        return data

    # -- files ---------------------------------------------------------

    def files(self, suffixes: tuple[str, ...]) -> list[str]:
        """Workspace files with these suffixes: git's view when in a repository."""
        return [f for f in self._listing() if f.endswith(suffixes)]

    def _listing(self) -> list[str]:
        """Every file, sorted; re-listed only when a directory (or git's index) changed.

        Walking the directories costs far less than a ``git ls-files``
        subprocess, which a warm daemon would otherwise pay per request.
        """
        walked: list[str] = []
        stamp: list[object] = []
        for name in (".git/index", ".gitignore"):
            try:
                stamp.append((self.root / name).stat().st_mtime_ns)
            except OSError:
                stamp.append(None)
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
            try:
                stamp.append((dirpath, os.stat(dirpath).st_mtime_ns))
            except OSError:
                continue
            for name in filenames:
                walked.append((Path(dirpath) / name).relative_to(self.root).as_posix())
        key = tuple(stamp)
        if self._listed is not None and self._listed[0] == key:
            return self._listed[1]
        listed = self._git_files()
        if listed is None:
            listed = walked
        # A file whose real path is outside (a symlink out) is not the workspace's: no search lists it.
        # Nor one whose name is not UTF-8 (a lone surrogate here): no selector or bundle can name it.
        result = sorted(f for f in listed if f.isascii() or _is_unicode(f))
        result = [
            f
            for f in result
            if (self.root / f).is_file()
            and os.path.realpath(os.path.join(self._root_str, f)).startswith(self._root_prefix)
        ]
        self._listed = (key, result)
        return result

    def _git_files(self) -> list[str] | None:
        if not (self.root / ".git").exists():
            return None
        try:
            # The repository's config is not lanser's: ls-files would run its core.fsmonitor command.
            proc = gitsafe.run(self.root, "ls-files", "-co", "--exclude-standard", "-z", timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode != 0:
            return None
        out = proc.stdout
        return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]

    # -- configuration -------------------------------------------------

    def compile_commands(self) -> Path | None:
        """The compilation database: at the root, in build/, or the shallowest one below."""
        for candidate in (self.root / "compile_commands.json", self.root / "build" / "compile_commands.json"):
            if candidate.is_file():
                return candidate
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            depth = len(Path(dirpath).relative_to(self.root).parts)
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".") and depth < 3)
            if "compile_commands.json" in filenames:
                found.append((depth, Path(dirpath) / "compile_commands.json"))
        return min(found)[1] if found else None

    def portable_compile_commands(self, cdb: Path) -> tuple[Path, str]:
        """Write a copy of ``cdb`` with absolute directories for clangd.

        clangd indexes in the background only when every entry's
        ``directory`` is absolute, but a database committed to a repository
        is more useful with relative ones.  The copy goes to lanser's cache
        (so clangd's index lands there, not in the user's tree); the digest
        returned is of the database with the workspace root abstracted,
        identical wherever the repository is checked out.
        """
        from lanser.compdb import entries as jailed_entries

        entries = jailed_entries(self, cdb)  # hostile input: read in the jail, entries outside dropped
        key = hashlib.sha256(str(cdb).encode()).hexdigest()[:16]
        out_dir = cache_dir() / "clangd" / key
        out_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(entries, indent=1, sort_keys=True)
        target = out_dir / "compile_commands.json"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        digest = hashlib.sha256(text.replace(str(self.root), "${workspace}").encode()).hexdigest()
        return out_dir, digest

    def config_digest(self, extra: dict[str, object]) -> str:
        """Digest of what configures the servers; independent of where the workspace is.

        Memoised on ``extra`` and the stat of the configuration files: every
        bundle records it, and reading and parsing ``pyproject.toml`` per
        request cost more than the rest of the environment block.
        """
        stamp: list[object] = [json.dumps(extra, sort_keys=True, default=str)]
        for name in (*_CONFIG_FILES, "pyproject.toml"):
            try:
                st = os.stat(self.root / name)
                stamp.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                stamp.append(None)
        key = tuple(stamp)
        if self._config is not None and self._config[0] == key:
            return self._config[1]
        digest = self._config_digest(extra)
        self._config = (key, digest)
        return digest

    def _config_digest(self, extra: dict[str, object]) -> str:
        h = hashlib.sha256()
        for name in _CONFIG_FILES:
            p = self.root / name
            if p.is_file():
                h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
        pyproject = self.root / "pyproject.toml"
        if pyproject.is_file():
            try:
                tool = tomllib.loads(pyproject.read_text()).get("tool", {})
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                tool = {}
            for key in ("pyright", "basedpyright"):
                if key in tool:
                    h.update(key.encode() + json.dumps(tool[key], sort_keys=True).encode())
        h.update(json.dumps(extra, sort_keys=True, default=str).encode())
        return "sha256:" + h.hexdigest()
