"""The operator registry.  One module per operator; each ends with ``register(OpSpec(...))``.

An OpSpec bundles, for one op of ``ir.Op``:
  infer(*input_shapes, **attrs) -> output shape
  ref_float(*inputs, **attrs) -> float32 array       (attrs are keyword arguments with defaults)
  prepare(node, ins, out) -> params dict             (the only place scales become integers)
  ref_int8(*inputs, p) -> int8 array                 (twin of the C kernel, same params)
  grad(dy, *inputs, y=None, **attrs) -> input grads  (float backward, for edgecompile.train)
plus how the op is quantized and its test cases.  The template ``templates/ops/<module>.c.j2``
formats ``params`` and the call; it never computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..ir import Op


@dataclass
class Case:
    """A parity test case: input shapes (None = absent optional input), attrs and quant knobs.

    ``consts`` lists the input positions that are constants (weights, bias); ``quant`` may set
    ``in_zp`` / ``out_zp`` / ``in_scale`` / ``per_channel`` / ``act`` to steer the generated data.
    """
    name: str
    shapes: tuple
    attrs: dict = field(default_factory=dict)
    quant: dict = field(default_factory=dict)


@dataclass
class Variant:
    """A specialised kernel for some nodes of an op (e.g. sparse weights), chosen by lower.

    choose(node, ins, out, params, options) -> bool decides per node; prepare(node, ins, out,
    params) -> params extends the op's own params; ref_int8 is the variant kernel's twin.  Inputs in
    ``replaces`` travel inside the params instead (codegen does not emit them); flash_bytes(params)
    counts those params' bytes for the weights figures; strided_out: the kernel takes params out_stride
    (bytes between output pixels), so plan_memory may have it write a channel concat's slice."""
    name: str
    kernel: str
    template: str
    choose: Callable[..., bool]
    prepare: Callable[..., dict]
    ref_int8: Callable[..., Any]
    replaces: tuple[int, ...] = ()
    flash_bytes: Callable[[dict], int] | None = None
    strided_out: bool = False


@dataclass
class OpSpec:
    op: Op
    kernel: str | None                # C function; None for shape-only ops (aliases)
    template: str | None              # templates/ops/<file>; None for shape-only ops
    infer: Callable[..., tuple]
    ref_float: Callable[..., Any]
    prepare: Callable[..., dict] | None
    ref_int8: Callable[..., Any]
    cases: list[Case] = field(default_factory=list)
    # quantization rule for the output: "calibrate" (from observed ranges), "same" (inherit the
    # first input's qparams: data movement, max pool) or a fixed (scale, zero_point) pair.
    out_quant: Any = "calibrate"
    # inputs that are quantized as int8 weights: input index -> per-channel axis
    weights: dict[int, int] = field(default_factory=dict)
    bias: int | None = None           # input index of the int32 bias (scale = s_in * s_w[c])
    consts: tuple[int, ...] = ()      # inputs that must be constants (weights, bias, ...)
    # backward for training: grad(dy, *inputs, y=None, **attrs) -> one gradient per input (None
    # where not needed); y, the forward output, spares recomputing it (fused-activation masks)
    grad: Callable[..., list] | None = None
    variants: list[Variant] = field(default_factory=list)   # tried in order by lower
    strided_out: bool = False         # the base kernel takes params out_stride (see Variant)

    def impl(self, variant: str | None):
        """(kernel, template, ref_int8) of the base op or of a named variant."""
        if variant is None:
            return self.kernel, self.template, self.ref_int8
        v = self.variant(variant)
        return v.kernel, v.template, v.ref_int8

    def variant(self, name: str | None) -> Variant | None:
        return None if name is None else next(v for v in self.variants if v.name == name)


REGISTRY: dict[Op, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    if spec.op in REGISTRY:
        raise RuntimeError(f"op {spec.op} registered twice")
    REGISTRY[spec.op] = spec
    return spec


# One import line per operator module (order = registry order in tests and docs).
from . import conv2d  # noqa: E402,F401
from . import depthwise_conv2d  # noqa: E402,F401
from . import fully_connected  # noqa: E402,F401
from . import pool2d  # noqa: E402,F401
from . import mean  # noqa: E402,F401
from . import add  # noqa: E402,F401
from . import clamp  # noqa: E402,F401
from . import lut  # noqa: E402,F401
from . import softmax  # noqa: E402,F401
from . import concat  # noqa: E402,F401
from . import pad  # noqa: E402,F401
from . import transpose  # noqa: E402,F401
from . import reshape  # noqa: E402,F401
