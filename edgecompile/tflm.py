"""Side-by-side runs of our generated C and the TFLM reference interpreter (pip ``tflite-micro``).

``compare`` runs a compiled model's C (built for the host) and TFLM on the same int8 inputs,
counts mismatching output bytes and, on the first sample that differs, compares every node's
output with the TFLM tensor of the same name (TFLM keeps all tensors with kPreserveAllTensors).
Both sides must describe the same quantized model: a .tflite compiled with edgecompile, or a
model quantized by edgecompile and exported with ``tflite_export``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import EdgeCompileError
from .ir import Graph
from .quant.calibrate import quantize_array


def runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime as rt
    except ImportError as e:          # pragma: no cover - depends on the environment
        raise EdgeCompileError("running TFLM needs the 'tflite-micro' package (pip install tflite-micro)") from e
    return rt


class Tflm:
    """One TFLM interpreter on a model (path or bytes); ``preserve`` keeps every tensor readable."""

    def __init__(self, model, preserve: bool = False, arena_size: int | None = None):
        rt = runtime()
        self.bytes = bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
        cfg = rt.InterpreterConfig.kPreserveAllTensors if preserve else rt.InterpreterConfig.kAllocationRecording
        if arena_size is None:                 # the wrapper's default is too small for big tensors
            arena_size = (8 << 20) if preserve else (1 << 20)
        self.it = rt.Interpreter.from_bytes(self.bytes, intrepreter_config=cfg, arena_size=arena_size)

    def run(self, inputs: list[np.ndarray], n_outputs: int = 1) -> list[np.ndarray]:
        for i, x in enumerate(inputs):
            self.it.set_input(np.ascontiguousarray(x, dtype=np.int8), i)
        self.it.invoke()
        return [np.asarray(self.it.get_output(k)) for k in range(n_outputs)]

    def tensor(self, idx: int) -> np.ndarray:
        return np.asarray(self.it.GetTensor(idx, 0)["tensor_data"])


def tensor_index(model_bytes: bytes) -> dict[str, int]:
    """TFLite tensor name -> index in subgraph 0 (as the importer names them: duplicates get _idx)."""
    from .tflite_import import _c_name, schema
    sg = schema().ModelT.InitFromPackedBuf(model_bytes, 0).subgraphs[0]
    used: set[str] = set()
    out = {}
    for i, t in enumerate(sg.tensors):
        nm = t.name.decode() if isinstance(t.name, bytes) else (t.name or "")
        out[_c_name(nm, i, used)] = i
    return out


def int8_inputs(g: Graph, arrays: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per sample, the int8 inputs of ``g``.  int8 arrays [N, ...] are taken as already quantized;
    any other dtype holds real values and is quantized with the input's scale and zero point."""
    per_input = []
    for name, a in zip(g.inputs, arrays):
        t = g.tensors[name]
        a = np.asarray(a)
        if a.size % t.size:
            raise EdgeCompileError(f"input {name!r}: {a.shape} does not hold whole samples of shape {t.shape}")
        a = a.reshape((-1,) + tuple(t.shape))
        if a.dtype != np.int8:
            a = quantize_array(a.astype(np.float32), t.q.s, t.q.zp)
        per_input.append(a)
    return [list(s) for s in zip(*per_input)]


@dataclass
class CompareResult:
    samples: int = 0
    bytes_compared: int = 0
    mismatches: int = 0
    mismatching_samples: list = field(default_factory=list)
    first_bad_sample: int | None = None
    node_report: list = field(default_factory=list)    # (node, op, bad bytes, size) on the first bad sample
    c_outputs: list = field(default_factory=list)       # per output: int8 [N, ...] from our C
    tflm_outputs: list = field(default_factory=list)    # per output: int8 [N, ...] from TFLM
    c_seconds: float = 0.0
    tflm_seconds: float = 0.0
    rounding: str = "double"                            # the compiled model's --rounding

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    @property
    def first_bad_node(self) -> str | None:
        return next((f"{n} ({op})" for n, op, bad, _ in self.node_report if bad), None)


def compare(art, outdir, model, samples: list[list[np.ndarray]], *, host=None, localize: bool = True,
            progress: bool = False) -> CompareResult:
    """Run ``art``'s C (OUTDIR built for the host) and TFLM on ``model`` for every sample of int8
    inputs; count differing output bytes; localize the first differing sample node by node."""
    from tqdm import tqdm
    from .host import HostModel
    g = art.graph
    tflm = Tflm(model)
    hm = host or HostModel(outdir, art.name, len(g.nodes))
    sizes = [g.tensors[o].size for o in g.outputs]
    res = CompareResult(samples=len(samples), rounding=g.meta.get("rounding", "double"))
    cs, ts = [[] for _ in sizes], [[] for _ in sizes]
    for s, q in enumerate(tqdm(samples, desc="comparing", unit="sample", disable=not progress, leave=False)):
        t0 = time.perf_counter()
        outs, _ = hm.run(q, sizes)
        t1 = time.perf_counter()
        want = tflm.run(q, len(sizes))
        res.tflm_seconds += time.perf_counter() - t1
        res.c_seconds += t1 - t0
        bad = 0
        for k, (o, w) in enumerate(zip(outs, want)):
            if w.size != o.size:
                raise EdgeCompileError(f"output {k}: TFLM gives {w.size} values, our C {o.size}")
            bad += int(np.count_nonzero(o != w.ravel()))
            res.bytes_compared += o.size
            cs[k].append(o.reshape(g.tensors[g.outputs[k]].shape))
            ts[k].append(w.reshape(g.tensors[g.outputs[k]].shape))
        res.mismatches += bad
        if bad:
            res.mismatching_samples.append(s)
            if res.first_bad_sample is None:
                res.first_bad_sample = s
                if localize:
                    res.node_report = node_report(g, hm, tflm.bytes, q)
    res.c_outputs = [np.stack(c) for c in cs]
    res.tflm_outputs = [np.stack(t) for t in ts]
    return res


def node_report(g: Graph, hm, model_bytes: bytes, q: list[np.ndarray]) -> list[tuple]:
    """(node, op, mismatching bytes, size) for every node whose output has a TFLM tensor of the same
    name; nodes without one (internal reshapes) are skipped."""
    index = g.meta.get("tflite_tensors") or tensor_index(model_bytes)
    tflm = Tflm(model_bytes, preserve=True)
    tflm.run(q, len(g.outputs))
    dumps = {k: g.tensors[n.outputs[0]].nbytes for k, n in enumerate(g.nodes) if n.kernel}
    _, got = hm.run(q, [g.tensors[o].size for o in g.outputs], dumps)
    report = []
    for k, n in enumerate(g.nodes):
        name = n.outputs[0]
        if k not in got or name not in index:
            continue
        want = tflm.tensor(index[name]).ravel()
        if want.size != got[k].size:
            continue
        report.append((n.name, n.op.value, int(np.count_nonzero(got[k] != want)), int(want.size)))
    return report


def format_report(res: CompareResult) -> str:
    lines = [f"{res.samples} samples, {res.bytes_compared} output bytes: {res.mismatches} differ"
             + (f" in {len(res.mismatching_samples)} samples (first: sample {res.first_bad_sample})"
                if res.mismatches else " (bit-exact with TFLM)")]
    if res.mismatches and res.rounding != "double":
        lines.append(f"note: the model was compiled with --rounding {res.rounding}; TFLM rounds twice (double), "
                     "so ties differ by 1 LSB in conv, depthwise, fully connected, add and mean")
    if res.node_report:
        lines.append(f"per node on sample {res.first_bad_sample} (ours vs TFLM):")
        for n, op, bad, size in res.node_report:
            lines.append(f"  {n:32s} {op:16s} {bad:6d} / {size} bytes differ" + ("   <- first" if bad and
                         (n, op, bad, size) == next(r for r in res.node_report if r[2]) else ""))
    return "\n".join(lines)
