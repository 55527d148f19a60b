"""Many single-op models in one Cortex-M firmware: every registry case (and randomized ones) compiled
once per lowering it can take, linked into one ELF per core and run under QEMU in one go, each output
compared byte for byte with the node's ref_int8 (tests/test_kernels_qemu.py).

A "build" is one (case, lowering) pair: the default lowering, each variant tried alone (the sparse
ones with sparse="always") and the generic kernel with every variant off; builds that end in the same
kernel are kept once.  Model k<i> is compiled under the name ``k<i>`` so all of them link together;
``cases.c`` holds their quantized inputs and a table main.c walks, timing every call with SysTick.
"""
from __future__ import annotations

import contextlib
import math
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgecompile import firmware as F
from edgecompile.boards import common_dir, cross_tool, load_board
from edgecompile.codegen import source_runtime_files
from edgecompile.compiler import compile_model, quantize_inputs, write_project
from edgecompile.ir import Op
from edgecompile.ops import REGISTRY, Case
from edgecompile.reference import run_float, run_int8

from op_harness import case_graph

ROOT = Path(__file__).resolve().parent.parent
CORES = ["mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547"]
SAMPLES = 2


@dataclass
class Build:
    label: str
    spec: object
    case: Case
    variants: list | None       # None = the op's own list (default lowering)
    sparse: str = "auto"
    rounding: str = "double"
    optimize: str = "balanced"    # compile --optimize (the *_wide variants need "speed")


@contextlib.contextmanager
def _variants(spec, variants):
    old = spec.variants
    if variants is not None:
        spec.variants = variants
    try:
        yield
    finally:
        spec.variants = old


def _compile(b: Build, name: str):
    """compile a single-op case as model ``name``; returns (art, quantized samples)."""
    g, feeds = case_graph(b.spec, b.case)
    ys = np.stack([run_float(g, {k: v[i] for k, v in feeds.items()})["out"] for i in range(4)])
    lo, hi = float(ys.min()), float(ys.max())
    ranges = None
    if b.case.quant.get("saturate"):
        ranges = {"out": (lo / 2, hi / 2)}
    elif math.isfinite(b.case.attrs.get("act_min", -math.inf)) or math.isfinite(b.case.attrs.get("act_max", math.inf)):
        span = max(hi - lo, 1e-3)
        ranges = {"out": (lo - span / 2, hi + span / 2)}
    with _variants(b.spec, b.variants):
        art = compile_model(None, name=name, calib=feeds, float_graph=g, ranges=ranges, sparse=b.sparse,
                            per_channel=b.case.quant.get("per_channel", True), rounding=b.rounding,
                            optimize=b.optimize)
    samples = [{k: v[i] for k, v in feeds.items()} for i in range(SAMPLES)]
    return art, quantize_inputs(art.graph, samples)


def _rq0(v):
    """Variant v with ec_requant_fast's proof withheld (fast_requant 0): the dense kernels' other
    requantization (e.g. Helium's masked rounding fix-up), which the registry cases rarely reach."""
    return replace(v, prepare=lambda *a: dict(v.prepare(*a), fast_requant=0))


def lowerings(spec, case) -> list[Build]:
    """The builds of one case: default, each variant alone (the dense ones once more without
    fast_requant, as case <name>_rq0), generic (deduplicated later by kernel)."""
    out = [Build(f"{spec.op.value}-{case.name}", spec, case, None)]
    for v in spec.variants:
        out.append(Build(f"{spec.op.value}-{case.name}-{v.name}", spec, case, [v],
                         "always" if v.name.startswith("sparse") else "auto",
                         optimize="speed" if v.name.endswith("_wide") else "balanced"))
        if v.name in ("folded", "pointwise", "im2col"):
            c0 = replace(case, name=f"{case.name}_rq0")
            out.append(Build(f"{spec.op.value}-{c0.name}-{v.name}", spec, c0, [_rq0(v)]))
    if spec.variants:
        out.append(Build(f"{spec.op.value}-{case.name}-generic", spec, case, []))
    return out


def random_cases(seed: int, n: int) -> list[tuple[object, Case]]:
    """Randomized shapes: sizes off multiples of 4/8/16, strides 1-3, odd and asymmetric pads."""
    rng = np.random.default_rng(seed)
    odd = [1, 3, 5, 6, 7, 9, 10, 11, 13, 15, 17, 19, 21, 23]
    out = []
    for i in range(n):
        h, w, c = (int(rng.choice(odd)) for _ in range(3))
        h, w = max(h, 3), max(w, 3)
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        if rng.random() < 0.6:
            k = (3, 3)
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) if rng.random() < 0.5 else (2, 2) if i % 2 else (1, 1)
        pads = tuple(int(rng.integers(0, kk)) for kk in (k[0], k[1], k[0], k[1]))
        mult = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
        act = dict(act_min=0.0) if rng.random() < 0.3 else {}
        q = dict(in_zp=-128) if rng.random() < 0.2 else {}
        x = (1, h, w, c)
        dw = REGISTRY[Op.DEPTHWISE_CONV2D]
        out.append((dw, Case(f"rand{seed}_{i}", (x, (1, *k, c * mult), (c * mult,)),
                             dict(strides=s, pads=pads, **act), q)))
        conv = REGISTRY[Op.CONV2D]
        oc = int(rng.choice(odd))
        out.append((conv, Case(f"rand{seed}_{i}", (x, (oc, *k, c), (oc,)), dict(strides=s, pads=pads, **act), q)))
        pool = REGISTRY[Op.AVG_POOL2D if i % 2 else Op.MAX_POOL2D]
        pp = tuple(min(p, kk - 1) for p, kk in zip(pads, (k[0], k[1], k[0], k[1])))
        out.append((pool, Case(f"rand{seed}_{i}", (x,), dict(kernel=k, strides=s, pads=pp), q)))
        out.append((REGISTRY[Op.ADD], Case(f"rand{seed}_{i}", (x, x), dict(act), q)))
        out.append((REGISTRY[Op.MEAN], Case(f"rand{seed}_{i}", (x,), {}, q)))
    return out


def all_builds(full: bool) -> list[Build]:
    """Every op's cases (first two per op in the fast set) plus randomized ones, in every lowering;
    the requantizing ops' cases once more with single rounding (EC_SINGLE_ROUNDING firmware)."""
    pairs = []
    for spec in REGISTRY.values():
        if spec.template is None:
            continue
        pairs += [(spec, c) for c in (spec.cases if full else spec.cases[:2])]
    pairs += random_cases(7, 12 if full else 3)
    builds = [b for spec, case in pairs for b in lowerings(spec, case)]
    single = (Op.CONV2D, Op.DEPTHWISE_CONV2D, Op.FULLY_CONNECTED, Op.ADD, Op.MEAN)
    for b in [b for b in builds if b.spec.op in single]:
        builds.append(Build(b.label, b.spec, b.case, b.variants, b.sparse, "single", b.optimize))
    return builds


def _c_array(name: str, data: np.ndarray) -> str:
    vals = ",".join(str(int(v)) for v in data.ravel())
    return f"static const int8_t {name}[{max(data.size, 1)}] = {{{vals}}};\n"


@dataclass
class Compiled:
    build: Build
    name: str
    art: object
    qin: list
    refs: list
    art_dir: Path = None

    @property
    def footprint(self) -> int:
        """rough flash bytes of this model in the test firmware: weights, inputs, code"""
        from edgecompile.analysis import const_bytes
        return const_bytes(self.art.graph) + sum(x.size for q in self.qin for x in q) + 4096


def chunks(cases: list[Compiled], limit: int = 300_000) -> list[list[Compiled]]:
    """Groups of cases of one rounding mode whose firmware fits the smallest emulated flash (512 KB on
    mps3-an547)."""
    out, size = [[]], 0
    for c in sorted(cases, key=lambda c: c.build.rounding):
        if out[-1] and (size + c.footprint > limit or out[-1][0].build.rounding != c.build.rounding):
            out.append([])
            size = 0
        out[-1].append(c)
        size += c.footprint
    return out


def compile_all(builds: list[Build], workdir: Path) -> list[Compiled]:
    """Compile every build; drop a build whose kernels repeat an earlier build of the same case."""
    done, seen = [], set()
    for b in builds:
        name = f"k{len(done)}"
        try:
            art, qin = _compile(b, name)
        except Exception as e:          # a lowering that cannot take the case
            if b.variants is None:
                raise
            del e
            continue
        key = (b.spec.op, b.case.name, b.rounding,
               tuple(sorted((n.kernel, n.variant) for n in art.graph.nodes if n.kernel)))
        if key in seen:
            continue
        seen.add(key)
        variants = sorted({n.variant or "generic" for n in art.graph.nodes if n.kernel})
        b = Build(f"{b.spec.op.value}-{b.case.name}-{'+'.join(variants)}-{b.rounding}", b.spec, b.case, b.variants,
                  b.sparse, b.rounding)
        write_project(art, workdir / name)
        g = art.graph
        refs = [run_int8(g, dict(zip(g.inputs, q)))[g.outputs[0]] for q in qin]
        done.append(Compiled(b, name, art, qin, refs, (workdir / name).resolve()))
    return done


def write_sources(cases: list[Compiled], workdir: Path) -> list[str]:
    """models.c (a unity build of every model), cases.c (inputs + table); returns runtime sources."""
    unity = ['#include <stdint.h>\n']
    for c in cases:
        d = c.art_dir
        unity += [f'#include "{d}/{c.name}.c"\n', f'#include "{d}/{c.name}_weights.c"\n']
    (workdir / "models.c").write_text("".join(unity))
    body = ['#include <stdint.h>\n#include <stddef.h>\n#include "ec_cases.h"\n']
    table = []
    for c in cases:
        body.append(f"int {c.name}_invoke_multi(const int8_t *const in[], int8_t *const out[]);\n")
        for s, q in enumerate(c.qin):
            names = []
            for j, x in enumerate(q):
                body.append(_c_array(f"{c.name}_s{s}_in{j}", np.asarray(x, np.int8)))
                names.append(f"{c.name}_s{s}_in{j}")
            body.append(f"static const int8_t *const {c.name}_s{s}[] = {{{', '.join(names)}}};\n")
        outsize = int(c.refs[0].size)
        table.append(f"{{{c.name}_invoke_multi, {{{', '.join(f'{c.name}_s{s}' for s in range(len(c.qin)))}}}, "
                     f"{len(c.qin)}, {outsize}}}")
    body.append(f"const ec_case ec_cases[] = {{\n    {(',' + chr(10) + '    ').join(table)}\n}};\n")
    body.append(f"const int32_t ec_num_cases = {len(cases)};\n")
    (workdir / "cases.c").write_text("".join(body))
    maxout = max(int(c.refs[0].size) for c in cases)
    (workdir / "ec_cases.h").write_text(
        "#include <stdint.h>\n"
        "typedef int (*ec_case_fn)(const int8_t *const in[], int8_t *const out[]);\n"
        f"typedef struct {{ ec_case_fn fn; const int8_t *const *in[{SAMPLES}]; int32_t samples; int32_t out_size; }}"
        " ec_case;\n"
        "extern const ec_case ec_cases[];\nextern const int32_t ec_num_cases;\n"
        f"#define EC_CASES_MAX_OUT {maxout}\n#define EC_CASES_SAMPLES {SAMPLES}\n")
    return sorted({s for c in cases for s in source_runtime_files(c.art.graph)})


def build_elf(workdir: Path, runtime: list[str], core: str, rounding: str = "double",
              extra: list[str] = ()) -> Path:
    """One firmware of the cases in workdir for core; extra flags last (e.g. "-O0" overrides the -O
    level)."""
    board = load_board(core)
    flags = list(board.cflags) + F.COMPILE + F.WARN + [f"-DEC_NUM_IRQ={board.irqs}",
                                                       f"-DEC_SINGLE_ROUNDING={int(rounding == 'single')}"]
    flags += list(extra)
    inc = ROOT / "runtime_c" / "include"
    common = common_dir()
    srcs = [(workdir / "models.c", [inc], flags),
            (workdir / "cases.c", [workdir], flags),
            (Path(__file__).parent / "data" / "ec_cases_main.c", [workdir, common], flags),
            (common / "ec_startup.c", [], flags), (common / "ec_semihost.c", [common], flags)]
    srcs += [(ROOT / "runtime_c" / s, [inc], flags) for s in runtime]
    tag = "".join(extra)
    objdir = workdir / f"obj-{core}{tag}"
    objdir.mkdir(exist_ok=True)
    def cc(job):
        src, incs, fl = job
        obj = objdir / (src.stem + ".o")
        r = subprocess.run([cross_tool("gcc"), *fl, *[f"-I{i}" for i in incs], "-c", str(src), "-o", str(obj)],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"cross-compiling {src.name} for {core}:\n{r.stderr[-4000:]}")
        return obj
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objs = list(pool.map(cc, srcs))
    elf = workdir / f"cases-{core}{tag}.elf"
    r = subprocess.run([cross_tool("gcc"), *board.cflags, "-T", str(board.linker_script), f"-L{common}", *F.LINK,
                        *map(str, objs), "-o", str(elf)], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"linking for {core}:\n{r.stderr[-4000:]}")
    return elf


def run_elf(elf: Path, core: str, cases: list[Compiled], timeout: float = 900.0):
    """Run under QEMU; returns [(compiled, status list, mismatching bytes, instructions of sample 0)]."""
    board = load_board(core)
    run_dir = elf.parent / f"run-{core}"
    run_dir.mkdir(exist_ok=True)
    try:
        F.run_qemu(board, elf, run_dir, timeout)
    except Exception as e:              # name the case that faulted: the first one without results
        raw, off = (run_dir / "ec_outputs.bin").read_bytes(), 0
        for c in cases:
            need = sum(8 + r.size for r in c.refs)
            if off + need > len(raw):
                raise RuntimeError(f"{core}: {e} in {c.build.label} ({c.name})") from None
            off += need
        raise
    raw = (run_dir / "ec_outputs.bin").read_bytes()
    tick = 1e9 / board.clock_hz
    off, res = 0, []
    for c in cases:
        statuses, bad, instr = [], 0, None
        for s, ref in enumerate(c.refs):
            status, ticks = np.frombuffer(raw[off:off + 8], "<i4")
            off += 8
            got = np.frombuffer(raw[off:off + ref.size], np.int8)
            off += ref.size
            statuses.append(int(status))
            bad += int(np.count_nonzero(got != ref.ravel()))
            if s == 0:
                instr = round(int(np.uint32(ticks)) * tick)
        res.append((c, statuses, bad, instr))
    if off != len(raw):
        raise RuntimeError(f"{core}: {len(raw)} result bytes, expected {off}")
    return res
