"""Execution order minimizing the peak of live bytes (graphs with branches).

Nodes are the compute nodes; the state is the set of executed nodes.  The cost of running node n
after the set S is the bytes live during n: buffers produced in S that a node outside S still
reads, n's output and scratch, less what overlapping n's output with its dying inputs can save.
A breadth-first search over states keeps, per state, the order with the lowest peak so far; it is
exact while the number of states per level stays within ``beam`` (4,000 for small graphs, fewer
for large ones) and a beam search beyond.
"""
from __future__ import annotations


def _live(nodes, readers, size, done) -> int:
    """Bytes of the outputs of ``done`` that a node outside it still reads."""
    return sum(size[nodes[j]["out"]] for j in done if nodes[j]["out"] is not None
               and not readers.get(nodes[j]["out"], set()) <= done)


def _step_cost(nodes, readers, producer, size, done, k, live: int) -> int:
    """Bytes live while node k runs after the executed set ``done`` (``live`` = _live(done))."""
    nd, after = nodes[k], done | {k}
    cost = live + nd["scratch"]
    if nd["out"] is not None:
        cost += size[nd["out"]]
        dying = [b for b in nd["reads"] if b in producer and readers[b] <= after]
        cost -= min(size[nd["out"]], sum(nd["save"].get(b, 0) for b in dying))
    return cost


def best_order(nodes: list[dict], beam: int | None = None) -> tuple[list[int], int, bool]:
    """nodes[k] = {"deps": set of node indices, "reads": set of buffer ids, "out": buffer id or None,
    "size": {buffer id: bytes}, "scratch": bytes, "save": {buffer id: bytes saved if it dies here}}.
    Returns (order, peak estimate, exact); the given order unless another one is strictly better."""
    n = len(nodes)
    beam = beam or max(64, min(4000, 400_000 // max(n * n, 1)))     # bounded work on wide graphs
    readers: dict = {}
    for k, nd in enumerate(nodes):
        for b in nd["reads"]:
            readers.setdefault(b, set()).add(k)
    producer = {nd["out"]: k for k, nd in enumerate(nodes) if nd["out"] is not None}
    size = {b: s for nd in nodes for b, s in nd["size"].items()}
    args = (nodes, readers, producer, size)
    level = {frozenset(): (0, [])}
    exact = True
    for _ in range(n):
        nxt: dict = {}
        for done, (peak, seq) in level.items():
            live = _live(nodes, readers, size, done)
            for k in range(n):
                if k in done or not nodes[k]["deps"] <= done:
                    continue
                state = done | {k}
                p = max(peak, _step_cost(*args, done, k, live))
                if state not in nxt or p < nxt[state][0]:
                    nxt[state] = (p, seq + [k])
        if len(nxt) > beam:
            exact = False
            nxt = dict(sorted(nxt.items(), key=lambda kv: kv[1][0])[:beam])
        level = nxt
    (peak, seq), = level.values()
    given = max((_step_cost(*args, set(range(k)), k, _live(nodes, readers, size, set(range(k))))
                 for k in range(n)), default=0)
    return (seq, peak, exact) if peak < given else (list(range(n)), given, exact)
