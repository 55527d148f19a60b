"""plan_memory: place every intermediate tensor in one static arena.

Storage kinds: "input" / "output" (the caller's buffers), "arena" (offset), "const" (weights),
"band" (a patch-based chain's inner tensor, only ever held band by band in band buffers).
Reshape outputs alias their input; the inputs of a Concat written in place alias their slice.
A node whose params carry ``scratch_bytes`` > 0 gets a scratch buffer of that size, live only
while the node runs (g.meta["memory"]["scratch"][node index] = (offset, size); the generated code
passes it to the kernel in its ec_context).

Steps (edgecompile/passes/memory/): the execution order with the smallest peak of live bytes
(order.py; topological, exact for small graphs); lifetimes [producer, last reader] of every
arena buffer; overlap pairs, a node's output over an input that dies at that node, at the safe
offset of overlap.py (elementwise ops fully in place); offsets from the best of several greedy
orders and a budgeted exact search (place.py).  memory/verify.py checks the result independently.
g.meta["memory"] records the plan, the lower bounds and the declared overlaps; lifetimes are in
execution steps (g.meta["memory"]["steps"]: [node, band or None]), one per node unless a chain
runs band by band (memory/bands.py; its band buffers and band scratch in "extra_buffers").
"""
from __future__ import annotations

from ..errors import ModelError
from ..analysis import node_macs
from ..ir import Graph, Op, SHAPE_ONLY
from .memory.bands import BAND_COUNTS, chains, split, steps as band_steps
from .memory.order import best_order
from .memory.overlap import min_offset
from .memory.place import Problem, lower_bounds, solve
from .memory.verify import check_plan, strided_out

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
    back when the peak allows (listed in g.meta["memory"]["scratch_free"]); then patch-based
    execution (memory/bands.py): the chain prefix and band count with the lowest peak run band by
    band if that lowers the peak (g.meta["memory"]["bands"]); max_extra_macs (a fraction of the
    model's MACs, default no limit) caps the MACs recomputed in the halos.  Concats whose slices
    are contiguous, or channel concats of strided_out producers (pixel stride = the total channels),
    are written in place by their producers unless copying gives a smaller arena."""
    best = _plan(g, ctx)
    if best.meta["memory"]["concat_in_place"]:     # in place unless copying gives a smaller arena
        alt = _plan(g, ctx, concat=False)
        if alt.meta["memory"]["arena_size"] < best.meta["memory"]["arena_size"]:
            best = alt
    opt = (getattr(ctx, "options", None) or {}).get("memory") or {}
    if not opt.get("scratch_free", False):
        return best
    cand = [n.name for n in g.nodes if (n.params or {}).get("scratch_optional") and n.params.get("scratch_bytes")]
    free = set(cand)
    trial = _plan(_without_scratch(g, free), ctx) if cand else best
    if trial.meta["memory"]["arena_size"] < best.meta["memory"]["arena_size"]:
        for name in cand:                 # give the speed back wherever the peak does not grow
            t = _plan(_without_scratch(g, free - {name}), ctx)
            if t.meta["memory"]["arena_size"] <= trial.meta["memory"]["arena_size"]:
                free, trial = free - {name}, t
        trial.meta["memory"]["scratch_free"] = sorted(free)
        best = trial
    return _patches(best, ctx)


def plan_bands(g: Graph, nodes: list[int], count: int, ctx=None) -> Graph:
    """The planned graph ``g`` planned again with the chain ``nodes`` run in ``count`` row bands
    (what --memory-saving chooses among; tests and benchmarks force one)."""
    runs = chains(g, _storage(g, lambda t: _roots(g).get(t, t)))
    ok = len(nodes) >= 2 and any(list(nodes) == run[k:k + len(nodes)] for run in runs for k in range(len(run)))
    d = split(g, list(nodes), count, lambda n: node_macs(g, n)) if ok else None
    if d is None:
        raise ValueError(f"nodes {nodes} cannot run in {count} bands")
    return _plan(g, ctx, [d], reorder=False)


def _patches(g: Graph, ctx, keep: int = 3) -> Graph:
    """Patch-based execution (memory/bands.py): every chain prefix and band count is planned with
    the greedy placements only, the ``keep`` lowest peaks again with the full search; the best is
    kept if it lowers the peak (ties: fewer recomputed MACs), else ``g`` unchanged."""
    base = g.meta["memory"]
    root = _roots(g)
    storage = _storage(g, lambda t: root.get(t, t))
    limit = ((getattr(ctx, "options", None) or {}).get("memory") or {}).get("max_extra_macs")
    limit = None if limit is None else limit * sum(node_macs(g, n) for n in g.nodes)
    cands = []
    for run in chains(g, storage):
        x = g.nodes[run[0]].inputs[0]
        held = g.tensors[x].nbytes if root.get(x, x) not in storage else 0     # the chain's input, in the arena
        for e in range(1, min(len(run), 32)):
            if held + g.tensors[g.nodes[run[e]].outputs[0]].nbytes >= base["arena_size"]:
                continue                  # the chain's input and output alone fill the current arena
            for count in BAND_COUNTS:
                d = split(g, run[:e + 1], count, lambda n: node_macs(g, n))
                if d is None or (limit is not None and d["extra_macs"] > limit):
                    break
                peak = _plan(g, ctx, [d], reorder=False, budget=0, check=False).meta["memory"]["arena_size"]
                if peak < base["arena_size"]:
                    cands.append((peak, d["extra_macs"], len(cands), d))
    best = g
    for _, _, _, d in sorted(cands)[:keep]:
        t = _plan(g, ctx, [d], reorder=False)
        cost = [(p.meta["memory"]["arena_size"], sum(x["extra_macs"] for x in p.meta["memory"]["bands"]))
                for p in (t, best)]
        if cost[0] < cost[1]:
            best = t
    best.meta["memory"]["scratch_free"] = base["scratch_free"]
    return best


def _without_scratch(g: Graph, names: set) -> Graph:
    g = g.copy()
    for n in g.nodes:
        if n.name in names:
            n.params = dict(n.params, scratch_bytes=0)
    return g


def _concat_in_place(g: Graph, storage, r, bands=()) -> dict:
    """{input tensor: (concat output, byte offset)} for each Concat whose inputs are arena tensors
    made by compute nodes for this Concat only, which then write straight into their slice (no
    copy): contiguous slices (no axis before the concat axis has an extent > 1), or a concat along
    the last axis (channels) whose producers all take params out_stride (strided_out, not run band
    by band): each writes its rows at the concat's total channels apart (set here), from its
    channel offset."""
    prod = {n.outputs[0]: n for n in g.nodes if n.op not in SHAPE_ONLY}
    readers: dict = {}
    for n in g.nodes:
        for t in n.inputs:
            if t:
                readers[t] = readers.get(t, 0) + 1
    in_bands = {g.nodes[i].outputs[0] for d in bands for i in d["nodes"]}
    alias = {}
    for n in g.nodes:
        out = n.outputs[0]
        if n.op != Op.CONCAT or r(out) in storage:
            continue
        ins = [t for t in n.inputs if t]
        if len(set(ins)) != len(ins) or any(t not in prod or t in storage or readers.get(t) != 1
                                            or prod[t].op == Op.CONCAT or t in alias for t in ins):
            continue
        shape = g.tensors[out].shape
        strided = (n.params or {}).get("outer") != 1
        if strided and (n.attrs.get("axis") != len(shape) - 1
                        or any(not strided_out(prod[t]) or t in in_bands for t in ins)):
            continue
        off = 0
        for t in ins:
            alias[t] = (out, off)
            if strided:
                prod[t].params = dict(prod[t].params, out_stride=int(shape[-1]))
            off += g.tensors[t].shape[-1] if strided else g.tensors[t].nbytes
    return alias


def _plan(g: Graph, ctx, bands=None, reorder: bool = True, budget: int = 20000, check: bool = True,
          concat: bool = True) -> Graph:
    """One plan; ``bands``: chain descriptors (memory/bands.py) run band by band."""
    g = g.copy()
    for n in g.nodes:                       # out_stride: set again below for this plan's concats
        if "out_stride" in (n.params or {}):
            n.params = {k: v for k, v in n.params.items() if k != "out_stride"}
    opt = (getattr(ctx, "options", None) or {}).get("memory") or {}
    overlap = opt.get("overlap", "all")
    root = _roots(g)

    def r(t: str) -> str:
        return root.get(t, t)

    storage = _storage(g, r)
    reordered = reorder and opt.get("reorder", True) and _reorder(g, storage, r, overlap)
    alias = _concat_in_place(g, storage, r, bands or ()) if concat and opt.get("concat", True) \
        and overlap != "none" else {}
    for t, (out, _) in alias.items():
        root[t] = r(out)
    bands = bands or []
    steps = band_steps(g, bands)
    # what each step reads and writes: arena roots, band buffers ("band:NODE:BAND"), then scratch
    pos = {i: (k, j) for k, d in enumerate(bands) for j, i in enumerate(d["nodes"])}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    band_size: dict[str, int] = {}
    for s, (i, k, b) in enumerate(steps):
        n = g.nodes[i]
        reads = [r(t) for t in n.inputs if t]
        out = None if n.op in SHAPE_ONLY else r(n.outputs[0])
        if k is not None:
            d, j = bands[k], pos[i][1]
            if j > 0:
                reads[0] = f"band:{d['nodes'][j - 1]}:{b}"
            if j < len(d["nodes"]) - 1:
                out = f"band:{i}:{b}"
                band_size[out] = d["layers"][j][b]["out_bytes"]
        if out is not None:
            first.setdefault(out, s)
        for t in reads:
            last[t] = s
    names = [b for b in first if b not in storage]
    sizes = [band_size.get(b) or g.tensors[b].nbytes for b in names]
    spans = [(first[b], last.get(b, first[b])) for b in names]
    scratch_of = {}
    for s, (i, k, b) in enumerate(steps):
        n = g.nodes[i]
        if (n.params or {}).get("scratch_bytes", 0) > 0:
            scratch_of[len(names)] = (i, b)
            names.append(f"scratch:{i}" if k is None else f"scratch:{i}:{b}")
            sizes.append(int(n.params["scratch_bytes"]))
            spans.append((s, s))
    index = {b: k for k, b in enumerate(names)}
    pairs, pair_tensors = {}, {}
    for s, (i, k, _) in enumerate(steps):
        n = g.nodes[i]
        o = index.get(r(n.outputs[0]))
        if o is None or n.op in SHAPE_ONLY or k is not None or n.outputs[0] in alias or n.op == Op.CONCAT:
            continue
        for t in n.inputs:
            q = index.get(r(t)) if t else None
            if q is not None and spans[q][1] == s and n.inputs.count(t) == 1 and t not in alias:
                d = _overlap_d(g, n, t, overlap)
                if d is not None:
                    pairs[(o, q)] = d
                    pair_tensors[(o, q)] = (n.outputs[0], r(t), i)
    pb = Problem(sizes, [a for a, _ in spans], [b for _, b in spans], pairs, ALIGN)
    plan = solve(pb, budget) if opt.get("search", True) else solve(pb, 0, ["size"])
    off = plan["offsets"]
    scratch, extra = {}, {}
    for k, b in enumerate(names):
        if k in scratch_of:
            i, band = scratch_of[k]
            if band is None:
                scratch[i] = (off[k], sizes[k])
            else:
                extra[b] = [off[k], sizes[k]]
        elif b in band_size:
            extra[b] = [off[k], sizes[k]]
        else:
            storage[b] = ("arena", off[k])
    for d in bands:
        for i in d["nodes"][:-1]:
            storage[g.nodes[i].outputs[0]] = ("band", i)     # only ever held band by band
    for t in g.tensors:
        if t not in storage:
            base = storage.get(r(t), ("none", 0))
            storage[t] = (base[0], base[1] + alias[t][1]) if t in alias else base
    overlaps = [dict(node=i, output=to, input=ti, min_offset=d, offset=off[q] - off[o],
                     shared_bytes=max(0, min(off[o] + sizes[o], off[q] + sizes[q]) - max(off[o], off[q])))
                for (o, q), d in pairs.items() for to, ti, i in [pair_tensors[(o, q)]]
                if off[q] - off[o] < sizes[o] and off[o] < off[q] + sizes[q]]
    bands = [dict(d, buffers=[[extra.get(f"band:{i}:{b}", [None])[0] for b in range(d["count"])] for i in d["nodes"]],
                  scratch=[[extra.get(f"scratch:{i}:{b}") for b in range(d["count"])] for i in d["nodes"]])
             for d in bands]
    lb, lb_ov = lower_bounds(pb)
    g.meta["memory"] = {"arena_size": plan["peak"], "storage": storage,
                        "no_reuse_size": sum(sizes), "align": ALIGN, "scratch": scratch,
                        "lower_bound": lb, "lower_bound_overlap": lb_ov, "overlaps": overlaps,
                        "lifetimes": {b: list(s) for b, s in zip(names, spans)},
                        "strategy": plan["strategy"], "optimal": plan["exhaustive"], "reordered": reordered,
                        "scratch_free": [], "steps": [[i, b] for i, _, b in steps], "bands": bands,
                        "extra_buffers": extra,
                        "concat_in_place": sorted({i for i, n in enumerate(g.nodes) if n.op == Op.CONCAT
                                                   and n.inputs and n.inputs[0] in alias})}
    problems = check_plan(g) if check else []    # the independent verifier: a failure is a planner bug
    if problems:
        raise AssertionError(f"plan_memory: invalid plan for {g.name}: {problems[0]}")
    return g
