"""The edgecompile command line (DESIGN.md §5).  Every user error ends as one line on stderr and a
non-zero exit code; a traceback means an edgecompile bug."""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .errors import EdgeCompileError, OptionError

EXIT_ERROR, EXIT_MISMATCH, EXIT_USAGE = 1, 3, 2


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _warning(message, category, filename, lineno, file=None, line=None):
    _say(f"edgecompile: warning: {message}")


def _compile(args, model: str):
    from .compiler import compile_model
    _say(f"compiling {model} ...")
    art = compile_model(model, name=args.name, calib=args.calib, calib_method=args.calib_method,
                        per_channel=not args.per_tensor, progress=True, channels_last_input=args.channels_last_input,
                        rounding=args.rounding, memory_saving=_memory_saving(args),
                        optimize=getattr(args, "optimize", "balanced"), **_compression(args))
    q = art.graph.meta.get("quantized") or {}
    if str(q.get("method", "")).startswith("onnx-q"):
        ignored = [f for f, v in (("--calib", args.calib), ("--per-tensor", args.per_tensor)) if v]
        fmt = {"onnx-qdq": "QDQ", "onnx-qoperator": "QOperator"}.get(q["method"], q["method"])
        _say(f"{model} is pre-quantized ({fmt}): keeping the file's scales and zero points"
             + (f"; {', '.join(ignored)} ignored" if ignored else "; no calibration needed"))
    return art


def _compression(args) -> dict:
    """compile_model's compression options from the flags quant_opts adds."""
    return dict(prune=getattr(args, "prune", None), prune_scope=args.prune_scope, prune_budget=args.prune_budget,
                prune_channels=getattr(args, "prune_channels", None),
                importance=args.importance, finetune=args.finetune, epochs=args.epochs, distill=args.distill,
                lr=args.lr, sparse=args.sparse, validate=getattr(args, "validate", None))


def _summary(art, outdir) -> None:
    from .analysis import const_bytes, total_macs
    g = art.graph
    mem = g.meta["memory"]
    print(f"{art.name}: {len(g.nodes)} nodes, {total_macs(g):,} MACs, weights {const_bytes(g):,} B, "
          f"arena {mem['arena_size']:,} B (without reuse {mem['no_reuse_size']:,} B), "
          f"compiled in {art.timings['total']:.2f} s -> {outdir}")


def cmd_compile(args) -> int:
    from .boards import load_board
    from .compiler import write_project
    from .firmware import board_files, check_fit
    board = load_board(args.board)
    _check_model_path(args.model)
    art = _compile(args, args.model)
    if args.arena_section or args.weights_section:
        from .codegen import render, set_sections
        set_sections(art.graph, args.arena_section, args.weights_section)
        art.files.update(render(art.graph, art.name))
    check_fit(art, board)
    art.files.update(board_files(art.name, art.graph, board))
    write_project(art, args.output)
    _summary(art, args.output)
    if not board.is_host:
        print(f"{board.name} project: 'make -C {args.output}' or 'edgecompile build {args.output} --board {board.name}'")
    return 0


def _check_model_path(p: str) -> None:
    path = Path(p)
    if not path.exists():
        raise OptionError(f"{p}: no such file")
    if path.is_dir():
        raise OptionError(f"{p}: is a directory, expected an .onnx model file")


def _load_inputs(art, path: str | None):
    from . import data as D
    if path is None:
        return None, None
    arrays = D.load_npz(path)
    if art.graph.meta.get("int_inputs"):        # a pre-quantized ONNX model declaring int8/uint8 inputs
        from .onnx_import.qdq import int_arrays_to_real
        arrays = int_arrays_to_real(art.graph, arrays)
    return D.input_arrays(art.float_graph, arrays, path), D.labels(arrays)


def _report_accuracy(res, labels, art) -> None:
    if labels is None or not res.int8_outputs:
        return
    from .compiler import dequantize_outputs
    q = res.int8_outputs[0].reshape(res.samples, -1)
    if q.shape[1] < 2 or labels.shape[0] != res.samples or labels.ndim != 1:
        return
    acc_q = float(np.mean(np.argmax(q, axis=1) == labels))
    line = f"accuracy on {res.samples} labelled samples: int8 (C) {100 * acc_q:.2f}%"
    if res.float_outputs:
        f = res.float_outputs[0].reshape(res.samples, -1)
        acc_f = float(np.mean(np.argmax(f, axis=1) == labels))
        line = (f"accuracy on {res.samples} labelled samples: float {100 * acc_f:.2f}%, "
                f"int8 (C) {100 * acc_q:.2f}% ({100 * (acc_q - acc_f):+.2f} points)")
        deq = dequantize_outputs(art.graph, res)[0].reshape(res.samples, -1)
        agree = float(np.mean(np.argmax(deq, 1) == np.argmax(f, 1)))
        line += f"; top-1 agreement float vs int8 {100 * agree:.1f}%"
    print(line)


def cmd_verify(args) -> int:
    from .compiler import load_artifact, verify, write_project
    target = Path(args.target)
    tmp = None
    if not target.exists():
        raise OptionError(f"{target}: no such file or directory")
    try:
        if target.is_dir():
            art = load_artifact(target)
            outdir = target
        else:
            art = _compile(args, str(target))
            tmp = Path(tempfile.mkdtemp(prefix="edgecompile-verify-"))
            outdir = write_project(art, tmp / art.name)
        inputs, labels = _load_inputs(art, args.inputs)
        if inputs is None:
            _say("no --inputs given: verifying on 8 random inputs")
        t0 = time.perf_counter()
        res = verify(art, outdir, inputs, sanitize=args.sanitize, progress=True)
        dt = time.perf_counter() - t0
        status = "bit-exact" if res.ok else "MISMATCH"
        print(f"verify {art.name} ({art.graph.meta.get('rounding', 'double')} rounding): {res.samples} samples, "
              f"{res.bytes_compared:,} output bytes compared, "
              f"{res.mismatches} mismatches -> {status} ({dt:.1f} s; C {1e3 * res.c_seconds / res.samples:.2f} ms"
              f"/inference, NumPy reference {1e3 * res.ref_seconds / res.samples:.2f} ms/inference)")
        if not res.ok:
            print(f"first mismatch at sample {res.first_bad_sample}; first diverging node: {res.first_bad_node}")
            for name, op, bad, size in res.node_report:
                print(f"  {name:40s} {op:16s} {bad:6d} / {size} bytes differ")
        _report_accuracy(res, labels, art)
        return 0 if res.ok else EXIT_MISMATCH
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _compare_inputs(g, path: str | None, limit: int | None):
    """int8 samples for 'compare': int8 arrays as is, other dtypes as real values (quantized)."""
    from . import data as D
    from .tflm import int8_inputs
    if path is None:
        _say("no --inputs given: comparing on 8 random int8 inputs")
        rng = np.random.default_rng(0)
        return int8_inputs(g, [rng.integers(-128, 128, (8,) + g.tensors[i].shape).astype(np.int8)
                               for i in g.inputs]), None
    arrays = D.load_npz(path)
    data = {k: v for k, v in arrays.items() if k not in ("y", "files")}
    if len(g.inputs) == 1 and g.inputs[0] not in data:
        if len(data) != 1 and "x" not in data:
            raise OptionError(f"{path}: expected an array named {g.inputs[0]!r} or 'x'")
        data = {g.inputs[0]: data.get("x", next(iter(data.values())))}
    missing = [i for i in g.inputs if i not in data]
    if missing:
        raise OptionError(f"{path}: no array for model input(s) {missing}")
    arrs = [data[i][:limit] for i in g.inputs]
    labels = arrays.get("y")
    return int8_inputs(g, arrs), None if labels is None else np.asarray(labels)[:limit]


def cmd_compare(args) -> int:
    from .compiler import compile_tflite, load_artifact, write_project
    from .tflm import compare, format_report
    target = Path(args.target)
    if not target.exists():
        raise OptionError(f"{target}: no such file or directory")
    tmp = Path(tempfile.mkdtemp(prefix="edgecompile-compare-"))
    try:
        if target.is_dir():
            art, outdir = load_artifact(target), target
            model = args.tflite
            if model is None:
                from .tflite_export import export_tflite
                model = export_tflite(art.graph)
        elif target.suffix.lower() == ".tflite":
            art = compile_tflite(str(target), name=args.name, rounding=args.rounding,
                                 memory_saving=_memory_saving(args),
                                 optimize=getattr(args, "optimize", "balanced"))
            outdir, model = write_project(art, tmp / art.name), str(target)
        else:
            from .tflite_export import export_tflite
            art = _compile(args, str(target))
            outdir, model = write_project(art, tmp / art.name), None
            model = export_tflite(art.graph)
        samples, labels = _compare_inputs(art.graph, args.inputs, args.limit)
        res = compare(art, outdir, model, samples, progress=True)
        print(f"compare {art.name}: our C vs TFLM (reference kernels) on {res.samples} samples: "
              f"{res.mismatches} of {res.bytes_compared:,} output bytes differ -> "
              f"{'bit-exact' if res.ok else 'MISMATCH'}")
        if not res.ok:
            print(format_report(res))
        if labels is not None and labels.ndim == 1 and labels.shape[0] == res.samples:
            q = res.c_outputs[0].reshape(res.samples, -1)
            if q.shape[1] >= 2:
                t = res.tflm_outputs[0].reshape(res.samples, -1)
                print(f"top-1 accuracy on {res.samples} labelled samples: ours {100 * np.mean(q.argmax(1) == labels):.2f}%, "
                      f"TFLM {100 * np.mean(t.argmax(1) == labels):.2f}%")
        return 0 if res.ok else EXIT_MISMATCH
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_sweep(args) -> int:
    from .compress.sweep import sweep, table
    _check_model_path(args.model)
    try:
        levels = [float(v) for v in args.levels.split(",") if v.strip()]
    except ValueError:
        raise OptionError(f"--levels {args.levels!r}: expected comma-separated fractions, e.g. 0,0.5,0.8") from None
    kw = _compression(args)
    kw.pop("prune"), kw.pop("prune_channels"), kw.pop("prune_budget")
    finetune = kw.pop("finetune")
    rows = sweep(args.model, calib=args.calib, evaluation=args.eval, levels=levels, channels=args.channels,
                 outdir=args.output, finetune=finetune, board=None if args.board == "none" else args.board,
                 plot=not args.no_plot, log=_say, name=args.name, progress=True, **kw)
    print(table(rows, args.channels))
    print(f"-> {args.output}/sweep.md, sweep.json" + ("" if args.no_plot else ", sweep.png"))
    return 0


def cmd_inspect(args) -> int:
    from .inspect_model import inspect_model
    _check_model_path(args.model)
    print(inspect_model(args.model))
    return 0


def cmd_example(args) -> int:
    from . import examples
    from .compiler import compile_model, verify, write_project
    from . import data as D
    out = Path(args.output)
    _say(f"example: the bundled 8x8-digits CNN ({examples.DIGITS_ONNX.name}), trained by "
         f"edgecompile/examples/train_digits.py")
    art = compile_model(examples.DIGITS_ONNX, name="digits", calib=examples.DIGITS_CALIB, progress=True)
    write_project(art, out)
    _summary(art, out)
    arrays = D.load_npz(examples.DIGITS_TEST)
    inputs = D.input_arrays(art.float_graph, arrays, str(examples.DIGITS_TEST))
    res = verify(art, out, inputs, progress=True)
    print(f"verify digits: {res.samples} test samples, {res.bytes_compared:,} output bytes compared, "
          f"{res.mismatches} mismatches -> {'bit-exact' if res.ok else 'MISMATCH'}")
    _report_accuracy(res, D.labels(arrays), art)
    return 0 if res.ok else EXIT_MISMATCH


def cmd_report(args) -> int:
    from . import report
    if not (Path(args.outdir) / "report.json").exists():
        raise OptionError(f"{args.outdir}: not an OUTDIR from 'edgecompile compile' (no report.json)")
    rep = report.write(args.outdir, args.board, args.measure)
    m = rep["memory"]
    print(f"{rep['name']}: arena {m['arena_bytes']:,} B + input {m['input_bytes']:,} B + output "
          f"{m['output_bytes']:,} B = {m['arena_input_output_bytes']:,} B (compare with TFLM's arena); lower "
          f"bound (largest live set) {m['lower_bound_live_set']:,} B, with overlaps {m['lower_bound_with_overlap']:,} B"
          f"; weights {rep['weights_bytes']:,} B -> {Path(args.outdir) / 'report.html'}")
    if "board" in rep:
        b = rep["board"]
        print(f"{b['name']}: flash {b['flash_used']:,} / {b['flash_bytes']:,} B, RAM {b['ram_used']:,} / "
              f"{b['ram_bytes']:,} B{'' if b['measured_from_firmware'] else ' (estimate: build for exact figures)'}"
              f" -> {'fits' if b['fits'] else 'DOES NOT FIT'}")
    return 0


def cmd_boards(args) -> int:
    from .boards import list_boards
    print(list_boards())
    return 0


def _outdir(p: str) -> Path:
    path = Path(p)
    if not path.is_dir():
        raise OptionError(f"{p}: no such output directory (create it with 'edgecompile compile MODEL -o {p}')")
    return path


def cmd_build(args) -> int:
    from .compiler import load_artifact
    from .firmware import build, project_board
    outdir = _outdir(args.outdir)
    board = args.board or project_board(outdir)
    if board == "host":
        raise OptionError(f"{outdir} was compiled without --board: pass --board BOARD (see 'edgecompile boards')")
    _say(f"building {outdir} for {board} ...")
    res = build(outdir, board, jobs=args.jobs, log=_say)
    print(res.report(load_artifact(outdir).name))
    return 0


def cmd_run(args) -> int:
    from .compiler import load_artifact
    from .firmware import run
    outdir = _outdir(args.outdir)
    art = load_artifact(outdir)
    inputs, labels = _load_inputs(art, args.inputs)
    if inputs is None:
        _say("no --inputs given: running 8 random inputs")
    elif args.limit:
        inputs = {k: v[:args.limit] for k, v in inputs.items()}
        labels = labels[:args.limit] if labels is not None else None
    _say(f"cross-compiling and running {art.name} under QEMU ({args.board}) ...")
    res = run(outdir, args.board, inputs, timeout=args.timeout)
    b = res.board
    ins = np.array(res.instructions)
    spread = "identical for every sample" if ins.min() == ins.max() else f"min {ins.min():,}, max {ins.max():,}"
    status = "bit-exact" if res.ok else "MISMATCH"
    print(f"run {art.name} on {b.name} ({b.label}, QEMU {b.qemu_machine}): {res.samples} samples, "
          f"{res.bytes_compared:,} output bytes compared with the NumPy reference, {res.mismatches} mismatches "
          f"-> {status} ({res.seconds:.1f} s)")
    print(f"instructions per inference: {round(ins.mean()):,} ({spread}; QEMU -icount shift=0, counted with "
          f"SysTick at {b.clock_hz / 1e6:g} MHz, granularity {res.granularity:g} instructions)")
    total = sum(n for _, _, n in res.node_instructions) or 1
    print("per layer, sample 0 (EC_BEFORE_NODE/EC_AFTER_NODE hooks):")
    for name, op, n in res.node_instructions:
        short = name if len(name) <= 44 else "..." + name[-41:]
        print(f"  {short:44s} {op:16s} {n:>12,} {100 * n / total:5.1f}%")
    if not res.ok:
        print(f"first mismatch at sample {res.first_bad_sample}")
    if labels is not None and res.int8_outputs and labels.ndim == 1 and len(labels) == res.samples:
        q = res.int8_outputs[0].reshape(res.samples, -1)
        if q.shape[1] > 1:
            print(f"accuracy on {res.samples} labelled samples: int8 on {b.name} "
                  f"{100 * float(np.mean(q.argmax(1) == labels)):.2f}%")
    return 0 if res.ok else EXIT_MISMATCH


def _memory_saving(args):
    """compile_model's memory_saving: False, True, or the --max-recompute budget (implies it)."""
    budget = getattr(args, "max_recompute", None)
    return budget if budget is not None else getattr(args, "memory_saving", False)


def _recompute(text: str) -> float:
    try:
        r = float(text)
    except ValueError:
        r = -1.0
    if not r >= 0:
        raise argparse.ArgumentTypeError(f"MAX_RECOMPUTE must be a number >= 0 (a fraction of the model's MACs), "
                                         f"not {text!r}")
    return r


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgecompile",
                                description="Compile trained ONNX models into bit-exact int8 C for Arm Cortex-M.")
    p.add_argument("--version", action="version", version=f"edgecompile {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def quant_opts(sp):
        sp.add_argument("--name", help="C identifier prefix (default: the model file's stem)")
        sp.add_argument("--calib", metavar="DATA.npz",
                        help="calibration data: one float array per model input, [N, *shape] (~100 samples)")
        sp.add_argument("--calib-method", default="minmax", choices=["minmax", "percentile", "mse"],
                        help="activation range estimation (default: minmax)")
        sp.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per channel")
        sp.add_argument("--rounding", default="double", choices=["double", "single"],
                        help="requantization rounding: double = TFLM's reference kernels (default), single = "
                             "CMSIS-NN built with CMSIS_NN_USE_SINGLE_ROUNDING (conv, depthwise, FC, add, mean)")
        sp.add_argument("--memory-saving", action="store_true",
                        help="trade speed for RAM where that lowers the arena peak: kernels without their scratch "
                             "(one-row fully connected layers) and early layers run patch by patch in row bands "
                             "(slower: see report.json memory.scratch_free and memory.patches)")
        sp.add_argument("--max-recompute", type=_recompute, metavar="FRACTION",
                        help="with --memory-saving (implied): cap the MACs recomputed in the row bands' halos at "
                             "FRACTION of the model's MACs (e.g. 0.05; default no cap: the smallest peak)")
        sp.add_argument("--optimize", default="balanced", choices=["balanced", "speed"],
                        help="speed: conv layers' weights also as int16 for the DSP product of Cortex-M4/M7/M33 "
                             "(about 25%% fewer instructions there, twice those weights' flash; default balanced)")
        sp.add_argument("--channels-last-input", action="store_true",
                        help="the C API takes NCHW image inputs as NHWC, without the leading transpose "
                             "(.npz data stays in the model's declared layout)")
        compression_opts(sp)

    def _fractions(text: str):
        """--prune-channels: one fraction, or a comma-separated list (one per prunable layer)."""
        vals = [float(v) for v in text.split(",")]
        return vals[0] if len(vals) == 1 else vals

    def compression_opts(sp, levels: bool = False):
        g = sp.add_argument_group("compression (before quantization)")
        if not levels:
            g.add_argument("--prune", type=float, metavar="SPARSITY",
                           help="zero this fraction of the weights (unstructured magnitude pruning)")
            g.add_argument("--prune-channels", type=_fractions, metavar="FRACTION[,FRACTION...]",
                           help="remove this fraction of each layer's output channels (structured: a smaller "
                                "dense model), or one fraction per prunable layer in graph order")
        g.add_argument("--prune-scope", default="global", choices=["global", "layer", "sensitivity"],
                       help="--prune: one magnitude threshold for all layers (default), the same fraction per "
                            "layer, or per-layer fractions from a sensitivity analysis on the data")
        g.add_argument("--prune-budget", type=float, metavar="DROP",
                       help="instead of --prune: prune each layer as far as that alone costs at most DROP of "
                            "accuracy on the data (0.01 = 1 point; agreement with the unpruned model without labels)")
        g.add_argument("--importance", default="l1", choices=["l1", "l2", "activation", "lsq"],
                       help="--prune-channels: filter norm (default), mean activation on the data, or lsq: "
                            "greedy least-squares selection layer by layer on the data (with refit)")
        g.add_argument("--finetune", metavar="DATA.npz",
                       help="fine-tune after pruning on these samples (arrays keyed by input name, optional 'y' "
                            "labels; without labels classifiers distil from the unpruned model, autoencoders "
                            "reconstruct their input)")
        g.add_argument("--epochs", type=int, metavar="N", help="fine-tuning epochs (default: 10)")
        g.add_argument("--distill", action="store_true",
                       help="also distil from the unpruned float model when fine-tuning with labels")
        g.add_argument("--lr", type=float, metavar="LR", help="fine-tuning learning rate (Adam; default 1e-3)")
        g.add_argument("--validate", metavar="VAL.npz",
                       help="held-out data (inputs, labels 'y', optional 'group' ids scored together): "
                            "fine-tuning keeps the epoch scoring best on it (accuracy; autoencoders: ROC AUC of "
                            "the reconstruction error against y = 1 anomalous)")
        g.add_argument("--sparse", default="auto", choices=["auto", "size", "always", "never"],
                       help="sparse-weight kernels per layer: where smaller and not slower (auto, default), "
                            "where smaller (size), always or never")

    c = sub.add_parser("compile", help="ONNX model -> C sources in OUTDIR",
                       description="Import, quantize to int8 and generate C (NAME.h, NAME.c, NAME_weights.c, runtime, "
                                   "Makefile, CMakeLists.txt, report.json).")
    c.add_argument("model", help="float ONNX model")
    c.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output directory (replaced atomically)")
    quant_opts(c)
    c.add_argument("--board", default="host", help="target board: also emit a firmware project (Makefile, "
                                                    "CMakeLists.txt, board/) for it; see 'edgecompile boards'")
    c.add_argument("--arena-section", metavar="SECTION",
                   help="place the arena in this linker section (e.g. a fast TCM/SRAM bank), "
                        "__attribute__((section)); the linker script must place it")
    c.add_argument("--weights-section", action="append", default=[], metavar="SECTION[=NODE_GLOB]",
                   help="place the weights (of the nodes whose name matches NODE_GLOB) in this linker section; "
                        "repeatable, the first matching rule wins (default: flash, .rodata)")
    c.set_defaults(func=cmd_compile)

    rp = sub.add_parser("report", help="per-layer report of OUTDIR: report.json, report.html (+ report.png)",
                        description="Write OUTDIR/report.json and a self-contained report.html (per layer: op, "
                                    "shapes, MACs, parameters, weight bytes, scales and zero points, arena offset "
                                    "and lifetime; memory totals against the board's limits; the arena over "
                                    "time) and report.png when matplotlib is installed. Arena + input + output "
                                    "is the figure to compare with TFLM's arena (which holds input and output).")
    rp.add_argument("outdir", metavar="OUTDIR")
    rp.add_argument("--board", help="board for the flash/RAM limits (default: the project's board)")
    rp.add_argument("--measure", action="store_true",
                    help="run the board's QEMU firmware first for per-layer instruction counts")
    rp.set_defaults(func=cmd_report)

    v = sub.add_parser("verify", help="build for the host and check the C against the NumPy reference",
                       description="Build the generated C with the host compiler, run it on every input sample and "
                                   "compare every output byte with the NumPy integer reference. Exit 0 only if bit-exact.")
    v.add_argument("target", metavar="MODEL|OUTDIR", help="an OUTDIR from 'compile', or an ONNX model (compiled to a temp dir)")
    v.add_argument("--inputs", metavar="DATA.npz", help="float inputs [N, *shape]; a 'y' array adds accuracy figures")
    v.add_argument("--sanitize", action="store_true", help="build with -fsanitize=address,undefined (needs libasan preloaded)")
    quant_opts(v)
    v.set_defaults(func=cmd_verify)

    cp = sub.add_parser("compare", help="run a model in our C and in TFLM side by side, report mismatches per node",
                        description="Build the generated C for the host and run it and the TFLM reference interpreter "
                                    "(pip tflite-micro) on the same int8 inputs; on a mismatch, compare every node's "
                                    "output with the TFLM tensor of the same name. TARGET is a full-int8 .tflite "
                                    "(imported as is), an ONNX model (quantized here, then exported to .tflite for "
                                    "TFLM) or an OUTDIR from 'compile' (exported, or --tflite). Exit 0 only if "
                                    "bit-exact.")
    cp.add_argument("target", metavar="MODEL.tflite|MODEL.onnx|OUTDIR")
    cp.add_argument("--inputs", metavar="DATA.npz",
                    help="one array per input (or 'x') [N, *shape]: int8 arrays are used as already quantized, "
                         "any other dtype holds real values, quantized with the input's scale/zero point; a 'y' "
                         "array adds top-1 accuracy (default: 8 random int8 inputs)")
    cp.add_argument("--limit", type=int, metavar="N", help="use only the first N samples of --inputs")
    cp.add_argument("--tflite", metavar="MODEL.tflite", help="with an OUTDIR: the .tflite to compare with")
    quant_opts(cp)
    cp.set_defaults(func=cmd_compare)

    sw = sub.add_parser("sweep", help="accuracy vs size over pruning levels: table and plot",
                        description="Compile MODEL at several pruning levels (fraction of weights zeroed, or of "
                                    "channels removed with --channels), fine-tuned on --finetune data if given, and "
                                    "report int8 accuracy on --eval (top-1 with 'y' labels; AUC of the reconstruction "
                                    "error for autoencoders with 0/1 labels), weights and flash bytes, MACs and, when "
                                    "qemu-system-arm is installed, instructions per inference. Writes sweep.md, "
                                    "sweep.json and sweep.png into OUTDIR.")
    sw.add_argument("model", help="float ONNX model")
    sw.add_argument("--calib", metavar="C.npz", help="calibration data (as for compile)")
    sw.add_argument("--eval", required=True, metavar="E.npz", help="evaluation inputs with optional 'y' labels")
    sw.add_argument("--levels", default="0,0.5,0.7,0.8,0.9", help="pruning levels (default: 0,0.5,0.7,0.8,0.9)")
    sw.add_argument("--channels", action="store_true", help="structured: levels are fractions of channels removed")
    sw.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="where the table and plot go")
    sw.add_argument("--board", default="mps2-an386",
                    help="board for flash and instruction counts (default: mps2-an386, a Cortex-M4 under QEMU); "
                         "'none' skips the firmware builds")
    sw.add_argument("--name", help="C identifier prefix")
    sw.add_argument("--no-plot", action="store_true", help="skip sweep.png (no matplotlib needed)")
    compression_opts(sw, levels=True)
    sw.set_defaults(func=cmd_sweep)

    i = sub.add_parser("inspect", help="ops, shapes, parameters, MACs and unsupported nodes of a model")
    i.add_argument("model")
    i.set_defaults(func=cmd_inspect)

    e = sub.add_parser("example", help="compile and verify the bundled digits CNN, print float vs int8 accuracy")
    e.add_argument("-o", "--output", default="digits_out", metavar="OUTDIR", help="output directory (default: digits_out)")
    e.set_defaults(func=cmd_example)

    bl = sub.add_parser("boards", help="list the target boards with core, memory and clock")
    bl.set_defaults(func=cmd_boards)

    b = sub.add_parser("build", help="cross-compile OUTDIR's firmware for a board and check flash and RAM",
                       description="Run the board Makefile (arm-none-eabi-gcc) and print flash (text+rodata+data) and "
                                   "RAM (data+bss incl. arena+stack) against the board's limits; fail with the "
                                   "overflow in bytes when the model does not fit.")
    b.add_argument("outdir", metavar="OUTDIR", help="an OUTDIR from 'compile'")
    b.add_argument("--board", help="target board (default: the one OUTDIR was compiled for)")
    b.add_argument("-j", "--jobs", type=int, default=2, help="parallel compile jobs (default: 2)")
    b.set_defaults(func=cmd_build)

    r = sub.add_parser("run", help="run OUTDIR's model under QEMU on an emulated board, bit-exact check and "
                                   "instruction counts",
                       description="Cross-compile a test firmware, run it under qemu-system-arm (semihosting, "
                                   "-icount shift=0), compare every output byte with the NumPy integer reference and "
                                   "print instructions per inference and per layer. Exit 0 only if bit-exact.")
    r.add_argument("outdir", metavar="OUTDIR", help="an OUTDIR from 'compile'")
    r.add_argument("--board", required=True, help="an emulated board: mps2-an385, mps2-an386, mps2-an500, "
                                                  "mps2-an505, mps3-an547")
    r.add_argument("--inputs", metavar="DATA.npz", help="float inputs [N, *shape] (default: 8 random inputs)")
    r.add_argument("--limit", type=int, metavar="N", help="use only the first N samples of --inputs")
    r.add_argument("--timeout", type=float, default=600, metavar="S", help="kill QEMU after S seconds (default: 600)")
    r.set_defaults(func=cmd_run)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _warning
    try:
        return args.func(args)
    except EdgeCompileError as e:
        _say(f"edgecompile: error: {e}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("edgecompile: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
