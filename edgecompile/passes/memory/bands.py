"""Patch-based execution (MCUNetV2 style, plan_memory under --memory-saving): a chain of spatial
layers (convolution, depthwise, pooling, pointwise as FC over pixels; each output read only by
the next layer) runs band by band.  The chain's final output is split into B row bands; for each
band the rows every layer must produce are derived backwards (the halo rows of a window overlap
the neighbouring band and are computed twice), and the band runs through the whole chain before
the next one starts.  In NHWC full-width row bands are contiguous, so a layer's band call is the
unchanged kernel with its input pointer at the band's first input row, the band's heights, and a
top padding of ``pad_top + first input row - first output row * stride`` (the real padding for
the first band, 0 for interior ones; rows past the band are never read except the real bottom
padding of the last band).  Only the chain's input and final output are full tensors; the other
layers write small band buffers (arena buffers, reused across bands by the offset planner).
Convolution is local, so the result is bit-exact with the unbanded layers.

A chain descriptor (g.meta["memory"]["bands"][k]): {"nodes": node indices, "count": B,
"layers": per layer per band {out_rows, in_rows, pad_top, in_dims, out_dims (the kernel's dims:
NHWC, or the FC view's [rows, 1, 1, C]), in_offset / out_offset (bytes into the source buffer /
into the chain's output, 0 for band buffers), in_bytes, out_bytes, macs}, "extra_macs"}.
"""
from __future__ import annotations

from .overlap import WINDOW_KERNELS, window

BAND_COUNTS = (2, 3, 4, 6, 8, 12, 16, 24)
POINTWISE = {"ec_fully_connected_s8"}


def geometry(n) -> tuple | None:
    """(in NHWC, out NHWC, kernel_h, stride_h, dilation_h, pad_top, fc view) of a node that can run
    on row bands (batch 1), else None."""
    p = n.params or {}
    try:
        if n.kernel in WINDOW_KERNELS:
            ind, outd, (kh, _), (sh, _), (dh, _), (pt, _) = window(p)
            fc = False
        elif n.kernel in POINTWISE and "fc_input_dims" in p and len(p.get("input_dims", ())) == 4:
            ind, kh, sh, dh, pt, fc = p["input_dims"], 1, 1, 1, 0, True
            outd = tuple(ind[:3]) + (int(p["fc_output_dims"][3]),)
            if int(p["fc_input_dims"][0]) != int(ind[0]) * int(ind[1]) * int(ind[2]):
                return None
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    ind, outd = tuple(int(x) for x in ind), tuple(int(x) for x in outd)
    if ind[0] != 1 or outd[0] != 1:
        return None
    return ind, outd, int(kh), int(sh), int(dh), int(pt), fc


def chains(g, storage) -> list[list[int]]:
    """Maximal runs of consecutive nodes that can run on bands, each output read only by the next
    node as its activation input and kept in the arena."""
    readers: dict = {}
    for n in g.nodes:
        for t in n.inputs:
            if t:
                readers[t] = readers.get(t, 0) + 1
    runs, cur = [], []
    for i, n in enumerate(g.nodes):
        ok = geometry(n) is not None and not any(t and not g.tensors[t].is_const for t in n.inputs[1:])
        linked = ok and cur and n.inputs[0] == g.nodes[cur[-1]].outputs[0] and readers[n.inputs[0]] == 1 \
            and storage.get(n.inputs[0], ("arena",))[0] == "arena"
        if linked:
            cur.append(i)
            continue
        if len(cur) >= 2:
            runs.append(cur)
        cur = [i] if ok else []
    if len(cur) >= 2:
        runs.append(cur)
    return runs


def _rows_in(o0: int, o1: int, h: int, k: int, s: int, d: int, pt: int) -> tuple[int, int]:
    return max(0, o0 * s - pt), min(h, (o1 - 1) * s - pt + (k - 1) * d + 1)


def split(g, nodes: list[int], count: int, macs) -> dict | None:
    """The band descriptor of running ``nodes`` (a chain) in ``count`` bands; None if the chain's
    output has fewer rows.  ``macs(node)`` gives a node's MACs (analysis.node_macs)."""
    geo = [geometry(g.nodes[i]) for i in nodes]
    h_out = geo[-1][1][1]
    if count > h_out or count < 2:
        return None
    cuts = [round(b * h_out / count) for b in range(count + 1)]
    layers = [[None] * count for _ in nodes]
    for b in range(count):
        o0, o1 = cuts[b], cuts[b + 1]
        for j in range(len(nodes) - 1, -1, -1):
            ind, outd, k, s, d, pt, fc = geo[j]
            i0, i1 = _rows_in(o0, o1, ind[1], k, s, d, pt)
            if i1 <= i0:
                return None               # a band whose windows see only padding
            w, c, ow, oc = ind[2], ind[3], outd[2], outd[3]
            layers[j][b] = dict(
                out_rows=[o0, o1], in_rows=[i0, i1], pad_top=pt + i0 - o0 * s,
                in_dims=[(i1 - i0) * w, 1, 1, c] if fc else [1, i1 - i0, w, c],
                out_dims=[(o1 - o0) * ow, 1, 1, oc] if fc else [1, o1 - o0, ow, oc],
                in_offset=i0 * w * c if j == 0 else 0, out_offset=o0 * ow * oc if j == len(nodes) - 1 else 0,
                in_bytes=(i1 - i0) * w * c, out_bytes=(o1 - o0) * ow * oc,
                macs=macs(g.nodes[nodes[j]]) * (o1 - o0) // outd[1])
            o0, o1 = i0, i1
    extra = sum(band["macs"] for layer in layers for band in layer) - sum(macs(g.nodes[i]) for i in nodes)
    return {"nodes": list(nodes), "count": count, "layers": layers, "extra_macs": int(extra)}


def steps(g, bands: list[dict]) -> list[tuple[int, int | None, int | None]]:
    """Execution steps (node, chain index, band): one per node, a chain's nodes band by band."""
    start = {d["nodes"][0]: k for k, d in enumerate(bands)}
    inside = {i for d in bands for i in d["nodes"]}
    out = []
    for i in range(len(g.nodes)):
        if i in start:
            d = bands[start[i]]
            out += [(j, start[i], b) for b in range(d["count"]) for j in d["nodes"]]
        elif i not in inside:
            out.append((i, None, None))
    return out
