"""Is a new name a name at all?  Checked before any server is asked.

A server handed ``class`` or ``a b`` does not answer "no": basedpyright
asks the user through ``window/showMessageRequest`` and clangd answers with
an error.  Either way the answer is not about the symbol, so lanser decides
on its own, per the language's identifier rules:

- Python: ``str.isidentifier()``, not a keyword (``keyword.iskeyword``),
  not ``__debug__`` (assigning it is a SyntaxError), and already in NFKC
  form (Python folds identifiers to NFKC when it reads them: ``ﬁle`` would
  be stored as ``file`` and break the rename's text edits).  Soft keywords
  (``match``, ``case``, ``type``, ``_``) are ordinary names and allowed.
- C: ``[A-Za-z_][A-Za-z0-9_]*`` and not a C keyword (C23 included); C++:
  the same, not a C++ keyword either.

Pure: the caller turns a refusal into :class:`lanser.errors.BadRequest`.
"""

from __future__ import annotations

import keyword
import re
import unicodedata

__all__ = ["C_KEYWORDS", "CPP_KEYWORDS", "name_problem"]

#: Longer names are no one's real identifier; refusing them keeps hostile input small.
MAX_LEN = 255

C_KEYWORDS = frozenset(
    """
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local
alignas alignof bool constexpr false nullptr static_assert thread_local true typeof typeof_unqual
_BitInt _Decimal128 _Decimal32 _Decimal64
""".split()
)

CPP_KEYWORDS = C_KEYWORDS | frozenset(
    """
and and_eq asm bitand bitor catch char8_t char16_t char32_t class co_await co_return co_yield compl concept
consteval constinit const_cast decltype delete dynamic_cast explicit export friend mutable namespace new
noexcept not not_eq operator or or_eq private protected public reinterpret_cast requires static_cast
template this throw try typeid typename using virtual wchar_t xor xor_eq
""".split()
)

_C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def name_problem(language: str, name: str) -> str | None:
    """Why ``name`` cannot be a new name of a ``language`` symbol, or None when it can."""
    if not name:
        return "the new name is empty"
    if len(name) > MAX_LEN:
        return f"the new name is longer than {MAX_LEN} characters"
    if any(ch in name for ch in "\x00\r\n"):
        return "the new name contains a NUL or a line break"
    if language == "python":
        if not name.isidentifier():
            return f"{name!r} is not a Python identifier"
        if keyword.iskeyword(name) or name == "__debug__":
            return f"{name!r} is a Python keyword"
        if unicodedata.normalize("NFKC", name) != name:
            return f"{name!r} is not in NFKC form: Python would read it as {unicodedata.normalize('NFKC', name)!r}"
        return None
    if language in ("c", "cpp"):
        if not _C_IDENT.match(name):
            return f"{name!r} is not a C identifier ([A-Za-z_][A-Za-z0-9_]*)"
        if name in (CPP_KEYWORDS if language == "cpp" else C_KEYWORDS):
            return f"{name!r} is a {'C++' if language == 'cpp' else 'C'} keyword"
        return None
    return None
