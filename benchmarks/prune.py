"""Pruning benchmark (issue #4): the three targets, each compiled through compile_model with the same
options as the CLI command printed next to it, verified bit-exact (generated C on the host vs the
NumPy integer reference) and measured on the evaluation split; flash and instructions per inference
come from the Cortex-M4 firmware under QEMU (mps2-an386) when arm-none-eabi-gcc and QEMU exist.

    python benchmarks/prune.py [--only digits,ad,kws] [--no-write]

Splits (../shared/bench/README.md): calibration = the first 100 samples; fine-tuning / distillation =
the first half (ad01: its normal clips only); evaluation = the second half.  The digits example
fine-tunes on the training split of scikit-learn's digits (the one train_digits.py trained on) and
evaluates on the bundled test split.  Writes the data files the commands use to benchmarks/data/
and a "Pruning" section (between <!-- prune:begin --> and <!-- prune:end -->) to RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data as B  # noqa: E402

from edgecompile import data as D  # noqa: E402
from edgecompile import examples  # noqa: E402
from edgecompile.analysis import const_bytes, total_macs  # noqa: E402
from edgecompile.compiler import compile_model, dequantize_outputs, verify, write_project  # noqa: E402
from edgecompile.compress.sweep import _firmware, effective_macs  # noqa: E402
from edgecompile.passes.prune import sparsity_of  # noqa: E402
from edgecompile.passes.prune_channels import channel_fraction  # noqa: E402
from edgecompile.reference import run_float_batch  # noqa: E402

HERE = Path(__file__).resolve().parent


def rel(p) -> str:
    """A path as the commands show it: relative to the repository root."""
    return os.path.relpath(p, HERE.parent)
DATA = HERE / "data"
BEGIN, END = "<!-- prune:begin -->", "<!-- prune:end -->"
BOARD = "mps2-an386"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def int8_weight_sparsity(g) -> float:
    """Fraction of zero int8 weights over the Conv / DepthwiseConv / FC weight tensors."""
    from edgecompile.ir import WEIGHTED
    names = {n.inputs[1] for n in g.nodes if n.op in WEIGHTED}
    return sum(int(np.count_nonzero(g.tensors[k].data == 0)) for k in names) / sum(g.tensors[k].size for k in names)


def c_outputs(art, inputs: dict) -> tuple[np.ndarray, int, int]:
    """Dequantized outputs of the generated C (host build) and (mismatches, bytes) vs the reference."""
    with tempfile.TemporaryDirectory() as tmp:
        out = write_project(art, Path(tmp) / art.name)
        res = verify(art, out, inputs, with_float=False, progress=True)
    return dequantize_outputs(art.graph, res)[0], res.mismatches, res.bytes_compared


def measure(art, x: np.ndarray, score, qemu_n: int) -> dict:
    g, fg = art.graph, art.float_graph
    inputs = {g.inputs[0]: x}
    y, bad, total = c_outputs(art, inputs)
    flash, instr = _firmware(art, BOARD, {g.inputs[0]: x[:qemu_n]}, _say)
    return dict(float=score(run_float_batch(fg, inputs)[fg.outputs[0]]), int8=score(y), mismatches=bad, bytes=total,
                weights=const_bytes(g), flash=flash, macs=effective_macs(g), dense_macs=total_macs(g),
                instr=instr, sparsity=int8_weight_sparsity(g), sparse_layers=sum(
                    1 for n in g.nodes if (n.variant or "").startswith("sparse")))


def run_case(name, model, calib, x, score, compress_kw, qemu_n=1) -> dict:
    """Unpruned and compressed int8 models of ``model``, measured on evaluation inputs ``x``."""
    t0 = time.perf_counter()
    _say(f"== {name}: unpruned")
    base = measure(compile_model(model, name=name, calib=calib), x, score, qemu_n)
    _say(f"== {name}: compressed {compress_kw}")
    t1 = time.perf_counter()
    art = compile_model(model, name=name, calib=calib, progress=True, **compress_kw)
    compile_s = time.perf_counter() - t1
    pruned = measure(art, x, score, qemu_n)
    auto_art = compile_model(None, name=name, calib=calib, float_graph=art.float_graph, sparse="auto")
    auto = dict(weights=const_bytes(auto_art.graph), instr=_firmware(auto_art, BOARD, {
        auto_art.graph.inputs[0]: x[:qemu_n]}, _say)[1]) if compress_kw.get("sparse") else None
    return dict(name=name, base=base, pruned=pruned, auto=auto, compile_s=compile_s,
                channels=channel_fraction(art.float_graph), float_sparsity=sparsity_of(art.float_graph),
                seconds=time.perf_counter() - t0, float_graph=art.float_graph)


# ---------------------------------------------------------------------------------------- targets
def digits() -> dict:
    from edgecompile.examples.train_digits import load_split
    x_tr, y_tr, _, _ = load_split()
    DATA.mkdir(exist_ok=True)
    np.savez(DATA / "digits_train.npz", input=x_tr, y=y_tr)
    test = D.load_npz(examples.DIGITS_TEST)
    y = test["y"]
    kw = dict(prune=0.85, finetune=str(DATA / "digits_train.npz"), epochs=10, lr=3e-3, distill=True, sparse="size")
    r = run_case("digits", examples.DIGITS_ONNX, examples.DIGITS_CALIB, test["input"],
                 lambda o: float(np.mean(o.reshape(len(y), -1).argmax(1) == y)), kw)
    p, b = r["pruned"], r["base"]
    r.update(metric="top-1", target=[
        (f"≥ 80% of weights pruned (int8): {p['sparsity']:.1%}", p["sparsity"] >= 0.80),
        (f"int8 within 1 point of the unpruned float: {100 * (p['int8'] - b['float']):+.2f} points",
         p["int8"] >= b["float"] - 0.01),
        (f"weights ≤ 35% of dense int8: {p['weights'] / b['weights']:.1%}", p["weights"] <= 0.35 * b["weights"])])
    r["command"] = ("edgecompile compile edgecompile/examples/digits_cnn.onnx "
                    "--calib edgecompile/examples/digits_calib.npz "
                    "--prune 0.85 --finetune benchmarks/data/digits_train.npz --epochs 10 --lr 3e-3 --distill "
                    "--sparse size -o out/digits_pruned && edgecompile verify out/digits_pruned --inputs "
                    "edgecompile/examples/digits_test.npz")
    return r


# AD: kept widths 88-56-56-40-8-32-56-56-88 of 128-128-128-128-8-128-128-128-128 (53.5% of the hidden
# channels).  Among the allocations tried that remove >= 50% of the channels within ~134k MACs (the
# 640-wide ends cost 82k MACs each, the middle layers next to the 8-wide bottleneck little), the one
# whose lsq-pruned model is closest to the unpruned one on the fine-tuning windows (no labels used).
AD_FRACTIONS = (0.3125, 0.5625, 0.5625, 0.6875, 0.0, 0.75, 0.5625, 0.5625, 0.3125)


def ad() -> dict:
    task = B.TASKS["ad_fc_autoencoder"]
    z = np.load(B.BENCH / "data" / "ad01.npz")
    x, y = z["x"], z["y"]
    first = len(x) - len(x) // 2
    normal = B.ad_windows(x[:first][y[:first] == 0])                      # normal clips of the first half
    tune, calib = normal.reshape(-1, 640), normal[:, ::7].reshape(-1, 640)
    _, x_eval, y_eval = B.split(task)
    DATA.mkdir(exist_ok=True)
    np.savez(DATA / "ad_fc_autoencoder_calib.npz", x=calib)
    np.savez(DATA / "ad_fc_autoencoder_finetune.npz", x=tune)

    def score(out):
        err = ((out.reshape(x_eval.shape) - x_eval) ** 2).mean(axis=(1, 2))
        return B.auc(err, y_eval)
    model = B.model_path(task)
    fractions = ",".join(f"{f:g}" for f in AD_FRACTIONS)
    kw = dict(prune_channels=list(AD_FRACTIONS), importance="lsq",
              finetune=str(DATA / "ad_fc_autoencoder_finetune.npz"), epochs=0)
    r = run_case("ad_fc_autoencoder", model, {"x": calib}, x_eval.reshape(-1, 1, 640), score, kw)

    def float_auc(**k):
        fg = compile_model(model, calib={"x": calib}, **dict(kw, **k)).float_graph
        out = run_float_batch(fg, {fg.inputs[0]: x_eval.reshape(-1, 1, 640)})[fg.outputs[0]]
        return channel_fraction(fg), score(out), fg
    # the frontier: other allocations / importances, float AUC
    r["frontier"] = []
    half = [0.5] * 4 + [0.0] + [0.5] * 3 + [0.53125]
    for label, k in [("uniform 50% (bottleneck kept), lsq", dict(prune_channels=half)),
                     ("same allocation, activation importance", dict(importance="activation")),
                     ("uniform 25% (bottleneck 8 -> 6 too), lsq", dict(prune_channels=0.25))]:
        c, a, fg = float_auc(**k)
        r["frontier"].append((label, c, a, total_macs(fg)))
    p, b = r["pruned"], r["base"]
    speed = (b["instr"] / p["instr"]) if p["instr"] else b["macs"] / p["macs"]
    unit = "instructions" if p["instr"] else "MACs"
    r.update(metric="AUC", target=[
        (f"≥ 50% of channels removed (hidden-layer output channels removed / all 1,032 of the 9 hidden "
         f"layers): {r['channels']:.1%}", r["channels"] >= 0.5),
        (f"AUC ≥ 0.85: {p['int8']:.4f}", p["int8"] >= 0.85),
        (f"≥ 1.8x fewer {unit} than unpruned int8: {speed:.2f}x", speed >= 1.8)])
    r["command"] = (f"edgecompile compile {rel(model)} --calib benchmarks/data/ad_fc_autoencoder_calib.npz "
                    f"--prune-channels {fractions} --importance lsq "
                    "--finetune benchmarks/data/ad_fc_autoencoder_finetune.npz "
                    "--epochs 0 -o out/ad_pruned  (AUC over clips: python benchmarks/prune.py --only ad)")
    return r


def kws() -> dict:
    task = B.TASKS["kws_dscnn"]
    z = np.load(B.BENCH / "data" / "kws01.npz")
    x, y = z["x"], z["y"]
    first = len(x) - len(x) // 2
    calib, x_eval, y_eval = B.split(task)
    DATA.mkdir(exist_ok=True)
    np.savez(DATA / "kws_dscnn_calib.npz", x=calib)
    np.savez(DATA / "kws_dscnn_finetune.npz", x=B.float_inputs(task, x[:first]), y=y[:first])
    np.savez(DATA / "kws_dscnn_eval.npz", x=x_eval, y=y_eval)
    kw = dict(prune=0.5, prune_scope="sensitivity", finetune=str(DATA / "kws_dscnn_finetune.npz"), epochs=20,
              lr=3e-3, distill=True, sparse="size")
    r = run_case("kws_dscnn", B.model_path(task), {"x": calib}, x_eval,
                 lambda o: float(np.mean(o.reshape(len(y_eval), -1).argmax(1) == y_eval)), kw)
    p, b = r["pruned"], r["base"]
    r.update(metric="top-1", target=[
        (f"≥ 50% unstructured sparsity (int8): {p['sparsity']:.1%}", p["sparsity"] >= 0.5),
        (f"int8 accuracy ≥ 89%: {100 * p['int8']:.1f}%", p["int8"] >= 0.89),
        (f"weights smaller than dense int8: {p['weights']:,} < {b['weights']:,} B", p["weights"] < b["weights"])])
    r["command"] = (f"edgecompile compile {rel(B.model_path(task))} --calib benchmarks/data/kws_dscnn_calib.npz "
                    "--prune 0.5 "
                    "--prune-scope sensitivity --finetune benchmarks/data/kws_dscnn_finetune.npz --epochs 20 --lr 3e-3 "
                    "--distill --sparse size -o out/kws_pruned && edgecompile verify out/kws_pruned --inputs "
                    "benchmarks/data/kws_dscnn_eval.npz")
    return r


CASES = {"digits": digits, "ad": ad, "kws": kws}


# ---------------------------------------------------------------------------------------- report
def _num(v, unit=""):
    return "n/a" if v is None else f"{v:,}{unit}"


def table(rows: list[dict]) -> str:
    head = ["model", "compression", "metric", "float unpruned", "int8 unpruned", "float pruned", "int8 pruned (C)",
            "int8 weight sparsity", "weights B: dense → pruned", "flash B (M4 firmware)", "MACs executed",
            "instr./inference (M4, QEMU)", "with --sparse auto: weights B, instr.", "mismatches / bytes", "time"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        b, p = r["base"], r["pruned"]
        f = (lambda v: f"{v:.4f}") if r["metric"] == "AUC" else (lambda v: f"{100 * v:.2f}%")
        what = (f"{r['channels']:.0%} of channels removed" if r["channels"] else
                f"{r['float_sparsity']:.0%} of weights pruned, {p['sparse_layers']} sparse layers")
        lines.append("| " + " | ".join([
            r["name"], what, r["metric"], f(b["float"]), f(b["int8"]), f(p["float"]), f(p["int8"]),
            f"{p['sparsity']:.1%}", f"{b['weights']:,} → {p['weights']:,}",
            f"{_num(b['flash'])} → {_num(p['flash'])}", f"{b['macs']:,} → {p['macs']:,}",
            f"{_num(b['instr'])} → {_num(p['instr'])}",
            f"{r['auto']['weights']:,}, {_num(r['auto']['instr'])}" if r["auto"] else "(dense kernels)",
            f"{p['mismatches']} / {p['bytes']:,}", f"{r['seconds']:.0f} s"]) + " |")
    return "\n".join(lines)


def section(rows: list[dict], total_s: float) -> str:
    out = [BEGIN, "## Pruning", "",
           f"Produced by `python benchmarks/prune.py` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
           f"{total_s / 60:.1f} min on this 2-core machine). Fine-tuning/distillation only on the first half of each "
           "set (AD: its normal clips), evaluation on the second half; the int8 figures are the generated C (host "
           "build, bit-exact with the NumPy reference: mismatches column). Weights: constant bytes in flash (sparse "
           "layers in the bitmask format, chosen per layer where smaller: `--sparse size`); `--sparse auto` (the "
           "default) keeps a sparse kernel only where it is also estimated faster than the DSP dense kernel. "
           "Flash: the whole `edgecompile build` "
           f"firmware for {BOARD}; instructions: one inference under QEMU (-icount), granularity 40.", "",
           table(rows), ""]
    for r in rows:
        out.append(f"**{r['name']}** — `{r['command']}`")
        out += [f"- {'met' if ok else 'MISSED'}: {txt}" for txt, ok in r["target"]]
        if r.get("frontier"):
            out.append("- other recipes (float AUC): " + "; ".join(
                f"{label}: {c:.1%} removed, AUC {a:.4f}, {m:,} MACs" for label, c, a, m in r["frontier"]))
        out.append("")
    out.append(NOTES)
    out.append(END)
    return "\n".join(out)


NOTES = """Notes. AD (float AUC on the evaluation half unless int8 is said; unpruned float 0.8631, int8 0.8706).
The anomaly score leaves little room: anomalous clips reconstruct only ~8% worse than normal ones (mean squared
error 11.0 vs 10.2), so any student that does not track the unpruned model closely reorders clips.

| recipe (>= 50% of the hidden channels removed unless said) | AUC |
|---|---|
| uniform 50% (bottleneck 8 -> 4), activation importance, least-squares refit (the previous row, int8 0.7701) | 0.7794 |
| same, other importances (l1, l2, activation x outgoing weight norm, std x norm), refit ridge 1e-3..1e-9 | 0.68-0.79 |
| same, refit data augmented (noise, mixup, gain, mel-shift, contrast) | 0.73-0.79 |
| ... + output distillation (pure, 4-25 epochs, Adam 1e-5..1e-3, +- augmentation, preconditioning) | 0.72-0.78 |
| ... + per-window score distillation (student error imitates the teacher's error), 4 epochs | <= 0.74 |
| lsq (greedy least-squares channel selection + refit), uniform 50% keeping the bottleneck | 0.8018 |
| lsq, 8 other allocations (50-57% removed, 1.98-2.5x fewer MACs; 96-56-56-32-8-32-56-56-80: int8 0.7980) | 0.78-0.81 |
| lsq, this row's allocation (int8 in the table) | 0.7956 |
| lsq with a ReLU-aware refit (errors where both pre-activations are negative ignored, 5 iterations) | 0.799-0.812 |
| lsq + 6-8 epochs of preconditioned output distillation (Adam 1e-4; via compress, 3 epochs: 0.7959) | 0.813-0.820 |
| one layer only at -64 channels, lsq: layer 1 / 6 / 9 (6% of channels) | 0.835 / 0.860 / 0.850 |
| decoder only at 64 wide, distilled on 8-d codes (exact teacher encoder), 30 epochs | 0.806 |
| diagnostic: teacher weights x (1 + 2% / 5% Gaussian noise), 3 draws each | 0.84-0.88 / 0.78-0.87 |

Fine-tuning the unpruned model on the 69 normal clips with the reconstruction loss drops it to 0.78, so only
distillation is used for autoencoders (`--distill`).  Distillation lowers the student-teacher error on the
evaluation clips (e.g. 0.59 -> 0.45 per element) but buys at most ~+0.01 AUC; with half the channels the
student cannot reproduce the teacher closely enough (even the decoder alone, fed exact codes, stays at
mean squared mismatch 0.29).  The 0.85 target was not reached with these recipes."""


def write(rows: list[dict], total_s: float) -> None:
    B.write_results_section(BEGIN, END, section(rows, total_s))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="digits,ad,kws")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args(argv)
    names = args.only.split(",")
    if any(n != "digits" for n in names) and not B.available():
        print(f"bench not found at {B.BENCH}; set EC_BENCH_DIR", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    rows = []
    for n in names:
        rows.append(CASES[n]())
        print(table(rows[-1:]), flush=True)
        for txt, ok in rows[-1]["target"]:
            print(f"  {'met' if ok else 'MISSED'}: {txt}", flush=True)
    total = time.perf_counter() - t0
    print(table(rows))
    if not args.no_write and names == list(CASES):
        write(rows, total)
    return 0 if all(r["pruned"]["mismatches"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
