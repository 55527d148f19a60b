"""plan_memory: place every intermediate tensor in one static arena.

Storage kinds: "input" / "output" (the caller's buffers), "arena" (offset), "const" (weights).
Reshape outputs alias their input.  A node whose params carry ``scratch_bytes`` > 0 gets a scratch
buffer of that size, live only while the node runs (g.meta["memory"]["scratch"][node index] =
(offset, size); the generated code passes it to the kernel in its ec_context).

Steps (edgecompile/passes/memory/): the execution order with the smallest peak of live bytes
(order.py; topological, exact for small graphs); lifetimes [producer, last reader] of every
arena buffer; overlap pairs, a node's output over an input that dies at that node, at the safe
offset of overlap.py (elementwise ops fully in place); offsets from the best of several greedy
orders and a budgeted exact search (place.py).  memory/verify.py checks the result independently.
g.meta["memory"] records the plan, the lower bounds and the declared overlaps.
"""
from __future__ import annotations

from ..errors import ModelError
from ..ir import Graph, SHAPE_ONLY
from .memory.order import best_order
from .memory.overlap import min_offset
from .memory.place import Problem, lower_bounds, solve
from .memory.verify import check_plan

ALIGN = 4


def _align(x: int, a: int = ALIGN) -> int:
    return (x + a - 1) // a * a


def _roots(g: Graph) -> dict[str, str]:
    root: dict[str, str] = {}
    for n in g.nodes:
        if n.op in SHAPE_ONLY:
            root[n.outputs[0]] = root.get(n.inputs[0], n.inputs[0])
    return root


def _storage(g: Graph, r) -> dict:
    storage: dict[str, tuple[str, int]] = {}
    for k, name in enumerate(g.inputs):
        storage[name] = ("input", k)
    for k, name in enumerate(g.outputs):
        base = r(name)
        if base in storage:
            kind = storage[base][0]
            raise ModelError(f"graph output {name!r} is only a view of the {kind} "
                             f"{base!r}; the model computes nothing for it")
        storage[base] = ("output", k)
    for name, t in g.tensors.items():
        if t.is_const:
            storage[name] = ("const", 0)
    return storage


def _overlap_d(g: Graph, n, t: str, overlap: str = "all") -> int | None:
    d = min_offset(n.kernel, n.params or {}, g.tensors[t].shape, g.tensors[n.outputs[0]].shape)
    if d is None or overlap == "none" or (overlap == "elementwise" and d > 0):
        return None
    return _align(d)


def _reorder(g: Graph, storage, r, overlap: str = "all") -> bool:
    """Run the compute nodes in the order with the smallest estimated peak; views right after
    their input exists.  True when the order changed."""
    comp = [n for n in g.nodes if n.op not in SHAPE_ONLY]
    if len(comp) < 3:
        return False
    prod = {r(n.outputs[0]): k for k, n in enumerate(comp)}
    arena = lambda t: t and r(t) not in storage          # noqa: E731
    desc = []
    for n in comp:
        out = r(n.outputs[0]) if arena(n.outputs[0]) else None
        reads = {r(t) for t in n.inputs if arena(t)}
        size = {b: g.tensors[b].nbytes for b in reads | ({out} if out else set())}
        save = {}
        for t in n.inputs:
            if out and arena(t) and n.inputs.count(t) == 1 and (d := _overlap_d(g, n, t, overlap)) is not None:
                save[r(t)] = min(size[r(t)], max(0, size[out] - d))
        desc.append(dict(deps={prod[r(t)] for t in n.inputs if t and r(t) in prod}, reads=reads, out=out,
                         size=size, scratch=int((n.params or {}).get("scratch_bytes", 0)), save=save))
    seq, _, _ = best_order(desc)
    if seq == list(range(len(comp))):
        return False
    views = [n for n in g.nodes if n.op in SHAPE_ONLY]
    have = set(g.inputs) | {t for t, tt in g.tensors.items() if tt.is_const}
    nodes = []

    def flush():
        while (v := next((v for v in views if v.inputs[0] in have), None)) is not None:
            views.remove(v)
            nodes.append(v)
            have.add(v.outputs[0])
    flush()
    for k in seq:
        nodes.append(comp[k])
        have.add(comp[k].outputs[0])
        flush()
    g.nodes = nodes + views
    return True


def plan_memory(g: Graph, ctx) -> Graph:
    """ctx.options["memory"] (benchmarks/memory.py measures each feature): overlap "all" (default) |
    "elementwise" (in place only) | "none"; search False = TFLM's greedy by size only; reorder False;
    scratch_free True (compile --memory-saving) enables memory-saving execution: nodes whose kernel
    also runs without its scratch (params scratch_optional: a one-row fully connected layer, about
    15% slower then on M4) lose the scratch when that lowers the peak; each is given its scratch
    back when the peak allows.  The nodes are listed in
    g.meta["memory"]["scratch_free"]."""
    best = _plan(g, ctx)
    opt = (getattr(ctx, "options", None) or {}).get("memory") or {}
    cand = [n.name for n in g.nodes if (n.params or {}).get("scratch_optional") and n.params.get("scratch_bytes")]
    if not cand or not opt.get("scratch_free", False):
        return best
    free = set(cand)
    trial = _plan(_without_scratch(g, free), ctx)
    if trial.meta["memory"]["arena_size"] >= best.meta["memory"]["arena_size"]:
        return best
    for name in cand:                 # give the speed back wherever the peak does not grow
        t = _plan(_without_scratch(g, free - {name}), ctx)
        if t.meta["memory"]["arena_size"] <= trial.meta["memory"]["arena_size"]:
            free, trial = free - {name}, t
    trial.meta["memory"]["scratch_free"] = sorted(free)
    return trial


def _without_scratch(g: Graph, names: set) -> Graph:
    g = g.copy()
    for n in g.nodes:
        if n.name in names:
            n.params = dict(n.params, scratch_bytes=0)
    return g


def _plan(g: Graph, ctx) -> Graph:
    g = g.copy()
    opt = (getattr(ctx, "options", None) or {}).get("memory") or {}
    overlap = opt.get("overlap", "all")
    root = _roots(g)

    def r(t: str) -> str:
        return root.get(t, t)

    storage = _storage(g, r)
    reordered = opt.get("reorder", True) and _reorder(g, storage, r, overlap)
    # lifetimes of arena roots, then scratch buffers
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, n in enumerate(g.nodes):
        if n.op not in SHAPE_ONLY:
            first.setdefault(r(n.outputs[0]), i)
        for t in n.inputs:
            if t:
                last[r(t)] = i
    names = [b for b in first if b not in storage]
    sizes = [g.tensors[b].nbytes for b in names]
    spans = [(first[b], last.get(b, first[b])) for b in names]
    scratch_of = {}
    for i, n in enumerate(g.nodes):
        if (n.params or {}).get("scratch_bytes", 0) > 0:
            scratch_of[len(names)] = i
            names.append(f"scratch:{i}")
            sizes.append(int(n.params["scratch_bytes"]))
            spans.append((i, i))
    index = {b: k for k, b in enumerate(names)}
    pairs, pair_tensors = {}, {}
    for i, n in enumerate(g.nodes):
        o = index.get(r(n.outputs[0]))
        if o is None or n.op in SHAPE_ONLY:
            continue
        for t in n.inputs:
            k = index.get(r(t)) if t else None
            if k is not None and spans[k][1] == i and n.inputs.count(t) == 1:
                d = _overlap_d(g, n, t, overlap)
                if d is not None:
                    pairs[(o, k)] = d
                    pair_tensors[(o, k)] = (n.outputs[0], r(t), i)
    pb = Problem(sizes, [a for a, _ in spans], [b for _, b in spans], pairs, ALIGN)
    plan = solve(pb) if opt.get("search", True) else solve(pb, 0, ["size"])
    off = plan["offsets"]
    for k, b in enumerate(names):
        if k not in scratch_of:
            storage[b] = ("arena", off[k])
    scratch = {i: (off[k], sizes[k]) for k, i in scratch_of.items()}
    for t in g.tensors:
        if t not in storage:
            storage[t] = storage.get(r(t), ("none", 0))
    overlaps = [dict(node=i, output=to, input=ti, min_offset=d, offset=off[k] - off[o],
                     shared_bytes=max(0, min(off[o] + sizes[o], off[k] + sizes[k]) - max(off[o], off[k])))
                for (o, k), d in pairs.items() for to, ti, i in [pair_tensors[(o, k)]]
                if off[k] - off[o] < sizes[o] and off[o] < off[k] + sizes[k]]
    lb, lb_ov = lower_bounds(pb)
    g.meta["memory"] = {"arena_size": plan["peak"], "storage": storage,
                        "no_reuse_size": sum(sizes), "align": ALIGN, "scratch": scratch,
                        "lower_bound": lb, "lower_bound_overlap": lb_ov, "overlaps": overlaps,
                        "lifetimes": {b: list(s) for b, s in zip(names, spans)},
                        "strategy": plan["strategy"], "optimal": plan["exhaustive"], "reordered": reordered,
                        "scratch_free": []}
    problems = check_plan(g)          # the independent verifier (cheap): a failure is a planner bug
    if problems:
        raise AssertionError(f"plan_memory: invalid plan for {g.name}: {problems[0]}")
    return g
