"""The machine's apt sources, read: which Debian mirror the images are bootstrapped from, and which
``deb`` entries the source fetcher mirrors as ``deb-src``.

Two formats, in apt's order: deb822 stanzas in ``sources.list.d/*.sources``
(``Types``, ``URIs``, ``Suites``, ``Components``, ``Signed-By``, ``Enabled``),
then one-line entries in ``sources.list`` and ``sources.list.d/*.list``
(``deb [options] URI SUITE COMPONENT...``).  Pure reading: nothing here
fetches or writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["ROLLING", "Entry", "deb822_stanzas", "deb_entries", "read", "release_entries", "usable_uri"]


@dataclass(frozen=True)
class Entry:
    """One (URI, suite) of a ``deb`` entry.  ``options`` is a one-line entry's ``[...]`` as written
    (with its trailing space), ``stanza`` the deb822 stanza it came from (keys lower-cased)."""

    uri: str
    suite: str
    components: str
    options: str = ""
    stanza: dict[str, str] | None = None


def read(path: Path) -> str:
    """``path``'s text, "" when it cannot be read (a missing file is no source)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def deb822_stanzas(text: str) -> list[dict[str, str]]:
    """The stanzas of a deb822 file (also dpkg's status file): keys lower-cased, continuation lines joined."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def usable_uri(uri: str) -> bool:
    """A mirror debootstrap can read: http, https or a local file tree."""
    return uri.startswith(("http://", "https://", "file:/"))


#: Suites that have no ``-updates`` or ``-security`` companions.
ROLLING = frozenset({"sid", "unstable", "experimental", "rc-buggy"})


def release_entries(entries: list[Entry], release: str, target: str | None = None) -> list[Entry]:
    """The entries of ``release`` (``bookworm``, ``bookworm-updates``, ``bookworm-security``...),
    renamed to the same suites of ``target`` (``trixie``, ``trixie-updates``...) when given: the
    machine's own mirrors, asked for another Debian release.  A rolling ``target`` (sid) keeps only
    the entries of the release itself: it has no companion suites.
    """
    out: list[Entry] = []
    for entry in entries:
        if entry.suite != release and not entry.suite.startswith(release + "-"):
            continue
        if target is None or target == release:
            out.append(entry)
        elif entry.suite == release:
            out.append(replace(entry, suite=target))
        elif target not in ROLLING:
            out.append(replace(entry, suite=target + entry.suite[len(release) :]))
    return out


_ONE_LINE = re.compile(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)(?:\s+(.+))?")


def deb_entries(etc_apt: Path) -> list[Entry]:
    """Every (URI, suite) of the ``deb`` entries under ``etc_apt``, deb822 files first, in file order.

    A deb822 stanza's ``Enabled`` is kept in ``stanza`` for the caller to judge; a one-line entry
    without components has ``components`` "".
    """
    entries: list[Entry] = []
    for path in sorted(etc_apt.glob("sources.list.d/*.sources")):
        for stanza in deb822_stanzas(read(path)):
            if "deb" not in stanza.get("types", "").split():
                continue
            for uri in stanza.get("uris", "").split():
                for suite in stanza.get("suites", "").split():
                    entries.append(Entry(uri, suite, stanza.get("components", "main"), stanza=stanza))
    for path in [etc_apt / "sources.list", *sorted(etc_apt.glob("sources.list.d/*.list"))]:
        for line in read(path).splitlines():
            m = _ONE_LINE.match(line.split("#", 1)[0])
            if m:
                entries.append(Entry(m.group(2), m.group(3), (m.group(4) or "").strip(), options=m.group(1) or ""))
    return entries
