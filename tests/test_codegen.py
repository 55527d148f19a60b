"""Code generation: filters (doctests), determinism, the C API contract, memory plan soundness."""
import doctest
import re

import numpy as np

from edgecompile.codegen import filters
from edgecompile.compiler import compile_model
from edgecompile.examples import DIGITS_CALIB, DIGITS_ONNX
from edgecompile.ir import SHAPE_ONLY


def test_filter_doctests():
    failures, tried = doctest.testmod(filters, verbose=False)
    assert tried >= 10 and failures == 0


def test_output_is_deterministic():
    a = compile_model(DIGITS_ONNX, calib=DIGITS_CALIB).files
    b = compile_model(DIGITS_ONNX, calib=DIGITS_CALIB).files
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], f"{k} differs between two compiles"


def test_header_api_contract():
    art = compile_model(DIGITS_ONNX, calib=DIGITS_CALIB, name="dg")
    h = art.files["dg.h"]
    for macro in ("DG_INPUT_SIZE", "DG_OUTPUT_SIZE", "DG_INPUT_SCALE", "DG_INPUT_ZERO_POINT", "DG_OUTPUT_SCALE",
                  "DG_OUTPUT_ZERO_POINT", "DG_ARENA_SIZE"):
        assert re.search(rf"#define {macro} ", h), macro
    assert "int dg_invoke(const int8_t *input, int8_t *output);" in h
    c = art.files["dg.c"]
    assert "EC_BEFORE_NODE" in c and "EC_AFTER_NODE" in c and "EC_RUNTIME_ABI_VERSION" in c
    for bad in ("malloc", "float ", "double "):
        assert bad not in c
    assert f"#define DG_ARENA_SIZE {art.graph.meta['memory']['arena_size']}" in h
    # only the kernels this model uses are shipped
    used = {n.kernel for n in art.graph.nodes if n.kernel}
    shipped = {k.split("/")[-1][:-2] for k in art.files if k.startswith("runtime/src/")}
    from edgecompile.codegen import RUNTIME_DEPS
    assert shipped == used | {d for k in used for d in RUNTIME_DEPS.get(k, ())}


def test_memory_plan_never_overlaps_live_buffers():
    g = compile_model(DIGITS_ONNX, calib=DIGITS_CALIB).graph
    mem = g.meta["memory"]
    st = mem["storage"]
    spans = {}
    for i, n in enumerate(g.nodes):
        for t in [n.outputs[0]] + [x for x in n.inputs if x]:
            if st[t][0] == "arena":
                lo, hi = spans.get(t, (i, i))
                spans[t] = (min(lo, i), max(hi, i))
    names = [t for t in spans if not any(n.op in SHAPE_ONLY and n.outputs[0] == t for n in g.nodes)]
    for a in names:
        oa, sa = st[a][1], g.tensors[a].nbytes
        assert oa + sa <= mem["arena_size"]
        for b in names:
            if a >= b:
                continue
            ob, sb = st[b][1], g.tensors[b].nbytes
            live = not (spans[a][1] < spans[b][0] or spans[b][1] < spans[a][0])
            declared = any({o["output"], o["input"]} == {a, b} for o in mem["overlaps"])  # checked below
            if live and not declared:
                assert oa + sa <= ob or ob + sb <= oa, f"{a} and {b} overlap while both live"
    assert mem["arena_size"] < mem["no_reuse_size"]
    assert np.all([st[o][0] == "output" for o in g.outputs])
    from edgecompile.passes.memory.verify import check_plan
    assert check_plan(g) == []


def test_scratch_buffers_are_planned_and_passed_to_the_kernel():
    from edgecompile.codegen import render
    from edgecompile.passes.plan_memory import plan_memory
    g = compile_model(DIGITS_ONNX, calib=DIGITS_CALIB).graph
    k = next(i for i, n in enumerate(g.nodes) if n.kernel and g.meta["memory"]["storage"][n.inputs[0]][0] == "arena")
    g.nodes[k].params = dict(g.nodes[k].params, scratch_bytes=37)
    g = plan_memory(g, None)
    mem = g.meta["memory"]
    off, size = mem["scratch"][k]
    assert size == 37 and off % 4 == 0 and off + size <= mem["arena_size"]
    n = g.nodes[k]
    for t in [n.outputs[0], n.inputs[0]]:
        kind, o = mem["storage"][t]
        if kind == "arena":
            assert off + size <= o or o + g.tensors[t].nbytes <= off, f"scratch overlaps {t}"
    c = render(g, "m")["m.c"]
    assert f"ctx.buf = m_arena + {off};" in c and "ctx.size = 37;" in c
