"""Clean-room grading: what the agent changed, restricted to what it may change, on a fresh tree.

The grader never trusts the agent's work area: not its ``.git`` (whose
config an agent's ``run`` step can point at any program: ``core.fsmonitor``
runs on every index read), not its build outputs (a planted test binary
with a fresh mtime, a touched object), not its copy of the tests.  So:

1. :func:`fresh_tree` makes a new copy of the project layer and applies the
   task's start patch to it (through the jail): the tree the agent started
   from, made again by the harness;
2. :func:`collect` walks the agent's work area *in Python* (no git, no tool:
   ``lstat``, never following a link) and compares each file with the fresh
   tree; a change counts only if it is to a regular UTF-8 text file, outside
   the task's ``protected`` globs, not a build output (the layer's
   generated paths, objects, logs), below a size cap.  Everything else is
   dropped, and each drop is said (``edits to tests/t.c ignored (protected)``);
3. the kept changes are written as one unified diff (:func:`unified_diff`),
   and :func:`apply` applies *that text* to the fresh tree with lanser's own
   patch reader, checking that it gives exactly the collected contents: the
   patch the store records is the patch that was graded.

Build, test and sanitize then run on copies of that tree; the agent's
container, binaries and edits to protected files are gone by then.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from lanser.harness.errors import InfrastructureError

__all__ = [
    "OUTPUT_PATTERNS",
    "Collected",
    "apply",
    "apply_start_patch",
    "collect",
    "compile_globs",
    "outside_the_tests",
    "read_inside",
    "unified_diff",
]

#: New files that are a build's or a test run's, never the agent's source: dropped without
#: being read (besides the layer's generated paths and :data:`~lanser.harness.task.worktree.IGNORED`).
OUTPUT_PATTERNS = (
    "**/*.o",
    "**/*.a",
    "**/*.so",
    "**/*.so.*",
    "**/*.lo",
    "**/*.la",
    "**/*.d",
    "**/*.log",
    "**/*.trs",
    "**/*.gcda",
    "**/*.gcno",
    "**/*.pyc",
    "**/.deps/**",
    "**/.libs/**",
    "**/CMakeFiles/**",
    "**/__pycache__/**",
    "**/.dirstamp",
)
#: What a fix never adds (none of the shipped datasets' gold patches does) and an agent gaming
#: the grader would: its code runs in the test program's process, so code that runs before or after
#: the tests (a constructor printing every PASS line and exiting 0, a kernel initcall, an early
#: ``_exit``) or that tells a sanitizer to look away decides the verdict.  Judged on the lines a
#: change adds, in C (and C++, assembly) and Python sources.
_OUTSIDE_THE_TESTS = re.compile(
    r"__attribute__\s*\(\(.*\b(?:__)?(?:constructor|destructor)\b"
    r"|\.(?:pre)?init_array\b|\.fini_array\b|\.ctors\b|\.dtors\b|#\s*pragma\s+(?:init|fini)\b"
    r"|\b\w*initcall\w*\s*\(|\bmodule_init\s*\("
    r"|\b(?:_exit|_Exit|quick_exit)\s*\("
    r"|\b(?:kernel_power_off|kernel_halt|kernel_restart|machine_halt|machine_power_off|machine_restart"
    r"|emergency_restart|orderly_poweroff|orderly_reboot)\s*\("
)
#: A string literal (C or Python, one line), whose text a test-log parser might read as a result.
_LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\n", "\\": "\\", '"': '"', "'": "'"}
_SANITIZER_OFF = re.compile(
    r"no_sanitize|disable_sanitizer_instrumentation"
    r"|\b__(?:asan|lsan|ubsan|msan|tsan|hwasan|sanitizer)_\w+"
    r"|\bk[acm]san_disable_current\b"
)
_CODE_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx", ".inc", ".s", ".S", ".py")
#: Python files that run at interpreter start-up or inside the test runner, never a fix's.
_PY_HOOKS = ("conftest.py", "sitecustomize.py", "usercustomize.py")
#: Never the project's: lanser's state, clangd's cache, any git repository.
_SKIP_DIRS = (".git", ".lanser", ".cache")
MAX_FILE_BYTES = 1 << 20
_MAX_DROPPED = 200


@dataclass
class Collected:
    """The agent's changes that count (``files``: path -> new bytes, None to delete; ``modes``:
    path -> 0o644/0o755 of created or re-moded files) and what was dropped, with why."""

    files: dict[str, bytes | None] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    dropped: list[dict[str, str]] = field(default_factory=list)
    dropped_more: int = 0
    patch: str = ""

    def drop(self, path: str, why: str) -> None:
        if len(self.dropped) < _MAX_DROPPED:
            self.dropped.append({"path": path, "why": why})
        else:
            self.dropped_more += 1

    def notes(self) -> list[str]:
        """The drops that were the agent's edits (not build outputs), as sentences."""
        said = [f"edits to {d['path']} ignored ({d['why']})" for d in self.dropped if d["why"] != "build output"]
        if self.dropped_more:
            said.append(f"{self.dropped_more} more paths dropped")
        return said


# -- globs ---------------------------------------------------------------------------


def compile_globs(globs: tuple[str, ...] | list[str]) -> re.Pattern[str] | None:
    """One regex for project-relative path globs: ``**/`` any directories (or none), ``**`` anything,
    ``*`` and ``?`` within one path component; a glob without ``/`` matches at any depth."""
    parts = []
    for glob in globs:
        if "/" not in glob:
            glob = "**/" + glob
        out, i = [], 0
        while i < len(glob):
            if glob.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            elif glob.startswith("**", i):
                out.append(".*")
                i += 2
            elif glob[i] == "*":
                out.append("[^/]*")
                i += 1
            elif glob[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(glob[i]))
                i += 1
        parts.append("".join(out))
    return re.compile("(?:" + "|".join(parts) + r")\Z") if parts else None


def _matches(rx: re.Pattern[str] | None, path: str) -> bool:
    return bool(rx and rx.match(path))


def _generated(rel: str, generated: tuple[str, ...]) -> bool:
    """Whether ``rel`` is one of the layer's setup outputs (``/file`` or ``/dir/``, anchored)."""
    for g in generated:
        g = g.lstrip("/")
        if (g.endswith("/") and (rel + "/").startswith(g)) or rel == g:
            return True
    return False


# -- reading a tree the agent wrote -------------------------------------------------


def _walk(root: Path, generated: tuple[str, ...]) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every non-directory entry (a symlink to a directory included),
    links never followed, lanser's and git's directories and the layer's generated
    directories left out."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        keep = []
        for d in dirnames:
            rel = rel_dir + d
            full = os.path.join(dirpath, d)
            if d == ".git" or (not rel_dir and d in _SKIP_DIRS):
                continue
            if os.path.islink(full):
                filenames.append(d)  # a link is an entry, never a directory to enter
            elif not _generated(rel + "/", generated):
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                yield rel_dir + name, os.lstat(full)
            except FileNotFoundError:
                continue


def read_inside(root: Path, rel: str, cap: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of the regular file ``root/rel``, opened one component at a time with
    ``O_NOFOLLOW``: a symbolic link anywhere on the way (planted by code the agent
    wrote) is refused (None), never followed to a host file.  None also when the file
    is missing, not regular, or larger than ``cap``."""
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            nxt = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        os.close(fd)
        return None
    os.close(fd)
    try:
        st = os.fstat(leaf)
        if not stat.S_ISREG(st.st_mode) or st.st_size > cap:
            return None
        chunks, size = [], 0
        while chunk := os.read(leaf, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                return None
        return b"".join(chunks)
    finally:
        os.close(leaf)


def _text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def collect(
    work: Path,
    fresh: Path,
    protected: tuple[str, ...],
    generated: tuple[str, ...] = (),
    tracked: frozenset[str] | None = None,
    ignored: Callable[[list[str]], set[str]] | None = None,
) -> Collected:
    """The agent's changes in ``work`` against ``fresh`` (the tree it started from, made again).

    ``tracked``: the paths of the start commit (listed by the harness before the agent acted);
    a file of the fresh tree not among them is a build output of the layer (a kernel's
    ``.kunit/``), never the agent's source.  ``ignored(paths)``: those of the new files the
    project's own ``.gitignore`` files (in the fresh tree) ignore: build outputs too."""
    from lanser.harness.task.worktree import IGNORED

    def output_of_layer(rel: str) -> bool:
        return _generated(rel, generated) or (tracked is not None and rel in fresh_entries and rel not in tracked)

    guard = compile_globs(protected)
    outputs = compile_globs([*OUTPUT_PATTERNS, *(g.rstrip("/") + ("/**" if g.endswith("/") else "") for g in IGNORED)])
    out = Collected()
    fresh_entries = dict(_walk(fresh, generated))
    seen: set[str] = set()
    for rel, st in sorted(_walk(work, generated)):
        seen.add(rel)
        before = fresh_entries.get(rel)
        if before is None and (_generated(rel, generated) or _matches(outputs, rel)):
            out.drop(rel, "build output")
            continue
        if before is not None and output_of_layer(rel):
            continue  # the layer's outputs, rebuilt by the agent's make: never the agent's source
        if (
            before is not None
            and stat.S_ISREG(st.st_mode)
            and stat.S_ISREG(before.st_mode)
            and (st.st_size, st.st_mtime_ns, st.st_mode & 0o111)
            == (before.st_size, before.st_mtime_ns, before.st_mode & 0o111)
        ):
            continue  # untouched since the copy (same size, time and mode): no need to read it
        if not _plain_name(rel):
            out.drop(rel, "file name not plain UTF-8 text")
            continue
        if not stat.S_ISREG(st.st_mode):
            if (
                before is None
                or stat.S_IFMT(before.st_mode) != stat.S_IFMT(st.st_mode)
                or (stat.S_ISLNK(st.st_mode) and os.readlink(work / rel) != os.readlink(fresh / rel))
            ):
                out.drop(rel, "symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file")
            continue
        new = read_inside(work, rel)
        old = read_inside(fresh, rel, cap=1 << 30) if before is not None and stat.S_ISREG(before.st_mode) else None
        mode = 0o755 if st.st_mode & 0o100 else 0o644
        if before is not None and old is None:
            out.drop(rel, "replaces something that is not a regular file")
            continue
        if new == old and (before is None or (before.st_mode & 0o100) == (st.st_mode & 0o100)):
            continue
        if new is None:
            out.drop(rel, f"larger than {MAX_FILE_BYTES} bytes or unreadable")
        elif _text(new) is None or (old is not None and _text(old) is None):
            out.drop(rel, "binary")
        elif _matches(guard, rel):
            out.drop(rel, "protected")
        else:
            out.files[rel] = new
            if before is None or (before.st_mode & 0o100) != (st.st_mode & 0o100):
                out.modes[rel] = mode
    for rel, before in sorted(fresh_entries.items()):
        if rel in seen or output_of_layer(rel):
            continue
        if _matches(guard, rel):
            out.drop(rel, "protected")
        elif not stat.S_ISREG(before.st_mode) or not _plain_name(rel):
            out.drop(rel, "deletes something that is not a regular text file")
        else:
            old = read_inside(fresh, rel, cap=1 << 30)
            if old is None or _text(old) is None:
                out.drop(rel, "deletes a binary file")
            else:
                out.files[rel] = None
    for rel, data in sorted(out.files.items()):
        why = outside_the_tests(rel, _read_text(fresh, rel) if rel in fresh_entries else None, data)
        if why:
            out.drop(rel, why)
            out.files.pop(rel)
            out.modes.pop(rel, None)
    created = [rel for rel, data in out.files.items() if data is not None and rel not in fresh_entries]
    for rel in sorted(ignored(created) if ignored and created else ()):
        out.drop(rel, "build output")
        out.files.pop(rel, None)
        out.modes.pop(rel, None)
    deleted = {rel for rel, data in out.files.items() if data is None}
    for rel, data in sorted(out.files.items()):
        if data is not None and _in_the_way(fresh, rel, deleted):
            out.drop(rel, "in the way of what the graded tree keeps (a directory replaced by a file or the reverse)")
            out.files.pop(rel)
            out.modes.pop(rel, None)
    pieces = []
    for rel, new in sorted(out.files.items()):
        piece = unified_diff(rel, _read_text(fresh, rel), _decoded(new), out.modes.get(rel), _mode_of(fresh, rel))
        if _reproduces(piece, fresh, rel, new):
            pieces.append(piece)
        else:  # e.g. a byte-order mark lanser's patch reader keeps apart: not taken rather than taken wrong
            out.drop(rel, "cannot be expressed as a text patch")
            out.files.pop(rel)
            out.modes.pop(rel, None)
    out.patch = "".join(pieces)
    return out


def outside_the_tests(rel: str, old: str | None, new: bytes | None) -> str | None:
    """Why the change of ``rel`` from ``old`` to ``new`` is not taken, if it adds code that runs
    outside the tests or turns a sanitizer off (see :data:`_OUTSIDE_THE_TESTS`); None otherwise.
    Only added lines count: a fix may remove such code."""
    if new is None:
        return None
    name = rel.rsplit("/", 1)[-1]
    if name in _PY_HOOKS or name.endswith(".pth"):
        return "a Python start-up or test-runner hook: it runs outside the tests"
    if not name.endswith(_CODE_SUFFIXES):
        return None
    a: list[str] = _LINES.findall(old or "")
    b: list[str] = _LINES.findall(new.decode("utf-8", "replace"))
    added = [
        line
        for tag, _a1, _a2, b1, b2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if tag in ("replace", "insert")
        for line in b[b1:b2]
    ]
    for line in added:
        if _SANITIZER_OFF.search(line):
            return "turns a sanitizer off (" + line.strip()[:80] + ")"
        if _OUTSIDE_THE_TESTS.search(line):
            return "runs code outside the tests (" + line.strip()[:80] + ")"
        if _prints_a_pass(line):
            return "prints test results of its own (" + line.strip()[:80] + ")"
    return None


def _prints_a_pass(line: str) -> bool:
    """Whether a string literal of ``line``, as printed, is a line a test-log parser reads as a
    passing result (``"PASS: %s\\n"``, ``"ok %d - %s\\n"``, ``"    ok 2 case\\n"``): the code
    under test printing results for the tests that run it.  Reporting a failure is no forgery."""
    from lanser.harness.grade import logs

    for m in _LITERAL.finditer(line):
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        text = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(1)), raw)
        for name, parse in logs.FORMATS.items():
            if name != "junit" and "pass" in parse(text).values():
                return True
    return False


def _in_the_way(fresh: Path, rel: str, deleted: set[str]) -> bool:
    """Whether writing ``rel`` into the graded tree would meet something that stays there: a
    directory on the way that is a link or a file the grader keeps (a protected one whose
    deletion was dropped), or a directory at ``rel`` itself that the kept deletions do not
    empty.  Such a write failed, and the attempt was graded ``infra_error``: never the
    agent's, left out of the resolve rate."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        here = "/".join(parts[:i])
        try:
            st = os.lstat(fresh / here)
        except FileNotFoundError:
            return False  # nothing below a missing name
        except OSError:
            return True
        if i == len(parts):
            return stat.S_ISDIR(st.st_mode) and not _emptied(fresh, rel, deleted)
        if stat.S_ISDIR(st.st_mode):
            continue
        return not (stat.S_ISREG(st.st_mode) and here in deleted)
    return False


def _emptied(fresh: Path, rel: str, deleted: set[str]) -> bool:
    """Whether the kept deletions empty the directory ``fresh/rel`` so that :func:`apply` removes
    it (every file and link in it deleted, no directory in it left empty by nothing)."""
    for dirpath, dirnames, filenames in os.walk(fresh / rel, followlinks=False):
        if not dirnames and not filenames:
            return False
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in (*filenames, *links):
            if os.path.relpath(os.path.join(dirpath, name), fresh) not in deleted:
                return False
    return True


def _reproduces(piece: str, fresh: Path, rel: str, new: bytes | None) -> bool:
    """Whether lanser's patch reader, given ``piece`` and the fresh file, gives exactly ``new``."""
    from lanser.edits.patch import parse_patch
    from lanser.errors import LanserError

    try:
        changes = parse_patch(piece, lambda path: read_inside(fresh, path, cap=1 << 30))
    except (LanserError, ValueError):
        return False
    return [(c.path, c.new) for c in changes.changes] == [(rel, new)]


def _plain_name(rel: str) -> bool:
    """A name a diff header carries unchanged: UTF-8, no control characters, no blank at either end."""
    if any(ord(c) < 32 or c == "\x7f" for c in rel) or rel != rel.strip():
        return False
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes of a non-UTF-8 name
        return False
    return True


def _read_text(root: Path, rel: str) -> str | None:
    data = read_inside(root, rel, cap=1 << 30)
    return None if data is None else data.decode("utf-8")


def _decoded(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8")


def _mode_of(root: Path, rel: str) -> int | None:
    try:
        st = os.lstat(root / rel)
    except OSError:
        return None
    return 0o755 if st.st_mode & 0o100 else 0o644


# -- the patch ---------------------------------------------------------------------------


_LINES = re.compile(r"[^\n]*\n|[^\n]+\Z")


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def unified_diff(
    rel: str, old: str | None, new: str | None, new_mode: int | None = None, old_mode: int | None = None
) -> str:
    """A git-style unified diff of one file (None: absent), three lines of context, with
    ``\\ No newline at end of file`` markers; the form :func:`lanser.edits.patch.parse_patch` reads."""
    a, b = _LINES.findall(old or ""), _LINES.findall(new or "")
    head = [f"diff --git a/{rel} b/{rel}\n"]
    if old is None:
        head.append(f"new file mode 100{new_mode or 0o644:o}\n")
    elif new is None:
        head.append(f"deleted file mode 100{old_mode or 0o644:o}\n")
    elif new_mode is not None and old_mode is not None and new_mode != old_mode:
        head += [f"old mode 100{old_mode:o}\n", f"new mode 100{new_mode:o}\n"]
    head += [
        f"--- {'a/' + rel if old is not None else '/dev/null'}\n",
        f"+++ {'b/' + rel if new is not None else '/dev/null'}\n",
    ]
    body: list[str] = []
    for group in SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3):
        body.append(f"@@ -{_range(group[0][1], group[-1][2])} +{_range(group[0][3], group[-1][4])} @@\n")
        for tag, a1, a2, b1, b2 in group:
            lines = (
                [(" ", x) for x in a[a1:a2]]
                if tag == "equal"
                else ([("-", x) for x in a[a1:a2]] + [("+", x) for x in b[b1:b2]])
            )
            for sign, line in lines:
                body.append(sign + line if line.endswith("\n") else f"{sign}{line}\n\\ No newline at end of file\n")
    return "".join(head + body)


# -- writing into a harness tree ------------------------------------------------------


def _write(root: Path, rel: str, data: bytes | None, mode: int | None) -> None:
    """Write (or delete) ``root/rel`` where ``root`` is a harness-made tree: every directory
    on the way must be a real directory inside ``root`` (a link in the project's own
    source must not carry the write out)."""
    from lanser.edits.guards import jail_rel
    from lanser.errors import FsPermissions

    path = root / rel
    try:
        if jail_rel(root, rel) != rel:
            raise FsPermissions(f"{rel} resolves elsewhere through a symlink", path=rel)
    except FsPermissions as exc:
        raise InfrastructureError(f"the graded tree refuses {rel}: {exc.message}", stage="grade") from None
    if data is None:
        path.unlink()
        parent = path.parent  # directories the deletions emptied go too, as git leaves none
        while parent != root and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = mode
    if keep is None:
        try:
            keep = stat.S_IMODE(os.lstat(path).st_mode)
        except FileNotFoundError:
            keep = 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, keep)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, keep)


def apply(fresh: Path, collected: Collected) -> None:
    """Apply ``collected.patch`` (the text) to ``fresh``; a file whose result differs from what
    was collected is an :class:`InfrastructureError` (the diff writer and reader disagree)."""
    from lanser.edits.patch import parse_patch
    from lanser.errors import LanserError

    if not collected.patch:
        return
    try:
        changes = parse_patch(collected.patch, lambda rel: read_inside(fresh, rel, cap=1 << 30))
    except LanserError as exc:
        raise InfrastructureError(
            f"the graded patch does not apply to the fresh tree: {exc.message}", stage="grade"
        ) from None
    for change in changes.changes:
        if change.new != collected.files.get(change.path, b"<absent>"):
            raise InfrastructureError(f"the graded patch does not reproduce {change.path}", stage="grade")
    # Deletions first: a directory the agent replaced by a file (or the reverse) is gone before the write.
    for change in sorted(changes.changes, key=lambda c: (c.new is not None, c.path)):
        _write(fresh, change.path, change.new, collected.modes.get(change.path))


def _clear_way(root: Path, rel: str) -> None:
    """Remove what stands where ``root/rel`` is to be written: a regular file in place of a
    directory on the way, a directory in place of the file.  Only for the hidden tests,
    applied after the agent's changes (their paths are protected, so what stands there is
    the agent's); links are left for the jail to refuse."""
    import shutil

    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:i])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if i < len(parts) and stat.S_ISREG(st.st_mode):
            path.unlink()
            return
        if i == len(parts) and stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
            return


def apply_start_patch(tree: Path, patch: str, what: str = "start_patch") -> dict[str, bytes]:
    """Apply a task's ``start_patch`` to a harness-made ``tree`` through the jail: every path it
    names must stay inside ``tree`` (``+++ b//etc/x`` or a link out is refused).  Returns the
    original bytes of the files it changed.  A patch that escapes or does not apply is the
    task's fault: :class:`InfrastructureError` (stage ``task``), never the agent's."""
    from lanser.edits.guards import check_jail
    from lanser.edits.patch import parse_patch
    from lanser.errors import LanserError
    from lanser.harness.task.spec import patch_paths

    for rel in patch_paths(patch):
        if rel.startswith("/") or ".." in rel.split("/"):
            raise InfrastructureError(f"the task's {what} writes {rel!r}, outside the project", stage="task")
    try:
        changes = parse_patch(patch, lambda rel: read_inside(tree, rel, cap=1 << 30))
        check_jail(tree, changes)
    except LanserError as exc:
        raise InfrastructureError(f"the task's {what} does not apply: {exc.message}", stage="task") from None
    originals = {c.path: c.old for c in changes.changes if c.old is not None}
    if what in (
        "test_patch",
        "canary",
    ):  # the hidden tests are the grader's: nothing of the agent's stands in their way
        for change in changes.changes:
            _clear_way(tree, change.new_path or change.path)
    for change in changes.changes:
        if change.op == "rename" and change.new_path:
            _write(tree, change.new_path, change.new, None)
            _write(tree, change.path, None, None)
        else:
            _write(tree, change.path, change.new, None)
    return originals
