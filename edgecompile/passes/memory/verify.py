"""An independent check of a memory plan (g.meta["memory"]): recomputes lifetimes from the node
order, and proves that no two buffers live at the same time share a byte, except the declared
overlaps of a node's output with its dying input, which it re-derives by walking the kernel's
output pixels and their taps (not with overlap.py's closed form).  Returns a list of problems."""
from __future__ import annotations

import numpy as np

from ...ir import Graph, Op, SHAPE_ONLY
from .overlap import ELEMENTWISE_KERNELS, OVERLAP_KERNELS, PIXELS_IN_FLIGHT, ROW_KERNELS

_ELEMENTWISE_OPS = {Op.ADD, Op.CLAMP, Op.LOGISTIC, Op.TANH}


def _reads_by_walk(n, in_t, out_t):
    """(last output pixel reading each input pixel, output pixels, in/out pixel bytes) by a walk
    over the output pixels in raster order and their window taps."""
    p = n.params
    if n.kernel in ROW_KERNELS:
        rows = p.get("fc_input_dims", p["input_dims"])[0]
        return np.arange(rows), rows, in_t.nbytes // rows, out_t.nbytes // rows
    N, H, W, C = p["input_dims"]
    _, OH, OW, OC = p["output_dims"]
    if "kernel_h" in p:
        kh, kw, sh, sw, dh, dw = p["kernel_h"], p["kernel_w"], p["stride_h"], p["stride_w"], 1, 1
        pt, pl = p["pad_top"], p["pad_left"]
    else:
        kh, kw = p["filter_dims"][1], p["filter_dims"][2]
        (sh, sw), (dh, dw), (pt, pl) = p["stride"], p.get("dilation", (1, 1)), p["padding"]
    lr = np.full(N * H * W, -1)
    q = 0
    for b in range(N):
        for oy in range(OH):
            for ox in range(OW):
                for ky in range(kh):
                    iy = oy * sh - pt + ky * dh
                    for kx in range(kw):
                        ix = ox * sw - pl + kx * dw
                        if 0 <= iy < H and 0 <= ix < W:
                            lr[(b * H + iy) * W + ix] = q
                q += 1
    return lr, q, C, OC


def _safe(n, in_t, out_t, o_in, o_out) -> str | None:
    if n.kernel not in OVERLAP_KERNELS:
        return f"kernel {n.kernel} does not allow overlap"
    if n.kernel in ELEMENTWISE_KERNELS:
        if n.op not in _ELEMENTWISE_OPS or in_t.shape != out_t.shape:
            return "elementwise overlap needs equal shapes"
        return None if o_in >= o_out else "in place output above its input"
    lr, pixels, ci, co = _reads_by_walk(n, in_t, out_t)
    if ci * len(lr) != in_t.nbytes or co * pixels != out_t.nbytes:
        return "kernel params do not match the tensors"
    for i in np.nonzero(lr >= 0)[0]:
        done = min(lr[i] + PIXELS_IN_FLIGHT - 1, pixels - 1) + 1          # output pixels written
        lo, hi = o_in + i * ci, o_in + (i + 1) * ci
        if lo < o_out + done * co and o_out < hi:
            return f"input pixel {i} is overwritten before its last read"
    return None


def check_plan(g: Graph) -> list[str]:
    mem = g.meta["memory"]
    st, size, align = mem["storage"], mem["arena_size"], mem.get("align", 4)
    problems: list[str] = []
    root = {}
    for n in g.nodes:
        if n.op in SHAPE_ONLY:
            root[n.outputs[0]] = root.get(n.inputs[0], n.inputs[0])
            if st[n.outputs[0]] != st[root[n.outputs[0]]]:
                problems.append(f"view {n.outputs[0]} is not stored with {root[n.outputs[0]]}")
    made = set(g.inputs) | {t for t, tt in g.tensors.items() if tt.is_const}
    span: dict = {}
    for i, n in enumerate(g.nodes):
        for t in n.inputs:
            if t and t not in made:
                problems.append(f"node {i} ({n.name}) reads {t} before it is computed")
            if t and st[root.get(t, t)][0] == "arena":
                span[root.get(t, t)][1] = i
        made.add(n.outputs[0])
        if n.op not in SHAPE_ONLY and st[n.outputs[0]][0] == "arena":
            span[n.outputs[0]] = [i, i]
    bufs = [(t, st[t][1], g.tensors[t].nbytes, a, b) for t, (a, b) in span.items()]
    for i, n in enumerate(g.nodes):
        need = int((n.params or {}).get("scratch_bytes", 0))
        if need > 0:
            off, got = mem["scratch"].get(i, (0, 0))
            if got != need:
                problems.append(f"node {i} needs {need} scratch bytes, plan gives {got}")
            bufs.append((f"scratch:{i}", off, got, i, i))
    for t, off, nb, _, _ in bufs:
        if off < 0 or off + nb > size or off % align:
            problems.append(f"{t} at [{off}, {off + nb}) outside the {size} B arena or misaligned")
    declared = {(o["node"], o["output"], o["input"]) for o in mem.get("overlaps", [])}
    for k, (ta, oa, sa, fa, la) in enumerate(bufs):
        for tb, ob, sb, fb, lb in bufs[k + 1:]:
            if la < fb or lb < fa or oa + sa <= ob or ob + sb <= oa:
                continue
            why = "not a declared overlap"
            for (to, oo, fo, lo), (ti, oi, fi, li) in (((ta, oa, fa, la), (tb, ob, fb, lb)),
                                                       ((tb, ob, fb, lb), (ta, oa, fa, la))):
                n = g.nodes[fo]
                if fo == li and n.outputs[0] == to and (fo, to, ti) in declared and \
                        [root.get(x, x) for x in n.inputs].count(ti) == 1:
                    tin = next(x for x in n.inputs if root.get(x, x) == ti)
                    why = _safe(n, g.tensors[tin], g.tensors[to], oi, oo)
                    break
            if why:
                problems.append(f"{ta} and {tb} share bytes while both live: {why}")
    return problems
