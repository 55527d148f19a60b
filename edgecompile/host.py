"""Host verification: build the generated C into a shared library with the host compiler and call
it through cffi (ABI mode).  Runtime objects are cached by content hash, so a model build only
compiles its own two files.  With ``sanitize=True`` everything is built with ASan + UBSan (the
process must then run with libasan preloaded; see tests/conftest.py)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .errors import BuildError

WARN = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]

_HOOKS_H = """\
#include <stdint.h>
void ec_host_after_node(int id, const int8_t *buf, int32_t nbytes);
#define EC_AFTER_NODE(id, buf, nbytes) ec_host_after_node((id), (buf), (nbytes))
"""
_HOOKS_C = """\
#include <stdint.h>
#include <string.h>
#include "ec_host_hooks.h"
#define EC_HOST_MAX_NODES %d
static int8_t *dump_dst[EC_HOST_MAX_NODES];
void ec_host_set_dump(int id, int8_t *dst);
void ec_host_set_dump(int id, int8_t *dst)
{
    if (id >= 0 && id < EC_HOST_MAX_NODES) {
        dump_dst[id] = dst;
    }
}
void ec_host_after_node(int id, const int8_t *buf, int32_t nbytes)
{
    if (id >= 0 && id < EC_HOST_MAX_NODES && dump_dst[id] != NULL) {
        memcpy(dump_dst[id], buf, (size_t)nbytes);
    }
}
"""


def cache_dir() -> Path:
    d = Path(os.environ.get("EC_CACHE_DIR", Path.home() / ".cache" / "edgecompile"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def compiler() -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise BuildError(f"no host C compiler: {cc!r} not found (install gcc or set CC)")
    return cc


def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"{what} failed:\n{' '.join(cmd)}\n{r.stderr.strip()}")


def emulate_dsp() -> bool:
    """EC_EMULATE_DSP=1 builds the kernels' DSP paths on the host with ec_dsp.h's plain-C intrinsics."""
    return os.environ.get("EC_EMULATE_DSP") == "1"


def _flags(sanitize: bool, opt: str) -> list[str]:
    return WARN + [opt, "-fPIC"] + (SANITIZE if sanitize else []) + (["-DEC_EMULATE_DSP"] if emulate_dsp() else [])


def compile_object(src: Path, include: list[Path], flags: list[str], extra: list[str] = ()) -> Path:
    """Compile one C file to an object in the cache (keyed by content, headers and flags)."""
    h = hashlib.sha256()
    h.update(src.read_bytes())
    for inc in include:
        for hdr in sorted(inc.glob("*.h")):
            h.update(hdr.name.encode() + hdr.read_bytes())
    h.update(" ".join(flags + list(extra) + [compiler()]).encode())
    obj = cache_dir() / "obj" / f"{src.stem}-{h.hexdigest()[:20]}.o"
    if not obj.exists():
        obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = obj.with_suffix(f".{os.getpid()}.tmp")
        _run([compiler(), *flags, *extra, *[f"-I{i}" for i in include], "-c", str(src), "-o", str(tmp)],
             f"compiling {src.name}")
        os.replace(tmp, obj)
    return obj


class HostModel:
    """A generated project built for the host and loaded through cffi."""

    def __init__(self, outdir: Path, name: str, n_nodes: int, sanitize: bool = False, opt: str = "-O2"):
        import cffi
        self.outdir, self.name = Path(outdir), name
        flags = _flags(sanitize, opt)
        build = self.outdir / "build" / ("host-san" if sanitize else "host")
        build.mkdir(parents=True, exist_ok=True)
        (build / "ec_host_hooks.h").write_text(_HOOKS_H)
        (build / "ec_host_hooks.c").write_text(_HOOKS_C % max(n_nodes, 1))
        rt_inc = self.outdir / "runtime" / "include"
        objs = [compile_object(p, [rt_inc], flags) for p in sorted((self.outdir / "runtime" / "src").glob("*.c"))]
        hooks = ["-include", str(build / "ec_host_hooks.h")]
        objs.append(compile_object(self.outdir / f"{name}.c", [rt_inc, self.outdir, build], flags, hooks))
        objs.append(compile_object(self.outdir / f"{name}_weights.c", [rt_inc], flags))
        objs.append(compile_object(build / "ec_host_hooks.c", [build], flags))
        lib = build / f"lib{name}.so"
        tmp = build / f"lib{name}.{os.getpid()}.so"
        _run([compiler(), "-shared", *flags, *map(str, objs), "-o", str(tmp)], f"linking lib{name}.so")
        os.replace(tmp, lib)
        self.ffi = cffi.FFI()
        self.ffi.cdef(f"""
            int {name}_invoke_multi(const int8_t *const in[], int8_t *const out[]);
            void ec_host_set_dump(int id, int8_t *dst);
        """)
        self.lib = self.ffi.dlopen(str(lib))
        self._invoke = getattr(self.lib, f"{name}_invoke_multi")

    def run(self, inputs: list[np.ndarray], out_sizes: list[int], dumps: dict[int, int] | None = None):
        """One inference.  ``dumps`` maps node id -> nbytes to capture; returns (outputs, dumps)."""
        ins = [np.ascontiguousarray(x, dtype=np.int8) for x in inputs]
        outs = [np.zeros(n, np.int8) for n in out_sizes]
        bufs = {k: np.zeros(n, np.int8) for k, n in (dumps or {}).items()}
        for k, b in bufs.items():
            self.lib.ec_host_set_dump(k, self.ffi.from_buffer("int8_t[]", b))
        in_arr = self.ffi.new("int8_t *[]", [self.ffi.from_buffer("int8_t[]", x) for x in ins])
        out_arr = self.ffi.new("int8_t *[]", [self.ffi.from_buffer("int8_t[]", x) for x in outs])
        rc = self._invoke(in_arr, out_arr)
        for k in bufs:
            self.lib.ec_host_set_dump(k, self.ffi.NULL)
        if rc != 0:
            raise BuildError(f"{self.name}_invoke returned {rc}")
        return outs, bufs
