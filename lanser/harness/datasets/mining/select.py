"""Which commits are bug fixes with tests, split into the fix and its tests (pure).

A commit is a **candidate** when its message says it fixes something
(:data:`FIX_RE`) and it changes both a source file and a test file.  Files
are split by the grader's own rule, the task's ``protected`` globs
(:data:`~lanser.harness.task.spec.DEFAULT_PROTECTED`): a protected file (tests,
their data, build recipes) goes to the hidden ``test_patch``, any other
file but documentation (:data:`DOC_RE`) to the gold patch.  Commits whose
messages name the same issue (``#N``) are one candidate, a **series**: the
fix as it landed in several steps, kept as a human trajectory.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from lanser.harness.grade.cleanroom import compile_globs
from lanser.harness.datasets.mining.history import Change, Commit
from lanser.harness.task.spec import DEFAULT_PROTECTED

__all__ = ["DOC_RE", "FIX_RE", "Candidate", "candidates", "issues", "kind_of", "statement"]

#: Words of a fixing commit's message (the commit must change tests too, so false hits are few).
FIX_RE = re.compile(
    r"\b(fix(es|ed|ing)?|bugs?|crash(es|ed)?|(integer |buffer |stack |signed )?(over|under)flows?|leaks?|"
    r"CVE-\d{4}-\d+|issue\s*#\d+|out[- ]of[- ]bounds|segfaults?|use[- ]after[- ]free|double[- ]free|"
    r"incorrect(ly)?|wrong(ly)?|reject(s|ed)?|disallow(s|ed)?)\b",
    re.I,
)
ISSUE_RE = re.compile(r"(?:issue|bug|pr|fixes|closes)?\s*#(\d+)\b", re.I)
#: Files neither the fix nor its tests: documentation, changelogs, CI recipes.
DOC_RE = re.compile(
    r"(^|/)(ChangeLog|CHANGES|NEWS|AUTHORS|README[^/]*|RELEASE_CHECKLIST[^/]*|INSTALL[^/]*|COPYING|"
    r"[^/]*\.(md|txt|html|dox|rst|adoc|1|3|yml|yaml)|doc|docs|\.github|\.travis[^/]*|"
    r"appveyor[^/]*|[^/]*\.prebuilt|\.clang-format|\.gitignore|\.editorconfig)(/|$)",
    re.I,
)


def kind_of(path: str, protected: tuple[str, ...] = DEFAULT_PROTECTED) -> str:
    """``test`` (protected: the hidden tests), ``doc`` (left out) or ``source`` (the fix)."""
    rx = compile_globs(protected)
    if rx and rx.match(path):
        return "test"
    if DOC_RE.search(path):
        return "doc"
    return "source"


def issues(message: str) -> tuple[str, ...]:
    return tuple(sorted({m.group(1) for m in ISSUE_RE.finditer(message)}, key=int))


@dataclass(frozen=True)
class Candidate:
    """One task to be: a commit, or a series of commits naming the same issue (oldest first)."""

    commits: tuple[Commit, ...]
    issue: str | None = None

    @property
    def id(self) -> str:
        return self.commits[-1].sha[:12]

    def files(self, kind: str, protected: tuple[str, ...] = DEFAULT_PROTECTED) -> list[Change]:
        return [c for commit in self.commits for c in commit.changes if kind_of(c.path, protected) == kind]


def _why_not(commit: Commit, protected: tuple[str, ...]) -> str | None:
    kinds = {kind_of(c.path, protected) for c in commit.changes}
    if not FIX_RE.search(commit.message):
        return "message does not say it fixes a bug"
    if "test" not in kinds:
        return "no test change"
    if "source" not in kinds:
        return "no source change"
    return None


def candidates(
    commits: list[Commit],
    protected: tuple[str, ...] = DEFAULT_PROTECTED,
) -> tuple[list[Candidate], Counter[str]]:
    """The candidates of a range (in the order of their last commit) and the commits passed over, by reason.

    A commit that touches neither source nor tests is not counted (merges of docs, CI)."""
    skipped: Counter[str] = Counter()
    groups: dict[str, list[Commit]] = {}
    order: list[tuple[str, list[Commit]]] = []
    for commit in commits:
        kinds = {kind_of(c.path, protected) for c in commit.changes}
        if not kinds & {"source", "test"}:
            continue
        why = _why_not(commit, protected)
        if why:
            skipped[why] += 1
            continue
        named = issues(commit.message)
        key = f"#{named[0]}" if named else commit.sha
        if key not in groups:
            groups[key] = []
            order.append((key, groups[key]))
        groups[key].append(commit)
    out = [Candidate(tuple(g), key if key.startswith("#") else None) for key, g in order]
    return sorted(out, key=lambda c: commits.index(c.commits[-1])), skipped


_SOLUTION = re.compile(r"(,?\s+(by|using|instead of|so that|although|which|via)\s.*|;.*|\.\s.*)$", re.I | re.S)


def statement(
    cand: Candidate,
    fail_to_pass: list[str],
    sanitizer: list[str],
    commands: dict[str, str | None],
) -> str:
    """The problem statement: each commit's subject line cut before it says how (``by ...``, ``using
    ...``, a second sentence); the bodies, which describe the change, are left out."""
    lines = []
    for commit in cand.commits:
        subject = _SOLUTION.sub("", commit.subject).strip().rstrip(".")
        if subject and subject not in lines:
            lines.append(subject)
    text = [
        "A bug reported upstream, fixed there after this release. The upstream description "
        "(the fixing commit's subject line, cut before it says how; its body is left out):",
        "",
    ]
    text += [f"    {line}" for line in lines]
    if cand.issue:
        text += ["", f"Upstream issue: {cand.issue}."]
    text += ["", "Hidden tests, added by the grader after you submit (they are not in your tree), check the fix."]
    if fail_to_pass:
        text.append("These tests fail on this source and must pass: " + ", ".join(fail_to_pass) + ".")
    if sanitizer:
        text.append("The sanitized tests report: " + "; ".join(sanitizer) + ".")
    text += [
        "Every other test must keep passing. Change the library's source, not the tests.",
        "",
        f"Build: {commands.get('build')}",
        f"Test: {commands.get('test')}",
    ]
    if commands.get("sanitize"):
        text.append(f"Sanitize: {commands.get('sanitize')}")
    return "\n".join(text) + "\n"
