"""The kernels' DSP paths on the host: built with -DEC_EMULATE_DSP (ec_dsp.h's plain-C intrinsics,
EC_HAS_DSP forced on) and without, C == ref_int8 exactly for every case of the ops that have DSP
code, with the compile-time specialisations (folded input offset, 1x1 as FC, im2col) on and off, so
the generic kernels stay tested where lower would pick a variant."""
import numpy as np
import pytest

from edgecompile.ir import Op
from edgecompile.ops import REGISTRY, add_variants, dense_variants, dw_variants

from conftest import SANITIZE
from op_harness import compile_case, run_case

DSP_OPS = (Op.CONV2D, Op.DEPTHWISE_CONV2D, Op.FULLY_CONNECTED, Op.AVG_POOL2D, Op.ADD)
CASES = [pytest.param(REGISTRY[op], case, spec, dsp,
                      id=f"{op.value}-{case.name}-{'spec' if spec else 'generic'}-{'dsp' if dsp else 'portable'}")
         for op in DSP_OPS for case in REGISTRY[op].cases for spec in (True, False) for dsp in (True, False)
         if dsp or not spec]          # portable + specialised is test_op_parity's run


@pytest.mark.parametrize("spec,case,specialize,dsp", CASES)
def test_kernel_paths_equal_ref_int8(spec, case, specialize, dsp, tmp_path, monkeypatch):
    monkeypatch.setenv("EC_EMULATE_DSP", "1" if dsp else "0")
    if not specialize:
        monkeypatch.setattr(dense_variants, "_specialize", lambda options: False)
        monkeypatch.setattr(dw_variants, "_specialize", lambda options: False)
        monkeypatch.setattr(add_variants, "_specialize", lambda options: False)
    art, feeds, host = compile_case(spec, case, tmp_path / "out", sanitize=SANITIZE)
    for s, (c, ref, _) in enumerate(run_case(art, feeds, host)):
        bad = np.argwhere(c != ref)
        assert not bad.size, f"sample {s}: {len(bad)} of {ref.size} bytes differ"


WIDE = [pytest.param(op, case, dsp, id=f"{op.name.lower()}-{case.name}-wide-{'dsp' if dsp else 'portable'}")
        for op in (Op.CONV2D, Op.FULLY_CONNECTED) for case in REGISTRY[op].cases for dsp in (True, False)]


@pytest.mark.parametrize("op,case,dsp", WIDE)
def test_wide_weights_equal_ref_int8(op, case, dsp, tmp_path, monkeypatch):
    """compile --optimize speed: the int16 weight layout on the DSP path (emulated), the int8 one on
    the portable path, both C == ref_int8."""
    monkeypatch.setenv("EC_EMULATE_DSP", "1" if dsp else "0")
    monkeypatch.setattr(dense_variants, "_speed", lambda options: True)
    art, feeds, host = compile_case(REGISTRY[op], case, tmp_path / "out", sanitize=SANITIZE)
    variants = {n.variant for n in art.graph.nodes}
    if case.attrs.get("dilations", (1, 1))[1] > 1:      # the wide rows are widened without a patch
        assert variants == {"im2col"}                   # only for dilation.w 1: int8 weights
    elif case.attrs.get("groups", 1) == 1:
        assert variants & {"pointwise_wide", "im2col_wide", "folded_wide"}
    for s, (c, ref, _) in enumerate(run_case(art, feeds, host)):
        bad = np.argwhere(c != ref)
        assert not bad.size, f"sample {s}: {len(bad)} of {ref.size} bytes differ"


def test_optimize_option_pins_the_wide_product(tmp_path):
    """compile --optimize speed: wide variants, EC_MAT_WIDE pinned to 1, EC_MAT_INT8 to 0 (no int8
    product in the DSP firmware) and both filter layouts behind #if; balanced (default): today's
    variants, EC_MAT_WIDE 0 (no wide code in the firmware), EC_MAT_INT8 1."""
    from edgecompile.compiler import compile_model
    from edgecompile.errors import OptionError
    from op_harness import case_graph
    case = next(c for c in REGISTRY[Op.CONV2D].cases if c.name == "pointwise_depth_48")
    g, feeds = case_graph(REGISTRY[Op.CONV2D], case)
    for mode, wide in (("speed", 1), ("balanced", 0)):
        art = compile_model(None, name="m", calib=feeds, float_graph=g.copy(), optimize=mode)
        assert f"#define EC_MAT_WIDE {wide}\n" in art.files["runtime/include/ec_config.h"]
        assert f"#define EC_MAT_INT8 {1 - wide}\n" in art.files["runtime/include/ec_config.h"]
        assert ({n.variant for n in art.graph.nodes} == {"pointwise_wide"}) == bool(wide)
        assert ("#if EC_HAS_DSP && !EC_HAS_MVE" in art.files["m.c"]) == bool(wide)
    with pytest.raises(OptionError, match="optimize"):
        compile_model(None, name="m", calib=feeds, float_graph=g.copy(), optimize="fast")


def test_speed_keeps_the_int8_product_for_a_dilated_conv():
    """The wide rows are widened straight from the input only for dilation.w 1: a dilated conv keeps
    int8 weights under --optimize speed, and its firmware the int8 product (EC_MAT_INT8 1)."""
    from edgecompile.compiler import compile_model
    from op_harness import case_graph
    case = next(c for c in REGISTRY[Op.CONV2D].cases if c.name == "dilation2")
    g, feeds = case_graph(REGISTRY[Op.CONV2D], case)
    art = compile_model(None, name="m", calib=feeds, float_graph=g, optimize="speed")
    assert {n.variant for n in art.graph.nodes} == {"im2col"}
    config = art.files["runtime/include/ec_config.h"]
    assert "#define EC_MAT_WIDE 0\n" in config and "#define EC_MAT_INT8 1\n" in config


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_wide_requant_offset_after_shift(rounding, tmp_path, monkeypatch):
    """A channel with tiny weights and a large bias needs a right shift of 24: k would leave int32
    with the output offset inside, so the wide path adds the offset after the shift (mode 3)."""
    from edgecompile.compiler import compile_model, write_project
    from edgecompile.host import HostModel
    from op_harness import case_graph
    monkeypatch.setenv("EC_EMULATE_DSP", "1")
    case = next(c for c in REGISTRY[Op.CONV2D].cases if c.name == "pointwise_depth_48")
    g, feeds = case_graph(REGISTRY[Op.CONV2D], case)
    w, b = g.tensors["in1"].data, g.tensors["in2"].data
    w[0] *= 1e-5
    b[0] = 0.1
    art = compile_model(None, name="m", calib=feeds, float_graph=g, optimize="speed", rounding=rounding)
    assert [n.params["wide_mode"] for n in art.graph.nodes] == [3]
    write_project(art, tmp_path / "out")
    host = HostModel(tmp_path / "out", "m", len(art.graph.nodes), sanitize=SANITIZE)
    for s, (c, ref, _) in enumerate(run_case(art, feeds, host)):
        assert not np.argwhere(c != ref).size, f"sample {s}"
