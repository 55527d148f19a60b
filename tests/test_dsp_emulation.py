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
