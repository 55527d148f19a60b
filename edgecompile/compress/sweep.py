"""Accuracy vs size over pruning levels (``edgecompile sweep``): compile at each level, score the
int8 model (the NumPy integer reference, bit-exact with the C) on evaluation data, and report weights
and flash bytes, MACs and, when QEMU is available, instructions per inference."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .. import data as D
from ..analysis import const_bytes, node_macs
from ..errors import OptionError

BOARD = "mps2-an386"      # Cortex-M4 under QEMU: flash and instruction counts


def metric(outputs: np.ndarray, inputs: np.ndarray, labels) -> tuple[str, float]:
    """(name, value): top-1 accuracy with class labels; ROC AUC of the reconstruction error for an
    autoencoder with 0/1 labels; else the mean output (no score)."""
    out = outputs.reshape(len(outputs), -1).astype(np.float64)
    if labels is not None and out.shape[1] == inputs[0].size and set(np.unique(labels)) <= {0, 1}:
        err = np.mean(np.square(out - inputs.reshape(len(inputs), -1)), axis=1)
        pos, neg = err[labels == 1], np.sort(err[labels == 0])
        below = np.searchsorted(neg, pos, "left")
        ties = np.searchsorted(neg, pos, "right") - below
        return "AUC", float((below + 0.5 * ties).sum() / max(len(pos) * len(neg), 1))
    if labels is not None and out.shape[1] > 1:
        return "top-1", float(np.mean(out.argmax(1) == labels))
    return "mean output", float(out.mean())


def effective_macs(g) -> int:
    """MACs the generated code performs: sparse-kernel layers multiply only their non-zeros."""
    total = 0
    for n in g.nodes:
        m = node_macs(g, n)
        if n.variant and n.variant.startswith("sparse"):
            w = g.tensors[n.inputs[1]]
            m = m * n.params["sparse_nnz"] // max(w.size, 1)
        total += m
    return total


def _int8_outputs(g, inputs: dict) -> np.ndarray:
    from ..compiler import quantize_inputs
    from ..quant.calibrate import dequantize_array
    from ..reference import run_int8
    out = g.tensors[g.outputs[0]]
    ys = [run_int8(g, dict(zip(g.inputs, q)))[g.outputs[0]] for q in quantize_inputs(g, D.samples(inputs))]
    return dequantize_array(np.stack(ys), out.q.s, out.q.zp)


def _firmware(art, board: str, inputs: dict, log) -> tuple[int | None, int | None]:
    """(flash bytes, instructions per inference) on ``board``, or None where the tools are missing."""
    try:
        from ..boards import cross_tool, load_board
        from ..compiler import write_project
        from ..firmware import board_files, build, run
        b = load_board(board)
        cross_tool("gcc")
    except Exception:        # no firmware support or no cross compiler: sizes from the graph only
        return None, None
    tmp = Path(tempfile.mkdtemp(prefix="edgecompile-sweep-"))
    try:
        art.files.update(board_files(art.name, art.graph, b))
        out = write_project(art, tmp / art.name)
        flash = build(out, b).mem.flash
        if not shutil.which("qemu-system-arm") or not b.qemu_machine:
            return flash, None
        res = run(out, b, {k: v[:1] for k, v in inputs.items()})
        return flash, int(np.mean(res.instructions))
    except Exception as e:   # report what we have; the sweep itself goes on
        log(f"sweep: firmware figures unavailable ({str(e).splitlines()[0]})")
        return None, None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sweep(model, *, calib, evaluation, levels=(0.0, 0.5, 0.7, 0.8, 0.9), channels: bool = False, outdir,
          finetune=None, board: str | None = BOARD, plot: bool = True, log=print, **compile_kw) -> list[dict]:
    """Compile ``model`` at every pruning level (fraction of weights, or of channels with ``channels``)
    and write sweep.md, sweep.json and (``plot``) sweep.png into ``outdir``."""
    from ..compiler import compile_model
    if plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
        except ImportError:
            raise OptionError("the sweep plot needs matplotlib: pip install 'edgecompile[plot]' "
                              "(or pass --no-plot)") from None
    for lv in levels:
        if not 0.0 <= lv < 1.0:
            raise OptionError(f"--levels: {lv} is not a fraction in [0, 1)")
    arrays = D.load_npz(evaluation) if not isinstance(evaluation, dict) else evaluation
    labels = D.labels(arrays)
    rows = []
    for lv in levels:
        kind = "channels" if channels else "weights"
        log(f"sweep: {kind} pruned {lv:.0%} ...")
        kw = dict(compile_kw)
        if lv > 0:
            kw.update(prune_channels=lv) if channels else kw.update(prune=lv)
            kw["finetune"] = finetune
        art = compile_model(model, calib=calib, **kw)
        inputs = D.input_arrays(art.float_graph, arrays, str(evaluation))
        x = next(iter(inputs.values()))
        from ..reference import run_float_batch
        fname, fscore = metric(run_float_batch(art.float_graph, inputs)[art.float_graph.outputs[0]], x, labels)
        name, score = metric(_int8_outputs(art.graph, inputs), x, labels)
        flash, instr = _firmware(art, board, inputs, log) if board else (None, None)
        from ..passes.prune import sparsity_of
        rows.append(dict(level=lv, metric=name, float=fscore, int8=score, sparsity=sparsity_of(art.float_graph),
                         weights_bytes=const_bytes(art.graph), flash_bytes=flash,
                         macs=effective_macs(art.graph), instructions=instr,
                         sparse_layers=sum(1 for n in art.graph.nodes if (n.variant or "").startswith("sparse"))))
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "sweep.md").write_text(table(rows, channels) + "\n")
    if plot:
        draw(rows, out / "sweep.png", channels)
    return rows


def table(rows: list[dict], channels: bool = False) -> str:
    m = rows[0]["metric"] if rows else "score"
    head = ["channels removed" if channels else "pruned", "weight sparsity", f"float {m}", f"int8 {m}",
            "weights B", "flash B", "MACs", "instructions", "sparse layers"]

    def num(v):
        return "n/a" if v is None else f"{v:,}"
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        pct = (lambda v: f"{v:.4f}") if r["metric"] == "AUC" else (lambda v: f"{100 * v:.2f}%")
        lines.append("| " + " | ".join([f"{r['level']:.0%}", f"{r['sparsity']:.1%}", pct(r["float"]), pct(r["int8"]),
                                        num(r["weights_bytes"]), num(r["flash_bytes"]), num(r["macs"]),
                                        num(r["instructions"]), str(r["sparse_layers"])]) + " |")
    return "\n".join(lines)


def draw(rows: list[dict], path, channels: bool = False) -> None:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, mark in (("weights_bytes", "weights", "o-"), ("flash_bytes", "flash", "s--")):
        pts = [(r[key], r["int8"], r["level"]) for r in rows if r[key] is not None]
        if pts:
            ax.plot([p[0] / 1024 for p in pts], [p[1] for p in pts], mark, label=f"int8 vs {label}")
            for xk, y, lv in pts:
                ax.annotate(f"{lv:.0%}", (xk / 1024, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("KiB")
    ax.set_ylabel(rows[0]["metric"] if rows else "score")
    ax.set_title("channels removed" if channels else "weights pruned")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
