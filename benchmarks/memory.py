"""Memory plans of the MLPerf Tiny models against TFLM's arena: our arena after each planner feature
(TFLM's greedy-by-size strategy, then best-of heuristics + exact search + execution order, then
in-place elementwise ops, then partial overlap of outputs with dying inputs), the lower bounds, and
arena + input + output (TFLM's arena holds the input and output tensors; ours are the caller's
buffers) against TFLM's figure and the 0.75x target.  Every plan is checked by the independent
verifier (edgecompile.passes.memory.verify).  Writes the "Memory" section of benchmarks/RESULTS.md.

With QEMU and the Arm toolchain present, the cost of `--memory-saving` is measured too: every model
whose plan it changes (and vww with `--max-recompute 0.05`) is compiled that way and run on the M4
(mps2-an386, one evaluation sample, every output byte compared), next to its default plan.

    python benchmarks/memory.py [--models kws_dscnn,...] [--no-write] [--no-measure]
"""
from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data as B  # noqa: E402

from edgecompile.analysis import total_macs  # noqa: E402
from edgecompile import firmware as F  # noqa: E402
from edgecompile.compiler import compile_model, write_project  # noqa: E402
from edgecompile.passes.memory.verify import check_plan  # noqa: E402
from edgecompile.passes.plan_memory import plan_memory  # noqa: E402

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- memory:begin -->", "<!-- memory:end -->"
TFLM_ARENA = {"kws_dscnn": 22_820, "vww_mobilenetv1_025": 100_708, "ic_resnet8": 54_996, "ad_fc_autoencoder": 2_580}
STEPS = [("greedy by size (TFLM's strategy)", dict(overlap="none", search=False, reorder=False)),
         ("+ best-of heuristics, exact search, order", dict(overlap="none")),
         ("+ in-place elementwise", dict(overlap="elementwise")),
         ("+ output over dying input (default)", dict(overlap="all")),
         ("+ `--memory-saving` (final)", dict(overlap="all", scratch_free=True))]
COST_BOARD = "mps2-an386"
# the recompute budgets measured besides the unbounded --memory-saving, per model
BUDGETS = {"vww_mobilenetv1_025": (0.05,)}


def measure(model: str) -> dict:
    task = B.TASKS[model]
    calib, _, _ = B.split(task)
    g = compile_model(B.model_path(task), name=model, calib={"x": calib}).graph
    row = dict(model=model, steps=[], io=sum(g.tensors[t].nbytes for t in g.inputs + g.outputs),
               default_arena=g.meta["memory"]["arena_size"])
    for _, opt in STEPS:
        t0 = time.perf_counter()
        p = plan_memory(g, SimpleNamespace(options={"memory": opt}))
        problems = check_plan(p)
        assert not problems, f"{model} {opt}: {problems[:3]}"
        row["steps"].append((p.meta["memory"]["arena_size"], time.perf_counter() - t0))
    mem = p.meta["memory"]
    row.update(arena=mem["arena_size"], lb=mem["lower_bound"], lb_ov=mem["lower_bound_overlap"],
               scratch=max((s for _, s in mem["scratch"].values()), default=0), overlaps=len(mem["overlaps"]),
               strategy=mem["strategy"], optimal=mem["optimal"], tflm=TFLM_ARENA[model],
               patches=[(d["nodes"][0], d["nodes"][-1], d["count"], d["extra_macs"], 100 * d["extra_macs"] / total_macs(p))
                        for d in mem["bands"]], concat=len(mem["concat_in_place"]))
    return row


def cost(model: str, arena: int) -> list[dict]:
    """Instructions per inference on COST_BOARD of the default plan and of each --memory-saving plan that
    differs from it (unbounded, then BUDGETS[model]), one evaluation sample, bytes compared."""
    task = B.TASKS[model]
    calib, x_eval, _ = B.split(task)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for saving in (False, True) + BUDGETS.get(model, ()):
            art = compile_model(B.model_path(task), name=model, calib={"x": calib}, memory_saving=saving)
            mem = art.graph.meta["memory"]
            if saving is not False and mem["arena_size"] == arena:
                continue                   # the plan is the default one
            name = art.float_graph.inputs[0]
            shape = art.float_graph.tensors[name].shape
            res = F.run(write_project(art, Path(tmp) / f"m{len(out)}"), COST_BOARD,
                        {name: x_eval.reshape((-1,) + tuple(shape[1:]))[:1]})
            out.append(dict(mode="default" if saving is False else "`--memory-saving`" if saving is True
                            else f"`--max-recompute {saving}`", arena=mem["arena_size"],
                            instr=res.instructions[0], mismatches=res.mismatches,
                            scratch_free=len(mem["scratch_free"]),
                            bands=[(d["nodes"][0], d["nodes"][-1], d["count"]) for d in mem["bands"]]))
    return out if len(out) > 1 else []


def cost_table(rows: list[dict]) -> str:
    lines = [f"| model | plan | arena B | instructions per inference ({COST_BOARD}) | vs default | what runs "
             "differently | mismatches |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        base = r["cost"][0]["instr"] if r["cost"] else 0
        for c in r["cost"]:
            what = ", ".join([f"{c['scratch_free']} layers without scratch"] * bool(c["scratch_free"])
                             + [f"nodes {a}..{z} in {b} row bands" for a, z, b in c["bands"]]) or "-"
            lines.append(f"| {r['model']} | {c['mode']} | {c['arena']:,} | {c['instr']:,} | "
                         f"{100 * (c['instr'] / base - 1):+.1f}% | {what} | {c['mismatches']} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    head = ("| model | " + " | ".join(f"arena: {s}" for s, _ in STEPS) + " | input + output | **arena + input + "
            "output** | lower bound: largest live set | lower bound with overlaps | TFLM arena | ratio | "
            "target ≤ 0.75× | met |")
    lines = [head, "|" + "---|" * (len(STEPS) + 9)]
    for r in rows:
        total, target = r["arena"] + r["io"], int(0.75 * r["tflm"])
        lines.append(f"| {r['model']} | " + " | ".join(f"{a:,}" for a, _ in r["steps"])
                     + f" | {r['io']:,} | **{total:,}** | {r['lb']:,} | {r['lb_ov']:,} | {r['tflm']:,} | "
                     f"{total / r['tflm']:.2f} | {target:,} | {'yes' if total <= target else 'NO'} |")
    return "\n".join(lines)


def section(rows: list[dict]) -> str:
    notes = "\n".join(
        f"- {r['model']}: {r['overlaps']} overlapping/in-place nodes, placement {r['strategy']}"
        f"{' (optimal: search exhausted or lower bound reached)' if r['optimal'] else ''}; largest kernel "
        f"scratch buffer {r['scratch']:,} B (included in the arena)"
        + "".join(f"; `--memory-saving` runs nodes {a}..{z} in {b} row bands (+{x:,} MACs recomputed in "
                  f"the halos, +{pct:.1f}%)" for a, z, b, x, pct in r["patches"])
        + (f"; {r['concat']} concat(s) written in place" if r["concat"] else "") for r in rows)
    return (f"{BEGIN}\n## Memory\n\nProduced by `python benchmarks/memory.py` ({time.strftime('%Y-%m-%d')}, "
            f"{platform.machine()}). Bytes. Each arena column adds one planner feature; every plan passes the "
            "independent verifier (no two live buffers share a byte except a node's output over its own dying "
            "input at the offset its kernel's raster order allows, EC_PIXELS_IN_FLIGHT = 4). Arenas include the "
            "kernels' scratch buffers (sized for the DSP paths). TFLM's arena holds the model's input and output "
            "tensors, ours are the caller's buffers, so **arena + input + output** is the figure to compare. The "
            "overlap can beat the live-set lower bound; the bound with overlaps subtracts what each node's "
            "overlap could save at most. `--memory-saving` (opt-in) runs one-row fully connected layers without "
            "their scratch where that lowers the peak, and a chain of early layers patch by patch in row bands "
            "where that lowers the peak (MCUNetV2 style; the halo rows are computed twice); "
            "`--max-recompute FRACTION` caps the recomputed MACs.\n\n" + table(rows) + "\n\n" + notes
            + (f"\n\nWhat `--memory-saving` costs (measured under QEMU, `-O2`, models whose plan it changes):\n\n"
               + cost_table(rows) if any(r["cost"] for r in rows) else "") + f"\n{END}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(B.TASKS))
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    ap.add_argument("--no-measure", action="store_true", help="skip the instruction cost under QEMU")
    args = ap.parse_args(argv)
    rows = [measure(m) for m in args.models.split(",")]
    measure_cost = not args.no_measure and shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")
    for r in rows:
        r["cost"] = cost(r["model"], r["default_arena"]) if measure_cost else []
    text = section(rows)
    print(text)
    if not args.no_write:
        B.write_results_section(BEGIN, END, text)
    return 0 if all(r["arena"] + r["io"] <= int(0.75 * r["tflm"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
