"""Cortex-M firmware: the board project behind ``compile --board`` and ``build``, and the QEMU test
firmware behind ``run`` (DESIGN.md §6).

- :func:`board_files` renders a ready-to-build project for a board (Makefile and CMakeLists.txt for
  arm-none-eabi-gcc, board/ with our startup code, linker script and a minimal main.c).
- :func:`build` runs that Makefile and measures flash (text + rodata + data) and RAM (data + bss, which
  holds the arena, + stack) against the board's limits; a model that does not fit is a
  :class:`DoesNotFitError` naming the overflow in bytes.
- :func:`run` cross-compiles boards/common/ec_run_main.c with the model, runs it under
  qemu-system-arm with semihosting and ``-icount shift=0`` (1 ns of virtual time per instruction), and
  compares every output byte with the NumPy integer reference.  Instructions per inference come from
  SysTick, which QEMU clocks at the board's clock: one tick = 1e9 / clock_hz instructions, the
  granularity of every count."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .boards import Board, common_dir, cross_tool, load_board
from .codegen import source_runtime_files
from .codegen.env import environment
from .codegen.filters import c_macro
from .errors import BuildError, OptionError, VerifyError
from .ops import REGISTRY

BOARD_FILE = ".edgecompile/board"
WARN = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
COMPILE = ["-O2", "-ffunction-sections", "-fdata-sections"]
LINK = ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections"]
STARTUP = ["ec_startup.c", "ec_sections.ld"]


class DoesNotFitError(BuildError):
    """The model's firmware is larger than the board's flash or RAM."""


def _ctx(name: str, g, board: Board) -> dict:
    return dict(name=name, NAME=c_macro(name), board=board, version=__version__, inputs=list(g.inputs),
                outputs=list(g.outputs), runtime_sources=source_runtime_files(g), num_nodes=len(g.nodes))


def board_files(name: str, g, board: Board) -> dict[str, str]:
    """The files that turn a generated model directory into a firmware project for ``board``."""
    if board.is_host:
        return {}
    env, ctx = environment(), _ctx(name, g, board)
    files = {"Makefile": env.get_template("board/Makefile.j2").render(ctx),
             "CMakeLists.txt": env.get_template("board/CMakeLists.txt.j2").render(ctx),
             "board/main.c": env.get_template("board/main.c.j2").render(ctx),
             "board/linker.ld": board.linker_script.read_text(),
             "board/board.toml": (board.dir / "board.toml").read_text(),
             BOARD_FILE: board.name + "\n"}
    for f in STARTUP:
        files[f"board/{f}"] = (common_dir() / f).read_text()
    return files


def check_fit(art, board: Board) -> None:
    """Before writing a board project: the weights alone must fit in flash, arena and stack in RAM (lower
    bounds; ``build`` measures the exact figures)."""
    from .analysis import const_bytes
    if board.is_host:
        return
    flash, ram = const_bytes(art.graph), art.graph.meta["memory"]["arena_size"] + board.stack_bytes
    parts = []
    if flash > board.flash_bytes:
        parts.append(f"flash needs at least {flash:,} B of {board.flash_bytes:,} B for the weights alone "
                     f"({flash - board.flash_bytes:,} B over)")
    if ram > board.ram_bytes:
        parts.append(f"RAM needs at least {ram:,} B of {board.ram_bytes:,} B for arena and stack "
                     f"({ram - board.ram_bytes:,} B over)")
    if parts:
        raise DoesNotFitError(f"{art.name} does not fit {board.name}: " + "; ".join(parts))


def project_board(outdir) -> str:
    p = Path(outdir) / BOARD_FILE
    return p.read_text().strip() if p.exists() else "host"


def retarget(outdir, art, board: Board) -> None:
    """Rewrite OUTDIR's Makefile, CMakeLists.txt and board/ for ``board`` (the model C is board-independent)."""
    for rel, text in board_files(art.name, art.graph, board).items():
        p = Path(outdir) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


# ---- build: make + memory use ------------------------------------------------------------------------

@dataclass
class MemoryUse:
    sections: dict[str, tuple[int, int, bool]]     # name -> (address, size, has contents)
    arena: int
    flash: int
    ram: int

    def part(self, *names: str) -> int:
        return sum(self.sections[n][1] for n in names if n in self.sections)


@dataclass
class BuildResult:
    board: Board
    elf: Path
    mem: MemoryUse
    rounding: str = "double"            # the model's requantization rounding (compile --rounding)

    def report(self, name: str) -> str:
        b, m = self.board, self.mem
        text = m.part(".boot2", ".isr_vector", ".text")
        rodata = m.flash - text - m.part(".data")
        return (f"{name} for {b.name} ({b.label}, {b.clock_hz / 1e6:.0f} MHz, {self.rounding} rounding) -> {self.elf}\n"
                f"  flash {m.flash:>9,} B of {b.flash_bytes:>9,} B ({100 * m.flash / b.flash_bytes:5.1f}%): text {text:,} "
                f"+ rodata {rodata:,} + data {m.part('.data'):,}\n"
                f"  RAM   {m.ram:>9,} B of {b.ram_bytes:>9,} B ({100 * m.ram / b.ram_bytes:5.1f}%): data {m.part('.data'):,} "
                f"+ bss {m.part('.bss'):,} (arena {m.arena:,}) + stack {m.part('.stack'):,}")


def memory_use(elf: Path, board: Board, arena_symbol: str) -> MemoryUse:
    """Flash = every section with contents (their load images are in flash, .data's included);
    RAM = every allocated section whose address lies in the board's RAM."""
    out = _check([cross_tool("readelf"), "-S", "-W", str(elf)], f"reading {elf.name}")
    sections = {}
    for m in re.finditer(r"\]\s+(\S+)\s+(PROGBITS|NOBITS|ARM_EXIDX)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)"
                         r"\s+\S+\s+([A-Z]*)", out):
        name, kind, addr, size, flags = m.groups()
        if "A" in flags:
            sections[name] = (int(addr, 16), int(size, 16), kind != "NOBITS")
    syms = _check([cross_tool("readelf"), "-s", "-W", str(elf)], f"reading {elf.name}")
    arena = next((int(s, 0) for s, n in re.findall(r":\s+[0-9a-f]+\s+(\d+)\s+OBJECT\s+\S+\s+\S+\s+\S+\s+(\S+)", syms)
                  if n == arena_symbol), 0)
    flash = sum(size for _, size, contents in sections.values() if contents)
    ram = sum(size for addr, size, _ in sections.values()
              if board.ram_origin <= addr < board.ram_origin + board.ram_bytes)
    return MemoryUse(sections, arena, flash, ram)


def _overflow(text: str, name: str, board: Board) -> DoesNotFitError | None:
    over = {r: int(n) for r, n in re.findall(r"region `(\w+)' overflowed by (\d+) bytes", text)}
    if not over:
        return None
    parts = []
    for region, what, limit in (("FLASH", "flash", board.flash_bytes), ("RAM", "RAM", board.ram_bytes)):
        if region in over:
            parts.append(f"{what} needs {limit + over[region]:,} B of {limit:,} B ({over[region]:,} B over)")
    return DoesNotFitError(f"{name} does not fit {board.name}: " + "; ".join(parts))


def build(outdir, board: str | Board, *, jobs: int = 2, log=None) -> BuildResult:
    """``make -C OUTDIR`` for ``board`` (retargeting OUTDIR first if it was generated for another board)."""
    from .compiler import load_artifact
    outdir = Path(outdir).resolve()
    art = load_artifact(outdir)
    board = load_board(board) if isinstance(board, str) else board
    if board.is_host:
        raise OptionError("--board host: 'build' is for Cortex-M boards; use 'verify' for the host build")
    cross_tool("gcc")
    if shutil.which("make") is None:
        raise OptionError("make not found: install make (Debian/Ubuntu: apt-get install make)")
    current = project_board(outdir)
    if current != board.name:
        if log:
            log(f"{outdir} targets {current}: writing the {board.name} Makefile, CMakeLists.txt and board/ into it")
        retarget(outdir, art, board)
    r = subprocess.run(["make", "-C", str(outdir), f"-j{jobs}", "all"], capture_output=True, text=True)
    if r.returncode != 0:
        err = _overflow(r.stdout + r.stderr, art.name, board)
        if err:
            raise err
        raise BuildError(f"building {outdir} for {board.name} failed:\n{(r.stdout + r.stderr).strip()[-4000:]}")
    elf = outdir / "build" / board.name / f"{art.name}.elf"
    return BuildResult(board, elf, memory_use(elf, board, f"{art.name}_arena"), art.graph.meta.get("rounding", "double"))


# ---- run: the QEMU test firmware ---------------------------------------------------------------------

def _check(cmd: list[str], what: str, cwd=None) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        raise BuildError(f"{what} failed:\n{' '.join(cmd)}\n{(r.stdout + r.stderr).strip()[-4000:]}")
    return r.stdout


def _cache_dir() -> Path:
    from .host import cache_dir
    d = cache_dir() / "arm-obj"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _compile(src: Path, includes: list[Path], flags: list[str], extra: list[str] = ()) -> Path:
    """Cross-compile one file into the object cache (keyed by source, headers, flags and compiler)."""
    cc = cross_tool("gcc")
    h = hashlib.sha256(src.read_bytes())
    for inc in includes:
        for hdr in sorted(inc.glob("*.h")):
            h.update(hdr.name.encode() + hdr.read_bytes())
    h.update(" ".join([cc, *flags, *extra]).encode())
    obj = _cache_dir() / f"{src.stem}-{h.hexdigest()[:20]}.o"
    if not obj.exists():
        tmp = obj.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        _check([cc, *flags, *extra, *[f"-I{i}" for i in includes], "-c", str(src), "-o", str(tmp)],
               f"cross-compiling {src.name}")
        os.replace(tmp, obj)
    return obj


def test_firmware(outdir, art, board: Board) -> Path:
    """Build the test firmware ELF for ``board`` in OUTDIR/build/<board>-run/ and return its path."""
    outdir = Path(outdir).resolve()
    name, g = art.name, art.graph
    build_dir = outdir / "build" / f"{board.name}-run"
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "ec_run_model.h").write_text(
        environment().get_template("board/run_model.h.j2").render(_ctx(name, g, board)))
    common, rt_inc = common_dir(), outdir / "runtime" / "include"
    flags = list(board.cflags) + COMPILE + WARN + [f"-DEC_NUM_IRQ={board.irqs}"]
    profiled = ["-include", str(common / "ec_run_hooks.h"), f"-D{name}_invoke_multi={name}_profiled_invoke_multi",
                f"-D{name}_invoke={name}_profiled_invoke"]
    jobs = [(outdir / f"{name}.c", [rt_inc, outdir], []), (outdir / f"{name}.c", [rt_inc, outdir, common], profiled),
            (outdir / f"{name}_weights.c", [rt_inc], [])]
    jobs += [(outdir / "runtime" / s, [rt_inc], []) for s in source_runtime_files(g)]
    jobs += [(common / "ec_startup.c", [], []), (common / "ec_semihost.c", [common], []),
             (common / "ec_run_main.c", [common, build_dir, outdir, rt_inc], [])]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objs = list(pool.map(lambda j: _compile(*j[:2], flags, j[2]), jobs))
    elf = build_dir / f"{name}_run.elf"
    _check([cross_tool("gcc"), *board.cflags, "-T", str(board.linker_script), f"-L{common}", *LINK,
            *map(str, objs), "-o", str(elf)], f"linking the {board.name} test firmware")
    return elf


@dataclass
class RunResult:
    board: Board
    samples: int
    bytes_compared: int
    mismatches: int
    instructions: list[int]                 # per sample, per inference
    node_instructions: list[tuple[str, str, int]] = field(default_factory=list)   # (node, op, instr.) sample 0
    first_bad_sample: int | None = None
    int8_outputs: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    @property
    def granularity(self) -> float:
        return 1e9 / self.board.clock_hz     # instructions per SysTick tick at 1 ns per instruction


def qemu_command(board: Board, elf: Path) -> list[str]:
    exe = shutil.which("qemu-system-arm")
    if exe is None:
        raise OptionError("qemu-system-arm not found (Debian/Ubuntu: apt-get install qemu-system-arm)")
    return [exe, "-M", board.qemu_machine, "-nographic", "-monitor", "none", "-serial", "null",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf)]


def run_qemu(board: Board, elf: Path, cwd: Path, timeout: float) -> None:
    """Run the firmware to its semihosting exit; QEMU is killed if it outlives ``timeout``."""
    proc = subprocess.Popen(qemu_command(board, elf), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise VerifyError(f"QEMU ({board.qemu_machine}) did not finish within {timeout:.0f} s; killed it "
                          f"(raise --timeout for long runs)") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        msg = " ".join((out + err).split())[-600:] or f"exit code {proc.returncode}"
        raise VerifyError(f"the {board.name} test firmware failed under QEMU: {msg}")


def run(outdir, board: str | Board, inputs: dict[str, np.ndarray] | None = None, *,
        timeout: float = 600.0) -> RunResult:
    """Cross-compile the test firmware, run it under QEMU on ``inputs`` and compare with the reference."""
    from . import data as D
    from .compiler import load_artifact, quantize_inputs
    from .reference import run_int8
    outdir = Path(outdir).resolve()
    art = load_artifact(outdir)
    board = load_board(board) if isinstance(board, str) else board
    if not board.qemu_machine:
        raise OptionError(f"--board {board.name}: no QEMU machine for this board; 'run' works on "
                          f"{', '.join(_emulated())}")
    g = art.graph
    if inputs is None:
        inputs = D.random_inputs(art.float_graph, n=8, seed=1)
    qin = quantize_inputs(g, D.samples(inputs))
    elf = test_firmware(outdir, art, board)
    out_sizes = [g.tensors[o].size for o in g.outputs]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ec-run-", dir=elf.parent) as tmp:
        tmp = Path(tmp)
        in_total = sum(g.tensors[n].size for n in g.inputs)
        head = np.array([0x4E494345, len(qin), in_total, sum(out_sizes)], "<u4").tobytes()
        body = b"".join(np.concatenate([x.ravel() for x in q]).astype(np.int8).tobytes() for q in qin)
        (tmp / "ec_inputs.bin").write_bytes(head + body)
        run_qemu(board, elf, tmp, timeout)
        raw = (tmp / "ec_outputs.bin").read_bytes() if (tmp / "ec_outputs.bin").exists() else b""
    return _compare(art, board, qin, raw, out_sizes, run_int8, time.perf_counter() - t0)


def _emulated() -> list[str]:
    from .boards import all_boards
    return [b.name for b in all_boards() if b.qemu_machine]


def _compare(art, board, qin, raw, out_sizes, run_int8, seconds) -> RunResult:
    g = art.graph
    n, total = len(qin), sum(out_sizes)
    rec = 8 + total
    if len(raw) < 12 or np.frombuffer(raw[:4], "<u4")[0] != 0x554F4345:
        raise VerifyError(f"the {board.name} test firmware wrote no results (ec_outputs.bin missing or corrupt)")
    nodes = int(np.frombuffer(raw[8:12], "<u4")[0])
    if len(raw) != 12 + n * rec + 4 * nodes:
        raise VerifyError(f"the {board.name} test firmware wrote {len(raw)} bytes of results, "
                          f"expected {12 + n * rec + 4 * nodes}")
    res = RunResult(board, n, 0, 0, [], seconds=seconds)
    outs = [[] for _ in g.outputs]
    tick = 1e9 / board.clock_hz
    for s, q in enumerate(qin):
        r = raw[12 + s * rec: 12 + (s + 1) * rec]
        status, ticks = (int(v) for v in np.frombuffer(r[:8], "<i4").astype(np.int64) & 0xFFFFFFFF)
        if status != 0:
            raise VerifyError(f"{art.name}_invoke returned {status} on sample {s} under QEMU ({board.name})")
        if ticks == 0xFFFFFFFF:
            raise VerifyError(f"sample {s}: inference longer than SysTick's 2^24 ticks; cannot count it")
        res.instructions.append(round(ticks * tick))
        got = np.frombuffer(r[8:], np.int8)
        ref = run_int8(g, dict(zip(g.inputs, q)))
        off = 0
        for k, o in enumerate(g.outputs):
            want = ref[o].ravel()
            part = got[off: off + want.size]
            off += want.size
            bad = int(np.count_nonzero(part != want))
            res.mismatches += bad
            res.bytes_compared += want.size
            outs[k].append(part.reshape(g.tensors[o].shape))
            if bad and res.first_bad_sample is None:
                res.first_bad_sample = s
    res.int8_outputs = [np.stack(o) for o in outs]
    node_ticks = np.frombuffer(raw[12 + n * rec:], "<u4")
    res.node_instructions = [(nd.name, nd.op.value, round(int(t) * tick))
                             for nd, t in zip(g.nodes, node_ticks) if REGISTRY[nd.op].template]
    return res


def check(res: RunResult) -> None:
    if not res.ok:
        raise VerifyError(f"{res.mismatches} of {res.bytes_compared} output bytes differ under QEMU "
                          f"({res.board.name}; first at sample {res.first_bad_sample})")
