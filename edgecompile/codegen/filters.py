"""Jinja2 filters: small, pure functions that format values as C.  Each example is a doctest."""
from __future__ import annotations

import keyword
import re

import numpy as np

C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for
goto if inline int long register restrict return short signed sizeof static struct switch typedef union
unsigned void volatile while _Bool _Complex _Imaginary""".split())


def c_ident(name: str) -> str:
    """A valid C identifier for any string.

    >>> c_ident("/conv1/Conv_output_0")
    'conv1_Conv_output_0'
    >>> c_ident("3x")
    '_3x'
    >>> c_ident("int")
    'int_'
    """
    s = re.sub(r"[^0-9A-Za-z_]", "_", str(name))
    s = re.sub(r"_+", "_", s).strip("_") or "_"
    if s[0].isdigit():
        s = "_" + s
    if s in C_KEYWORDS or keyword.iskeyword(s):
        s += "_"
    return s


def c_macro(name: str) -> str:
    """SCREAMING_SNAKE form of an identifier.

    >>> c_macro("kws_dscnn")
    'KWS_DSCNN'
    """
    return c_ident(name).upper()


def c_int(v) -> str:
    """A C integer literal; INT32_MIN needs a spelled-out expression.

    >>> c_int(-5)
    '-5'
    >>> c_int(-2147483648)
    '(-2147483647 - 1)'
    """
    v = int(v)
    return "(-2147483647 - 1)" if v == -(1 << 31) else str(v)


def c_float(v) -> str:
    """A float literal that round-trips float32.

    >>> c_float(0.5847029)
    '0.5847029f'
    >>> c_float(1.0)
    '1.0f'
    """
    s = str(np.float32(v))          # shortest text that round-trips the float32
    if "e" not in s and "." not in s and "n" not in s:
        s += ".0"
    return s + "f"


def c_array(arr, per_line: int = 16, indent: str = "    ") -> str:
    """A brace initializer for a 1-D (flattened) integer array, formatted with NumPy.

    >>> c_array([1, -2, 3])
    '{1, -2, 3}'
    >>> print(c_array(list(range(5)), per_line=2))
    {
        0, 1,
        2, 3,
        4
    }
    """
    a = np.asarray(arr).ravel()
    if a.dtype.kind == "f":
        items = [c_float(x) for x in a]
    else:
        items = [c_int(x) for x in a.tolist()]
    if len(items) <= per_line:
        return "{" + ", ".join(items) + "}"
    rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n" + indent + (",\n" + indent).join(rows) + "\n}"


def c_dims(d) -> str:
    """An ec_dims initializer from an NHWC 4-tuple.

    >>> c_dims((1, 49, 10, 1))
    '{.n = 1, .h = 49, .w = 10, .c = 1}'
    """
    n, h, w, c = (int(x) for x in d)
    return f"{{.n = {n}, .h = {h}, .w = {w}, .c = {c}}}"


def c_tile(t) -> str:
    """An ec_tile initializer from an (h, w) pair (note: C field order is w, h).

    >>> c_tile((2, 3))
    '{.w = 3, .h = 2}'
    """
    h, w = (int(x) for x in t)
    return f"{{.w = {w}, .h = {h}}}"


FILTERS = {f.__name__: f for f in (c_ident, c_macro, c_int, c_float, c_array, c_dims, c_tile)}
