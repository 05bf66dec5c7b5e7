"""A report over shapes; it has one deliberate type error for `lanser diag`."""

from __future__ import annotations

from pkg.shapes import Circle, Square, total_area


def describe(radius: float, side: float) -> str:
    shapes = [Circle(radius), Square(side)]
    return f"total area: {total_area(shapes):.2f}"


def broken() -> int:
    label: int = describe(1.0, 2.0)  # a str is not an int
    return label
