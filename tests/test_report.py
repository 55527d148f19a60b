"""report.json / report.html at compile time, `edgecompile report OUTDIR`, and the linker-section options."""
import json
import re
import shutil

import numpy as np
import pytest

from conftest import ROOT
from edgecompile.cli import main

EX = ROOT / "edgecompile" / "examples"
DIGITS = [str(EX / "digits_cnn.onnx"), "--calib", str(EX / "digits_calib.npz")]
HAVE_ARM = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "dg"
    assert main(["compile", *DIGITS, "-o", str(out)]) == 0
    return out


def test_report_json_has_memory_and_layers(outdir):
    r = json.loads((outdir / "report.json").read_text())
    m = r["memory"]
    assert m["arena_input_output_bytes"] == m["arena_bytes"] + m["input_bytes"] + m["output_bytes"]
    assert m["input_bytes"] == 64 and m["output_bytes"] == 10 and "TFLM" in m["tflm_comparison"]
    assert m["lower_bound_with_overlap"] <= m["arena_bytes"] < m["without_reuse_bytes"]
    assert m["peak_buffers"] and m["overlaps"]
    assert len(r["layers"]) == len(r["nodes"])
    conv = next(x for x in r["layers"] if x["op"] == "Conv2D")
    assert conv["macs"] > 0 and conv["params"] > 0 and conv["weight_bytes_dense"] >= conv["params"]
    assert conv["output_q"]["scale"] > 0 and conv["weight_q"]["channels"] == conv["output_shape"][-1]
    assert conv["storage"] == "arena" and conv["lifetime"][0] == conv["id"]
    h = re.search(r'#define DIGITS_CNN_ARENA_SIZE (\d+)', (outdir / "digits_cnn.h").read_text())
    assert int(h.group(1)) == m["arena_bytes"]


def test_report_html_is_self_contained(outdir):
    page = (outdir / "report.html").read_text()
    assert "<svg" in page and "arena + input + output" in page
    assert not re.search(r'<(script|link|img)\b', page) and "src=" not in page
    rects = re.findall(r'<rect [^>]*fill="#d62728"', page)          # the peak's buffers are highlighted
    assert rects and 'class="peak"' in page


def test_report_command(outdir, capsys):
    (outdir / "report.html").unlink()
    assert main(["report", str(outdir), "--board", "nucleo-l4r5zi"]) == 0
    text = capsys.readouterr().out
    assert "arena" in text and "compare with TFLM" in text and "nucleo-l4r5zi" in text and "fits" in text
    r = json.loads((outdir / "report.json").read_text())
    assert r["board"]["ram_bytes"] == 640 * 1024 and r["board"]["fits"]
    assert (outdir / "report.html").exists()


def test_report_command_rejects_a_non_outdir(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) != 0
    assert "report.json" in capsys.readouterr().err


def test_sections_in_generated_c_and_still_bit_exact(tmp_path, capsys):
    out = tmp_path / "sec"
    assert main(["compile", *DIGITS, "-o", str(out), "--arena-section", ".ec_arena",
                 "--weights-section", ".ec_fast=/fc*", "--weights-section", ".ec_weights"]) == 0
    c, w = (out / "digits_cnn.c").read_text(), (out / "digits_cnn_weights.c").read_text()
    assert '__attribute__((section(".ec_arena")))' in c
    arrays = re.findall(r"^const [^\n]*", w, re.M)
    fast = [a for a in arrays if 'section(".ec_fast")' in a]
    assert fast and len(fast) + sum('section(".ec_weights")' in a for a in arrays) == len(arrays)
    assert main(["verify", str(out), "--inputs", str(EX / "digits_test.npz")]) == 0
    assert main(["compile", *DIGITS, "-o", str(tmp_path / "x"), "--weights-section", ".a=nomatch*"]) != 0
    assert main(["compile", *DIGITS, "-o", str(tmp_path / "y"), "--arena-section", "bad name"]) != 0
    err = capsys.readouterr().err
    assert "nomatch" in err and "invalid linker section name" in err


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc or qemu-system-arm not installed")
def test_sections_on_a_board_and_measured_report(tmp_path, capsys):
    out = tmp_path / "fw"
    assert main(["compile", *DIGITS, "-o", str(out), "--board", "mps2-an386", "--arena-section", ".ec_arena",
                 "--weights-section", ".ec_weights"]) == 0
    assert main(["build", str(out)]) == 0
    from edgecompile.boards import load_board
    from edgecompile.firmware import memory_use
    board = load_board("mps2-an386")
    mu = memory_use(out / "build" / board.name / "digits_cnn.elf", board, "digits_cnn_arena")
    addr, size, contents = mu.sections[".ec_arena"]
    assert not contents and size >= json.loads((out / "report.json").read_text())["memory"]["arena_bytes"]
    assert board.ram_origin <= addr < board.ram_origin + board.ram_bytes
    assert mu.sections[".ec_weights"][1] > 10_000
    assert main(["report", str(out), "--measure"]) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["measured"]["mismatches"] == 0 and r["board"]["measured_from_firmware"]
    instr = [x["instructions"] for x in r["layers"] if x["kernel"]]
    assert all(i is not None and i > 0 for i in instr) and np.sum(instr) <= r["measured"]["instructions"] * 1.01
