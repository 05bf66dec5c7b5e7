"""Parse selector strings into ``PositionSpec`` and format them back.

The grammar (EBNF, with escapes) is ``selectors/grammar.ebnf`` at the top
of the repository; the conformance corpus next to it is run by the tests.
Parsing is pure and never raises anything but :class:`BadSelectorSyntax`,
whose ``column`` (1-based) points at the offending character.

``format_selector(parse_selector(s)) == s`` for every canonical ``s``; a
non-canonical spelling (a literal space in a path, ``\\"`` in a snippet)
parses and formats to its canonical form.
"""

from __future__ import annotations

import re

from lanser.errors import BadSelectorSyntax
from lanser.selectors.spec import (
    AnchorSpec,
    AstSpec,
    CursorSpec,
    FileSpec,
    PositionSpec,
    RangeSpec,
    SymbolSpec,
)

__all__ = ["format_selector", "parse_selector", "escape", "unescape"]

ROLES = ("def", "sig", "body", "doc")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[0-9]+")
_ESCAPED = {"#": "%23", "?": "%3F", "%": "%25", '"': "%22", " ": "%20"}
_CURSOR = re.compile(r"@L([0-9]+):C([0-9]+)")
_RANGE = re.compile(r"@R\(([0-9]+),([0-9]+)->([0-9]+),([0-9]+)\)")


def escape(text: str) -> str:
    """Percent-encode what the grammar reserves (``# ? % "``, space, ``\\``) and any
    whitespace or control character, so the result always parses back."""
    return "".join(_escape_char(ch) for ch in text)


def _escape_char(ch: str) -> str:
    if ch in _ESCAPED:
        return _ESCAPED[ch]
    if ch == "\\" or ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F:
        return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
    return ch


def unescape(text: str, selector: str, offset: int, columns: list[int] | None = None) -> str:
    """Decode ``%XX`` escapes; ``offset`` is where ``text`` starts in ``selector``.

    ``columns``, when ``text`` was rewritten from the selector (backslash
    escapes in a snippet), gives the 1-based selector column of each of its
    characters, so an error points into what the user wrote.
    """
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            hexpart = text[i + 1 : i + 3]
            if len(hexpart) != 2 or not all(c in "0123456789abcdefABCDEF" for c in hexpart):
                raise BadSelectorSyntax(
                    "bad percent-escape: '%' must be followed by two hex digits",
                    selector=selector,
                    column=columns[i] if columns is not None else offset + i + 1,
                )
            out.append(int(hexpart, 16))
            i += 3
            continue
        out += ch.encode("utf-8", "surrogatepass")
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSelectorSyntax(
            "percent-escapes do not decode as UTF-8", selector=selector, column=offset + 1
        ) from None


def parse_selector(selector: str) -> PositionSpec:
    """Parse one selector string.  See the module docstring for guarantees."""
    try:
        return _parse(selector)
    except ValueError as exc:
        if isinstance(exc, BadSelectorSyntax):
            raise
        # int() refuses digit strings beyond Python's conversion limit.
        m = re.search(r"[0-9]{10,}", selector) if isinstance(selector, str) else None
        raise BadSelectorSyntax(
            "number too large", selector=str(selector), column=(m.start() + 1) if m else 1
        ) from None


def _parse(selector: str) -> PositionSpec:
    if not isinstance(selector, str):
        raise BadSelectorSyntax("selector must be a string", selector=repr(selector), column=1)
    if not selector or selector.strip() != selector:
        col = 1 if not selector or selector[0].isspace() else len(selector.rstrip()) + 1
        raise BadSelectorSyntax(
            "empty selector" if not selector.strip() else "leading or trailing whitespace",
            selector=selector,
            column=col,
        )
    for ch_i, ch in enumerate(selector):
        if ch in "\n\r\t\x00":
            raise BadSelectorSyntax("control character in selector", selector=selector, column=ch_i + 1)
        if "\ud800" <= ch <= "\udfff":
            # What an undecodable byte of a command line (or a \udXXX escape in JSON) becomes.
            raise BadSelectorSyntax(
                "not valid Unicode: a lone surrogate (an undecodable byte?)", selector=selector, column=ch_i + 1
            )
    if selector.startswith("py://"):
        return _parse_symbol(selector, "py", len("py://"))
    if selector.startswith("c://"):
        return _parse_symbol(selector, "c", len("c://"))
    if selector.startswith("ast://"):
        return _parse_ast(selector)
    if selector.startswith("anchor://"):
        return _parse_anchor(selector)
    m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", selector)
    if m and not selector.startswith("file://"):
        raise BadSelectorSyntax(
            f"unknown scheme {m.group(0)!r}; expected py://, c://, ast://, anchor:// or file://",
            selector=selector,
            column=1,
        )
    return _parse_positional(selector)


def _parse_path(selector: str, start: int, end: int) -> str:
    raw = selector[start:end]
    if not raw:
        raise BadSelectorSyntax("missing path", selector=selector, column=start + 1)
    for i, ch in enumerate(raw):
        if ch in '#?"':
            raise BadSelectorSyntax(
                f"{ch!r} must be percent-escaped in a path", selector=selector, column=start + i + 1
            )
    return _no_nul(unescape(raw, selector, start), raw, selector, start)


def _no_nul(value: str, raw: str, selector: str, start: int) -> str:
    """``value`` (decoded from ``raw``), unless it holds a NUL: no file name or step can."""
    if "\x00" in value:
        at = raw.find("%00")
        raise BadSelectorSyntax(
            "a path or name cannot contain NUL (%00)", selector=selector, column=start + (at if at >= 0 else 0) + 1
        )
    return value


def _parse_positional(selector: str) -> PositionSpec:
    scheme = selector.startswith("file://")
    base = len("file://") if scheme else 0
    at = selector.rfind("@")
    if at < base:
        path = _parse_path(selector, base, len(selector))
        return FileSpec(path=path, scheme=scheme)
    path = _parse_path(selector, base, at)
    version = None
    q = selector.find("?", at)
    if q >= 0:
        m = re.fullmatch(r"\?v=([0-9a-f]{8,64})", selector[q:])
        if not m:
            raise BadSelectorSyntax(
                "expected ?v=<8 to 64 lowercase hex digits of the file version's sha256> after the position",
                selector=selector,
                column=q + 1,
            )
        version = m.group(1)
    tail = selector[at:q] if q >= 0 else selector[at:]
    if m := _CURSOR.fullmatch(tail):
        line, col = int(m.group(1)), int(m.group(2))
        _positive(selector, at + m.start(1) + 1, line, "line")
        _positive(selector, at + m.start(2) + 1, col, "column")
        return CursorSpec(path=path, line=line, col=col, scheme=scheme, docVersion=version)
    if m := _RANGE.fullmatch(tail):
        sl, sc, el, ec = (int(g) for g in m.groups())
        for value, idx in zip((sl, sc, el, ec), range(1, 5), strict=False):
            _positive(selector, at + m.start(idx) + 1, value, "line" if idx % 2 else "column")
        if (el, ec) < (sl, sc):
            raise BadSelectorSyntax("range ends before it starts", selector=selector, column=at + m.start(3) + 1)
        return RangeSpec(path=path, start=(sl, sc), end=(el, ec), scheme=scheme, docVersion=version)
    raise BadSelectorSyntax(
        "expected @L<line>:C<col> or @R(<line>,<col>-><line>,<col>) after the path",
        selector=selector,
        column=at + 1 + _mismatch(tail, "@L" if tail.startswith("@L") else "@R("),
    )


def _mismatch(tail: str, prefix: str) -> int:
    """Column offset (0-based, within ``tail``) of the first character that breaks the form."""
    if not tail.startswith(prefix):
        return 1
    i = len(prefix)
    while i < len(tail) and (tail[i].isdigit() or tail[i] in ":C,->)"):
        if tail[i] == ")" and i != len(tail) - 1:
            return i + 1
        i += 1
    return min(i, len(tail))


def _positive(selector: str, column: int, value: int, what: str) -> None:
    if value < 1:
        raise BadSelectorSyntax(f"{what} numbers start at 1", selector=selector, column=column)


def _parse_symbol(selector: str, language: str, start: int) -> SymbolSpec:
    hash_at = selector.find("#", start)
    if hash_at < 0:
        raise BadSelectorSyntax(
            "expected '#' between the module and the symbol", selector=selector, column=len(selector) + 1
        )
    if language == "py":
        module = selector[start:hash_at]
        _dotted(selector, start, module, "module")
    else:
        module = _parse_path(selector, start, hash_at)
    rest_start = hash_at + 1
    query_at = selector.find("?", rest_start)
    body_end = query_at if query_at >= 0 else len(selector)
    body = selector[rest_start:body_end]
    role = None
    colon = body.rfind(":")
    if colon >= 0:
        role = body[colon + 1 :]
        if role not in ROLES:
            raise BadSelectorSyntax(
                f"unknown role {role!r}; expected one of {', '.join(ROLES)}",
                selector=selector,
                column=rest_start + colon + 2,
            )
        body = body[:colon]
    _dotted(selector, rest_start, body, "symbol")
    overload = None
    if query_at >= 0:
        m = re.fullmatch(r"overload=([0-9]+)", selector[query_at + 1 :])
        if not m:
            raise BadSelectorSyntax("expected ?overload=<n> after the symbol", selector=selector, column=query_at + 2)
        overload = int(m.group(1))
    return SymbolSpec(language=language, module=module, qualname=body, role=role, overload=overload)  # type: ignore[arg-type]


def _dotted(selector: str, start: int, text: str, what: str) -> None:
    if not text:
        raise BadSelectorSyntax(f"missing {what} name", selector=selector, column=start + 1)
    pos = 0
    for part in text.split("."):
        m = _IDENT.fullmatch(part)
        if not m:
            bad = next(
                (
                    i
                    for i, c in enumerate(part)
                    if not (c.isascii() and (c.isalnum() or c == "_")) or (i == 0 and c.isdigit())
                ),
                0,
            )
            raise BadSelectorSyntax(
                f"bad {what} name {text!r}: each dotted part must be an identifier",
                selector=selector,
                column=start + pos + bad + 1,
            )
        pos += len(part) + 1


def _parse_ast(selector: str) -> AstSpec:
    i = len("ast://")
    steps: list[tuple[str, str]] = []
    leaf = None
    leaf_index = None
    while True:
        if i >= len(selector):
            raise BadSelectorSyntax("expected '[kind=name]'", selector=selector, column=i + 1)
        if selector[i] == "[":
            close = selector.find("]", i)
            if close < 0:
                raise BadSelectorSyntax("unclosed '['", selector=selector, column=i + 1)
            inner = selector[i + 1 : close]
            eq = inner.find("=")
            if eq <= 0:
                raise BadSelectorSyntax("expected '[kind=name]'", selector=selector, column=i + 2)
            kind, value = inner[:eq], inner[eq + 1 :]
            if not _IDENT.fullmatch(kind):
                raise BadSelectorSyntax(f"bad step kind {kind!r}", selector=selector, column=i + 2)
            if not value:
                raise BadSelectorSyntax("empty step value", selector=selector, column=i + eq + 3)
            for j, ch in enumerate(value):
                if ch in '[]/#?" ':
                    raise BadSelectorSyntax(
                        f"{ch!r} must be percent-escaped in a step value",
                        selector=selector,
                        column=i + eq + 3 + j,
                    )
            steps.append((kind, _no_nul(unescape(value, selector, i + eq + 2), value, selector, i + eq + 2)))
            i = close + 1
        elif steps:
            m = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9]+)\])?").match(selector, i)
            if not m or m.end() != len(selector):
                raise BadSelectorSyntax(
                    "expected a final node type such as name[1]",
                    selector=selector,
                    column=(m.end() if m else i) + 1,
                )
            leaf = m.group(1)
            if m.group(2) is not None:
                leaf_index = int(m.group(2))
                if leaf_index < 1:
                    raise BadSelectorSyntax("indexes start at 1", selector=selector, column=m.start(2) + 1)
            break
        else:
            raise BadSelectorSyntax("expected '[kind=name]'", selector=selector, column=i + 1)
        if i == len(selector):
            break
        if selector[i] != "/":
            raise BadSelectorSyntax("expected '/' between steps", selector=selector, column=i + 1)
        i += 1
    return AstSpec(steps=tuple(steps), leaf=leaf, leafIndex=leaf_index)


def _parse_anchor(selector: str) -> AnchorSpec:
    start = len("anchor://")
    hash_at = selector.find("#", start)
    if hash_at < 0:
        raise BadSelectorSyntax(
            "expected '#' between the path and the quoted snippet",
            selector=selector,
            column=len(selector) + 1,
        )
    path = _parse_path(selector, start, hash_at)
    i = hash_at + 1
    if i >= len(selector) or selector[i] != '"':
        raise BadSelectorSyntax("expected '\"' to open the snippet", selector=selector, column=i + 1)
    j = i + 1
    raw: list[str] = []
    columns: list[int] = []  # the selector column (1-based) each character of ``raw`` came from
    while j < len(selector):
        ch = selector[j]
        if ch == "\\" and j + 1 < len(selector) and selector[j + 1] in '"/\\':
            text = escape(selector[j + 1]) if selector[j + 1] == '"' else selector[j + 1]
            raw.append(text)
            columns += [j + 1] * len(text)
            j += 2
            continue
        if ch == '"':
            break
        raw.append(ch)
        columns.append(j + 1)
        j += 1
    else:
        raise BadSelectorSyntax("unterminated snippet: missing closing '\"'", selector=selector, column=i + 1)
    snippet = unescape("".join(raw), selector, i + 1, columns)
    if not snippet:
        raise BadSelectorSyntax("empty snippet", selector=selector, column=i + 2)
    ctx = None
    rest = selector[j + 1 :]
    if rest:
        m = re.fullmatch(r"\?ctx=([0-9]+)", rest)
        if not m:
            raise BadSelectorSyntax("expected ?ctx=<n> after the snippet", selector=selector, column=j + 2)
        ctx = int(m.group(1))
    return AnchorSpec(path=path, snippet=snippet, ctx=ctx)


def format_selector(spec: PositionSpec) -> str:
    """The canonical string of ``spec``."""
    if isinstance(spec, SymbolSpec):
        module = spec.module if spec.language == "py" else escape(spec.module)
        out = f"{spec.language}://{module}#{spec.qualname}"
        if spec.role is not None:
            out += f":{spec.role}"
        if spec.overload is not None:
            out += f"?overload={spec.overload}"
        return out
    if isinstance(spec, AstSpec):
        parts = [f"[{k}={_escape_step(v)}]" for k, v in spec.steps]
        if spec.leaf is not None:
            parts.append(spec.leaf + (f"[{spec.leafIndex}]" if spec.leafIndex is not None else ""))
        return "ast://" + "/".join(parts)
    if isinstance(spec, AnchorSpec):
        out = f'anchor://{escape(spec.path)}#"{escape(spec.snippet)}"'
        return out + (f"?ctx={spec.ctx}" if spec.ctx is not None else "")
    path = escape(spec.path)
    if isinstance(spec, FileSpec):
        # Without a position suffix, a literal '@' would be read as one.
        path = path.replace("@", "%40")
    prefix = ("file://" if spec.scheme else "") + path
    version = f"?v={spec.docVersion}" if getattr(spec, "docVersion", None) else ""
    if isinstance(spec, CursorSpec):
        return f"{prefix}@L{spec.line}:C{spec.col}{version}"
    if isinstance(spec, RangeSpec):
        return f"{prefix}@R({spec.start[0]},{spec.start[1]}->{spec.end[0]},{spec.end[1]}){version}"
    return prefix


def _escape_step(value: str) -> str:
    return "".join({"[": "%5B", "]": "%5D", "/": "%2F"}.get(ch) or _escape_char(ch) for ch in value)
