"""Every kernel and lowering variant bit-exact under QEMU on M4, M7, M33 and M55: registry cases plus
randomized shapes (tests/qemu_kernels.py) compiled into one firmware per core, each output compared
byte for byte with ref_int8.  The default run takes the first two cases of every op and three
random shapes; the full set (all cases, twelve random shapes) is marked slow.  The requantizing ops
run twice, with TFLM's double rounding and with single rounding (a firmware built with
EC_SINGLE_ROUNDING=1)."""
import shutil

import pytest

import qemu_kernels as Q

needs_qemu = pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                                reason="arm-none-eabi-gcc or qemu-system-arm not installed")


LEAN = "#define EC_MAT_INT8 0\n"     # a model with int16 weights in every product layer


def _firmwares(cases, work, prefix):
    groups = []
    for i, part in enumerate(Q.chunks(cases)):
        d = work / f"{prefix}{i}"
        d.mkdir()
        groups.append((d, part, Q.write_sources(part, d)))
    return groups


def _compiled(tmp_path_factory, full):
    """(every case in firmwares of the default runtime, the lean ones again in firmwares built as
    their projects pin it: EC_MAT_INT8 0, no int8 matrix product on the DSP cores)"""
    work = tmp_path_factory.mktemp("kernels-full" if full else "kernels")
    cases = Q.compile_all(Q.all_builds(full), work)
    lean = [c for c in cases if LEAN in c.art.files["runtime/include/ec_config.h"]]
    assert lean, "no case compiled with --optimize speed pins EC_MAT_INT8 0"
    return _firmwares(cases, work, "fw"), _firmwares(lean, work, "lean")


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    return _compiled(tmp_path_factory, False)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return _compiled(tmp_path_factory, True)


def _check(compiled, core, opt=None):
    groups, lean = compiled
    res, base = [], [opt] if opt else []
    builds = [(g, base) for g in groups] + [(g, base + ["-DEC_MAT_INT8=0"]) for g in lean]
    for (work, part, runtime), flags in builds:
        res += Q.run_elf(Q.build_elf(work, runtime, core, part[0].build.rounding, flags), core, part)
    cases = [c for _, part, _ in groups for c in part]
    bad = [f"{c.build.label} [{c.name}: {', '.join(sorted({n.kernel for n in c.art.graph.nodes if n.kernel}))}]: "
           f"status {st}, {nb} bytes differ" for c, st, nb, _ in res if nb or any(st)]
    assert not bad, f"{len(bad)} of {len(res)} builds fail on {core}:\n" + "\n".join(bad)
    kernels = {n.kernel for c in cases for n in c.art.graph.nodes if n.kernel}
    assert len(kernels) >= 10


@needs_qemu
@pytest.mark.parametrize("core", Q.CORES)
def test_kernels_bit_exact_under_qemu(fast, core):
    _check(fast, core)


@needs_qemu
@pytest.mark.slow
@pytest.mark.parametrize("core", Q.CORES)
def test_kernels_bit_exact_under_qemu_full(full, core):
    _check(full, core)


@needs_qemu
@pytest.mark.parametrize("core", ["mps2-an386", "mps3-an547"])
def test_kernels_bit_exact_unoptimized(fast, core):
    """-O0 (a debug build): the inline-assembly loops are left out (EC_ASM 0) and the C paths of
    the DSP / Helium code run instead, with the same results."""
    _check(fast, core, "-O0")
