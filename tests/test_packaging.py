"""The wheel must ship every subpackage and the non-Python files the compiler reads at run time."""
import tomllib

from conftest import ROOT


def test_every_subpackage_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "edgecompile").rglob("__init__.py")}
    assert found <= listed, f"missing from pyproject packages: {sorted(found - listed)}"
    for pkg in ("edgecompile.templates", "edgecompile.runtime_c", "edgecompile.board_data"):
        assert pkg in listed and pkg in cfg["package-dir"]


def test_wheel_contains_templates_and_runtime(tmp_path):
    import subprocess
    import sys
    import zipfile
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    for need in ("edgecompile/templates/model.c.j2", "edgecompile/templates/ops/conv2d.c.j2",
                 "edgecompile/runtime_c/include/ec_runtime.h", "edgecompile/runtime_c/src/ec_conv2d_s8.c",
                 "edgecompile/examples/digits_cnn.onnx", "edgecompile/onnx_import/__init__.py",
                 "edgecompile/train/__init__.py", "edgecompile/board_data/mps2-an386/board.toml",
                 "edgecompile/board_data/common/ec_startup.c"):
        assert need in names, need
