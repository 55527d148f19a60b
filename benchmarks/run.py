"""MLPerf Tiny benchmark: for each float model in ../shared/bench, calibrate on the calibration split,
compile, verify bit-exact on the evaluation half and measure accuracy, compile time, arena, weights and
host inference time (C vs NumPy reference).  Prints a table and writes benchmarks/RESULTS.md.

    python benchmarks/run.py [--models kws_dscnn,ic_resnet8] [--method minmax] [--limit N]

Also writes benchmarks/data/<model>_{calib,eval}.npz so the CLI can be pointed at the same splits:
    edgecompile compile ../shared/bench/models/kws_dscnn/float32.onnx --calib benchmarks/data/kws_dscnn_calib.npz -o out
    edgecompile verify out --inputs benchmarks/data/kws_dscnn_eval.npz
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data as B  # noqa: E402

from edgecompile.analysis import const_bytes, total_macs  # noqa: E402
from edgecompile.compiler import compile_model, dequantize_outputs, verify, write_project  # noqa: E402

HERE = Path(__file__).resolve().parent


def ort_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in s.get_inputs()[0].shape]
    return np.concatenate([s.run(None, {name: xi.reshape(shape)})[0] for xi in x])


def score(task, outs: np.ndarray, x_eval: np.ndarray, y: np.ndarray) -> float:
    if task.metric == "auc":
        err = ((outs.reshape(x_eval.shape) - x_eval) ** 2).mean(axis=(1, 2))
        return B.auc(err, y)
    return float(np.mean(outs.reshape(len(y), -1).argmax(1) == y))


def run_task(task, method: str, limit: int | None) -> dict:
    calib, x_eval, y = B.split(task)
    if limit:
        x_eval, y = x_eval[:limit], y[:limit]
    path = B.model_path(task)
    data_dir = HERE / "data"
    data_dir.mkdir(exist_ok=True)
    np.savez(data_dir / f"{task.model}_calib.npz", x=calib)
    flat_eval = x_eval.reshape(-1, 640) if task.metric == "auc" else x_eval
    np.savez(data_dir / f"{task.model}_eval.npz", x=flat_eval, **({} if task.metric == "auc" else {"y": y}))

    t0 = time.perf_counter()
    art = compile_model(path, calib={"x": calib}, calib_method=method)
    compile_s = time.perf_counter() - t0
    g = art.graph
    with tempfile.TemporaryDirectory() as tmp:
        out = write_project(art, Path(tmp) / art.name)
        inputs = {g.inputs[0]: flat_eval.reshape((len(flat_eval),) + g.tensors[g.inputs[0]].shape[1:])
                  if g.tensors[g.inputs[0]].shape[0] == 1 else flat_eval}
        res = verify(art, out, inputs, with_float=False, progress=True)
    deq = dequantize_outputs(g, res)[0]
    f_ort = ort_outputs(path, flat_eval)
    return dict(
        model=task.model, metric=task.metric, samples=len(y),
        float=score(task, f_ort, x_eval, y), int8=score(task, deq, x_eval, y),
        official=task.official_int8_eval, ort_static=task.ort_static_eval,
        mismatches=res.mismatches, bytes=res.bytes_compared, compile_s=compile_s,
        arena=g.meta["memory"]["arena_size"], arena_no_reuse=g.meta["memory"]["no_reuse_size"],
        weights=const_bytes(g), macs=total_macs(g),
        c_ms=1e3 * res.c_seconds / res.samples, ref_ms=1e3 * res.ref_seconds / res.samples)


def fmt(r: dict) -> list[str]:
    pct = (lambda v: f"{v:.4f}") if r["metric"] == "auc" else (lambda v: f"{100 * v:.1f}%")
    d = r["int8"] - r["float"]
    delta = f"{d:+.4f}" if r["metric"] == "auc" else f"{100 * d:+.1f}"
    return [r["model"], str(r["samples"]), pct(r["float"]), pct(r["int8"]), delta, pct(r["official"]),
            pct(r["ort_static"]), f"{r['mismatches']} / {r['bytes']:,}", f"{r['compile_s']:.2f} s",
            f"{r['arena']:,}", f"{r['weights']:,}", f"{r['macs'] / 1e6:.2f} M",
            f"{r['c_ms']:.2f} / {r['ref_ms']:.2f}"]


HEAD = ["model", "eval samples", "float (ORT)", "int8 (our C)", "Δ", "official int8 TFLite", "ORT quantize_static",
        "mismatches / bytes", "compile", "arena B", "weights B", "MACs", "host ms: C / NumPy"]


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(fmt(r)) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(B.TASKS))
    ap.add_argument("--method", default="minmax", choices=["minmax", "percentile", "mse"])
    ap.add_argument("--limit", type=int, help="evaluate only the first N evaluation samples (quick look)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not rewrite RESULTS.md")
    args = ap.parse_args(argv)
    if not B.available():
        print(f"bench not found at {B.BENCH}; set EC_BENCH_DIR", file=sys.stderr)
        return 2
    rows = []
    for m in args.models.split(","):
        print(f"== {m}", file=sys.stderr, flush=True)
        rows.append(run_task(B.TASKS[m], args.method, args.limit))
        print(table(rows[-1:]), flush=True)
    text = table(rows)
    print(text)
    if not args.no_write and not args.limit:
        prev = (HERE / "RESULTS.md").read_text() if (HERE / "RESULTS.md").exists() else ""
        boards = prev[prev.index("<!-- boards:begin -->"):] if "<!-- boards:begin -->" in prev else ""  # boards.py's
        (HERE / "RESULTS.md").write_text(
            "# edgecompile benchmark results\n\n"
            f"Produced by `python benchmarks/run.py --method {args.method}` on {platform.machine()}, "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.\n"
            "Evaluation half of each MLPerf Tiny set (AD: AUC over clips, others top-1); calibration on the\n"
            "calibration split only (../shared/bench/README.md). 'mismatches' compares every output byte of the\n"
            "generated C (host build) with the NumPy integer reference. Host ms are per inference on this\n"
            "shared 2-core machine (noisy; ratios are measured in the same run).\n\n" + text + "\n"
            + ("\n" + boards if boards else ""))
    return 0 if all(r["mismatches"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
