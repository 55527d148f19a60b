"""The compile and verify drivers behind the CLI and the Python API."""
from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as D
from .codegen import render
from .codegen.filters import c_ident
from .errors import ModelError, OptionError, VerifyError
from .ir import Graph, Op
from .passes import PassContext, run_pipeline
from .passes.lower import lower
from .passes.plan_memory import plan_memory
from .passes.quantize import quantize
from .quant import fixedpoint as fx
from .quant.calibrate import METHODS, dequantize_array, quantize_array
from .reference import run_float, run_int8

# After import and canonicalization, the default compile pipeline, as one literal list.
DEFAULT_PIPELINE = [quantize, lower, plan_memory]
ARTIFACT = ".edgecompile/artifact.pkl"


class RandomCalibrationWarning(UserWarning):
    pass


@dataclass
class Artifact:
    name: str
    float_graph: Graph
    graph: Graph                       # lowered + planned
    files: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def import_model(model, name: str | None = None, channels_last_input: bool = False) -> Graph:
    """Load an ONNX model (path or ModelProto) and canonicalize it into our float NHWC IR."""
    from .onnx_import import load_onnx
    from .passes.canonical import CANONICALIZE
    g = load_onnx(model, channels_last_input=channels_last_input)
    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        g.meta.setdefault("source_name", p.name)
        g.meta.setdefault("sha256", hashlib.sha256(p.read_bytes()).hexdigest())
    g = run_pipeline(g, CANONICALIZE)
    if name:
        g.name = name
    return g


def model_name(model, name: str | None) -> str:
    if name:
        if c_ident(name) != name:
            raise OptionError(f"--name {name!r} is not a C identifier (try {c_ident(name)!r})")
        return name
    stem = Path(str(model)).stem if isinstance(model, (str, os.PathLike)) else "model"
    return c_ident(stem).lower()


OPTIMIZE = ("balanced", "speed")      # compile --optimize


def compile_model(model, *, name: str | None = None, calib=None, calib_method: str = "minmax",
                  per_channel: bool = True, max_calib: int = 500, progress: bool = False,
                  float_graph: Graph | None = None, ranges: dict | None = None,
                  channels_last_input: bool = False, sparse: str = "auto", prune: float | None = None,
                  prune_scope: str = "global", prune_budget: float | None = None,
                  prune_channels: float | None = None, importance: str = "l1",
                  finetune=None, epochs: int | None = None, distill: bool = False,
                  lr: float | None = None, rounding: str = "double", memory_saving: bool | float = False,
                  optimize: str = "balanced", validate=None) -> Artifact:
    """ONNX model -> Artifact (lowered graph + rendered files).  ``calib`` is an .npz path, a dict
    of arrays, or None (random data, with a RandomCalibrationWarning); arrays are in the model's
    declared layout.  ``channels_last_input``: the C API takes NCHW inputs as NHWC (see load_onnx).

    Compression (edgecompile.compress.compress, between import and quantize): ``prune`` (fraction of
    weights zeroed, ``prune_scope`` global | layer | sensitivity, or per-layer ratios within an accuracy
    ``prune_budget``), ``prune_channels`` (fraction of
    output channels removed, ``importance`` l1 | l2 | activation), ``finetune`` (.npz path or dict of
    arrays, optional ``y`` labels) for ``epochs`` with ``distill``-ation from the unpruned model;
    ``validate`` (.npz path or dict: held-out inputs, ``y``, optional ``group``) keeps the best epoch.
    ``sparse``: sparse weight kernels "auto" (where smaller and not slower) | "size" (where smaller)
    | "always" | "never".  The Artifact's float graph is the compressed one.
    ``memory_saving``: False, True or a recompute budget (see _memory_options).
    ``rounding``: requantization rounding, "double" (TFLM) or "single" (CMSIS-NN built with
    CMSIS_NN_USE_SINGLE_ROUNDING); see set_rounding.  ``optimize``: "balanced" (default) or "speed"
    (conv layers' weights also as int16 for the DSP cores' product: faster there, twice their flash)."""
    from .ops.sparse import MODES
    if sparse not in MODES:
        raise OptionError(f"unknown --sparse mode {sparse!r} (choose from {', '.join(MODES)})")
    if calib_method not in METHODS:
        raise OptionError(f"unknown calibration method {calib_method!r} (choose from {', '.join(METHODS)})")
    if rounding not in fx.ROUNDING_MODES:
        raise OptionError(f"unknown --rounding mode {rounding!r} (choose from {', '.join(fx.ROUNDING_MODES)})")
    if optimize not in OPTIMIZE:
        raise OptionError(f"unknown --optimize mode {optimize!r} (choose from {', '.join(OPTIMIZE)})")
    if float_graph is None and _is_tflite(model):
        return compile_tflite(model, name=name, rounding=rounding, memory_saving=memory_saving, optimize=optimize)
    if float_graph is None and _is_prequantized_onnx(model):
        if any(v is not None for v in (prune, prune_budget, prune_channels, finetune)):
            raise OptionError(f"{model}: the model is already quantized (QDQ / QOperator); pruning and "
                              "fine-tuning need its float version")
        return compile_qdq(model, name=name, channels_last_input=channels_last_input, rounding=rounding,
                           memory_saving=memory_saving, optimize=optimize)
    name = model_name(model, name)
    t0 = time.perf_counter()
    g = float_graph if float_graph is not None else import_model(model, channels_last_input=channels_last_input)
    g.name = name
    t_import = time.perf_counter() - t0
    if calib is None:
        warnings.warn("no calibration data given (--calib): calibrating activation ranges on random N(0,1) "
                      "inputs. Real inputs have other ranges, so int8 accuracy will be poor; pass --calib "
                      "DATA.npz with ~100 representative samples.", RandomCalibrationWarning, stacklevel=2)
        inputs = D.random_inputs(g)
    else:
        src = str(calib) if not isinstance(calib, dict) else "calibration data"
        arrays = D.load_npz(calib) if not isinstance(calib, dict) else calib
        inputs = D.input_arrays(g, arrays, src)
    if validate is not None and all(v is None for v in (prune, prune_budget, prune_channels, finetune)):
        raise OptionError("--validate selects among fine-tuning epochs: it needs --finetune or a pruning option")
    if prune is not None or prune_budget is not None or prune_channels is not None or finetune is not None:
        g = _compress(model if float_graph is None and not channels_last_input else g, g, inputs, finetune,
                      prune=prune, prune_scope=prune_scope, prune_budget=prune_budget,
                      prune_channels=prune_channels, importance=importance,
                      epochs=epochs, distill=distill, lr=lr, progress=progress, validation=validate)
        g.name = name
    feeds = D.samples(inputs)[:max_calib]
    ctx = PassContext(options=dict(calibration=feeds, calib_method=calib_method, per_channel=per_channel,
                                   progress=progress, ranges=ranges or {}, sparse=sparse,
                                   memory=_memory_options(memory_saving), optimize=optimize))
    return _lower_and_render(g, g, DEFAULT_PIPELINE, ctx, name, rounding, t0, t_import)


def _memory_options(memory_saving) -> dict:
    """plan_memory's options for ``memory_saving``: False; True (the smallest peak, whatever it costs);
    or a number r >= 0: as True, with the MACs recomputed by patch-based execution capped at r times
    the model's MACs (e.g. 0.05)."""
    if memory_saving is None or memory_saving is False:
        return dict(scratch_free=False)
    if memory_saving is True:
        return dict(scratch_free=True)
    try:
        r = float(memory_saving)
    except (TypeError, ValueError):
        r = -1.0
    if not r >= 0:
        raise OptionError(f"--memory-saving takes no value or a recompute budget >= 0 (a fraction of the "
                          f"model's MACs, e.g. 0.05), not {memory_saving!r}")
    return dict(scratch_free=True, max_extra_macs=r)


def _lower_and_render(g: Graph, float_graph: Graph, pipeline, ctx: PassContext, name: str, rounding: str,
                      t0: float, t_import: float) -> Artifact:
    """Run ``pipeline`` in ``rounding`` mode, render the files, time every step."""
    g.meta["rounding"] = rounding
    lowered = set_rounding(run_pipeline(g, pipeline, ctx), rounding)
    t_render = time.perf_counter()
    files = render(lowered, name)
    timings = {"import": t_import, **dict(ctx.timings), "render": time.perf_counter() - t_render,
               "total": time.perf_counter() - t0}
    return Artifact(name, float_graph, lowered, files, timings)


def set_rounding(g: Graph, rounding: str) -> Graph:
    """Check and record the requantization rounding mode of a lowered graph: ``meta["rounding"]``
    (codegen pins EC_SINGLE_ROUNDING in the generated ec_config.h from it) and every node's
    ``params["rounding"]``, which the ref_int8 of the requantizing ops read.  Variants that tabulate
    requantized values at lowering time (Add's lut) see the mode only if ``meta["rounding"]`` was
    set before ``lower``, as the compile drivers do.  Softmax and the Logistic/Tanh tables keep
    TFLM's arithmetic in both modes (CMSIS-NN's softmax does not use its requantize helper)."""
    if rounding not in fx.ROUNDING_MODES:
        raise OptionError(f"unknown --rounding mode {rounding!r} (choose from {', '.join(fx.ROUNDING_MODES)})")
    if g.meta.get("rounding", rounding) != rounding:
        raise AssertionError(f"graph lowered with rounding {g.meta['rounding']!r}, not {rounding!r}")
    for n in g.nodes:
        if rounding == fx.SINGLE_ROUNDING and n.params and n.op in (Op.CONV2D, Op.DEPTHWISE_CONV2D,
                                                                    Op.FULLY_CONNECTED, Op.ADD, Op.MEAN):
            try:
                for k in ("shift", "input1_shift", "input2_shift", "output_shift"):
                    if k in n.params:
                        fx.check_single_shift(n.params[k])
            except ValueError as e:
                raise ModelError(f"node {n.name!r} ({n.source_op or n.op}): {e}") from None
    g.meta["rounding"] = rounding
    for n in g.nodes:
        if n.params is not None:
            n.params["rounding"] = rounding
    return g


def _compress(source, g: Graph, calib: dict, finetune, **kw) -> Graph:
    from .compress import compress
    data = labels = None
    if finetune is not None:
        src = str(finetune) if not isinstance(finetune, dict) else "fine-tuning data"
        arrays = D.load_npz(finetune) if not isinstance(finetune, dict) else finetune
        data, labels = D.input_arrays(g, arrays, src), D.labels(arrays)
        if labels is not None and len(labels) != len(next(iter(data.values()))):
            raise OptionError(f"{src}: {len(labels)} labels 'y' for {len(next(iter(data.values())))} samples")
    if isinstance(kw.get("validation"), (str, Path)):
        kw["validation"] = D.load_npz(kw["validation"])
    return compress(source, data=data, labels=labels, calib=calib, **kw)


def write_project(art: Artifact, outdir) -> Path:
    """Write all files atomically: a failure leaves no half-written OUTDIR behind."""
    outdir = Path(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        for rel, text in art.files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        (tmp / ARTIFACT).parent.mkdir(parents=True, exist_ok=True)
        with open(tmp / ARTIFACT, "wb") as f:
            pickle.dump({"name": art.name, "float_graph": art.float_graph, "graph": art.graph}, f, protocol=4)
        if outdir.exists():
            old = outdir.with_name(f".{outdir.name}.old-{os.getpid()}")
            os.replace(outdir, old)
            os.replace(tmp, outdir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return outdir


def load_artifact(outdir) -> Artifact:
    p = Path(outdir) / ARTIFACT
    if not p.exists():
        raise OptionError(f"{outdir}: not an edgecompile output directory (no {ARTIFACT})")
    with open(p, "rb") as f:
        d = pickle.load(f)
    return Artifact(d["name"], d["float_graph"], d["graph"])


@dataclass
class VerifyResult:
    samples: int
    bytes_compared: int
    mismatches: int
    first_bad_sample: int | None = None
    first_bad_node: str | None = None
    node_report: list = field(default_factory=list)
    int8_outputs: list = field(default_factory=list)     # per output: int8 [N, ...] from the C
    float_outputs: list = field(default_factory=list)    # per output: float reference [N, ...]
    c_seconds: float = 0.0
    ref_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


def quantize_inputs(g: Graph, feeds: list[dict]) -> list[list[np.ndarray]]:
    return [[quantize_array(f[n], g.tensors[n].q.s, g.tensors[n].q.zp) for n in g.inputs] for f in feeds]


def verify(art: Artifact, outdir, inputs: dict[str, np.ndarray] | None = None, *, sanitize: bool = False,
           with_float: bool = True, progress: bool = False, host=None) -> VerifyResult:
    """Build the generated C for the host, run it on every sample and compare every output byte with
    the NumPy integer reference; on a mismatch, localize the first diverging node."""
    from tqdm import tqdm
    from .host import HostModel
    g = art.graph
    if inputs is None:
        inputs = D.random_inputs(art.float_graph, n=8, seed=1)
    feeds = D.samples(inputs)
    qin = quantize_inputs(g, feeds)
    out_sizes = [g.tensors[o].size for o in g.outputs]
    model = host or HostModel(outdir, art.name, len(g.nodes), sanitize=sanitize)
    res = VerifyResult(len(feeds), 0, 0)
    c_outs = [[] for _ in g.outputs]
    for s, (feed, q) in enumerate(tqdm(list(zip(feeds, qin)), desc="verifying", unit="sample",
                                       disable=not progress, leave=False)):
        t = time.perf_counter()
        outs, _ = model.run(q, out_sizes)
        res.c_seconds += time.perf_counter() - t
        t = time.perf_counter()
        ref = run_int8(g, dict(zip(g.inputs, q)))
        res.ref_seconds += time.perf_counter() - t
        for k, o in enumerate(g.outputs):
            r = ref[o].ravel()
            bad = int(np.count_nonzero(outs[k] != r))
            res.bytes_compared += r.size
            res.mismatches += bad
            c_outs[k].append(outs[k].reshape(g.tensors[o].shape))
            if bad and res.first_bad_sample is None:
                res.first_bad_sample = s
                res.first_bad_node, res.node_report = localize(g, model, q)
    res.int8_outputs = [np.stack(o) for o in c_outs]
    if with_float:
        fo = [run_float(art.float_graph, f) for f in feeds]
        res.float_outputs = [np.stack([r[o] for r in fo]) for o in art.float_graph.outputs]
    return res


def localize(g: Graph, model, q_inputs) -> tuple[str | None, list]:
    """Run once with every node dumped; return the first node whose C output differs."""
    banded = {i for d in g.meta["memory"].get("bands") or [] for i in d["nodes"][:-1]}   # no full output
    dumps = {k: g.tensors[n.outputs[0]].nbytes for k, n in enumerate(g.nodes) if n.kernel and k not in banded}
    _, got = model.run(q_inputs, [g.tensors[o].size for o in g.outputs], dumps)
    env = run_int8(g, dict(zip(g.inputs, q_inputs)), keep_all=True)
    report = []
    for k, n in enumerate(g.nodes):
        if k not in got:
            continue
        ref = env[n.outputs[0]].ravel()
        bad = int(np.count_nonzero(got[k] != ref))
        report.append((n.name, n.op.value, bad, ref.size))
        if bad:
            return f"{n.name} ({n.op.value} -> {n.kernel})", report
    return None, report


def dequantize_outputs(g: Graph, res: VerifyResult) -> list[np.ndarray]:
    return [dequantize_array(o, g.tensors[n].q.s, g.tensors[n].q.zp) for o, n in zip(res.int8_outputs, g.outputs)]


def check(res: VerifyResult) -> None:
    if not res.ok:
        raise VerifyError(f"{res.mismatches} of {res.bytes_compared} output bytes differ "
                          f"(first at sample {res.first_bad_sample}, first diverging node {res.first_bad_node})")


# ------------------------------------------------------------------ pre-quantized TFLite models
TFLITE_PIPELINE = [lower, plan_memory]


def _is_tflite(model) -> bool:
    from .tflite_import import is_tflite
    return isinstance(model, (str, os.PathLike, bytes, bytearray)) and is_tflite(model)


def compile_tflite(model, *, name: str | None = None, rounding: str = "double",
                   memory_saving: bool = False, optimize: str = "balanced") -> Artifact:
    """A full-int8 .tflite (path or bytes) -> Artifact.  Scales and zero points are kept as given,
    so only lower and plan_memory run; ``float_graph`` is the dequantized twin."""
    from .tflite_import import load_tflite
    name = model_name(model if not isinstance(model, (bytes, bytearray)) else "model", name)
    t0 = time.perf_counter()
    return _compile_quantized(load_tflite(model, name=name), name, rounding, t0, memory_saving, optimize)


def _compile_quantized(g: Graph, name: str, rounding: str, t0: float, memory_saving: bool = False,
                       optimize: str = "balanced") -> Artifact:
    """Lower and plan a graph whose quantization came with the file (tflite, QDQ/QOperator ONNX)."""
    from .tflite_import import dequantized
    t_import = time.perf_counter() - t0
    ctx = PassContext(options={"memory": _memory_options(memory_saving), "optimize": optimize})
    return _lower_and_render(g, dequantized(g), TFLITE_PIPELINE, ctx, name, rounding, t0, t_import)


# ------------------------------------------------------------------ pre-quantized ONNX models
def _is_prequantized_onnx(model) -> bool:
    from .onnx_import.qdq import is_prequantized
    return not isinstance(model, (bytes, bytearray)) and not _is_tflite(model) and is_prequantized(model)


def compile_qdq(model, *, name: str | None = None, channels_last_input: bool = False,
                rounding: str = "double", memory_saving: bool = False, optimize: str = "balanced") -> Artifact:
    """A pre-quantized ONNX model (QDQ or QOperator; path or ModelProto) -> Artifact, keeping the
    file's scales and zero points (onnx_import/qdq.py); like compile_tflite, only lower and plan_memory run."""
    from .onnx_import.qdq import load_qdq
    name = model_name(model if isinstance(model, (str, os.PathLike)) else "model", name)
    t0 = time.perf_counter()
    return _compile_quantized(load_qdq(model, name=name, channels_last_input=channels_last_input),
                              name, rounding, t0, memory_saving, optimize)
