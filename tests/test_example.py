"""The bundled digits example: the files load, are valid, and the model really is accurate."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX, load_digits_test
from edgecompile.examples import train_digits

ROOT = Path(__file__).resolve().parents[1]
FILES = train_digits.FILES


def ort_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    logits = train_digits.ort_logits(path.read_bytes(), x)
    assert logits.shape == (len(x), 10)
    return float((logits.argmax(1) == y).mean())


def test_bundled_files_small():
    assert sum((DIGITS_ONNX.parent / f).stat().st_size for f in FILES) < 200_000


def test_bundled_model_valid():
    m = onnx.load(DIGITS_ONNX)
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 8 and m.opset_import[0].version == 13
    (inp,), (out,) = m.graph.input, m.graph.output
    assert inp.name == "input" and out.name == "logits"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 8, 8]
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("BatchNormalization") == 2          # kept unfolded on purpose
    assert any(n.op_type == "Conv" and any(a.name == "group" and a.i == 16 for a in n.attribute)
               for n in m.graph.node)                   # the depthwise conv


def test_bundled_data():
    with np.load(DIGITS_CALIB) as f:
        calib = f["input"]
    x, y = load_digits_test()
    assert calib.dtype == np.float32 and calib.shape == (100, 1, 8, 8)
    assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8) and y.dtype == np.int64 and y.shape == (len(x),)
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(np.unique(y)) == set(range(10))
    # the data is the documented split of sklearn's digits
    x_tr, _, x_te, y_te = train_digits.load_split()
    np.testing.assert_array_equal(calib, x_tr[:100])
    np.testing.assert_array_equal(x, x_te)
    np.testing.assert_array_equal(y, y_te)


def test_bundled_model_accuracy():
    x, y = load_digits_test()
    assert ort_accuracy(DIGITS_ONNX, x, y) >= 0.96


def run_quick(out: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "edgecompile.examples.train_digits", "--out", str(out),
                        "--epochs", "1", "--min-accuracy", "0"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_train_quick_is_valid_and_deterministic(tmp_path):
    run_quick(tmp_path / "a")
    run_quick(tmp_path / "b")
    model = onnx.load(tmp_path / "a" / "digits_cnn.onnx")
    onnx.checker.check_model(model, full_check=True)
    x, y = load_digits_test()
    assert ort_accuracy(tmp_path / "a" / "digits_cnn.onnx", x, y) > 0.5    # one epoch already learns
    for f in FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    for f in FILES[1:]:                       # the data does not depend on training
        assert (tmp_path / "a" / f).read_bytes() == (DIGITS_ONNX.parent / f).read_bytes(), f


@pytest.mark.slow
def test_train_full_reaches_accuracy(tmp_path):
    assert train_digits.main(["--out", str(tmp_path), "--min-accuracy", "0.96"]) == 0
    x, y = load_digits_test()
    assert ort_accuracy(tmp_path / "digits_cnn.onnx", x, y) >= 0.96
