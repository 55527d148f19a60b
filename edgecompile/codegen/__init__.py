"""Code generation: a lowered, planned graph -> C sources.  Formatting only: every number was
computed by lower/plan_memory; templates arrange them."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from .. import report as report_page
from ..analysis import const_bytes, emitted_consts, node_macs, total_macs
from ..ir import Graph
from ..ops import REGISTRY
from ..paths import runtime_dir
from .env import environment
from .filters import c_macro

_CTYPE = {"int8": "int8_t", "int32": "int32_t"}


@dataclass
class NodeView:
    """What an op template sees of a node."""
    id: int
    name: str
    op: str
    source_op: str
    kernel: str | None
    template: str | None
    sym: str
    p: dict
    ins: list
    out: str
    size: int
    nbytes: int
    in_shapes: list = field(default_factory=list)
    out_shape: tuple = ()
    scratch: tuple | None = None      # (arena offset, bytes) of the node's scratch buffer
    bands: list = field(default_factory=list)    # patch-based chain: per band {b, in_dims, out_dims}


@dataclass
class ConstView:
    sym: str
    tensor: str
    ctype: str
    data: np.ndarray


def _ptr(storage, name, consts, arena):
    kind, k = storage[name]
    if kind == "input":
        return f"in[{k}]"
    if kind == "output":
        return f"out[{k}]"
    if kind == "arena":
        return f"({arena} + {k})"
    if kind == "const":
        return consts[name].sym
    if kind == "band":
        return "NULL"             # a patch-based chain's inner tensor: its band calls get band buffers
    raise AssertionError(f"tensor {name} has no storage")


def _io(g, names, is_input):
    views = []
    for name in names:
        t = g.tensors[name]
        views.append(dict(name=name, shape=list(t.shape), size=t.size,
                          scale=float(t.q.scale[0]), zero_point=int(t.q.zero_point[0])))
    return views


# runtime_c/src files that kernels call into (shared code kept in flash once)
RUNTIME_DEPS = {"ec_fully_connected_s8": ("ec_mat_mult_s8",), "ec_conv2d_im2col_s8": ("ec_mat_mult_s8",)}


def source_runtime_files(g: Graph) -> list[str]:
    """The runtime_c/src files the graph's kernels need: one public kernel per file, plus the shared
    code of RUNTIME_DEPS."""
    in_place = set((g.meta.get("memory") or {}).get("concat_in_place", []))
    kernels = {n.kernel for k, n in enumerate(g.nodes) if n.kernel and k not in in_place}
    files = kernels | {d for k in kernels for d in RUNTIME_DEPS.get(k, ())}
    return [f"src/{k}.c" for k in sorted(files)]


def render(g: Graph, name: str, options: dict | None = None) -> dict[str, str]:
    """Render all text files of a generated project.  Keys are relative paths."""
    options = options or {}
    env = environment()
    mem = g.meta["memory"]
    storage = mem["storage"]
    arena = f"{name}_arena"
    used = emitted_consts(g)
    consts = {t: ConstView(f"{name}_w{k}", t, _CTYPE[g.tensors[t].dtype], g.tensors[t].data)
              for k, t in enumerate(used)}
    nodes = []
    for k, n in enumerate(g.nodes):
        spec = REGISTRY[n.op]
        out = g.tensors[n.outputs[0]]
        nodes.append(NodeView(
            id=k, name=n.name, op=n.op.value, source_op=n.source_op or n.op.value, kernel=n.kernel,
            template=None if k in mem.get("concat_in_place", []) else spec.impl(n.variant)[1],
            sym=f"{name}_n{k}", p=n.params or {},
            ins=[_ptr(storage, i, consts, arena) if i and (i in consts or not g.tensors[i].is_const) else "NULL"
                 for i in n.inputs],
            out=_ptr(storage, n.outputs[0], consts, arena), size=out.size, nbytes=out.nbytes,
            in_shapes=[g.tensors[i].shape if i else None for i in n.inputs], out_shape=out.shape,
            scratch=mem.get("scratch", {}).get(k)))
    ops = {t: env.get_template(t).module for t in sorted({n.template for n in nodes if n.template})}
    calls = _calls(g, nodes, ops, arena)
    ctx = dict(name=name, NAME=c_macro(name), nodes=nodes, ops=ops, consts=list(consts.values()), calls=calls,
               inputs=_io(g, g.inputs, True), outputs=_io(g, g.outputs, False),
               arena_size=mem["arena_size"], version=__version__, meta=g.meta, options=options,
               runtime_sources=source_runtime_files(g))
    files = {
        f"{name}.h": env.get_template("model.h.j2").render(ctx),
        f"{name}.c": env.get_template("model.c.j2").render(ctx),
        f"{name}_weights.c": env.get_template("weights.c.j2").render(ctx),
        "Makefile": env.get_template("Makefile.j2").render(ctx),
        "CMakeLists.txt": env.get_template("CMakeLists.txt.j2").render(ctx),
    }
    rt = runtime_dir()
    for rel in sorted(p.relative_to(rt).as_posix() for p in (rt / "include").glob("*.h")):
        files[f"runtime/{rel}"] = (rt / rel).read_text()
    for rel in ctx["runtime_sources"]:
        files[f"runtime/{rel}"] = (rt / rel).read_text()
    config = pin_row_direct(pin_rounding(files["runtime/include/ec_config.h"], rounding(g)),
                            bool(mem.get("scratch_free")))
    is_wide = [bool(n.params and "wide_filter" in n.params) for n in g.nodes]     # compile --optimize speed
    wide = any(is_wide)
    int8 = any(n.kernel in RUNTIME_DEPS and not w for n, w in zip(g.nodes, is_wide))
    for macro, value, setting in (
            ("EC_MAT_WIDE", wide, "--optimize speed" if wide else "int8 weights"),
            ("EC_MAT_INT8", int8, "int8 weights in a product layer" if int8 else "int16 weights in every product layer")):
        config = pin_config(config, macro, int(value), setting)
    files["runtime/include/ec_config.h"] = config
    rep = report(g, name, nodes, consts)
    files["report.json"] = json.dumps(rep, indent=2, sort_keys=True) + "\n"
    files["report.html"] = report_page.html_page(rep, g)
    return files


def _calls(g: Graph, nodes: list, ops: dict, arena: str) -> list[dict]:
    """The kernel calls of the invoke function in execution order (g.meta["memory"]["steps"]): one per
    node, one per band for the nodes of a patch-based chain (memory/bands.py), where the node's call
    is formatted with the band's pointers and dims (file-scope ``<sym>_b<band>_in_dims/out_dims``) and,
    when the band's top padding differs, a copy of the node's params with that padding.  Views and
    Concats written in place by their producers get no call (only the hooks)."""
    from ..passes.memory.bands import geometry
    mem = g.meta["memory"]
    bands = mem.get("bands") or []
    pos = {i: (k, j) for k, d in enumerate(bands) for j, i in enumerate(d["nodes"])}
    calls = []
    for i, b in mem.get("steps") or [[k, None] for k in range(len(nodes))]:
        v = nodes[i]
        if b is None:
            if v.template or g.nodes[i].kernel:
                calls.append(dict(node=v, note="", text=v.template and str(ops[v.template].call(v)), params_type=None,
                                  unused=[], scratch=v.scratch, before=v.id, after=(v.id, v.out, v.nbytes)))
            continue
        k, j = pos[i]
        d, L = bands[k], bands[k]["layers"][j][b]
        last = j == len(d["nodes"]) - 1
        if b == 0:
            v.bands = [dict(b=x, in_dims=B["in_dims"], out_dims=B["out_dims"]) for x, B in enumerate(d["layers"][j])]
        src = f"({v.ins[0]} + {L['in_offset']})" if j == 0 else f"({arena} + {d['buffers'][j - 1][b]})"
        dst = f"({v.out} + {L['out_offset']})" if last else f"({arena} + {d['buffers'][j][b]})"
        text = str(ops[v.template].call(dataclasses.replace(v, ins=[src] + v.ins[1:], out=dst)))
        subs = [(f"&{v.sym}_in_dims", f"&{v.sym}_b{b}_in_dims"), (f"&{v.sym}_out_dims", f"&{v.sym}_b{b}_out_dims")]
        ptype = None
        if L["pad_top"] != geometry(g.nodes[i])[5]:
            ptype = re.search(rf"static const (\w+) {re.escape(v.sym)}_params = ", str(ops[v.template].params(v)))
            ptype = ptype and ptype.group(1)
            subs.append((f"&{v.sym}_params", "&ec_band_params"))
        for a, z in subs:
            if a not in text or (z == "&ec_band_params" and not ptype):
                raise AssertionError(f"{v.template}: cannot run node {v.name} on row bands (no {a[1:]})")
            text = text.replace(a, z)
        calls.append(dict(node=v, text=text, scratch=tuple(d["scratch"][j][b]) if d["scratch"][j][b] else None,
                          note=f", band {b + 1} of {d['count']}: output rows "
                               f"{L['out_rows'][0]}..{L['out_rows'][1] - 1}",
                          params_type=ptype, pad_top=L["pad_top"],
                          unused=[a[1:] for a, _ in subs[:2]] if b == 0 else [],
                          before=nodes[d["nodes"][0]].id if j == 0 and b == 0 else None,
                          after=(v.id, v.out, v.nbytes) if last and b == d["count"] - 1 else None))
    held = False                                     # ctx back to NULL after a call with scratch
    for c in calls:
        c["reset"] = bool(c["text"] and not c["scratch"] and held)
        held = bool(c["scratch"]) if c["text"] else held
    return calls


def rounding(g: Graph) -> str:
    """The graph's requantization rounding mode (compile --rounding; graphs from before it: double)."""
    return g.meta.get("rounding", "double")


def pin_config(config_h: str, macro: str, value: int, setting: str) -> str:
    """ec_config.h with the ``#ifndef macro`` default block replaced by ``value``: any build of the
    project (our Makefile, CMake, host.py, firmware.py, a user's IDE) compiles the runtime with the
    model's setting, objects built with another value differ in their header contents (the object
    caches key on them), and a conflicting -D<macro> is a compile error."""
    block = re.search(rf"#ifndef {macro}\n#define {macro} \d+\n#endif\n", config_h)
    if block is None:
        raise AssertionError(f"runtime_c/include/ec_config.h: the {macro} default block moved")
    pinned = (f"/* pinned by edgecompile: this model was compiled with {setting} */\n"
              f"#if defined({macro}) && {macro} != {value}\n"
              f"#error \"{macro} differs from the model's {setting}\"\n#endif\n"
              f"#undef {macro}\n#define {macro} {value}\n")
    return config_h.replace(block.group(0), pinned)


def pin_rounding(config_h: str, mode: str) -> str:
    """EC_SINGLE_ROUNDING fixed to the model's --rounding."""
    return pin_config(config_h, "EC_SINGLE_ROUNDING", int(mode == "single"), f"--rounding {mode}")


def pin_row_direct(config_h: str, used: bool) -> str:
    """EC_MAT_ROW_DIRECT fixed to whether the model runs a layer without its scratch (plan_memory's
    memory-saving choice): the code is only in the firmware when needed."""
    return pin_config(config_h, "EC_MAT_ROW_DIRECT", int(used),
                      "--memory-saving" if used else "every kernel's scratch")


def set_sections(g: Graph, arena: str | None = None, weights=()) -> None:
    """Linker sections for the arena and for constant tensors (g.meta["sections"], used by the
    templates): ``weights`` rules "SECTION" (every weight) or "SECTION=NODE_GLOB", first match wins."""
    import fnmatch
    import re
    from ..errors import OptionError
    for sec in [arena] + [w.split("=", 1)[0] for w in weights]:
        if sec is not None and not re.fullmatch(r"[.A-Za-z_][.A-Za-z0-9_$]*", sec):
            raise OptionError(f"invalid linker section name {sec!r}")
    placed: dict[str, str] = {}
    used = set(emitted_consts(g))
    for rule in weights:
        sec, _, pat = rule.partition("=")
        hit = [n for n in g.nodes if not pat or fnmatch.fnmatchcase(n.name, pat)]
        if pat and not hit:
            raise OptionError(f"--weights-section {rule}: no node name matches {pat!r}")
        mine = [t for n in hit for t in n.inputs if t in used]
        if not mine:
            raise OptionError(f"--weights-section {rule}: the matching nodes have no weight arrays in "
                              f"NAME_weights.c (kernels that repack weights keep them in NAME.c)")
        for t in mine:
            placed.setdefault(t, sec)
    g.meta["sections"] = {"arena": arena, "weights": placed}


def report(g: Graph, name: str, nodes, consts) -> dict:
    mem = g.meta["memory"]
    return {
        "name": name,
        "generator": f"edgecompile {__version__}",
        "source": g.meta.get("source_name"),
        "source_sha256": g.meta.get("sha256"),
        "arena_bytes": mem["arena_size"],
        "arena_bytes_without_reuse": mem["no_reuse_size"],
        "weights_bytes": const_bytes(g),
        "macs": total_macs(g),
        "quantization": g.meta.get("quantized"),
        "rounding": rounding(g),
        "inputs": _io(g, g.inputs, True),
        "outputs": _io(g, g.outputs, False),
        "nodes": [dict(id=v.id, name=v.name, op=v.op, onnx_op=v.source_op, kernel=v.kernel,
                       output_shape=list(v.out_shape), macs=node_macs(g, n),
                       storage=list(mem["storage"][n.outputs[0]]))
                  for v, n in zip(nodes, g.nodes)],
        **{k: v for k, v in report_page.build(g, name).items() if k != "name"},   # memory, per-layer
    }


def digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for k in sorted(files):
        h.update(k.encode() + b"\0" + files[k].encode() + b"\0")
    return h.hexdigest()
