"""tools/sz.py: the counting rules, the budget failure path, and the repository itself."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SZ = ROOT / "tools" / "sz.py"


def _load():
    spec = importlib.util.spec_from_file_location("sz", SZ)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


sz = _load()


def test_python_skips_blanks_comments_docstrings():
    src = '"""Module doc\nover two lines."""\n\n# comment\nimport os  # trailing\n\n\ndef f():\n' \
          '    """Doc."""\n    s = """a\nb"""\n    return s\n'
    assert sz.count_python(src) == 5        # import, def, s = (2 lines), return


def test_c_skips_comments_not_strings():
    src = '/* header\n * more */\n#include "a.h"\n\n// line comment\nint x = 1; /* tail */\n' \
          'const char *s = "/* not a comment */";\nchar q = \'\\\'\';\n/* a */ int y;\n'
    assert sz.count_c(src) == 5


def test_jinja_skips_jinja_comments():
    src = "{# ---- params ---- #}\n{% macro params(n) %}\n{#\n  long\n#}\nstatic int x;\n\n{% endmacro %}\n"
    assert sz.count_jinja(src) == 3


def _run(*args):
    return subprocess.run([sys.executable, str(SZ), *args], capture_output=True, text=True)


def test_budget_violation_exits_1(tmp_path):
    ops = tmp_path / "edgecompile" / "ops"
    ops.mkdir(parents=True)
    (ops / "small.py").write_text("x = 1\n" * 150)
    (ops / "big.py").write_text("x = 1\n" * 151)
    r = _run("--root", str(tmp_path))
    assert r.returncode == 1, r.stdout
    assert "edgecompile/ops/big.py has 151 lines" in r.stdout
    assert "small.py has" not in r.stdout


def test_repository_within_budgets():
    r = _run("--summary")
    assert r.returncode == 0, r.stdout + r.stderr
