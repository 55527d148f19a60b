"""Passes: functions Graph -> Graph that never mutate their input, and the pipelines.

Each module in this package exports one pass; the graph helpers they share (match_chain,
replace_node, bypass, moves_only_ones) live here.  ``run_pipeline`` applies a literal list of
passes with optional verification between them and EC_DEBUG-levelled output:
  EC_DEBUG=1 prints pass names and node counts, 2 also dumps the IR after each pass.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from ..ir import Graph, Node, Op, verify

log = logging.getLogger("edgecompile.passes")

Pass = Callable[..., Graph]


@dataclass
class PassContext:
    verify: bool = True
    debug: int = field(default_factory=lambda: int(os.environ.get("EC_DEBUG", "0") or 0))
    options: dict = field(default_factory=dict)   # compile options passes may read (calibration, ...)
    timings: list = field(default_factory=list)


def match_chain(g: Graph, first: Op | set, second: Op | set, single_consumer: bool = True):
    """Yield (a, b) node pairs where b's first input is a's output (and nobody else reads it)."""
    firsts = first if isinstance(first, set) else {first}
    seconds = second if isinstance(second, set) else {second}
    prod = g.producer()
    cons = g.consumers()
    for b in g.nodes:
        if b.op not in seconds or not b.inputs or not b.inputs[0]:
            continue
        a = prod.get(b.inputs[0])
        if a is None or a.op not in firsts:
            continue
        if single_consumer and (len(cons.get(a.outputs[0], [])) != 1 or a.outputs[0] in g.outputs):
            continue
        yield a, b


def replace_node(g: Graph, old: Node, new: list[Node]) -> None:
    """Swap one node for a list of nodes at the same position (in place on a copy)."""
    i = g.nodes.index(old)
    g.nodes[i:i + 1] = new


def bypass(g: Graph, node: Node) -> bool:
    """Remove ``node``, whose output equals its first input (same shape and values), in place.
    Keeps the output's name when the input is a private intermediate.  False if impossible."""
    i, o = node.inputs[0], node.outputs[0]
    prod = g.producer().get(i)
    readers = g.consumers().get(i, [])
    private = prod is not None and i not in g.outputs and len(readers) == 1
    if private:
        prod.outputs = [o]
    elif o in g.outputs:
        return False
    else:
        for n in g.nodes:
            n.inputs = [i if x == o else x for x in n.inputs]
    g.nodes.remove(node)
    g.tensors.pop(i if private else o)
    return True


def moves_only_ones(shape, perm) -> bool:
    """True if transposing ``shape`` by ``perm`` keeps the element order (a reshape suffices)."""
    big = [a for a in perm if shape[a] != 1]
    return big == sorted(big)


def rewrite(g: Graph, step: Callable[[Graph], bool], prune_each: bool = False) -> Graph:
    """Apply a local rewrite ``step`` (in place on a copy; True when it changed something) until it
    finds nothing more to do; then drop what became unused.  The shared driver of the
    pattern-plus-rewriter passes."""
    g = g.copy()
    while step(g):
        if prune_each:
            g.prune_unused()
    return g.prune_unused()


def run_pipeline(g: Graph, passes: list[Pass], ctx: PassContext | None = None) -> Graph:
    ctx = ctx or PassContext()
    for p in passes:
        t0 = time.perf_counter()
        g = p(g, ctx)
        ctx.timings.append((p.__name__, time.perf_counter() - t0))
        if ctx.debug >= 1:
            print(f"[ec] {p.__name__}: {len(g.nodes)} nodes ({ctx.timings[-1][1] * 1e3:.1f} ms)")
        if ctx.debug >= 2:
            print(g.summary())
        if ctx.verify:
            verify(g, lowered=p.__name__ == "lower")
    return g
