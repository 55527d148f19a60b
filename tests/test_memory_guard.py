"""NAME_ARENA_SIZE is exactly what the generated code touches: the host build places the arena itself
(EC_ARENA_BASE, a test-only define of model.c) between guard bytes, runs inferences with two fill
patterns (DSP paths emulated, so the kernels use their scratch buffers), and checks that no guard byte changed, that the first and the last arena byte are written,
and that the outputs stay bit-exact (overlapping and in-place plans included)."""
import os
import sys

import numpy as np
import pytest

from conftest import ROOT
from edgecompile import host as H
from edgecompile.compiler import compile_model, verify, write_project

sys.path.insert(0, str(ROOT / "benchmarks"))

GUARD = 64
DIGITS = ROOT / "edgecompile" / "examples"


class GuardedHost:
    """verify()'s host: the model built with its arena in a numpy buffer between guard bytes."""

    def __init__(self, outdir, name, size):
        import cffi
        flags = H._flags(False, "-O2") + ["-DEC_EMULATE_DSP"]     # the DSP paths use the scratch buffers
        build = outdir / "build" / "guard"
        build.mkdir(parents=True, exist_ok=True)
        (build / "arena_base.c").write_text("#include <stdint.h>\nint8_t *ec_test_arena;\n")
        inc = outdir / "runtime" / "include"
        objs = [H.compile_object(p, [inc], flags) for p in sorted((outdir / "runtime" / "src").glob("*.c"))]
        objs += [H.compile_object(outdir / f"{name}.c", [inc, outdir], flags, ["-DEC_ARENA_BASE=ec_test_arena"]),
                 H.compile_object(outdir / f"{name}_weights.c", [inc], flags),
                 H.compile_object(build / "arena_base.c", [build], flags)]
        lib = build / f"lib{name}_guard.so"
        H._run([H.compiler(), "-shared", *flags, *map(str, objs), "-o", str(lib)], "linking")
        self.ffi = cffi.FFI()
        self.ffi.cdef(f"int {name}_invoke_multi(const int8_t *const in[], int8_t *const out[]);"
                      "int8_t *ec_test_arena;")
        self.lib = self.ffi.dlopen(str(lib))
        self.invoke = getattr(self.lib, f"{name}_invoke_multi")
        self.size, self.touched = size, np.zeros(size, bool)
        self.buf = np.zeros(GUARD + size + GUARD, np.int8)
        self.lib.ec_test_arena = self.ffi.cast("int8_t *", self.ffi.from_buffer(self.buf)) + GUARD
        self.guard_ok = True

    def run(self, inputs, out_sizes, dumps=None):
        outs = None
        for fill in (0x5A, -0x5B):
            self.buf[:] = fill
            ins = [np.ascontiguousarray(x, dtype=np.int8) for x in inputs]
            o = [np.zeros(n, np.int8) for n in out_sizes]
            rc = self.invoke(self.ffi.new("int8_t *[]", [self.ffi.from_buffer("int8_t[]", x) for x in ins]),
                             self.ffi.new("int8_t *[]", [self.ffi.from_buffer("int8_t[]", x) for x in o]))
            assert rc == 0
            guards = np.concatenate([self.buf[:GUARD], self.buf[GUARD + self.size:]])
            self.guard_ok &= bool(np.all(guards == fill))
            self.touched |= self.buf[GUARD:GUARD + self.size] != fill
            assert outs is None or all(np.array_equal(a, b) for a, b in zip(outs, o)), "output depends on the fill"
            outs = o
        return outs, {}


def _check(art, outdir, inputs):
    size = art.graph.meta["memory"]["arena_size"]
    hm = GuardedHost(outdir, art.name, size)
    res = verify(art, outdir, inputs, with_float=False, host=hm)
    assert res.mismatches == 0 and res.bytes_compared > 0
    assert hm.guard_ok, "a byte outside the arena was written"
    used = np.nonzero(hm.touched)[0]
    assert used[0] == 0 and used[-1] == size - 1, (used[0], used[-1], size)
    return art.graph.meta["memory"]


@pytest.mark.skipif(os.environ.get("EC_SANITIZE") == "1", reason="plain host build")
def test_digits_arena_exactly_used(tmp_path):
    from edgecompile import data as D
    art = compile_model(DIGITS / "digits_cnn.onnx", calib=DIGITS / "digits_calib.npz")
    outdir = write_project(art, tmp_path / art.name)
    inputs = D.input_arrays(art.float_graph, D.load_npz(DIGITS / "digits_test.npz"), "digits_test.npz")
    inputs = {k: v[:20] for k, v in inputs.items()}
    mem = _check(art, outdir, inputs)
    assert mem["overlaps"]


@pytest.mark.slow
@pytest.mark.parametrize("model,saving", [("kws_dscnn", False), ("vww_mobilenetv1_025", False), ("ic_resnet8", False),
                                          ("ad_fc_autoencoder", False), ("vww_mobilenetv1_025", True)])
def test_bench_arena_exactly_used(bench_dir, tmp_path, model, saving):
    """Default plans, and VWW with --memory-saving (its first layers run patch by patch)."""
    import bench_data as B
    task = B.TASKS[model]
    calib, x_eval, _ = B.split(task)
    art = compile_model(B.model_path(task), calib={"x": calib}, memory_saving=saving)
    assert bool(art.graph.meta["memory"]["bands"]) == saving
    outdir = write_project(art, tmp_path / art.name)
    t = art.graph.tensors[art.graph.inputs[0]]
    x = x_eval[:2].reshape(-1, 640)[::97] if task.metric == "auc" else x_eval[:3]
    _check(art, outdir, {t.name: x.reshape((-1,) + t.shape[1:])})
