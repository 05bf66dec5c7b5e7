"""Shapes with an area."""

from __future__ import annotations

import math


class Shape:
    """Base class of every shape."""

    name = "shape"

    def area(self) -> float:
        """The area of the shape, in square units."""
        raise NotImplementedError


class Circle(Shape):
    name = "circle"

    def __init__(self, radius: float) -> None:
        self.radius = radius

    def area(self) -> float:
        return math.pi * self.radius**2


class Square(Shape):
    name = "square"

    def __init__(self, side: float) -> None:
        self.side = side

    def area(self) -> float:
        return self.side * self.side


def total_area(shapes: list[Shape]) -> float:
    """Sum of the areas of ``shapes``."""
    return sum(shape.area() for shape in shapes)
