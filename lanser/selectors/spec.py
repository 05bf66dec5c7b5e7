"""``PositionSpec``: the structured form of every selector (a tagged union).

Lines and columns in cursor and range specs are 1-based, as users write
them, and counted in ``indexing`` (the CLI's ``--index-io``).  Paths are
workspace-relative POSIX paths.  The JSON Schema of this union is published
as ``selectors/position-spec.schema.json``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "AnchorSpec",
    "AstSpec",
    "CursorSpec",
    "FileSpec",
    "POSITION_SPEC",
    "PositionSpec",
    "RangeSpec",
    "Role",
    "SymbolSpec",
]

Role = Literal["def", "sig", "body", "doc"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    docVersion: str | None = None


class FileSpec(_Spec):
    """A whole file: ``src/app.py`` or ``file://src/app.py``."""

    kind: Literal["file"] = "file"
    path: str
    scheme: bool = False  # written with file:// (kept so formatting round-trips)


class CursorSpec(_Spec):
    kind: Literal["cursor"] = "cursor"
    path: str
    line: int = Field(ge=1)
    col: int = Field(ge=1)
    scheme: bool = False


class RangeSpec(_Spec):
    kind: Literal["range"] = "range"
    path: str
    start: tuple[int, int]
    end: tuple[int, int]
    scheme: bool = False


class SymbolSpec(_Spec):
    """``py://pkg.mod#Class.method:body`` or ``c://lib/x.c#fn:sig``."""

    kind: Literal["symbol"] = "symbol"
    language: Literal["py", "c"]
    module: str
    qualname: str
    role: Role | None = None
    overload: int | None = Field(default=None, ge=0)


class AstSpec(_Spec):
    """``ast://[module=pkg.mod]/[class=C]/[def=m]/name[1]``."""

    kind: Literal["ast"] = "ast"
    steps: tuple[tuple[str, str], ...]
    leaf: str | None = None
    leafIndex: int | None = Field(default=None, ge=1)


class AnchorSpec(_Spec):
    """``anchor://src/app.py#"def load_data("?ctx=24``."""

    kind: Literal["anchor"] = "anchor"
    path: str
    snippet: str
    ctx: int | None = Field(default=None, ge=0)


PositionSpec = Annotated[
    FileSpec | CursorSpec | RangeSpec | SymbolSpec | AstSpec | AnchorSpec,
    Field(discriminator="kind"),
]
POSITION_SPEC: TypeAdapter[PositionSpec] = TypeAdapter(PositionSpec)
