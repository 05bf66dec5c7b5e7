"""A tiny package for trying lanser: shapes and a report."""

from pkg.shapes import Circle, Shape, Square, total_area

__all__ = ["Circle", "Shape", "Square", "total_area"]
