"""Offset assignment for buffers with lifetimes [first, last] (inclusive node steps).

Two buffers whose lifetimes intersect may not share bytes, except an overlap pair (out, in) -> d:
the node's output may sit below its dying input when in_offset - out_offset >= d (overlap.py).
Every order of the buffers gives a plan by placing each at the lowest feasible offset; the best
of several orders is kept, then a budgeted branch and bound over orders searches for better.
(Placing buffers in the order of any optimal plan's offsets, each at its lowest feasible offset,
reproduces a plan at least as good, so the search over orders is exact when it is exhausted.)
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    size: list[int]
    first: list[int]
    last: list[int]
    pairs: dict            # (out index, in index) -> minimal in - out offset difference
    align: int = 4

    def __post_init__(self):
        n = len(self.size)
        self.conf = [[j for j in range(n) if j != i and not (self.last[j] < self.first[i]
                                                            or self.last[i] < self.first[j])]
                     for i in range(n)]


def _up(x: int, a: int) -> int:
    return -(-x // a) * a


def _fits(pb: Problem, b: int, x: int, c: int, oc: int) -> bool:
    if x + pb.size[b] <= oc or oc + pb.size[c] <= x:
        return True
    d = pb.pairs.get((b, c))
    if d is not None:
        return oc - x >= d
    d = pb.pairs.get((c, b))
    return d is not None and x - oc >= d


def lowest(pb: Problem, b: int, off: dict) -> int:
    """The lowest offset where buffer b fits next to the placed buffers ``off``."""
    placed = [(c, off[c]) for c in pb.conf[b] if c in off]
    cands = {0}
    for c, oc in placed:
        cands.add(_up(oc + pb.size[c], pb.align))
        if (b, c) in pb.pairs and oc - pb.pairs[(b, c)] >= 0:
            cands.add((oc - pb.pairs[(b, c)]) // pb.align * pb.align)
        if (c, b) in pb.pairs:
            cands.add(_up(oc + pb.pairs[(c, b)], pb.align))
    return next(x for x in sorted(cands) if all(_fits(pb, b, x, c, oc) for c, oc in placed))


def place_in_order(pb: Problem, order) -> tuple[dict, int]:
    off: dict = {}
    for b in order:
        off[b] = lowest(pb, b, off)
    return off, max((off[b] + pb.size[b] for b in off), default=0)


def lower_bounds(pb: Problem) -> tuple[int, int]:
    """(largest live set, the same less what the overlap pairs could at most save at each step)."""
    steps = sorted(set(pb.first) | set(pb.last))
    lb = lb_ov = 0
    for t in steps:
        live = sum(s for s, f, l in zip(pb.size, pb.first, pb.last) if f <= t <= l)
        save: dict = {}
        for (o, i), d in pb.pairs.items():
            if pb.first[o] == t:
                save[o] = min(pb.size[o], save.get(o, 0) + min(pb.size[i], max(0, pb.size[o] - d)))
        lb, lb_ov = max(lb, live), max(lb_ov, live - sum(save.values()))
    return lb, lb_ov


HEURISTICS = {
    "size": lambda pb, i: (-pb.size[i], pb.first[i]),
    "start": lambda pb, i: (pb.first[i], -pb.size[i]),
    "conflicts": lambda pb, i: (-sum(pb.size[j] for j in pb.conf[i]) - pb.size[i], pb.first[i]),
    "area": lambda pb, i: (-pb.size[i] * (pb.last[i] - pb.first[i] + 1), pb.first[i]),
}


def solve(pb: Problem, budget: int = 20000, heuristics=tuple(HEURISTICS)) -> dict:
    """Best plan: {"offsets", "peak", "strategy", "exhaustive"}; ``budget`` placements tried by the
    search (0: the greedy orders only)."""
    n = len(pb.size)
    best = None
    for name in heuristics:
        key = HEURISTICS[name]
        off, peak = place_in_order(pb, sorted(range(n), key=lambda i: key(pb, i)))
        if best is None or peak < best["peak"]:
            best = {"offsets": off, "peak": peak, "strategy": f"greedy by {name}"}
    lb = lower_bounds(pb)[1]
    left, exhausted = budget, True
    stack = [({}, 0)]
    by_size = sorted(range(n), key=lambda i: -pb.size[i])
    while budget and stack and best["peak"] > lb:
        off, peak = stack.pop()
        if peak >= best["peak"]:
            continue
        if len(off) == n:
            best = {"offsets": off, "peak": peak, "strategy": "exact search"}
            continue
        if left <= 0:
            exhausted = False
            break
        left -= n - len(off)
        kids = []
        for b in by_size:
            if b not in off:
                x = lowest(pb, b, off)
                p = max(peak, x + pb.size[b])
                if p < best["peak"]:
                    kids.append(({**off, b: x}, p))
        stack.extend(sorted(kids, key=lambda k: -k[1]))
    best["exhaustive"] = (exhausted and budget > 0) or best["peak"] <= lb
    return best
