"""Op parity, generated from the registry: for every op and every case,
  1. infer agrees with ref_float's output shape;
  2. the C kernel's output equals ref_int8 exactly (0 mismatching bytes);
  3. ref_int8 is within one LSB of the float reference quantized (the quantization rule is sane)."""
import numpy as np
import pytest

from edgecompile.ops import REGISTRY
from edgecompile.reference import run_float

from conftest import SANITIZE
from op_harness import case_graph, compile_case, run_case

CASES = [pytest.param(spec, case, id=f"{spec.op.value}-{case.name}")
         for spec in REGISTRY.values() for case in spec.cases]


@pytest.mark.parametrize("spec,case", CASES)
def test_infer_matches_ref_float(spec, case):
    g, feeds = case_graph(spec, case)
    y = run_float(g, {k: v[0] for k, v in feeds.items()})["out"]
    assert tuple(y.shape) == g.tensors["out"].shape


@pytest.mark.parametrize("spec,case", [c for c in CASES if c.values[0].kernel])
def test_c_equals_ref_int8(spec, case, tmp_path):
    art, feeds, host = compile_case(spec, case, tmp_path / "out", sanitize=SANITIZE)
    for s, (c, ref, fq) in enumerate(run_case(art, feeds, host)):
        bad = np.argwhere(c != ref)
        if bad.size:
            rows = [f"  pos {tuple(p)} got {c[tuple(p)]} ref {ref[tuple(p)]}" for p in bad[:8]]
            pytest.fail(f"sample {s}: {len(bad)} of {ref.size} bytes differ\n" + "\n".join(rows))
        diff = np.abs(ref.astype(int) - fq.astype(int))
        assert diff.max(initial=0) <= 1, f"ref_int8 vs quantized float ref differ by {diff.max()} LSB"
