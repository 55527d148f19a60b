#!/usr/bin/env python3
"""Line counter with budgets (after tinygrad's sz.py): counts non-blank, non-comment lines.

Python: comments and docstrings do not count.  C (.c/.h): // and /* */ comments do not count.
Jinja (.j2): {# #} comments do not count (C emitted by a template counts, comments included).
Prints one row per file, totals per directory and the budgets; exits 1 when a budget is exceeded.

    python tools/sz.py [--root DIR] [--summary]

The budgets exist to keep complexity down, not to invite code golf.
"""
from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from fnmatch import fnmatch
from pathlib import Path

EXTS = (".py", ".c", ".h", ".j2")
DIRS = ("edgecompile", "runtime_c", "templates", "tools", "tests", "boards", "benchmarks")
SKIP = {"__pycache__", "snapshots", "build", "node_modules"}
# (what, glob patterns relative to the root, limit, "file" = every match | "total" = their sum).
# In these globs "*" also matches "/".
BUDGETS = [
    ("edgecompile/ total", ("edgecompile/*",), 9000, "total"),
    ("edgecompile/ops/*.py", ("edgecompile/ops/*.py",), 150, "file"),
    ("runtime_c/src/*.c", ("runtime_c/src/*.c",), 250, "file"),
    ("templates/**/*.j2", ("templates/*.j2", "edgecompile/templates/*.j2"), 80, "file"),
    ("edgecompile/ir.py", ("edgecompile/ir.py",), 400, "file"),
]
_SKIP_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                tokenize.ENCODING, tokenize.ENDMARKER}


def _docstring_lines(src: str) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def count_python(src: str) -> int:
    """Lines holding a token other than comments and docstrings (a multi-line string counts fully)."""
    try:
        doc = _docstring_lines(src)
        code: set[int] = set()
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type not in _SKIP_TOKENS:
                code.update(range(tok.start[0], tok.end[0] + 1))
        return len(code - doc)
    except (SyntaxError, tokenize.TokenError):
        return sum(1 for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#"))


def count_c(src: str) -> int:
    """Lines with code outside // and /* */ comments (string and char literals respected)."""
    code: set[int] = set()
    line, i, n = 1, 0, len(src)
    while i < n:
        ch = src[i]
        if ch == "\n":
            line += 1
        elif src.startswith("//", i):
            while i < n and src[i] != "\n":
                i += 1
            continue
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += src.count("\n", i, end)
            i = end
            continue
        elif ch in "\"'":
            code.add(line)
            j = i + 1
            while j < n and src[j] != ch and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            i = j + 1
            continue
        elif not ch.isspace():
            code.add(line)
        i += 1
    return len(code)


def count_jinja(src: str) -> int:
    """Non-blank lines once {# #} comments are blanked out."""
    src = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S)
    return sum(1 for ln in src.splitlines() if ln.strip())


def count_file(path: Path) -> int:
    src = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".py":
        return count_python(src)
    if path.suffix in (".c", ".h"):
        return count_c(src)
    return count_jinja(src)


def scan(root: Path) -> dict[str, int]:
    """Relative posix path -> counted lines, for every source file under the usual folders."""
    out = {}
    for d in DIRS:
        for p in sorted((root / d).rglob("*")):
            rel = p.relative_to(root)
            if (p.is_file() and p.name.endswith(EXTS)
                    and not any(part in SKIP or part.startswith(".") for part in rel.parts)):
                out[rel.as_posix()] = count_file(p)
    return out


def check(counts: dict[str, int]) -> list[tuple[str, str, int, int]]:
    """Budget rows (what, file or 'total', lines, limit) that are exceeded."""
    over = []
    for what, globs, limit, kind in BUDGETS:
        hits = {f: c for f, c in counts.items() if any(fnmatch(f, g) for g in globs)}
        if kind == "total" and sum(hits.values()) > limit:
            over.append((what, "total", sum(hits.values()), limit))
        elif kind == "file":
            over += [(what, f, c, limit) for f, c in hits.items() if c > limit]
    return over


def file_limit(f: str) -> int | None:
    limits = [lim for _, globs, lim, kind in BUDGETS if kind == "file" and any(fnmatch(f, g) for g in globs)]
    return min(limits) if limits else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--summary", action="store_true", help="only directory totals and budgets")
    args = ap.parse_args(argv)
    counts = scan(args.root)
    over = check(counts)
    bad = {f for _, f, _, _ in over}
    width = max([len(f) for f in counts] + [20])
    if not args.summary:
        print(f"{'file':<{width}} {'lines':>6} {'budget':>6}")
        for f, c in counts.items():
            lim = file_limit(f)
            flag = "  OVER" if f in bad else ""
            print(f"{f:<{width}} {c:>6} {'' if lim is None else lim:>6}{flag}")
        print()
    dirs: dict[str, list[int]] = {}
    for f, c in counts.items():
        dirs.setdefault(f.rsplit("/", 1)[0], []).append(c)
    print(f"{'directory':<{width}} {'lines':>6} {'files':>6}")
    for d in sorted(dirs):
        print(f"{d:<{width}} {sum(dirs[d]):>6} {len(dirs[d]):>6}")
    print(f"{'total':<{width}} {sum(counts.values()):>6} {len(counts):>6}")
    for what, globs, limit, kind in BUDGETS:
        if kind == "total":
            used = sum(c for f, c in counts.items() if any(fnmatch(f, g) for g in globs))
            print(f"budget {what}: {used} / {limit}")
    for what, f, c, limit in over:
        print(f"OVER BUDGET: {what}: {f} has {c} lines (limit {limit})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
