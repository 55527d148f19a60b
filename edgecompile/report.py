"""The per-layer report of a compiled model: ``report.json`` (data) and a self-contained
``report.html`` (tables and an inline SVG of the arena over time, the tensors of the peak
highlighted), written at compile time and by ``edgecompile report OUTDIR`` (which adds the board's
limits, the firmware's measured flash/RAM and per-layer instructions when they exist).

Counting against TFLM: TFLM's arena holds the model's input and output tensors; ours are the
caller's buffers, so the comparable figure is arena + input + output bytes."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from .analysis import const_bytes, node_macs
from .ir import Graph, SHAPE_ONLY

COMPARE_NOTE = ("arena + input + output bytes: TFLM's arena holds the input and output tensors, "
                "edgecompile's caller passes them as buffers")


def _q(t) -> dict | None:
    if t.q is None:
        return None
    s, z = np.asarray(t.q.scale, float), np.asarray(t.q.zero_point)
    if s.size == 1:
        return {"scale": float(s[0]), "zero_point": int(z[0])}
    return {"scale_min": float(s.min()), "scale_max": float(s.max()), "channels": int(s.size),
            "zero_point": int(z[0]) if np.all(z == z[0]) else [int(v) for v in z]}


def memory_summary(g: Graph) -> dict:
    mem = g.meta["memory"]
    ins = sum(g.tensors[t].nbytes for t in g.inputs)
    outs = sum(g.tensors[t].nbytes for t in g.outputs)
    return {"arena_bytes": mem["arena_size"], "input_bytes": ins, "output_bytes": outs,
            "arena_input_output_bytes": mem["arena_size"] + ins + outs, "tflm_comparison": COMPARE_NOTE,
            "lower_bound_live_set": mem.get("lower_bound"), "lower_bound_with_overlap": mem.get("lower_bound_overlap"),
            "without_reuse_bytes": mem["no_reuse_size"], "strategy": mem.get("strategy"),
            "search_exhaustive": mem.get("optimal"), "reordered": mem.get("reordered"),
            "overlaps": mem.get("overlaps", []), "patches": patches(g),
            "concat_in_place": [g.nodes[i].name for i in mem.get("concat_in_place", [])],
            "peak_step": peak_buffers(g)[0], "peak_buffers": peak_buffers(g)[1]}


def buffers(g: Graph) -> list[dict]:
    """Arena buffers: name, offset, bytes, lifetime [first, last] execution step (= node index
    unless a chain runs band by band, g.meta["memory"]["steps"])."""
    mem = g.meta["memory"]
    out = []
    extra = mem.get("extra_buffers", {})          # band buffers and band scratch (patch-based chains)
    for name, (a, b) in mem.get("lifetimes", {}).items():
        if name in extra:
            off, size = extra[name]
        elif name.startswith("scratch:"):
            off, size = mem["scratch"][int(name[8:])]
        else:
            off, size = mem["storage"][name][1], g.tensors[name].nbytes
        out.append({"name": name, "offset": off, "bytes": size, "first": a, "last": b})
    return out


def _n_steps(g: Graph) -> int:
    return len(g.meta["memory"].get("steps") or g.nodes)


def patches(g: Graph) -> list[dict]:
    """Patch-based chains (--memory-saving): nodes, band count, rows per band and the instruction
    cost: the MACs recomputed in the halos."""
    from .analysis import total_macs
    total = max(total_macs(g), 1)
    return [{"nodes": [g.nodes[i].name for i in d["nodes"]], "bands": d["count"],
             "output_rows": [L["out_rows"] for L in d["layers"][-1]], "extra_macs": d["extra_macs"],
             "extra_macs_percent": round(100 * d["extra_macs"] / total, 2)}
            for d in g.meta["memory"].get("bands") or []]


def peak_buffers(g: Graph) -> tuple[int | None, list[str]]:
    """(node, the buffers live there) at the first node where the arena's top byte is in use."""
    bufs, top = buffers(g), g.meta["memory"]["arena_size"]
    for t in range(_n_steps(g)):
        live = [b for b in bufs if b["first"] <= t <= b["last"]]
        if any(b["offset"] + b["bytes"] == top for b in live):
            return t, [b["name"] for b in live]
    return None, []


def layers(g: Graph) -> list[dict]:
    from .ops import REGISTRY
    mem = g.meta["memory"]
    life = mem.get("lifetimes", {})
    peak = set(peak_buffers(g)[1])
    banded = {i: (d, j) for d in mem.get("bands") or [] for j, i in enumerate(d["nodes"])}
    rows = []
    for k, n in enumerate(g.nodes):
        consts = [g.tensors[i] for i in n.inputs if i and g.tensors[i].is_const]
        acts = [g.tensors[i] for i in n.inputs if i and not g.tensors[i].is_const]
        out = g.tensors[n.outputs[0]]
        v = REGISTRY[n.op].variant(n.variant)
        dense = sum(int(np.asarray(c.data).nbytes) for c in consts)
        stored = dense
        if v is not None and v.flash_bytes is not None:
            stored = sum(int(np.asarray(g.tensors[c].data).nbytes) for j, c in enumerate(n.inputs)
                         if c and g.tensors[c].is_const and j not in v.replaces) + v.flash_bytes(n.params)
        kind, off = mem["storage"][n.outputs[0]]
        d, j = banded.get(k, (None, 0))
        root = n.outputs[0]
        while root not in life and any(m.outputs[0] == root and m.op in SHAPE_ONLY for m in g.nodes):
            root = next(m.inputs[0] for m in g.nodes if m.outputs[0] == root)
        rows.append({"id": k, "name": n.name, "op": n.op.value, "kernel": n.kernel, "variant": n.variant,
                     "input_shapes": [list(t.shape) for t in acts], "output_shape": list(out.shape),
                     "macs": node_macs(g, n), "params": int(sum(c.size for c in consts)),
                     "weight_bytes_dense": dense, "weight_bytes_stored": stored,
                     "input_q": [_q(t) for t in acts], "output_q": _q(out),
                     "weight_q": _q(consts[0]) if consts else None,
                     "storage": kind, "offset": off if kind == "arena" else None,
                     "lifetime": life.get(root), "in_peak": root in peak,
                     "scratch": list(mem["scratch"][k]) if k in mem["scratch"] else (d["scratch"][j][0] if d else None),
                     "bands": d["count"] if d else None,       # patch-based chain: its band count, MACs run
                     "band_macs": sum(L["macs"] for L in d["layers"][j]) if d else None})
    return rows


def svg(g: Graph, width: int = 900, height: int = 360) -> str:
    """The arena over time: x = node, y = byte offset; a rectangle per buffer, the peak's in red."""
    bufs, top, steps = buffers(g), max(g.meta["memory"]["arena_size"], 1), max(_n_steps(g), 1)
    peak = set(peak_buffers(g)[1])
    ml, mb = 60, 24
    sx, sy = (width - ml - 10) / steps, (height - mb - 10) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="10">',
             f'<rect x="{ml}" y="10" width="{width - ml - 10}" height="{height - mb - 10}" fill="#f7f7f7"/>']
    for b in bufs:
        x, w = ml + b["first"] * sx, (b["last"] - b["first"] + 1) * sx
        y, h = 10 + (top - b["offset"] - b["bytes"]) * sy, max(b["bytes"] * sy, 0.5)
        color = "#d62728" if b["name"] in peak else ("#aaaaaa" if b["name"].startswith("scratch:") else "#1f77b4")
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}" '
                     f'fill-opacity="0.6" stroke="#333" stroke-width="0.5"><title>{html.escape(b["name"])}: '
                     f'{b["bytes"]:,} B at {b["offset"]:,}, nodes {b["first"]}..{b["last"]}</title></rect>')
    parts.append(f'<text x="{ml - 4}" y="14" text-anchor="end">{top:,} B</text>'
                 f'<text x="{ml - 4}" y="{height - mb}" text-anchor="end">0</text>'
                 f'<text x="{ml + (width - ml) / 2}" y="{height - 6}" text-anchor="middle">step (execution order)'
                 f'</text></svg>')
    return "\n".join(parts)


def png(g: Graph, path) -> bool:
    """The arena picture as a PNG with matplotlib, if it is installed (False otherwise)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    peak = set(peak_buffers(g)[1])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for b in buffers(g):
        color = "#d62728" if b["name"] in peak else ("#aaaaaa" if b["name"].startswith("scratch:") else "#1f77b4")
        ax.add_patch(plt.Rectangle((b["first"], b["offset"]), b["last"] - b["first"] + 1, b["bytes"],
                                   facecolor=color, alpha=0.6, edgecolor="#333", linewidth=0.5))
    ax.set_xlim(0, max(_n_steps(g), 1))
    ax.set_ylim(0, max(g.meta["memory"]["arena_size"], 1))
    ax.set_xlabel("step (execution order)")
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title(f"{g.name}: arena over time (red: the buffers of the peak)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def build(g: Graph, name: str, board=None, measured: dict | None = None, firmware: dict | None = None) -> dict:
    rep = {"name": name, "memory": memory_summary(g), "weights_bytes": const_bytes(g), "layers": layers(g)}
    if measured:
        per = {n: i for n, _, i in measured.get("node_instructions", [])}
        for row in rep["layers"]:
            row["instructions"] = per.get(row["name"])
        rep["measured"] = {k: v for k, v in measured.items() if k != "node_instructions"}
    if board is not None and not board.is_host:
        m = rep["memory"]
        flash = (firmware or {}).get("flash_bytes") or rep["weights_bytes"]
        ram = (firmware or {}).get("ram_bytes") or m["arena_input_output_bytes"] + board.stack_bytes
        rep["board"] = {"name": board.name, "flash_bytes": board.flash_bytes, "ram_bytes": board.ram_bytes,
                        "flash_used": flash, "ram_used": ram, "measured_from_firmware": bool(firmware),
                        "fits": flash <= board.flash_bytes and ram <= board.ram_bytes}
    return rep


def html_page(rep: dict, g: Graph) -> str:
    from .codegen.env import environment
    return environment().get_template("report.html.j2").render(r=rep, svg=svg(g), esc=html.escape)


def write(outdir, board_name: str | None = None, measure: bool = False) -> dict:
    """(Re)write OUTDIR/report.json and report.html; ``measure`` runs the board's QEMU firmware first
    (one random input) and keeps its per-layer instruction counts in OUTDIR/measured-<board>.json."""
    from .boards import load_board
    from .compiler import load_artifact
    from .firmware import project_board
    outdir = Path(outdir)
    art = load_artifact(outdir)
    board = load_board(board_name or project_board(outdir))
    mfile = outdir / f"measured-{board.name}.json"
    if measure and not board.is_host:
        from .firmware import run
        res = run(outdir, board)
        mfile.write_text(json.dumps({"board": board.name, "instructions": float(np.mean(res.instructions)),
                                     "mismatches": res.mismatches,
                                     "node_instructions": [list(x) for x in res.node_instructions]}, indent=1))
    measured = json.loads(mfile.read_text()) if mfile.exists() else None
    firmware = None
    elf = outdir / "build" / board.name / f"{art.name}.elf"
    if elf.exists() and not board.is_host:
        from .firmware import memory_use
        mu = memory_use(elf, board, f"{art.name}_arena")
        firmware = {"flash_bytes": mu.flash, "ram_bytes": mu.ram}
    rep = build(art.graph, art.name, board, measured, firmware)
    old = outdir / "report.json"
    base = json.loads(old.read_text()) if old.exists() else {}
    base.update(rep)
    old.write_text(json.dumps(base, indent=2, sort_keys=True) + "\n")
    (outdir / "report.html").write_text(html_page(base, art.graph))
    png(art.graph, outdir / "report.png")
    return base
