"""Target boards (DESIGN.md §6): ``boards/<name>/board.toml`` loaded into a :class:`Board`.

A board holds its core, compiler flags, memory map, clock and (for emulated boards) the QEMU machine.
``backend`` ("portable" | "dsp" | "mve") must agree with the core; the C itself picks its code path
from the compiler's feature macros, and tests/test_boards.py checks that the two agree."""
from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import OptionError
from .paths import boards_dir

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    import tomli as tomllib

# The code path each core gets from its -mcpu feature macros (__ARM_FEATURE_DSP / __ARM_FEATURE_MVE).
CORE_BACKEND = {"host": "portable", "cortex-m0plus": "portable", "cortex-m3": "portable", "cortex-m4": "dsp",
                "cortex-m7": "dsp", "cortex-m33": "dsp", "cortex-m55": "mve"}
CORE_LABEL = {"host": "host CPU", "cortex-m0plus": "Cortex-M0+", "cortex-m3": "Cortex-M3", "cortex-m4": "Cortex-M4",
              "cortex-m7": "Cortex-M7", "cortex-m33": "Cortex-M33", "cortex-m55": "Cortex-M55"}
COMMON = "common"           # boards/common: startup, semihosting and linker sections shared by all boards
CROSS_PREFIX = "arm-none-eabi-"


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    core: str
    backend: str
    cflags: tuple[str, ...]
    dir: Path
    flash_origin: int = 0
    flash_bytes: int = 0
    ram_origin: int = 0
    ram_bytes: int = 0
    clock_hz: int = 0
    stack_bytes: int = 0
    irqs: int = 0
    qemu_machine: str | None = None

    @property
    def is_host(self) -> bool:
        return self.core == "host"

    @property
    def linker_script(self) -> Path:
        return self.dir / "linker.ld"

    @property
    def label(self) -> str:
        fpu = "F" if any(f.startswith("-mfpu=") for f in self.cflags) and self.core == "cortex-m4" else ""
        return CORE_LABEL[self.core] + fpu

    def summary(self) -> str:
        if self.is_host:
            return f"{self.name:14s} {'host CPU':11s} {'-':>8s} {'-':>8s} {'-':>8s}  {'portable':9s} {'-':11s} {self.description}"
        return (f"{self.name:14s} {self.label:11s} {_kb(self.flash_bytes):>8s} {_kb(self.ram_bytes):>8s} "
                f"{self.clock_hz / 1e6:5.0f} MHz  {self.backend:9s} {self.qemu_machine or '-':11s} {self.description}")


def _kb(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n >> 10} KB"


def data_dir() -> Path:
    """boards/: shipped in the wheel as the data package edgecompile.board_data."""
    return boards_dir()


def board_names() -> list[str]:
    root = data_dir()
    return sorted(p.parent.name for p in root.glob("*/board.toml"))


def _parse(path: Path) -> Board:
    try:
        d = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise OptionError(f"{path}: unreadable board file ({e})") from None
    name = path.parent.name
    fields = {k: d[k] for k in ("flash_origin", "flash_bytes", "ram_origin", "ram_bytes", "clock_hz",
                                "stack_bytes", "irqs", "qemu_machine") if k in d}
    try:
        b = Board(name=name, description=d.get("description", name), core=d["core"], backend=d["backend"],
                  cflags=tuple(d.get("cflags", ())), dir=path.parent, **fields)
    except KeyError as e:
        raise OptionError(f"{path}: missing key {e.args[0]!r}") from None
    if b.core not in CORE_BACKEND:
        raise OptionError(f"{path}: unknown core {b.core!r} (known: {', '.join(CORE_BACKEND)})")
    if b.backend != CORE_BACKEND[b.core]:
        raise OptionError(f"{path}: backend {b.backend!r} disagrees with core {b.core} "
                          f"(its feature macros select {CORE_BACKEND[b.core]!r})")
    if not b.is_host:
        if f"-mcpu={b.core}" not in b.cflags:
            raise OptionError(f"{path}: cflags must contain -mcpu={b.core}")
        if not b.linker_script.exists() or not b.flash_bytes or not b.ram_bytes:
            raise OptionError(f"{path}: a Cortex-M board needs linker.ld, flash_bytes and ram_bytes")
    return b


@functools.cache
def _load(name: str) -> Board:
    return _parse(data_dir() / name / "board.toml")


def load_board(name: str) -> Board:
    """The board called ``name``; an unknown name is a one-line error listing the valid ones."""
    names = board_names()
    if name not in names or name == COMMON:
        raise OptionError(f"unknown board {name!r} (choose from: {', '.join(names)})")
    return _load(name)


def all_boards() -> list[Board]:
    return [_load(n) for n in board_names()]


def list_boards() -> str:
    head = f"{'board':14s} {'core':11s} {'flash':>8s} {'RAM':>8s} {'clock':>9s}  {'backend':9s} {'QEMU':11s} description"
    return "\n".join([head] + [b.summary() for b in all_boards()])


def cross_tool(tool: str) -> str:
    """Path of arm-none-eabi-<tool>; a clear error when the toolchain is missing."""
    exe = shutil.which(CROSS_PREFIX + tool)
    if exe is None:
        raise OptionError(f"{CROSS_PREFIX}{tool} not found: install the Arm GNU toolchain "
                          f"(Debian/Ubuntu: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    return exe


def common_dir() -> Path:
    return data_dir() / COMMON
