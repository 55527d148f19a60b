"""Cortex-M boards: definitions agree with themselves and with the compiler, the runtime and a model
cross-compile for every board with -Werror, ELF sections sit in each board's memory map, models run
bit-exact under QEMU on all five emulated cores with stable instruction counts, and a model too large
for a board is a one-line "does not fit" error."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import BENCH, ROOT
from onnx import TensorProto, helper, numpy_helper

from edgecompile import firmware as F
from edgecompile.boards import CORE_BACKEND, all_boards, board_names, load_board
from edgecompile.compiler import compile_model, write_project
from edgecompile.errors import OptionError, VerifyError
from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX, DIGITS_TEST

ARM = [b.name for b in all_boards() if not b.is_host]
EMULATED = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]
REAL = ["nucleo-l4r5zi", "nucleo-f746zg", "nrf52840dk", "rpi-pico", "stm32f103c8"]
HAVE_GCC = shutil.which("arm-none-eabi-gcc") is not None
HAVE_QEMU = shutil.which("qemu-system-arm") is not None
needs_gcc = pytest.mark.skipif(not HAVE_GCC, reason="arm-none-eabi-gcc not installed (apt-get install "
                               "gcc-arm-none-eabi libnewlib-arm-none-eabi)")
needs_qemu = pytest.mark.skipif(not (HAVE_GCC and HAVE_QEMU), reason="arm-none-eabi-gcc or qemu-system-arm "
                                "not installed (apt-get install qemu-system-arm)")


def run_cli(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "edgecompile", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The bundled example, compiled once per worker; each test writes its own copy."""
    art = compile_model(DIGITS_ONNX, name="digits", calib=DIGITS_CALIB)
    with np.load(DIGITS_TEST) as z:
        inputs = {art.float_graph.inputs[0]: z["input"][:6]}
    return art, inputs


def _project(art, path, board=None):
    files = dict(art.files)
    if board:
        files.update(F.board_files(art.name, art.graph, load_board(board)))
    art2 = type(art)(art.name, art.float_graph, art.graph, files)
    return write_project(art2, path)


# ---- definitions -------------------------------------------------------------------------------------

def test_every_board_defined():
    assert sorted(ARM) == sorted(EMULATED + REAL)
    assert "host" in board_names() and "common" not in board_names()
    for name in EMULATED:
        assert load_board(name).qemu_machine == name
    for name in REAL:
        assert load_board(name).qemu_machine is None


def test_unknown_board_lists_valid_ones():
    with pytest.raises(OptionError, match="unknown board 'nucleo-xyz'.*mps2-an386.*stm32f103c8"):
        load_board("nucleo-xyz")
    code, _, err = run_cli("compile", DIGITS_ONNX, "-o", "/nonexistent/out", "--board", "nucleo-xyz")
    assert code == 1 and err.count("edgecompile: error:") == 1 and "rpi-pico" in err


def test_boards_command_lists_core_memory_clock():
    code, out, _ = run_cli("boards")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("nucleo-l4r5zi"))
    assert "Cortex-M4F" in line and "2 MB" in line and "640 KB" in line and "120 MHz" in line
    assert all(any(ln.startswith(b + " ") for ln in out.splitlines()) for b in ARM)


def _memory(path):
    text = path.read_text()
    return {m[0]: (int(m[1], 16), m[2]) for m in re.findall(r"(\w+)\s*\(\w+\)\s*:\s*ORIGIN\s*=\s*0x([0-9A-Fa-f]+),"
                                                             r"\s*LENGTH\s*=\s*([^\n]+)", text)}


def _length(s: str) -> int:
    return eval(s.replace("K", "*1024").replace("M", "*1048576"))   # "2048K - 256" and friends


@pytest.mark.parametrize("name", ARM)
def test_linker_script_matches_board_toml(name):
    b = load_board(name)
    mem = _memory(b.linker_script)
    flash = sum(_length(n) for r, (_, n) in mem.items() if r in ("FLASH", "BOOT2"))
    assert min(o for r, (o, _) in mem.items() if r in ("FLASH", "BOOT2")) == b.flash_origin
    assert flash == b.flash_bytes
    assert mem["RAM"][0] == b.ram_origin and _length(mem["RAM"][1]) == b.ram_bytes
    assert b.backend == CORE_BACKEND[b.core] and f"-mcpu={b.core}" in b.cflags and b.clock_hz > 0


@needs_gcc
@pytest.mark.parametrize("name", ARM)
def test_ec_config_agrees_with_backend(name, tmp_path):
    """STYLE.md B4: the C's feature-macro choice and board.toml's backend cannot drift apart."""
    b = load_board(name)
    src = tmp_path / "probe.c"
    src.write_text('#include "ec_config.h"\nEC_HAS_DSP EC_HAS_MVE\n')
    out = subprocess.run(["arm-none-eabi-gcc", *b.cflags, "-E", "-P", f"-I{ROOT / 'runtime_c' / 'include'}",
                          str(src)], capture_output=True, text=True, check=True).stdout.split()
    dsp, mve = int(out[-2]), int(out[-1])
    assert {"portable": (0, 0), "dsp": (1, 0), "mve": (1, 1)}[b.backend] == (dsp, mve)


@needs_gcc
@pytest.mark.parametrize("name", ARM)
def test_runtime_cross_compiles_with_werror(name, tmp_path):
    b = load_board(name)
    srcs = sorted((ROOT / "runtime_c" / "src").glob("*.c"))
    common = ROOT / "boards" / "common"
    srcs += [common / f for f in ("ec_startup.c", "ec_semihost.c")]
    r = subprocess.run(["arm-none-eabi-gcc", *b.cflags, *F.COMPILE, *F.WARN, f"-I{ROOT / 'runtime_c' / 'include'}",
                        f"-I{common}", "-c", *map(str, srcs)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ---- build: a model for every board ------------------------------------------------------------------

@needs_gcc
@pytest.mark.parametrize("name", ARM)
def test_model_builds_in_board_memory_map(digits, name, tmp_path):
    art, _ = digits
    b = load_board(name)
    out = _project(art, tmp_path / "digits", name)
    res = F.build(out, name)
    assert res.elf.exists() and (res.elf.with_suffix(".bin")).exists()
    m = res.mem
    assert m.arena == art.graph.meta["memory"]["arena_size"] and m.part(".stack") == b.stack_bytes
    assert 0 < m.flash <= b.flash_bytes and m.arena < m.ram <= b.ram_bytes
    vec = m.sections[".isr_vector"][0]
    assert vec == b.flash_origin + (256 if name == "rpi-pico" else 0)
    for sec, (addr, size, contents) in m.sections.items():
        in_flash = b.flash_origin <= addr and addr + size <= b.flash_origin + b.flash_bytes
        in_ram = b.ram_origin <= addr and addr + size <= b.ram_origin + b.ram_bytes
        assert in_flash or in_ram, f"{sec} at {addr:#x} outside the {name} memory map"
        assert in_flash == (sec in (".boot2", ".isr_vector", ".text", ".rodata", ".ARM.exidx", ".ARM.extab")), sec


@needs_gcc
def test_standalone_make_and_cmake(digits, tmp_path):
    art, _ = digits
    out = _project(art, tmp_path / "digits", "nrf52840dk")
    r = subprocess.run(["make", "-C", str(out), "-j2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "build" / "nrf52840dk" / "digits.hex").exists()
    if shutil.which("cmake"):
        b = out / "build" / "cmake"
        for cmd in (["cmake", "-S", str(out), "-B", str(b)], ["cmake", "--build", str(b), "-j2"]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
        assert (b / "digits.elf").exists()


@needs_gcc
def test_build_retargets_a_host_project(digits, tmp_path):
    art, _ = digits
    out = _project(art, tmp_path / "digits")
    code, stdout, err = run_cli("build", out, "--board", "nucleo-f746zg")
    assert code == 0, err
    assert "flash" in stdout and "of 1,048,576 B" in stdout and "of   327,680 B" in stdout
    assert F.project_board(out) == "nucleo-f746zg"


def _big_fc_model(path):
    """A synthetic 320 KB-weight fully connected model: far beyond a 64 KB / 20 KB board."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.1, (640, 512)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(512, np.float32), "b")
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc")], "big",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 640])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 512])], [w, b])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def _too_big():
    """vww_mobilenetv1_025 when ../shared/bench exists, else a synthetic large FC model."""
    bench = BENCH / "models" / "vww_mobilenetv1_025" / "float32.onnx"
    return bench if bench.exists() else None


def test_compile_for_too_small_board_fails(tmp_path):
    model = _too_big() or _big_fc_model(tmp_path / "big_fc.onnx")
    code, _, err = run_cli("compile", model, "-o", tmp_path / "out", "--name", "big", "--board", "stm32f103c8")
    line = next(ln for ln in err.splitlines() if ln.startswith("edgecompile: error:"))
    assert code == 1 and "Traceback" not in err and not (tmp_path / "out").exists()
    assert re.search(r"big does not fit stm32f103c8: flash needs at least [\d,]+ B of 65,536 B for the weights "
                     r"alone \([\d,]+ B over\)", line), line


@needs_gcc
def test_build_does_not_fit_names_the_overflow(tmp_path):
    model = _too_big() or _big_fc_model(tmp_path / "big_fc.onnx")
    out = tmp_path / "out"
    code, _, err = run_cli("compile", model, "-o", out, "--name", "big")
    assert code == 0, err
    code, _, err = run_cli("build", out, "--board", "stm32f103c8")
    line = next(ln for ln in err.splitlines() if ln.startswith("edgecompile: error:"))
    assert code == 1 and "Traceback" not in err
    m = re.search(r"big does not fit stm32f103c8: flash needs ([\d,]+) B of 65,536 B \(([\d,]+) B over\)", line)
    assert m, line
    need, over = (int(v.replace(",", "")) for v in m.groups())
    assert need - 65536 == over > 0


# ---- run under QEMU ----------------------------------------------------------------------------------

@needs_qemu
@pytest.mark.parametrize("name", EMULATED)
def test_digits_bit_exact_under_qemu_with_stable_counts(digits, name, tmp_path):
    art, inputs = digits
    out = _project(art, tmp_path / "digits")
    first = F.run(out, name, inputs, timeout=120)
    second = F.run(out, name, inputs, timeout=120)
    assert first.ok and first.samples == 6 and first.bytes_compared == 60
    assert first.instructions == second.instructions
    assert first.node_instructions == second.node_instructions
    # plausible: digits is ~99k MACs and no core retires more than 16 MACs per instruction (Helium)
    assert 99_392 // 16 < min(first.instructions) < 20_000_000
    layers = sum(n for _, _, n in first.node_instructions)
    assert abs(layers - first.instructions[0]) < 0.01 * first.instructions[0]


@needs_qemu
def test_run_cli_and_errors(digits, tmp_path):
    art, _ = digits
    out = _project(art, tmp_path / "digits")
    code, stdout, err = run_cli("run", out, "--board", "mps2-an386", "--inputs", DIGITS_TEST, "--limit", "4")
    assert code == 0, err
    assert "4 samples" in stdout and "0 mismatches -> bit-exact" in stdout and "instructions per inference" in stdout
    assert "/conv1/Conv" in stdout
    # a relative OUTDIR, as a user types it: compile, build and run from its parent directory
    code, _, err = run_cli("compile", DIGITS_ONNX, "--calib", DIGITS_CALIB, "-o", "rel", "--board", "mps2-an385",
                           cwd=tmp_path)
    assert code == 0, err
    code, _, err = run_cli("build", "rel", "--board", "mps2-an385", cwd=tmp_path)
    assert code == 0, err
    code, stdout, err = run_cli("run", "rel", "--board", "mps2-an385", "--inputs", DIGITS_TEST, "--limit", "2",
                                cwd=tmp_path)
    assert code == 0 and "0 mismatches" in stdout, err
    code, _, err = run_cli("run", out, "--board", "nucleo-l4r5zi")
    assert code == 1 and "no QEMU machine" in err and "mps3-an547" in err
    code, _, err = run_cli("run", tmp_path / "nope", "--board", "mps2-an386")
    assert code == 1 and "nope" in err and err.count("edgecompile: error:") == 1


@needs_qemu
def test_qemu_killed_on_timeout(digits, tmp_path):
    art, inputs = digits
    out = _project(art, tmp_path / "digits")
    with pytest.raises(VerifyError, match="did not finish"):
        F.run(out, "mps2-an385", {k: np.repeat(v, 50, axis=0) for k, v in inputs.items()}, timeout=0.05)
    mine = [p for p in os.listdir("/proc") if p.isdigit()]
    children = []
    for p in mine:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and "qemu" in stat:
            children.append(p)
    assert not children


@needs_qemu
def test_kws_bit_exact_on_an386(bench_dir, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_data as B
    task = B.TASKS["kws_dscnn"]
    calib, x_eval, _ = B.split(task)
    art = compile_model(B.model_path(task), name="kws", calib={"x": calib})
    out = write_project(art, tmp_path / "kws")
    res = F.run(out, "mps2-an386", {art.float_graph.inputs[0]: x_eval[:10]}, timeout=300)
    assert res.ok and res.samples == 10 and res.bytes_compared == 120
    assert 1_000_000 < min(res.instructions)
