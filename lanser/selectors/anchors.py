"""Content anchors: exact search, then winnowed k-gram fingerprints (pure).

Winnowing (Schleimer, Wilkerson and Aiken, 2003) with the paper's k=7,
w=4: hash every k-gram of the whitespace-normalised text, keep the minimum
hash of each window of w consecutive hashes.  Two texts share fingerprints
where they share substrings of at least k+w-1 characters, so an anchor
survives edits around it and small edits inside it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Set

__all__ = ["K", "W", "containment", "fingerprints", "jaccard", "tokens"]

K = 7
W = 4
_TOKEN = re.compile(r"0[xX][0-9A-Fa-f]+|\d+|[A-Za-z_][A-Za-z0-9_]*|\S")


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def fingerprints(text: str, k: int = K, w: int = W) -> set[int]:
    norm = _normalise(text)
    if len(norm) < k:
        return {_hash(norm)} if norm else set()
    hashes = [_hash(norm[i : i + k]) for i in range(len(norm) - k + 1)]
    if len(hashes) <= w:
        return {min(hashes)}
    return {min(hashes[i : i + w]) for i in range(len(hashes) - w + 1)}


def _hash(gram: str) -> int:
    # A stable hash (Python's hash() is salted per process).
    return int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "big")


def tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(text))


def jaccard(a: Set[object], b: Set[object]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def containment(snippet: Set[object], region: Set[object]) -> float:
    """Share of the snippet's fingerprints found in the region."""
    if not snippet:
        return 0.0
    return len(snippet & region) / len(snippet)
