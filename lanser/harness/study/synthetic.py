"""Synthetic trajectories from a task's gold patch, deterministic for a seed (pure).

They stand in for real agents when asking whether the process reward
predicts success, so their faults are the ones agents make:

``partial:SEED``
    a random proper subset of the gold hunks, in order; a task with a single
    hunk gets that hunk cut short instead, at a statement boundary (its
    removals and the added lines up to a complete statement at the hunk's
    own nesting level: an agent that stopped half way but left code that
    parses, so the failure is a wrong program, not a syntax error).
``corrupt:SEED``
    every gold hunk, some of them with one fault injected into their added
    lines: an undeclared identifier (a typo), a wrong but declared name, a
    wrong type, an off-by-one, ``<`` for ``<=`` (and the like), a dropped
    ``if (...) return ...;`` check.  Only added lines change, so the hunk
    still applies.
``shuffle:SEED``
    every gold hunk in another order, in as many steps as the oracle: one
    hunk is first applied with a fault, and a later step reverts it along
    with its own gold hunk, so the final state is the gold one and the step
    count is no clue.  A task with one hunk has no other order: its shuffle
    is the oracle's plan (the study runs a repeated plan once).

A step's patch is a single-hunk unified diff; hunks applied out of order
still apply because lanser's patch reader finds a hunk at the nearest
offset where its context matches.  Each edit action carries a ``note``
saying what it is ("gold 2/3", "fault off_by_one in hunk 1", "revert hunk
1"); the loop ignores it, the study reads it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lanser.harness.run.agents import _Scripted, split_hunks

__all__ = [
    "FAULTS",
    "GENERATOR_VERSION",
    "KINDS",
    "Hunk",
    "TrajectoryAgent",
    "inject_fault",
    "parse_hunk",
    "plan_actions",
]

#: Part of every trajectory agent's digest: a changed generator never reuses old results.
GENERATOR_VERSION = "traj-v2"
KINDS = ("partial", "corrupt", "shuffle")

_HEADER = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class Hunk:
    """One hunk of one file: its file header lines and tagged body lines (newlines kept)."""

    header: tuple[str, ...]
    old_start: int
    new_start: int
    body: tuple[str, ...]

    @property
    def before(self) -> list[str]:
        return [ln[1:] for ln in self.body if ln[:1] in (" ", "-")]

    @property
    def after(self) -> list[str]:
        return [ln[1:] for ln in self.body if ln[:1] in (" ", "+")]

    def added_positions(self) -> list[int]:
        """Indices into ``after`` of the added lines."""
        out, i = [], 0
        for ln in self.body:
            if ln[:1] == "+":
                out.append(i)
            if ln[:1] in (" ", "+"):
                i += 1
        return out

    def text(self) -> str:
        head = f"@@ -{self.old_start},{len(self.before)} +{self.new_start},{len(self.after)} @@\n"
        return "".join(self.header) + head + "".join(self.body)

    def with_after(self, after: list[str]) -> Hunk:
        """The hunk taking the same ``before`` to ``after`` (a minimal diff, full context)."""
        return _diff_hunk(self.header, self.old_start, self.new_start, self.before, after, self.body)


def _diff_hunk(
    header: tuple[str, ...],
    old_start: int,
    new_start: int,
    before: list[str],
    after: list[str],
    tail: tuple[str, ...] = (),
) -> Hunk:
    body: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag == "equal":
            body += [" " + x for x in before[i1:i2]]
        else:
            body += ["-" + x for x in before[i1:i2]] + ["+" + x for x in after[j1:j2]]
    return Hunk(header, old_start, new_start, tuple(body))


def parse_hunk(text: str) -> Hunk:
    """A single-hunk diff (one item of ``split_hunks``) as a :class:`Hunk`."""
    header: list[str] = []
    body: list[str] = []
    starts: tuple[int, int] | None = None
    for line in text.splitlines(keepends=True):
        if starts is None:
            m = _HEADER.match(line)
            if m:
                starts = (int(m.group(1)), int(m.group(2)))
            elif line.startswith(("--- ", "+++ ")):
                header.append(line)
        else:
            body.append(" " + line if line in ("\n", "\r\n") else line)
    if starts is None:
        raise ValueError("no hunk header in the patch")
    return Hunk(tuple(header), starts[0], starts[1], tuple(body))


# -- faults ------------------------------------------------------------------------

_C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while bool true false NULL size_t ssize_t uint8_t uint16_t uint32_t uint64_t int8_t int16_t int32_t
int64_t u8 u16 u32 u64 s8 s16 s32 s64 __u8 __u16 __u32 __u64 __le16 __le32 __be16 __be32 loff_t""".split()
)
_PY_KEYWORDS = frozenset(
    """False None True and as assert async await break class continue def del elif else
except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield
self int str float bool list dict set tuple len range print isinstance""".split()
)
_IDENT = re.compile(r"[A-Za-z_]\w*")
_INT = re.compile(r"(?<![\w.])(\d+)(?![\w.])")
_CMP = re.compile(r"(?<![<>=!\-])(<=|>=|<|>)(?![<>=])")
_C_DECL = re.compile(
    r"^(\s*(?:(?:const|unsigned|signed|static|struct\s+\w+)\s+)*"
    r"(?:int|char|short|long|size_t|ssize_t|float|double|unsigned|u8|u16|u32|u64|s32|s64|"
    r"uint8_t|uint16_t|uint32_t|uint64_t|int32_t|int64_t|struct\s+\w+)\s+)(\w+)\s*[=;,\[]"
)
_RETURN_IDENT = re.compile(r"^(\s*return\s+)([A-Za-z_]\w*)(\s*;)")
_ASSIGN_IDENT = re.compile(r"(?<![=!<>])(=\s*)([A-Za-z_]\w*)(\s*;)")
_C_IF = re.compile(r"^\s*if\s*\(.*\)\s*$")
_C_IF_BLOCK = re.compile(r"^\s*if\s*\(.*\)\s*\{\s*$")
_C_IF_INLINE = re.compile(r"^\s*if\s*\(.*\)\s*(return|goto|break|continue)\b.*;\s*$")
_C_EXIT = re.compile(r"^\s*(return|goto|break|continue)\b[^;]*;\s*$")
_PY_IF = re.compile(r"^\s*if\b.*:\s*$")
_PY_EXIT = re.compile(r"^\s*(return|raise|continue|break)\b")

Site = tuple[int, re.Match[str]]


def _masked(line: str) -> str:
    """``line`` with string / char literals and comments blanked (same length), so
    regular expressions see only code and their offsets still index ``line``."""
    out, i, quote = list(line), 0, ""
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                out[i] = " "
                if i + 1 < len(line) and line[i + 1] != "\n":
                    out[i + 1] = " "
                i += 2
                continue
            if ch == quote:
                quote = ""
            else:
                out[i] = " "
        elif ch in "\"'":
            quote = ch
        elif line.startswith(("//", "#"), i) or line.startswith("/*", i):
            end = line.find("*/", i + 2) if line.startswith("/*", i) else -1
            stop = end + 2 if end >= 0 else len(line.rstrip("\r\n"))
            for k in range(i, stop):
                out[k] = " "
            i = stop
            continue
        i += 1
    return "".join(out)


def _code_lines(after: list[str], plus: list[int]) -> list[int]:
    return [p for p in plus if after[p].strip() and not after[p].lstrip().startswith(("#", "//", "/*", "*"))]


def _names(line: str, keywords: frozenset[str]) -> list[re.Match[str]]:
    """Variable-like identifiers: not keywords, not called, not members."""
    code = _masked(line)
    out = []
    for m in _IDENT.finditer(code):
        rest, lead = code[m.end() :].lstrip(), code[: m.start()].rstrip()
        if m.group() in keywords or rest.startswith("(") or lead.endswith((".", "->")):
            continue
        out.append(m)
    return out


def _sub(line: str, start: int, end: int, new: str) -> str:
    return line[:start] + new + line[end:]


def _typo(name: str, taken: set[str], rng: random.Random) -> str:
    if len(name) > 3:
        k = rng.randrange(1, len(name) - 1)
        new = name[:k] + name[k + 1 :]
    else:
        new = name + name[-1]
    while new in taken:
        new += "_"
    return new


def _undeclared(after: list[str], plus: list[int], rng: random.Random, kw: frozenset[str]) -> list[str] | None:
    sites = [(p, m) for p in _code_lines(after, plus) for m in _names(after[p], kw)]
    if not sites:
        return None
    p, m = rng.choice(sites)
    taken = {x.group() for line in after for x in _IDENT.finditer(line)}
    out = list(after)
    out[p] = _sub(out[p], m.start(), m.end(), _typo(m.group(), taken, rng))
    return out


def _wrong_name(after: list[str], plus: list[int], rng: random.Random, kw: frozenset[str]) -> list[str] | None:
    known = sorted({m.group() for line in after for m in _names(line, kw)})
    sites = [
        (p, m) for p in _code_lines(after, plus) for m in _names(after[p], kw) if any(k != m.group() for k in known)
    ]
    if not sites:
        return None
    p, m = rng.choice(sites)
    out = list(after)
    out[p] = _sub(out[p], m.start(), m.end(), rng.choice([k for k in known if k != m.group()]))
    return out


def _wrong_type(after: list[str], plus: list[int], rng: random.Random, kw: frozenset[str]) -> list[str] | None:
    out = list(after)
    if kw is _PY_KEYWORDS:
        py_sites = [(p, m) for p in _code_lines(after, plus) for m in _INT.finditer(_masked(after[p]))]
        if not py_sites:
            return None
        p, m = rng.choice(py_sites)
        out[p] = _sub(out[p], m.start(), m.end(), f'"{m.group()}"')
        return out
    sites: list[tuple[int, int, str]] = []  # (line, column, text inserted there)
    for p in _code_lines(after, plus):
        code = _masked(after[p])
        if (d := _C_DECL.match(code)) is not None:
            sites.append((p, d.start(2), "*"))  # size_t i; -> size_t *i;
        for rx in (_RETURN_IDENT, _ASSIGN_IDENT):
            sites += [(p, m.start(2), "&") for m in rx.finditer(code) if m.group(2) not in kw]
    if not sites:
        return None
    p, col, text = rng.choice(sites)
    out[p] = _sub(out[p], col, col, text)
    return out


def _off_by_one(after: list[str], plus: list[int], rng: random.Random, kw: frozenset[str]) -> list[str] | None:
    out = list(after)
    ints = [(p, m) for p in _code_lines(after, plus) for m in _INT.finditer(_masked(after[p]))]
    if ints:
        p, m = rng.choice(ints)
        k = int(m.group())
        out[p] = _sub(out[p], m.start(), m.end(), str(k - 1 if k > 0 and rng.random() < 0.5 else k + 1))
        return out
    subs = [(p, m) for p in _code_lines(after, plus) for m in re.finditer(r"\[([^\[\]]+)\]", _masked(after[p]))]
    if not subs:
        return None
    p, m = rng.choice(subs)
    out[p] = _sub(out[p], m.end(1), m.end(1), " + 1")
    return out


def _comparison(after: list[str], plus: list[int], rng: random.Random, kw: frozenset[str]) -> list[str] | None:
    sites = [(p, m) for p in _code_lines(after, plus) for m in _CMP.finditer(_masked(after[p]))]
    if not sites:
        return None
    p, m = rng.choice(sites)
    swap = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
    out = list(after)
    out[p] = _sub(out[p], m.start(), m.end(), swap[m.group()])
    return out


def _dropped_check(after: list[str], plus: list[int], rng: random.Random, kw: frozenset[str]) -> list[str] | None:
    added = set(plus)
    spans: list[tuple[int, int]] = []
    for p in plus:
        line = after[p]
        if kw is _PY_KEYWORDS:
            if _PY_IF.match(line) and p + 1 in added and _PY_EXIT.match(after[p + 1]):
                spans.append((p, p + 2))
        elif _C_IF_INLINE.match(line):
            spans.append((p, p + 1))
        elif _C_IF.match(line) and p + 1 in added and _C_EXIT.match(after[p + 1]):
            spans.append((p, p + 2))
        elif (
            _C_IF_BLOCK.match(line)
            and {p + 1, p + 2} <= added
            and _C_EXIT.match(after[p + 1])
            and after[p + 2].strip() == "}"
        ):
            spans.append((p, p + 3))
    if not spans:
        return None
    a, b = rng.choice(spans)
    return after[:a] + after[b:]


#: Fault name -> mutation of a hunk's ``after`` lines at its added positions (None: does not apply).
FAULTS: dict[str, Callable[[list[str], list[int], random.Random, frozenset[str]], list[str] | None]] = {
    "undeclared_name": _undeclared,
    "wrong_name": _wrong_name,
    "wrong_type": _wrong_type,
    "off_by_one": _off_by_one,
    "comparison": _comparison,
    "dropped_check": _dropped_check,
}


def inject_fault(
    hunk: Hunk, rng: random.Random, language: str = "c", only: str | None = None
) -> tuple[str, Hunk] | None:
    """One fault (chosen at random among those that apply, or ``only``) in ``hunk``'s added lines."""
    if any(ln.startswith("\\") for ln in hunk.body):
        return None  # "\ No newline at end of file": leave such hunks alone
    kw = _PY_KEYWORDS if language == "python" else _C_KEYWORDS
    after, plus = hunk.after, hunk.added_positions()
    names = [only] if only else list(FAULTS)
    rng.shuffle(names)
    for name in names:
        mutated = FAULTS[name](after, plus, rng, kw)
        if mutated is not None and mutated != after:
            return name, hunk.with_after(mutated)
    return None


# -- plans -----------------------------------------------------------------------


def _edit(hunk: Hunk, note: str) -> dict[str, Any]:
    return {"type": "edit", "patch": hunk.text(), "note": note}


def _revert(bad: Hunk, good: Hunk) -> Hunk:
    """The hunk that takes ``bad``'s result back to ``good``'s (both edit the same place)."""
    return _diff_hunk(bad.header, bad.new_start, bad.new_start, bad.after, good.after)


def plan_actions(kind: str, gold_patch: str, rng: random.Random, language: str = "c") -> list[dict[str, Any]]:
    """The actions of one ``kind`` trajectory (ending in submit)."""
    hunks = [parse_hunk(h) for h in split_hunks(gold_patch)]
    n = len(hunks)
    steps: list[dict[str, Any]] = []
    if kind == "partial":
        if n >= 2:
            keep = sorted(rng.sample(range(n), rng.randint(1, n - 1)))
            steps = [_edit(hunks[i], f"gold {i + 1}/{n}") for i in keep]
        elif n == 1:
            cut = _truncated(hunks[0], rng, language)
            steps = [_edit(cut, "gold 1/1 cut short")] if cut is not None else []
    elif kind == "corrupt":
        faulty = {i: f for i, h in enumerate(hunks) if (f := inject_fault(h, rng, language)) is not None}
        chosen = set(rng.sample(sorted(faulty), rng.randint(1, len(faulty)))) if faulty else set()
        for i, h in enumerate(hunks):
            if i in chosen:
                steps.append(_edit(faulty[i][1], f"fault {faulty[i][0]} in hunk {i + 1}/{n}"))
            else:
                steps.append(_edit(h, f"gold {i + 1}/{n}"))
    elif kind == "shuffle":
        order = list(range(n))
        if n >= 2:
            while order == sorted(order):
                rng.shuffle(order)
        steps = [_edit(hunks[i], f"gold {i + 1}/{n}") for i in order]
        # the faulty hunk is never the last one: its revert rides on a later step, so the count stays n
        candidates = [k for k, i in enumerate(order[:-1]) if inject_fault(hunks[i], random.Random(0), language)]
        if candidates:
            k = rng.choice(candidates)
            i = order[k]
            fault = inject_fault(hunks[i], rng, language)
            assert fault is not None
            steps[k] = _edit(fault[1], f"fault {fault[0]} in hunk {i + 1}/{n}")
            j = rng.randint(k + 1, n - 1)
            g = order[j]
            steps[j] = {
                "type": "edit",
                "patch": _combined([_revert(fault[1], hunks[i]), hunks[g]]),
                "note": f"revert hunk {i + 1}/{n} with gold {g + 1}/{n}",
            }
    else:
        raise ValueError(f"unknown trajectory kind {kind!r}: {', '.join(KINDS)}")
    return steps + [{"type": "submit"}]


def _combined(hunks: list[Hunk]) -> str:
    """One step's patch of several hunks: one header per file, a file's hunks in file order (lanser's
    patch reader applies a file's hunks in sequence; a file named twice would be two rewrites)."""
    by_file: dict[tuple[str, ...], list[Hunk]] = {}
    for h in hunks:
        by_file.setdefault(h.header, []).append(h)
    out = []
    for header, hs in by_file.items():
        out.append("".join(header))
        for h in sorted(hs, key=lambda h: h.new_start):
            out.append(h.text()[len("".join(h.header)) :])
    return "".join(out)


_OPEN, _CLOSE = "([{", ")]}"


def _statement_cuts(after: list[str], plus: list[int], language: str) -> list[int]:
    """How many leading added lines can be kept with the cut at a statement boundary: the kept added
    lines balance their brackets and the last of them ends a statement (C: ``;`` or ``}``; Python: not a
    block opener or a continuation), so what is left parses; 0 (removals only) is a cut too."""
    cuts = [0]
    depth, last = 0, ""
    for k, p in enumerate(plus[:-1], 1):
        code = _masked(after[p]).rstrip()
        depth += sum(code.count(c) for c in _OPEN) - sum(code.count(c) for c in _CLOSE)
        if code.strip():
            last = code.strip()
        if depth != 0 or not last:
            continue
        if language == "python":
            ok = not last.endswith((":", ",", "\\", "(", "[", "{")) and not last.startswith("@")
        else:
            ok = last.endswith((";", "}")) and not last.startswith("#")
        if ok:
            cuts.append(k)
    return cuts


def _truncated(hunk: Hunk, rng: random.Random, language: str = "c") -> Hunk | None:
    """The hunk's removals with its added lines cut at a statement boundary (None when no cut leaves
    something partial: no boundary and nothing removed)."""
    after, plus = hunk.after, hunk.added_positions()
    removed = any(ln[:1] == "-" for ln in hunk.body)
    cuts = [k for k in _statement_cuts(after, plus, language) if k > 0 or removed]
    if not plus or not cuts:
        return None
    keep = rng.choice(cuts)
    dropped = set(plus[keep:])
    return hunk.with_after([x for i, x in enumerate(after) if i not in dropped])


class TrajectoryAgent(_Scripted):
    """``KIND:SEED``: the plan of :func:`plan_actions`, seeded by (kind, seed, task id)."""

    def __init__(self, kind: str, seed: int) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown trajectory kind {kind!r}")
        super().__init__(f"{kind}:{seed}")
        self.kind, self.seed = kind, seed

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(["trajectory", GENERATOR_VERSION, self.kind, self.seed]).encode()).hexdigest()

    def plan(self, task: Any) -> list[dict[str, Any]]:
        rng = random.Random(f"{self.kind}:{self.seed}:{task.id}")
        return plan_actions(self.kind, task.gold_patch, rng, task.language)
