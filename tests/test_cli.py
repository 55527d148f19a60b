"""The command line as a user meets it: help, one-line errors, exit codes, no half-written output."""
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgecompile.cli import main
from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX


def run_cli(*args):
    r = subprocess.run([sys.executable, "-m", "edgecompile", *map(str, args)], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.startswith("edgecompile: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("cmd", ["compile", "verify", "inspect", "example"])
def test_help(cmd):
    code, out, _ = run_cli(cmd, "--help")
    assert code == 0 and "usage: edgecompile" in out


def test_missing_model(tmp_path):
    code, _, err = run_cli("compile", tmp_path / "nope.onnx", "-o", tmp_path / "out")
    assert code != 0 and "nope.onnx" in one_line_error(err)
    assert not (tmp_path / "out").exists()


def test_truncated_model(tmp_path):
    data = DIGITS_ONNX.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 3])
    code, _, err = run_cli("compile", bad, "-o", tmp_path / "out")
    assert code != 0 and "truncated.onnx" in one_line_error(err)
    assert not (tmp_path / "out").exists()


def test_not_onnx(tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a model\n")
    code, _, err = run_cli("inspect", bad)
    assert code != 0 and "notes.onnx" in one_line_error(err)


def _unsupported_model(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu0"),
             helper.make_node("Resize", ["r", "", "scales"], ["s"], name="upsample1", mode="nearest"),
             helper.make_node("Erf", ["s"], ["y"], name="erf2")]
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    m = helper.make_model(helper.make_graph(nodes, "g", [x], [y], [scales]),
                          opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(m, path)


def test_unsupported_ops_listed_in_one_error(tmp_path):
    p = tmp_path / "unsup.onnx"
    _unsupported_model(p)
    code, _, err = run_cli("compile", p, "-o", tmp_path / "out")
    line = one_line_error(err)
    assert code != 0
    for name, op in (("upsample1", "Resize"), ("erf2", "Erf")):
        assert name in line and op in line, line
    assert not (tmp_path / "out").exists()


def test_calibration_wrong_shape(tmp_path):
    calib = tmp_path / "calib.npz"
    np.savez(calib, input=np.zeros((10, 3, 8, 8), np.float32))
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", calib, "-o", tmp_path / "out")
    line = one_line_error(err)
    assert code != 0 and "calib.npz" in line and "[10, 3, 8, 8]" in line
    assert not (tmp_path / "out").exists()


def test_calibration_bad_dtype_and_file(tmp_path):
    calib = tmp_path / "strings.npz"
    np.savez(calib, input=np.array(["a", "b"]))
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", calib, "-o", tmp_path / "out")
    assert code != 0 and "dtype" in one_line_error(err)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04garbage")
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", junk, "-o", tmp_path / "out")
    assert code != 0 and "junk.npz" in one_line_error(err)


def test_failed_compile_keeps_previous_output(tmp_path):
    out = tmp_path / "out"
    assert main(["compile", str(DIGITS_ONNX), "--calib", str(DIGITS_CALIB), "-o", str(out)]) == 0
    before = sorted(p.name for p in out.iterdir())
    bad = tmp_path / "calib.npz"
    np.savez(bad, input=np.zeros((2, 5), np.float32))
    assert main(["compile", str(DIGITS_ONNX), "--calib", str(bad), "-o", str(out)]) != 0
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_random_calibration_warns(tmp_path):
    code, _, err = run_cli("compile", DIGITS_ONNX, "-o", tmp_path / "out")
    assert code == 0 and "random" in err and "--calib" in err


def test_compile_verify_inspect_roundtrip(tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli("compile", DIGITS_ONNX, "--calib", DIGITS_CALIB, "-o", out, "--name", "dg")
    assert code == 0, err
    assert {"dg.h", "dg.c", "dg_weights.c", "Makefile", "CMakeLists.txt", "report.json"} <= {p.name for p in out.iterdir()}
    code, stdout, err = run_cli("verify", out, "--inputs", DIGITS_CALIB)
    assert code == 0, err
    assert "0 mismatches" in stdout
    code, stdout, err = run_cli("inspect", DIGITS_ONNX)
    assert code == 0 and "Conv2D" in stdout and "MACs" in stdout


def test_bad_name_option(tmp_path):
    code, _, err = run_cli("compile", DIGITS_ONNX, "-o", tmp_path / "o", "--name", "my-model")
    assert code != 0 and "--name" in one_line_error(err)


def test_bad_recompute_budget(tmp_path):
    code, _, err = run_cli("compile", DIGITS_ONNX, "-o", tmp_path / "o", "--max-recompute", "-1")
    assert code != 0 and "MAX_RECOMPUTE" in err and not (tmp_path / "o").exists()
