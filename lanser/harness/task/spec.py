"""Task files: one ``TaskSpec`` per JSONL line, validated with the line and field at fault.

A task names its source (a directory next to the task file, a git
repository at a commit, a Debian source package at a version or a PyPI
sdist; every remote kind pinned by a sha256, see
:mod:`lanser.harness.task.sources`), how to build, test and sanitize it, the problem statement, the patch that creates its
starting state from the source (``start_patch``), the gold patch, the test
oracles, how its test stage reports results (``test_log``), what the agent may
not change (``protected``, see docs/grading.md) and its resource limits.  A task
file is input like any other: not UTF-8, nested past the schema, numbers past
a float, an id such as ``..`` or a patch naming a path outside the project are
E/BAD_REQUEST naming the line and the field.  Specs are frozen and derive a content key
that the result store uses, so a changed task is never confused with the
old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.config import JsonDict

from lanser.errors import BadRequest

__all__ = [
    "CANARY_SLOT",
    "DEFAULT_PROTECTED",
    "REMOTE_KINDS",
    "Canary",
    "Commands",
    "CrashOracle",
    "Limits",
    "Oracles",
    "Source",
    "SourceKind",
    "TaskSpec",
    "TestLog",
    "dir_source",
    "load_tasks",
    "patch_paths",
    "tree_digest",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


SourceKind = Literal["dir", "git", "debian", "pypi"]
#: The fields each kind needs (besides ``sha256``) and those it may carry.
_SOURCE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dir": (("path",), ()),
    "git": (("url", "commit"), ()),
    "debian": (("package", "version"), ("skip_patches", "suite")),
    "pypi": (("name", "version"), ()),
}
_OPTIONAL_FIELDS = ("path", "url", "commit", "package", "name", "version", "skip_patches", "suite")
REMOTE_KINDS = ("git", "debian", "pypi")


def _source_schema(schema: JsonDict) -> None:
    """What the validators check, in the published task schema too (a task file pins remote sources)."""
    schema["allOf"] = [
        {
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"] if kind != "dir" else []},
            "then": {"required": [*needed, *(["sha256"] if kind in REMOTE_KINDS else [])]},
        }
        for kind, (needed, _) in _SOURCE_FIELDS.items()
    ]


class Source(_Frozen):
    """Where a task's code comes from.

    ``dir``: ``path``, relative to the dataset directory.  ``git``: ``url``
    and a full ``commit`` id.  ``debian``: ``package`` and ``version`` (with
    its epoch, as ``apt-cache showsrc`` prints it), and ``suite`` for a
    Debian release other than the machine's (``trixie``: fetched from the
    same mirrors).  ``pypi``: sdist ``name``
    and ``version``.  ``sha256`` (64 hex digits, ``sha256:`` prefix allowed)
    is of the ``.dsc`` for debian, of the sdist file for pypi, and of the
    tree (:func:`tree_digest`) for git and dir; remote kinds must carry it
    in a task file (``lanser bench source fetch`` prints it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_source_schema)

    kind: SourceKind = "dir"
    path: str | None = None
    url: str | None = None
    commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")
    package: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.+-]+$")
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.+:~_!-]+$")
    #: debian only: unpack the upstream code without Debian's patches
    #: (``dpkg-source -x --skip-patches``).  Off by default: the version then
    #: names what Debian ships, security fixes included.
    skip_patches: bool = False
    #: debian only: the release whose sources list the version (``trixie``, ``sid``), asked of the
    #: mirrors the machine's apt sources name; unset, the machine's own release (bookworm).
    #: The ``.dsc``'s sha256 pins the package either way: the suite only says where to find it.
    suite: str | None = Field(default=None, pattern=r"^[a-z]+$")
    sha256: str | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lower().removeprefix("sha256:")
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 hex digits (optionally prefixed by sha256:)")
        return value

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Source:
        needed, allowed = _SOURCE_FIELDS[self.kind]
        missing = [f for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} source needs {' and '.join(missing)}")
        extra = [
            f
            for f in _OPTIONAL_FIELDS
            if f not in needed and f not in allowed and getattr(self, f) not in (None, False)
        ]
        if extra:
            raise ValueError(f"a {self.kind} source takes no {', '.join(extra)}")
        if self.url is not None and self.url.startswith("-"):
            raise ValueError(f"source.url must not start with '-' (got {self.url!r}): git would read it as an option")
        if self.kind == "dir" and (os.path.isabs(str(self.path)) or ".." in Path(str(self.path)).parts):
            raise ValueError("path must be relative to the dataset directory, without '..'")
        return self

    @model_serializer(mode="wrap")
    def _without_unset_suite(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """``suite`` is dumped only when set: the sources written before it existed dump (and so
        key their tasks) as they did."""
        data: dict[str, object] = handler(self)
        if self.suite is None:
            data.pop("suite", None)
        return data

    @property
    def remote(self) -> bool:
        return self.kind in REMOTE_KINDS

    def spec(self) -> str:
        """The short form ``lanser bench source fetch`` takes (see :meth:`parse`)."""
        if self.kind == "git":
            return f"git:{self.url}@{self.commit}"
        if self.kind == "debian":
            return f"debian:{self.package}={self.version}" + (f"@{self.suite}" if self.suite else "")
        if self.kind == "pypi":
            return f"pypi:{self.name}=={self.version}"
        return f"dir:{self.path}"

    @classmethod
    def parse(cls, text: str, sha256: str | None = None) -> Source:
        """``debian:PACKAGE=VERSION[@SUITE]``, ``pypi:NAME==VERSION``, ``git:URL@COMMIT`` or ``dir:PATH``."""
        kind, sep, rest = text.partition(":")
        fields: dict[str, object]
        if not sep or kind not in _SOURCE_FIELDS:
            raise ValueError(
                f"{text!r}: say debian:PACKAGE=VERSION[@SUITE], pypi:NAME==VERSION, git:URL@COMMIT or dir:PATH"
            )
        if kind == "debian" and "=" in rest:
            package, _, version = rest.partition("=")
            version, at, suite = version.partition("@")
            fields = {"package": package, "version": version, **({"suite": suite} if at else {})}
        elif kind == "pypi" and "==" in rest:
            name, _, version = rest.partition("==")
            fields = {"name": name, "version": version}
        elif kind == "git" and "@" in rest:
            url, _, commit = rest.rpartition("@")
            fields = {"url": url, "commit": commit}
        elif kind == "dir":
            fields = {"path": rest}
        else:
            raise ValueError(
                f"{text!r}: a {kind} source is written "
                + {"debian": "debian:PACKAGE=VERSION[@SUITE]", "pypi": "pypi:NAME==VERSION", "git": "git:URL@COMMIT"}[
                    kind
                ]
            )
        return cls.model_validate({"kind": kind, **fields, "sha256": sha256})


class Commands(_Frozen):
    setup: str | None = None
    build: str
    test: str
    sanitize: str | None = None


class KnownReport(_Frozen):
    """A sanitizer report the project makes before any change (``grading.parse_sanitizers``'s key)."""

    tool: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    frame: str = Field(min_length=1)


class CrashOracle(_Frozen):
    """The crash a kernel crash task starts from (``lanser.harness.datasets.kernel.crash``): gone after the patch."""

    tool: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    frame: str = Field(min_length=1)
    title: str = Field(min_length=1)
    #: The report as the problem statement shows it (trimmed), for the verdict's "before".
    report: str = ""


class Oracles(_Frozen):
    fail_to_pass: tuple[str, ...] = ()
    pass_to_pass: tuple[str, ...] = ()
    #: Reports the sanitizer build gives at the start commit: never blamed on the agent.
    known_sanitizer_reports: tuple[KnownReport, ...] = ()
    #: A crash task's crash (graded by ``crash.crash_verdict``); None for every other task.
    crash: CrashOracle | None = None


_DAY = 86400.0


class Limits(_Frozen):
    """Bounded above as well: ``wall_s: 1e999`` is infinity, not a limit."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    wall_s: float = Field(default=300.0, gt=0, le=_DAY)
    #: Wall time of ``commands.setup`` (run once per project layer, see
    #: :mod:`lanser.harness.env.project`): configure + full builds take longer.
    setup_wall_s: float = Field(default=3600.0, gt=0, le=7 * _DAY)
    memory_mb: int = Field(default=1024, ge=32, le=1 << 20)
    cpus: float = Field(default=1.0, gt=0, le=1024)
    pids: int = Field(default=256, ge=8, le=1 << 22)
    max_steps: int = Field(default=50, ge=1, le=100_000)


#: What an agent may not change unless the task says otherwise (``protected``): the tests,
#: their data and the build recipes that run them.  Globs over project-relative paths,
#: ``**`` spans directories.  Edits there are dropped before grading (see docs/grading.md).
DEFAULT_PROTECTED: tuple[str, ...] = (
    "**/test/**",
    "**/tests/**",
    "**/testing/**",
    "**/testsuite/**",
    "**/testdata/**",
    "**/t/**",
    "**/test_*",
    "**/*_test.*",
    "**/*-test.*",
    "**/*_tests.*",
    "**/*_kunit.c",
    "**/*.kunitconfig",
    "**/Makefile",
    "**/Makefile.*",
    "**/makefile",
    "**/GNUmakefile",
    "**/*.mk",
    "**/CMakeLists.txt",
    "**/*.cmake",
    "**/meson.build",
    "**/configure",
    "**/configure.ac",
    "**/Kbuild",
    "**/Kconfig*",
)


class TestLog(_Frozen):
    """How the test stage reports per-test results (see :mod:`lanser.harness.grade.logs`).

    ``format``: ``auto`` (detected; the verdict names what was found), ``tap``,
    ``ktap``, ``automake``, ``plain``, ``ctest``, ``junit`` or ``regex``.
    ``files``: result files the test stage writes (project-relative; ``*`` globs
    within one directory), read instead of its output (JUnit XML, automake's
    ``test-suite.log``).  ``pass_re``/``fail_re``/``skip_re``: the ``regex`` format's
    patterns, each with a ``(?P<name>...)`` group.
    """

    __test__ = False  # not a pytest class

    format: Literal["auto", "tap", "ktap", "automake", "plain", "ctest", "junit", "regex"] = "auto"
    files: tuple[str, ...] = ()
    pass_re: str | None = None
    fail_re: str | None = None
    skip_re: str | None = None

    @field_validator("files")
    @classmethod
    def _relative(cls, files: tuple[str, ...]) -> tuple[str, ...]:
        for f in files:
            _check_relative(f, "a result file")
        return files

    @field_validator("pass_re", "fail_re", "skip_re")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        from lanser.harness.grade.logs import regex

        return None if value is None else regex.check(value)

    @model_validator(mode="after")
    def _complete(self) -> TestLog:
        if self.format == "regex" and not (self.pass_re and self.fail_re):
            raise ValueError("the regex format needs pass_re and fail_re")
        if self.format == "junit" and not self.files:
            raise ValueError("the junit format needs files (the XML files the test stage writes)")
        return self


#: What a canary's patch and test name hold where its name goes: the grader draws a fresh name each time.
CANARY_SLOT = "@CANARY@"


class Canary(_Frozen):
    """A test that fails on purpose, hidden like ``test_patch`` and graded in the same run as the
    oracles (docs/grading.md).  Code under test that prints the results itself (a forgery built at
    run time, which no reading of the log can tell from the tests' own lines) cannot know the
    canary's name: the grader puts a fresh one in every ``@CANARY@`` each time it grades.  A canary
    read as anything but failing means the results were not the tests' own.

    ``patch``: a unified diff of protected files, applied after ``test_patch`` (to the tree the
    test stage runs, not the sanitizer's), adding a test that fails.  ``test``: its name as the
    test log reads it (with ``@CANARY@``)."""

    patch: str
    test: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _slotted(self) -> Canary:
        if CANARY_SLOT not in self.test or CANARY_SLOT not in self.patch:
            raise ValueError(f"a canary's patch and test name must both hold {CANARY_SLOT} (its name, drawn anew)")
        for path in patch_paths(self.patch):
            _check_relative(path, "a path the canary's patch writes")
        return self


def _check_relative(path: str, what: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or "\0" in path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{what} must be a project-relative path without '.', '..' or empty parts: {path!r}")


#: (section or None, field) of TaskSpec fields added after harness version h2 (see :meth:`TaskSpec.key`).
_LATER_FIELDS: tuple[tuple[str | None, str], ...] = (
    ("oracles", "known_sanitizer_reports"),
    (None, "protected"),
    (None, "test_log"),
    (None, "test_patch"),
    ("oracles", "crash"),
    (None, "canary"),
)


#: The value of a later field that leaves the key as it was (``protected: []`` is not unset).
_UNSET: dict[str, object] = {
    "protected": None,
    "test_log": TestLog().model_dump(mode="json"),
    "test_patch": None,
    "crash": None,
    "canary": None,
}


class TaskSpec(_Frozen):
    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._/-]+$")
    language: Literal["c", "python"]
    image: str = "base"
    source: Source
    commands: Commands
    problem: str
    start_patch: str | None = None
    gold_patch: str
    oracles: Oracles = Oracles()
    limits: Limits = Limits()
    #: Globs of files the agent may not change (None: :data:`DEFAULT_PROTECTED`; ``[]``: none).
    protected: tuple[str, ...] | None = None
    test_log: TestLog = TestLog()
    #: Hidden tests (mined tasks, docs/mining.md): applied by the grader to the graded tree after the
    #: agent's changes, never to the agent's work area; every path it writes must be protected.
    test_patch: str | None = None
    #: A test made to fail on purpose, graded with the oracles: see :class:`Canary`.
    canary: Canary | None = None

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        # The id names the task's work directory (``/`` -> ``__``): ``..`` would be its parent.
        _check_relative(value, "a task id")
        return value

    @field_validator("protected")
    @classmethod
    def _globs(cls, globs: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for g in globs or ():
            _check_relative(g.replace("**", "x").replace("*", "x"), "a protected glob")
        return globs

    @field_validator("start_patch", "gold_patch", "test_patch")
    @classmethod
    def _patch_in_tree(cls, patch: str | None) -> str | None:
        for path in patch_paths(patch or ""):
            _check_relative(path, "a path the patch writes")
        return patch

    @model_validator(mode="after")
    def _hidden_tests_protected(self) -> TaskSpec:
        from lanser.harness.grade.cleanroom import compile_globs

        guard = compile_globs(self.protected_globs)
        for what, patch in (("test_patch", self.test_patch), ("canary.patch", self.canary and self.canary.patch)):
            for path in patch_paths(patch or ""):
                if not (guard and guard.match(path)):
                    raise ValueError(f"{what} writes {path!r}, which is not protected: the agent could edit it")
        return self

    @property
    def protected_globs(self) -> tuple[str, ...]:
        """The task's ``protected`` globs (the default when absent) and its result files
        (``test_log.files``): the grader reads those after the test stage, never the agent's to write."""
        return (DEFAULT_PROTECTED if self.protected is None else self.protected) + self.test_log.files

    @field_validator("source")
    @classmethod
    def _pinned(cls, source: Source) -> Source:
        if source.remote and source.sha256 is None:
            raise ValueError(
                f"a {source.kind} source needs sha256 (`lanser bench source fetch {source.spec()}` prints it)"
            )
        return source

    def key(self) -> str:
        """Content hash of the whole spec: the identity results are stored under.

        Fields added since harness version h2 enter the hash only when set, so
        the tasks that do not use them keep the keys their results are stored under.  The
        grader's rules are versioned in the result key (``store.GRADING_VERSION``), not here.
        """
        data = self.model_dump(mode="json")
        for section, name in _LATER_FIELDS:
            where = data[section] if section else data
            if where[name] == _UNSET.get(name, []):
                del where[name]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    @property
    def slug(self) -> str:
        return self.id.replace("/", "__")


def dir_source(source: Source, base: Path) -> Path:
    """The real path of a ``dir`` source: a directory inside the dataset directory ``base``,
    symbolic links resolved.  The dataset is a stranger's: a ``project`` that links out of it
    (to a home directory) would be copied into the agent's work area; E/BAD_REQUEST."""
    root = Path(base).resolve()
    tree = (root / str(source.path)).resolve()
    if not tree.is_relative_to(root):
        raise BadRequest(
            f"source.path: {source.path} leads outside the dataset directory (through a symbolic link); "
            "a kernel dataset's project made before this check is such a link: make it again with "
            "`lanser bench generate kernel --layer-only --out DATASET` (`--crash` too for a crash dataset)",
            field="source.path",
        )
    if not tree.is_dir():
        raise BadRequest(f"source.path: {tree} is not a directory", field="source.path")
    return tree


def tree_digest(root: Path) -> str:
    """``sha256:`` over every entry under ``root`` in path order: regular files by
    content and executable bits (of the mode, not of who asks), symbolic links by
    target (never followed).  Every field is length-prefixed, so no two trees share
    one encoding.  Modification times and owners are left out, so a copy has the
    same digest."""
    h = hashlib.sha256()
    entries: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        entries.extend(os.path.join(dirpath, n) for n in filenames)
        entries.extend(os.path.join(dirpath, n) for n in dirnames if os.path.islink(os.path.join(dirpath, n)))
    for full in sorted(entries, key=lambda e: Path(e).relative_to(root).as_posix()):
        rel = Path(full).relative_to(root).as_posix().encode()
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(full).encode()
            h.update(b"L%d:%s%d:%s" % (len(rel), rel, len(target), target))
            continue
        h.update(b"%s%d:%s%d:" % (b"X" if st.st_mode & 0o111 else b"F", len(rel), rel, st.st_size))
        size = 0
        with open(full, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        if size != st.st_size:  # changed while read: the length written would not be the content's
            raise OSError(f"{full} changed while its digest was taken")
    return "sha256:" + h.hexdigest()


_HUNK_COUNTS = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def patch_paths(patch: str) -> list[str]:
    """The paths a unified diff's file headers name (``a/``, ``b/`` stripped, ``/dev/null`` left
    out), read as :func:`lanser.edits.patch.parse_patch` reads them: hunk bodies are skipped by
    their line counts, so a removed ``-- x`` line is not taken for a header."""
    out: list[str] = []
    lines = patch.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _HUNK_COUNTS.match(line)
        if m:
            left = [int(m.group(1) or 1), int(m.group(2) or 1)]
            i += 1
            while i < len(lines) and (left[0] > 0 or left[1] > 0 or lines[i].startswith("\\")):
                first = lines[i][:1]
                if first in (" ", ""):
                    left = [left[0] - 1, left[1] - 1]
                elif first == "-":
                    left[0] -= 1
                elif first == "+":
                    left[1] -= 1
                i += 1
            continue
        if line.startswith(("--- ", "+++ ")):
            name = line[4:].split("\t")[0].strip()
            if name != "/dev/null":
                out.append(name[2:] if name.startswith(("a/", "b/")) else name)
        i += 1
    return out


_MAX_DEPTH = 16


def _hostile(value: object, where: str = "", depth: int = 0) -> tuple[str, str] | None:
    """(field, why) for what JSON allows and a task may not hold: nesting deeper than a task's
    schema goes, lone surrogates (unencodable), NUL characters."""
    if depth > _MAX_DEPTH:
        return where or "task", f"nested deeper than {_MAX_DEPTH} levels"
    if isinstance(value, str):
        if "\0" in value:
            return where or "task", "contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "task", "contains a lone surrogate (not Unicode text)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, sub in items:
        if isinstance(key, str) and _hostile(key, where, depth + 1):
            return where or "task", "a key is not Unicode text"
        found = _hostile(sub, f"{where}.{key}" if where else str(key), depth + 1)
        if found:
            return found
    return None


def load_tasks(path: Path) -> list[TaskSpec]:
    """Every task of a JSONL file; a bad line is E/BAD_REQUEST (exit 2) naming the line and the
    field, whatever the bytes are (not UTF-8, nested past any schema, numbers past a float)."""
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    digests: dict[str, str] = {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadRequest(f"cannot read the task file {path}: {exc.strerror or exc}") from None
    for n, raw_line in enumerate(data.split(b"\n"), 1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"{path}:{n}: not UTF-8 (byte {exc.start + 1} of the line)", line=n) from None
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except RecursionError:
            raise BadRequest(f"{path}:{n}: not JSON: nested too deeply", line=n) from None
        except ValueError as exc:
            raise BadRequest(f"{path}:{n}: not JSON: {exc}", line=n) from None
        if not isinstance(raw, dict):
            raise BadRequest(f"{path}:{n}: a task is a JSON object, not {type(raw).__name__}", line=n)
        hostile = _hostile(raw)
        if hostile:
            raise BadRequest(f"{path}:{n}: {hostile[0]}: {hostile[1]}", line=n, field=hostile[0])
        try:
            task = TaskSpec.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "task"
            raise BadRequest(f"{path}:{n}: {field}: {first['msg']}", line=n, field=field) from None
        if task.id in seen:
            raise BadRequest(f"{path}:{n}: duplicate task id {task.id!r}", line=n, field="id")
        seen.add(task.id)
        if task.source.kind == "dir":
            try:
                src = dir_source(task.source, path.parent)
            except BadRequest as exc:
                raise BadRequest(f"{path}:{n}: {exc.message}", line=n, field="source.path") from None
            if task.source.sha256:
                key = str(src.resolve())
                if key not in digests:  # tasks share one source: hash it once
                    digests[key] = tree_digest(src).removeprefix("sha256:")
                if digests[key] != task.source.sha256:
                    raise BadRequest(
                        f"{path}:{n}: source.sha256: the source tree does not match", line=n, field="source.sha256"
                    )
        tasks.append(task)
    return tasks
