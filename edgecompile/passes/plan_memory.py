"""plan_memory: place every intermediate tensor in one static arena.

Storage kinds: "input" / "output" (the caller's buffers), "arena" (offset), "const" (weights).
Reshape outputs alias their input.  A node whose params carry ``scratch_bytes`` > 0 gets a scratch
buffer of that size, live only while the node runs (g.meta["memory"]["scratch"][node index] =
(offset, size); the generated code passes it to the kernel in its ec_context).  Arena buffers are placed greedily by size, largest first,
at the lowest offset that does not overlap a buffer whose lifetime [producer, last reader]
intersects (TFLM's GreedyMemoryPlanner strategy).  The result is in g.meta["memory"].
"""
from __future__ import annotations

from ..errors import ModelError
from ..ir import Graph, SHAPE_ONLY

ALIGN = 4


def _align(x: int, a: int = ALIGN) -> int:
    return (x + a - 1) // a * a


def plan_memory(g: Graph, ctx) -> Graph:
    g = g.copy()
    # alias groups: a reshape's output is its input's storage
    root: dict[str, str] = {}
    for n in g.nodes:
        if n.op in SHAPE_ONLY:
            root[n.outputs[0]] = root.get(n.inputs[0], n.inputs[0])

    def r(t: str) -> str:
        return root.get(t, t)

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

    # lifetimes of arena roots
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, n in enumerate(g.nodes):
        if n.op not in SHAPE_ONLY:
            first.setdefault(r(n.outputs[0]), i)
        for t in n.inputs:
            if t:
                last[r(t)] = i
    bufs = [(b, first[b], last.get(b, first[b]), g.tensors[b].nbytes)
            for b in first if b not in storage]
    scratch_of = {f"scratch:{i}": i for i, n in enumerate(g.nodes)
                  if (n.params or {}).get("scratch_bytes", 0) > 0}
    bufs += [(b, i, i, int(g.nodes[i].params["scratch_bytes"])) for b, i in scratch_of.items()]
    bufs.sort(key=lambda x: (-x[3], x[1], x[0]))
    placed: list[tuple[int, int, int, int]] = []     # (offset, size, first, last)
    arena = 0
    for name, a, b, size in bufs:
        conflicts = sorted((o, s) for o, s, f, l in placed if not (l < a or b < f))
        off = 0
        for o, s in conflicts:
            if off + size <= o:
                break
            off = max(off, _align(o + s))
        placed.append((off, size, a, b))
        storage[name] = ("arena", off)
        arena = max(arena, off + size)
    scratch = {i: (storage.pop(b)[1], int(g.nodes[i].params["scratch_bytes"]))
               for b, i in scratch_of.items()}
    for t in g.tensors:
        if t not in storage:
            storage[t] = storage.get(r(t), ("none", 0))
    naive = sum(s for _, _, _, s in bufs)
    g.meta["memory"] = {"arena_size": arena, "storage": storage,
                        "no_reuse_size": naive, "align": ALIGN,
                        "scratch": scratch}
    return g
