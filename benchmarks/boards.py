"""MLPerf Tiny on Cortex-M boards: instructions per inference under QEMU (-icount shift=0, SysTick) on the
emulated cores, checked bit-exact against the NumPy reference, and flash / RAM of the firmware for every
board, next to the TFLM + CMSIS-NN references of ../shared/bench/README.md.  Writes the "Cortex-M
boards" section of benchmarks/RESULTS.md (the rest of the file belongs to benchmarks/run.py).

    python benchmarks/boards.py [--models kws_dscnn,...] [--samples 5] [--cores mps2-an386,mps2-an500] [--no-write]
"""
from __future__ import annotations

import argparse
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data as B  # noqa: E402

from edgecompile import firmware as F  # noqa: E402
from edgecompile.analysis import node_macs, total_macs  # noqa: E402
from edgecompile.boards import all_boards  # noqa: E402
from edgecompile.compiler import compile_model, write_project  # noqa: E402

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- boards:begin -->", "<!-- boards:end -->"
CORES = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]
# ../shared/bench/README.md, "TFLM + CMSIS-NN under QEMU": instructions per inference on M4 (an386),
# M7 (an500), M55 (an547), M4 with TFLM's reference kernels; code flash KB, flatbuffer KB, arena B;
# and the measured latency of TFLM + CMSIS-NN on NUCLEO-L4R5ZI (Cortex-M4 at 120 MHz), ms.
TFLM = {
    "kws_dscnn": (7_701_218, 7.65e6, 1.82e6, 43.09e6, 58.1, 53.9, 22_820, 181.9),
    "vww_mobilenetv1_025": (24_101_452, 24.03e6, 6.56e6, 100.43e6, 58.0, 333.3, 100_708, 600.6),
    "ic_resnet8": (29_863_673, 30.02e6, 4.91e6, 107.44e6, 55.8, 98.5, 54_996, 704.2),
    "ad_fc_autoencoder": (582_816, 0.58e6, 0.150e6, 1.95e6, 31.3, 277.0, 2_580, 10.05),
}


def eval_inputs(task, art, n: int) -> dict:
    _, x_eval, _ = B.split(task)
    name = art.float_graph.inputs[0]
    shape = art.float_graph.tensors[name].shape
    x = x_eval.reshape((-1,) + tuple(shape[1:]))[:n]
    return {name: x}


def measure(model: str, samples: int, cores: list[str], boards: list, optimize: str = "balanced") -> dict:
    task = B.TASKS[model]
    calib, _, _ = B.split(task)
    art = compile_model(B.model_path(task), name=model, calib={"x": calib}, optimize=optimize)
    row = dict(model=model, macs=total_macs(art.graph), arena=art.graph.meta["memory"]["arena_size"],
               instr={}, spread={}, mismatches=0, bytes=0, mem={}, layers={}, code={},
               node_macs={n.name: node_macs(art.graph, n) for n in art.graph.nodes},
               kernels={n.name: n.kernel for n in art.graph.nodes})
    with tempfile.TemporaryDirectory() as tmp:
        out = write_project(art, Path(tmp) / model)
        inputs = eval_inputs(task, art, samples)
        for core in cores:
            t0 = time.perf_counter()
            res = F.run(out, core, inputs)
            again = F.run(out, core, inputs)
            if again.instructions != res.instructions:
                raise SystemExit(f"{model} on {core}: instruction counts differ between two runs")
            row["instr"][core] = float(np.mean(res.instructions))
            row["spread"][core] = (min(res.instructions), max(res.instructions))
            row["layers"][core] = res.node_instructions
            row["mismatches"] += res.mismatches
            row["bytes"] += res.bytes_compared
            print(f"  {core}: {row['instr'][core]:,.0f} instructions/inference, {res.mismatches} mismatches "
                  f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        for b in boards:
            try:
                r = F.build(out, b)
                row["mem"][b.name] = (r.mem.flash, r.mem.ram)
                if b.name == CODE_BOARD:
                    row["code"] = runtime_code(r.elf.with_suffix(".map"))
            except F.DoesNotFitError as e:
                row["mem"][b.name] = str(e).split(": ", 1)[1]
    return row


CODE_BOARD = "mps2-an386"
LAYER_CORES = ("mps2-an386", "mps3-an547")


def runtime_code(map_file: Path) -> dict[str, int]:
    """Flash bytes (.text + .rodata) the linker kept from each runtime_c object, read from the link map."""
    text = map_file.read_text()
    text = text[text.index("Linker script and memory map"):]
    code: dict[str, int] = {}
    for _, addr, size, obj in re.findall(r"^ (\.(?:text|rodata)\S*)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$",
                                         text, re.M):
        m = re.search(r"\((ec_\w+)\.o\)$", obj)
        if m and int(addr, 16):
            code[m.group(1)] = code.get(m.group(1), 0) + int(size, 16)
    return code


def code_table(rows: list[dict]) -> str:
    lines = ["| model | runtime code B (M4, -O2) | kernels (B) |", "|---|---|---|"]
    for r in rows:
        parts = ", ".join(f"{k} {v:,}" for k, v in sorted(r["code"].items(), key=lambda kv: -kv[1]))
        lines.append(f"| {r['model']} | {sum(r['code'].values()):,} | {parts} |")
    return "\n".join(lines)


def layer_tables(rows: list[dict]) -> str:
    """Per layer: kernel, MACs, instructions and instructions per MAC on the cores of LAYER_CORES."""
    out = []
    for r in rows:
        cores = [c for c in LAYER_CORES if c in r["layers"]]
        if not cores:
            continue
        head = ["layer", "op", "kernel", "MACs"] + [f"{c} instr." for c in cores] + [f"{c} instr./MAC" for c in cores]
        lines = [f"<details><summary>{r['model']}: per layer</summary>\n",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        per = {c: {name: v for name, _, v in r["layers"][c]} for c in cores}
        for name, op, _ in r["layers"][cores[0]]:
            macs = r["node_macs"][name]
            cells = [name, op, r["kernels"][name] or "-", f"{macs:,}"] + [f"{per[c][name]:,}" for c in cores]
            cells += [f"{per[c][name] / macs:.2f}" if macs else "-" for c in cores]
            lines.append("| " + " | ".join(cells) + " |")
        out.append("\n".join(lines) + "\n\n</details>")
    return "\n\n".join(out)


def _m(v: float) -> str:
    return f"{v / 1e6:.2f} M"


def tables(rows: list[dict], cores: list[str], boards: list) -> str:
    lab = {c: f"{next(b for b in boards if b.name == c).label} ({c})" for c in cores}
    head = ["model", "MACs"] + [f"ours {lab[c]}" for c in cores] + [
        "ours instr./MAC (M4)", "TFLM+CMSIS-NN M4", "instr./MAC", "TFLM ref. kernels M4", "TFLM+CMSIS-NN M7",
        "TFLM+CMSIS-NN M55", "mismatches / bytes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t = TFLM[r["model"]]
        m4 = r["instr"].get("mps2-an386")
        cells = [r["model"], _m(r["macs"])] + [_m(r["instr"][c]) for c in cores]
        cells += [f"{m4 / r['macs']:.2f}" if m4 else "-", _m(t[0]), f"{t[0] / r['macs']:.2f}", _m(t[3]), _m(t[1]),
                  _m(t[2]), f"{r['mismatches']} / {r['bytes']:,}"]
        lines.append("| " + " | ".join(cells) + " |")
    mem_head = ["model"] + [f"{b.name} ({b.label}; {b.flash_bytes >> 10} / {b.ram_bytes >> 10} KB)" for b in boards]
    mem = ["| " + " | ".join(mem_head) + " |", "|" + "---|" * len(mem_head)]
    for r in rows:
        cells = [r["model"]]
        for b in boards:
            v = r["mem"][b.name]
            cells.append(f"{v[0] / 1024:.1f} / {v[1] / 1024:.1f}" if isinstance(v, tuple) else f"does not fit: {v}")
        mem.append("| " + " | ".join(cells) + " |")
    ref = ["| model | ours on nucleo-l4r5zi: flash KB (code + weights) | ours: RAM KB (arena B) | "
           "TFLM+CMSIS-NN: code KB + flatbuffer KB | TFLM arena B | TFLM+CMSIS-NN latency on NUCLEO-L4R5ZI |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        t, v = TFLM[r["model"]], r["mem"].get("nucleo-l4r5zi")
        ours = (f"{v[0] / 1024:.1f} | {v[1] / 1024:.1f} ({r['arena']:,})" if isinstance(v, tuple)
                else f"- | - ({r['arena']:,})")
        ref.append(f"| {r['model']} | {ours} | {t[4]} + {t[5]} | {t[6]:,} | {t[7]} ms |")
    return "\n".join(lines), "\n".join(mem), "\n".join(ref)


def markers(optimize: str) -> tuple[str, str]:
    """The RESULTS.md section of a compile --optimize mode (balanced: the main one)."""
    return (BEGIN, END) if optimize == "balanced" else (f"<!-- boards-{optimize}:begin -->",
                                                         f"<!-- boards-{optimize}:end -->")


def section(rows, cores, boards, samples: int, optimize: str = "balanced") -> str:
    instr, mem, ref = tables(rows, cores, boards)
    code = code_table(rows)
    layers = layer_tables(rows)
    begin, end = markers(optimize)
    title, flag = ("", "") if optimize == "balanced" else (f", `--optimize {optimize}`", f" --optimize {optimize}")
    return (f"{begin}\n## Cortex-M boards{title}\n\n"
            f"Produced by `python benchmarks/boards.py --samples {samples}{flag}` ({time.strftime('%Y-%m-%d')}, "
            f"{platform.machine()}): each model compiled with its calibration split, run under QEMU 7.2 "
            f"(`-icount shift=0`) on the first {samples} evaluation samples, every output byte compared with the "
            "NumPy integer reference, twice (identical counts). Instructions per inference, mean over the samples, "
            "counted with SysTick at the board clock (granularity 40 instructions on MPS2 at 25 MHz, 50 on AN505 "
            "at 20 MHz, 31.25 on AN547 at 32 MHz). Our conv / depthwise / FC kernels have DSP-extension paths "
            "(SXTB16 + SMLAD; M4, M7, M33), Helium paths (VMLADAV over 16 int8 lanes; M55) and compile-time "
            "specialisations (1x1 conv as FC, im2col, 3x3 depthwise tables, input offset folded into the bias)"
            + ("; `--optimize speed` stores the pointwise and im2col conv weights as int16 pairs for the DSP "
               "cores (twice those weights' flash; Helium and portable builds keep int8)" if optimize == "speed"
               else "") + ". "
            "TFLM numbers from ../shared/bench/README.md "
            "(TFLM 90b983c, -O2, same QEMU, one Invoke()).\n\n" + instr +
            "\n\nFlash / RAM in KB of the whole firmware built by `edgecompile build` (-O2; flash = text + rodata "
            "+ data, RAM = data + bss (arena, I/O buffers) + stack; the stack reserve is 8 KB, 4 KB on rpi-pico, "
            "2 KB on stm32f103c8):\n\n" + mem + "\n\nAgainst TFLM + CMSIS-NN's footprint:\n\n" + ref +
            f"\n\nRuntime code in flash: bytes of .text + .rodata the linker keeps from the runtime_c kernels "
            f"(from the link map of the {CODE_BOARD} firmware; the generated model code and weights are not "
            "included):\n\n" + code +
            "\n\nPer layer (sample 0; instructions counted between the EC_BEFORE_NODE / EC_AFTER_NODE hooks, "
            "granularity as above):\n\n" + layers + f"\n{end}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(B.TASKS))
    ap.add_argument("--samples", type=int, default=5, help="evaluation samples per model and core (default 5)")
    ap.add_argument("--cores", default=",".join(CORES), help="emulated boards to count instructions on")
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    ap.add_argument("--optimize", default="balanced", choices=["balanced", "speed"], help="compile --optimize")
    args = ap.parse_args(argv)
    if not B.available():
        print(f"bench not found at {B.BENCH}; set EC_BENCH_DIR", file=sys.stderr)
        return 2
    cores = args.cores.split(",")
    boards = [b for b in all_boards() if not b.is_host]
    rows = []
    for m in args.models.split(","):
        print(f"== {m}", file=sys.stderr, flush=True)
        rows.append(measure(m, args.samples, cores, boards, args.optimize))
    text = section(rows, cores, boards, args.samples, args.optimize)
    print(text)
    if not args.no_write:
        B.write_results_section(*markers(args.optimize), text)
    return 0 if all(r["mismatches"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
