"""prune_channels: structured pruning.  Whole output channels of Conv2D / FullyConnected layers are
removed with graph surgery, so the result is a smaller dense model.

Channel provenance: every output channel of a prunable producer (Conv2D with groups=1 or
FullyConnected, constant weights) gets a global id; ids flow through the ops that keep channels
apart (BatchNorm and other depthwise convs with multiplier 1, activations, pools, Mean, Pad, Reshape
keeping the last axis or flattening NHWC) and are concatenated by a channel Concat.  An Add (and a
Concat along another axis) ties the channels it combines elementwise: a residual block's channels go
together.  Channels that reach a graph output, a Softmax, a Transpose, a grouped conv or anything
else are pinned.  Removing a channel then deletes the producer's filter and bias entry, the matching
BatchNorm / depthwise / Add-constant entries and the consumers' input channels (Conv2D weights axis
3, FullyConnected columns, all flattened positions).

Options, ``ctx.options["prune_channels"]``:
  fraction    fraction of each layer's (or tied group's) output channels to remove
  ratios      {producer node name: fraction} overriding ``fraction`` for those layers
  importance  "l1" (default) | "l2" (filter norms, times |BatchNorm scale| when one follows) |
              "activation" (mean |activation| over ``data``, after the layer's BN / activation) |
              "lsq" (``select_lsq``: layer by layer, keep the channels from which the next layer's
              original pre-activations are best rebuilt by least squares, refitting as it goes)
  data        {input name: [N, ...]} float samples for "activation" and "lsq"
``reconstruct`` then refits the consumers by least squares on data (compress does this when given
data, before fine-tuning).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import OptionError
from ..ir import Graph, Op, Tensor
from ..ops import REGISTRY
from ..ops.sparse import pointwise
from ..reference import run_float_batch

PINNED = 0
FOLLOW = {Op.CLAMP, Op.LOGISTIC, Op.TANH, Op.MAX_POOL2D, Op.AVG_POOL2D, Op.MEAN, Op.PAD}
IMPORTANCE = ("l1", "l2", "activation", "lsq")


class _Ids:
    """Global channel ids with union-find; id 0 is the pinned class."""

    def __init__(self):
        self.parent = [0]

    def new(self, n: int) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n)

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra != rb:
            lo, hi = min(ra, rb), max(ra, rb)   # PINNED (0) always stays the root of its class
            self.parent[hi] = lo

    def pin(self, ids) -> None:
        for a in np.asarray(ids).ravel():
            self.union(PINNED, a)


def _producer(n, g) -> bool:
    w = g.tensors[n.inputs[1]] if len(n.inputs) > 1 and n.inputs[1] else None
    return (n.op == Op.FULLY_CONNECTED or (n.op == Op.CONV2D and n.attrs.get("groups", 1) == 1)) and \
        w is not None and w.is_const


def analyze(g: Graph):
    """(ids, prov, spaces): prov maps each activation tensor to the channel ids of its last axis;
    spaces maps each prunable producer node name to its output ids."""
    ids, prov, spaces = _Ids(), {}, {}
    for i in g.inputs:
        prov[i] = np.full(g.tensors[i].shape[-1] if g.tensors[i].shape else 1, PINNED)
    for n in g.nodes:
        ins = [prov.get(i) if i and not g.tensors[i].is_const else None for i in n.inputs]
        x, out = ins[0], g.tensors[n.outputs[0]]
        shape_in = g.tensors[n.inputs[0]].shape
        if _producer(n, g):
            y = spaces[n.name] = ids.new(out.shape[-1])
        elif n.op == Op.DEPTHWISE_CONV2D and out.shape[-1] == shape_in[-1]:
            y = x
        elif n.op in FOLLOW and not (n.op == Op.PAD and (n.attrs["pads"][len(shape_in) - 1] or n.attrs["pads"][-1])):
            y = x
        elif n.op == Op.RESHAPE and shape_in[-1:] == out.shape[-1:]:
            y = x
        elif n.op == Op.RESHAPE and len(out.shape) == 2 and out.shape[0] == shape_in[0] and len(shape_in) > 2:
            y = np.tile(x, int(np.prod(shape_in[1:-1])))          # flatten of NHWC
        elif n.op == Op.ADD or (n.op == Op.CONCAT and n.attrs["axis"] != len(out.shape) - 1):
            full = [p for p, i in zip(ins, n.inputs) if p is not None and g.tensors[i].shape[-1:] == out.shape[-1:]]
            if len(full) < len([i for i in n.inputs if not g.tensors[i].is_const]):
                for p in ins:
                    if p is not None:
                        ids.pin(p)
            y = full[0] if full else ids.new(out.shape[-1])
            for p in full[1:]:
                for a, b in zip(y, p):
                    ids.union(a, b)
        elif n.op == Op.CONCAT:
            y = np.concatenate([p if p is not None else np.full(g.tensors[i].shape[-1], PINNED)
                                for p, i in zip(ins, n.inputs)])
        else:
            y = None
        if y is None:
            for p in ins:
                if p is not None:
                    ids.pin(p)
            y = ids.new(out.shape[-1] if out.shape else 1)
            ids.pin(y)
        prov[n.outputs[0]] = y
    for o in g.outputs:
        ids.pin(prov[o])
    return ids, prov, spaces


def _chains(g: Graph, spaces) -> dict:
    """Per producer: the last node of the BN / activation / pool chain that only it feeds."""
    cons = g.consumers()
    chain = {}
    for name in spaces:
        n = next(m for m in g.nodes if m.name == name)
        while True:                       # follow BN / activation / pools that only this layer feeds
            nxt = cons.get(n.outputs[0], [])
            if len(nxt) != 1 or n.outputs[0] in g.outputs or not (
                    nxt[0].op in FOLLOW or (nxt[0].op == Op.DEPTHWISE_CONV2D and nxt[0].attrs.get("bn"))):
                break
            n = nxt[0]
        chain[name] = n
    return chain


def _scores(g: Graph, spaces, importance: str, data) -> dict[str, np.ndarray]:
    """Per producer: one importance value per output channel."""
    chain, out = _chains(g, spaces), {}
    if importance == "activation":
        if not data:
            raise OptionError("activation importance needs data (fine-tuning or calibration samples)")
        env = run_float_batch(g, {k: np.asarray(v, np.float32) for k, v in data.items()}, keep_all=True)
        for name, n in chain.items():
            a = env[n.outputs[0]]
            out[name] = np.abs(a).reshape(-1, a.shape[-1]).mean(axis=0)
        return out
    for name, last in chain.items():
        n = next(m for m in g.nodes if m.name == name)
        w = g.tensors[n.inputs[1]].data.reshape(g.tensors[n.inputs[1]].shape[0], -1)
        s = np.abs(w).sum(1) if importance == "l1" else np.sqrt(np.square(w).sum(1))
        if last.op == Op.DEPTHWISE_CONV2D:
            s = s * np.abs(g.tensors[last.inputs[1]].data.reshape(-1))
        out[name] = s
    return out


def select(g: Graph, fraction: float | None = None, ratios: dict | None = None, importance: str = "l1",
           data=None) -> set[int]:
    """The channel ids to remove (closed under ties)."""
    if importance not in IMPORTANCE:
        raise OptionError(f"unknown channel importance {importance!r} (choose from {', '.join(IMPORTANCE)})")
    ratios = dict(ratios or {})
    for k, v in [("fraction", fraction)] + list(ratios.items()):
        if v is not None and not 0.0 <= float(v) < 1.0:
            raise OptionError(f"channel pruning {k} must be a fraction in [0, 1), got {v!r}")
    ids, prov, spaces = analyze(g)
    scores = _scores(g, spaces, importance, data)
    groups: dict[int, dict] = {}          # tied producers: root of the first channel -> {producers, class scores}
    for name, sp in spaces.items():
        roots = [ids.find(int(a)) for a in sp]
        key = next((k for k, gr in groups.items() if set(roots) & gr["roots"]), None)
        gr = groups.setdefault(key if key is not None else roots[0], {"names": [], "roots": set(), "score": {}})
        gr["names"].append(name)
        gr["roots"].update(roots)
        for r, s in zip(roots, scores[name] / max(float(np.max(scores[name])), 1e-30)):
            gr["score"][r] = gr["score"].get(r, 0.0) + float(s)
    removed: set[int] = set()
    for gr in groups.values():
        frac = max((float(ratios[m]) for m in gr["names"] if m in ratios), default=fraction)
        free = [r for r in gr["score"] if r != PINNED]
        if not frac or not free:
            continue
        size = min(len(spaces[m]) for m in gr["names"])
        k = min(int(round(frac * size)), len(free), size - 1)
        removed.update(sorted(free, key=lambda r: (gr["score"][r], r))[:k])
    return {int(a) for p in prov.values() for a in p if ids.find(int(a)) in removed}


def _take(t, axis: int, keep: np.ndarray):
    data = np.ascontiguousarray(np.take(t.data, keep, axis=axis))
    return dataclasses.replace(t, data=data, shape=tuple(data.shape))


def surgery(g: Graph, removed: set[int]) -> Graph:
    """A new graph without the channels whose ids are in ``removed`` (from ``select``)."""
    ids, prov, spaces = analyze(g)
    g = g.copy()
    rm = np.array(sorted(removed), dtype=np.int64)
    keep = {t: np.flatnonzero(~np.isin(p, rm)) for t, p in prov.items()}
    masks = dict(g.meta.get("prune_masks") or {})

    def cut(name: str, axis: int, k: np.ndarray) -> None:
        t = g.tensors[name]
        if k.size == t.shape[axis]:
            return
        g.tensors[name] = _take(t, axis, k)
        if name in masks:
            masks[name] = np.take(masks[name], k, axis=axis)

    for n in g.nodes:
        kin, kout = keep.get(n.inputs[0]), keep[n.outputs[0]]
        if n.op in (Op.CONV2D, Op.FULLY_CONNECTED) and len(n.inputs) > 1 and g.tensors[n.inputs[1]].is_const:
            if n.name in spaces:
                cut(n.inputs[1], 0, kout)
                if len(n.inputs) > 2 and n.inputs[2]:
                    cut(n.inputs[2], 0, kout)
            if kin is not None:
                cut(n.inputs[1], 3 if n.op == Op.CONV2D else 1, kin)
        elif n.op == Op.DEPTHWISE_CONV2D and kin is not None and kout.size < g.tensors[n.outputs[0]].shape[-1]:
            cut(n.inputs[1], 3, kout)
            if len(n.inputs) > 2 and n.inputs[2]:
                cut(n.inputs[2], 0, kout)
            if n.attrs.get("bn"):
                n.attrs["bn"] = {k: (np.asarray(v)[kout] if np.ndim(v) else v) for k, v in n.attrs["bn"].items()}
        elif n.op == Op.ADD:
            for i in n.inputs:
                t = g.tensors[i]
                if t.is_const and t.shape and t.shape[-1] == g.tensors[n.outputs[0]].shape[-1] > 1:
                    cut(i, len(t.shape) - 1, kout)
        elif n.op == Op.RESHAPE:
            shape = g.tensors[n.outputs[0]].shape
            n.attrs["shape"] = tuple(shape[:-1]) + (int(kout.size),)
        out = g.tensors[n.outputs[0]]
        shapes = [g.tensors[i].shape if i else None for i in n.inputs]
        g.tensors[n.outputs[0]] = dataclasses.replace(out, shape=tuple(REGISTRY[n.op].infer(*shapes, **n.attrs)))
    if masks:
        g.meta["prune_masks"] = masks
    prev = g.meta.get("channel_keep") or {}         # repeated surgery: keep indices into the original
    kept = {name: np.flatnonzero(~np.isin(sp, rm)) for name, sp in spaces.items()}
    g.meta["channel_keep"] = {name: prev[name][k] if name in prev else k for name, k in kept.items()}
    pc = dict(g.meta.get("pruned_channels") or {})
    for name, sp in spaces.items():
        if any(ids.find(int(a)) != PINNED for a in sp):     # layers that could lose channels
            before = pc.get(name, (len(sp), len(sp)))[0]
            pc[name] = (before, int(np.count_nonzero(~np.isin(sp, rm))))
    g.meta["pruned_channels"] = pc
    return g


def reconstruct(g: Graph, original: Graph, data: dict, ridge: float = 1e-6, only=None) -> Graph:
    """Least-squares repair after ``surgery`` (as in ThiNet / He et al. 2017): in node order, each
    FullyConnected and pointwise Conv2D (or only the nodes named in ``only``) gets the weights and bias
    that best reproduce, from its inputs in the pruned graph, the original node's pre-activation
    outputs (kept channels) on ``data``; ``ridge`` is relative to the mean input energy."""
    keep = g.meta.get("channel_keep") or {}
    g = g.copy()
    feeds = {k: np.asarray(v, np.float32) for k, v in data.items() if k in g.inputs}
    env0 = run_float_batch(original, feeds, keep_all=True)
    env = run_float_batch(g, feeds, keep_all=True)
    old = {n.name: n for n in original.nodes}
    for n in g.nodes:
        w = g.tensors[n.inputs[1]] if len(n.inputs) > 1 and n.inputs[1] else None
        if n.op not in (Op.FULLY_CONNECTED, Op.CONV2D) or not w.is_const or n.name not in old or (
                n.op == Op.CONV2D and not pointwise(n, [None, w])) or (only is not None and n.name not in only):
            continue
        n0 = old[n.name]
        w0 = original.tensors[n0.inputs[1]].data
        b0 = original.tensors[n0.inputs[2]].data if n0.inputs[2:] and n0.inputs[2] else 0.0
        x = env[n.inputs[0]].reshape(-1, w.shape[-1]).astype(np.float64)
        y = env0[n0.inputs[0]].reshape(-1, w0.shape[-1]).astype(np.float64) @ w0.reshape(len(w0), -1).T + b0
        y = y[:, keep.get(n.name, slice(None))]
        has_bias = len(n.inputs) > 2 and bool(n.inputs[2])     # else a later Add holds the bias: keep it
        xa = np.hstack([x, np.ones((len(x), 1))]) if has_bias else x
        a = xa.T @ xa
        a[np.diag_indices_from(a)] += ridge * np.trace(a) / len(a)
        sol = np.linalg.solve(a, xa.T @ (y - (0.0 if has_bias else b0)))
        g.tensors[w.name] = dataclasses.replace(w, data=sol[:w.shape[-1]].T.reshape(w.shape).astype(np.float32))
        if has_bias:
            bias = Tensor(f"{n.name}/bias_lsq", (w.shape[0],), data=sol[-1].astype(np.float32))
            g.tensors[bias.name] = bias
            n.inputs = list(n.inputs[:2]) + [bias.name]
        env = run_float_batch(g, feeds, keep_all=True)
    return g.prune_unused()


def _eliminate(x: np.ndarray, y: np.ndarray, k: int, ridge: float) -> np.ndarray:
    """Indices of the k columns of x that best predict y (least squares with an intercept), by
    backward elimination: drop, one at a time, the column whose removal raises the residual least
    (its coefficient row's energy over the diagonal of the inverse Gram matrix)."""
    xa = np.hstack([x, np.ones((len(x), 1))])
    gram, cross = xa.T @ xa, xa.T @ y
    gram[np.diag_indices_from(gram)] += ridge * np.trace(gram) / len(gram)
    keep = list(range(x.shape[1]))
    while len(keep) > k:
        idx = keep + [x.shape[1]]
        inv = np.linalg.inv(gram[np.ix_(idx, idx)])
        beta = inv @ cross[idx]
        keep.pop(int(np.argmin(np.square(beta[:-1]).sum(1) / np.diag(inv)[:-1])))
    return np.array(keep)


def select_lsq(g: Graph, fraction: float | None = None, ratios: dict | None = None, data=None,
               ridge: float = 1e-6) -> Graph:
    """Greedy least-squares channel pruning (ThiNet-like), layer by layer in node order: refit the
    layer to the original pre-activations, then keep the output channels from which its consumer's
    original pre-activations are best rebuilt (``_eliminate``) and cut the others.  Layers that are
    tied, or whose channels do not feed exactly one FC / pointwise consumer, use activation importance.
    Returns the pruned graph; ``reconstruct`` then refits the consumers."""
    if not data:
        raise OptionError("lsq channel importance needs data (fine-tuning or calibration samples)")
    ratios = dict(ratios or {})
    feeds = {k: np.asarray(v, np.float32) for k, v in data.items() if k in g.inputs}
    original, env0 = g, run_float_batch(g, feeds, keep_all=True)
    names, done = [n.name for n in g.nodes if n.name in analyze(g)[2]], set()
    for name in names:
        frac = float(ratios.get(name, fraction) or 0.0)
        ids, _, spaces = analyze(g)
        free = [a for a in spaces[name] if ids.find(int(a)) != PINNED]
        k = len(spaces[name]) - min(int(round(frac * len(spaces[name]))), len(spaces[name]) - 1)
        if not frac or len(free) < len(spaces[name]) or name in done:
            continue
        g = reconstruct(g, original, feeds, ridge, only={name})
        last = _chains(g, {name: 0})[name]
        cons = g.consumers().get(last.outputs[0], [])
        roots = {ids.find(int(a)) for a in spaces[name]}
        partners = {m for m, sp in spaces.items() if m != name and roots & {ids.find(int(b)) for b in sp}}
        tied = bool(partners)                      # residual Add / Concat groups: pruned once, together
        done |= partners
        w = g.tensors[cons[0].inputs[1]] if len(cons) == 1 and len(cons[0].inputs) > 1 else None
        if tied or w is None or not w.is_const or cons[0].name not in {n.name for n in original.nodes} or not (
                cons[0].op == Op.FULLY_CONNECTED or (cons[0].op == Op.CONV2D and pointwise(cons[0], [None, w]))):
            g = surgery(g, _drop_lowest(g, name, frac, feeds))
            continue
        env = run_float_batch(g, feeds, keep_all=True)
        n0 = next(n for n in original.nodes if n.name == cons[0].name)
        w0 = original.tensors[n0.inputs[1]].data
        b0 = original.tensors[n0.inputs[2]].data if n0.inputs[2:] and n0.inputs[2] else 0.0
        y = env0[n0.inputs[0]].reshape(-1, w0.shape[-1]).astype(np.float64) @ w0.reshape(len(w0), -1).T + b0
        x = env[last.outputs[0]].reshape(-1, len(spaces[name])).astype(np.float64)
        keep = _eliminate(x, y, k, ridge)
        g = surgery(g, {int(a) for a in np.delete(spaces[name], keep)})
    return g


def _drop_lowest(g: Graph, name: str, frac: float, feeds: dict) -> set[int]:
    """Channel ids of producer ``name`` to remove by activation importance (``select`` on one layer)."""
    fractions = {n: 0.0 for n in analyze(g)[2]}
    return select(g, None, {**fractions, name: frac}, "activation", feeds)


def channel_fraction(g: Graph) -> float:
    """Fraction of prunable output channels removed, from meta["pruned_channels"]."""
    pc = g.meta.get("pruned_channels") or {}
    total = sum(a for a, _ in pc.values())
    return sum(a - b for a, b in pc.values()) / max(total, 1)


def prune_channels(g: Graph, ctx) -> Graph:
    o = dict(ctx.options.get("prune_channels") or {})
    if not o.get("fraction") and not o.get("ratios"):
        return g.copy()
    if o.get("importance") == "lsq":
        return select_lsq(g, o.get("fraction"), o.get("ratios"), o.get("data"))
    removed = select(g, o.get("fraction"), o.get("ratios"), o.get("importance", "l1"), o.get("data"))
    return surgery(g, removed)
