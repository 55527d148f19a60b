"""An independent check of a memory plan (g.meta["memory"]): recomputes lifetimes from the node
order, and proves that no two buffers live at the same time share a byte, except the declared
overlaps of a node's output with its dying input, which it re-derives by walking the kernel's
output pixels and their taps (not with overlap.py's closed form).  Patch-based chains: the steps
are re-derived band by band, every band's rows checked against its layer's windows, every band read
and write kept inside its buffer, and band buffers are buffers like the others.  Concat written in
place: each input must be the sole-use slice of the output at its byte offset; a channel concat of
feature maps (slices interleaved per pixel): each producer writes params out_stride = the total
channels apart, the slices' channel ranges disjoint inside the output's, and their bytes live as the
output's (its lifetime covers every producer; a producer never overlaps its own input).  Returns a
list of problems."""
from __future__ import annotations

import numpy as np

from ...ir import Graph, Op, SHAPE_ONLY
from .overlap import ELEMENTWISE_KERNELS, OVERLAP_KERNELS, PIXELS_IN_FLIGHT, ROW_KERNELS


def strided_out(n) -> bool:
    """The node's kernel writes its output pixels params out_stride apart (ops strided_out flags)."""
    from ...ops import REGISTRY
    spec = REGISTRY.get(n.op)
    v = spec.variant(n.variant) if spec is not None else None
    return bool(v.strided_out if v is not None else spec is not None and spec.strided_out)

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


def _taps(n):
    """(kernel_h, stride_h, dilation_h, pad_top, in NHWC, out NHWC) read from a node's params."""
    p = n.params
    if n.kernel in ROW_KERNELS:
        ind = tuple(p["input_dims"])
        return 1, 1, 1, 0, ind, ind[:3] + (p["fc_output_dims"][3],)
    if "kernel_h" in p:
        return p["kernel_h"], p["stride_h"], 1, p["pad_top"], tuple(p["input_dims"]), tuple(p["output_dims"])
    return (p["filter_dims"][1], p["stride"][0], p.get("dilation", (1, 1))[0], p["padding"][0],
            tuple(p["input_dims"]), tuple(p["output_dims"]))


def _check_bands(g: Graph, d: dict, problems: list) -> None:
    """A chain's band geometry: each band layer reads exactly the rows its outputs' windows touch
    (the rest is the real padding), layers pass their bands on, the last layer covers its output."""
    end = 0
    for j, i in enumerate(d["nodes"]):
        k, s, dil, pt, ind, outd = _taps(g.nodes[i])
        fc = g.nodes[i].kernel in ROW_KERNELS
        for b, L in enumerate(d["layers"][j]):
            (o0, o1), (i0, i1) = L["out_rows"], L["in_rows"]
            where = f"chain at node {d['nodes'][0]}, layer {j}, band {b}"
            lo, hi = o0 * s - pt, (o1 - 1) * s - pt + (k - 1) * dil        # tap rows of the band
            ok = 0 <= o0 < o1 <= outd[1] and 0 <= i0 < i1 <= ind[1] and L["pad_top"] == pt + i0 - o0 * s
            ok = ok and i0 == max(lo, 0) and i1 == min(hi + 1, ind[1])
            ok = ok and int(np.prod(L["in_dims"])) == L["in_bytes"] == (i1 - i0) * ind[2] * ind[3]
            ok = ok and int(np.prod(L["out_dims"])) == L["out_bytes"] == (o1 - o0) * outd[2] * outd[3]
            ok = ok and (fc or (L["in_dims"][1], L["out_dims"][1]) == (i1 - i0, o1 - o0))
            if j > 0:
                ok = ok and L["in_rows"] == d["layers"][j - 1][b]["out_rows"] and L["in_offset"] == 0
            else:
                ok = ok and L["in_offset"] == i0 * ind[2] * ind[3]
            if j == len(d["nodes"]) - 1:
                ok = ok and o0 == end and L["out_offset"] == o0 * outd[2] * outd[3]
                end = o1
            if not ok:
                problems.append(f"{where}: inconsistent band geometry {L}")
    if end != g.tensors[g.nodes[d["nodes"][-1]].outputs[0]].shape[1]:
        problems.append(f"chain at node {d['nodes'][0]}: the bands do not cover the output")


def _steps(g: Graph, bands: list) -> list:
    """(node, chain, band) in execution order, re-derived from the chain descriptors."""
    first = {d["nodes"][0]: k for k, d in enumerate(bands)}
    inside = {i for d in bands for i in d["nodes"]}
    out = []
    for i in range(len(g.nodes)):
        if i in first:
            out += [(j, first[i], b) for b in range(bands[first[i]]["count"]) for j in bands[first[i]]["nodes"]]
        elif i not in inside:
            out.append((i, None, None))
    return out


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
    readers: dict = {}
    for n in g.nodes:
        for t in n.inputs:
            readers[t] = readers.get(t, 0) + 1
    made_by = {n.outputs[0]: n for n in g.nodes}
    for i in mem.get("concat_in_place", []):
        n, out = g.nodes[i], g.nodes[i].outputs[0]
        axis, shape = n.attrs.get("axis", 0), g.tensors[out].shape
        off = st[out][1]
        strided = int(np.prod(shape[:axis])) != 1          # channel slices, interleaved per pixel
        if n.op != Op.CONCAT or st[out][0] != "arena" or (strided and axis != len(shape) - 1):
            problems.append(f"node {i} ({n.name}) is no contiguous or channel concat in the arena")
        chans = []
        for t in n.inputs:
            if st[t] != ("arena", off) or readers.get(t) != 1 or t in g.inputs or t in g.outputs:
                problems.append(f"concat input {t} is not the sole-use slice at byte {off} of {out}")
            if strided:
                p = made_by.get(t)
                if p is None or not strided_out(p) or (p.params or {}).get("out_stride") != shape[-1]:
                    problems.append(f"concat input {t}: its producer does not write {shape[-1]} bytes apart")
                chans.append((st[t][1] - st[out][1], st[t][1] - st[out][1] + g.tensors[t].shape[-1], t))
            root[t] = out
            off += g.tensors[t].shape[-1] if strided else g.tensors[t].nbytes
        chans.sort()
        for (a0, a1, ta), (b0, _, tb) in zip(chans, chans[1:]):
            if b0 < a1:
                problems.append(f"concat inputs {ta} and {tb} write overlapping channels of {out}")
        if chans and (chans[0][0] < 0 or chans[-1][1] > shape[-1]):
            problems.append(f"concat input channels outside [0, {shape[-1]}) of {out}")
    bands = mem.get("bands") or []
    for d in bands:
        _check_bands(g, d, problems)
    steps = _steps(g, bands)
    if [list(x) for x in mem.get("steps", [])] not in ([], [[i, b] for i, _, b in steps]):
        problems.append("the planned execution steps differ from the chains' band order")
    # buffers: name -> [offset, bytes, first step, last step]
    made = set(g.inputs) | {t for t, tt in g.tensors.items() if tt.is_const}
    span: dict = {}
    pos = {i: (k, j) for k, d in enumerate(bands) for j, i in enumerate(d["nodes"])}
    node_of = [i for i, _, _ in steps]

    def touch(name, off, nb, s, write, lo=0, hi=None):
        if name not in span:
            if not write:
                problems.append(f"step {s} reads {name} before it is written")
                return
            span[name] = [off, nb, s, s]
        span[name][3] = s
        if hi is not None and not (0 <= lo and hi <= span[name][1]):
            problems.append(f"step {s} touches bytes [{lo}, {hi}) of {name} ({span[name][1]} B)")

    for s, (i, k, b) in enumerate(steps):
        n = g.nodes[i]
        L = bands[k]["layers"][pos[i][1]][b] if k is not None else None
        for x, t in enumerate(n.inputs):
            if L is not None and x == 0 and pos[i][1] > 0:
                prev = f"band:{bands[k]['nodes'][pos[i][1] - 1]}:{b}"
                touch(prev, 0, 0, s, False, L["in_offset"], L["in_offset"] + L["in_bytes"])
                continue
            if t and t not in made:
                problems.append(f"node {i} ({n.name}) reads {t} before it is computed")
            if t and st[root.get(t, t)][0] == "arena":
                r = root.get(t, t)
                touch(r, st[r][1], g.tensors[r].nbytes, s, False,
                      *((L["in_offset"], L["in_offset"] + L["in_bytes"]) if L is not None and x == 0 else (0, None)))
        if L is not None and b == bands[k]["count"] - 1 or k is None:
            made.add(n.outputs[0])
        if n.op in SHAPE_ONLY:
            continue
        if L is not None and pos[i][1] < len(bands[k]["nodes"]) - 1:
            touch(f"band:{i}:{b}", bands[k]["buffers"][pos[i][1]][b], L["out_bytes"], s, True, 0, L["out_bytes"])
        elif st[n.outputs[0]][0] == "arena":
            r = root.get(n.outputs[0], n.outputs[0])
            touch(r, st[r][1], g.tensors[r].nbytes, s, True,
                  *((L["out_offset"], L["out_offset"] + L["out_bytes"]) if L is not None else (0, None)))
        need = int((n.params or {}).get("scratch_bytes", 0))
        if need > 0:
            off, got = (bands[k]["scratch"][pos[i][1]][b] or (0, 0)) if k is not None else \
                mem["scratch"].get(i, (0, 0))
            if got != need:
                problems.append(f"node {i} needs {need} scratch bytes, plan gives {got}")
            span[f"scratch:{s}"] = [off, got, s, s]
    bufs = [(t, *v) for t, v in span.items()]
    for t, off, nb, _, _ in bufs:
        if off is None or off < 0 or off + nb > size or off % align:
            problems.append(f"{t} at [{off}, {(off or 0) + nb}) outside the {size} B arena or misaligned")
    declared = {(o["node"], o["output"], o["input"]) for o in mem.get("overlaps", [])}
    for k, (ta, oa, sa, fa, la) in enumerate(bufs):
        for tb, ob, sb, fb, lb in bufs[k + 1:]:
            if la < fb or lb < fa or oa + sa <= ob or ob + sb <= oa:
                continue
            why = "not a declared overlap"
            for (to, oo, fo, lo), (ti, oi, fi, li) in (((ta, oa, fa, la), (tb, ob, fb, lb)),
                                                       ((tb, ob, fb, lb), (ta, oa, fa, la))):
                n = g.nodes[node_of[fo]]
                if fo == li and steps[fo][1] is None and n.outputs[0] == to and \
                        (node_of[fo], to, ti) in declared and [root.get(x, x) for x in n.inputs].count(ti) == 1:
                    tin = next(x for x in n.inputs if root.get(x, x) == ti)
                    why = _safe(n, g.tensors[tin], g.tensors[to], oi, oo)
                    break
            if why:
                problems.append(f"{ta} and {tb} share bytes while both live: {why}")
    return problems
