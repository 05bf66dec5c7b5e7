"""``lanser bench generate``: make task datasets from real projects."""

from __future__ import annotations

import click

__all__ = ["generate"]


@click.group("generate", help="""Generate validated task datasets from real projects.

\b
Examples:
  lanser bench generate oss debian:zlib=1:1.2.13.dfsg-1 --seed 1 --out datasets/oss-zlib""")
def generate() -> None:
    pass
