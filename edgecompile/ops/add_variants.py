"""Compile-time specialisation of Add (``OpSpec.variants``):

  lut  both inputs with the output's shape (residual add): each input's rescaling
       MultiplyByQuantizedMultiplier((x + offset) << 20, m, shift) depends on one int8 only, so it
       is tabulated at compile time for the 256 values (doubled, ready for ec_requant_fast); the
       kernel adds two table entries and requantizes the sum (ec_add_lut_s8).
"""
from __future__ import annotations

import numpy as np

from ..quant import fixedpoint as fx
from . import Variant

_X = np.arange(-128, 128, dtype=np.int64)


def _specialize(options) -> bool:
    return bool((options or {}).get("specialize", True))


def _rescaled(p, i):
    """input i's rescaled value for x = -128..127 (TFLM add's first stage, exact)."""
    shifted = (_X + p[f"input{i}_offset"]) << p["left_shift"]
    return np.asarray(fx.multiply_by_quantized_multiplier(shifted, p[f"input{i}_multiplier"],
                                                          p[f"input{i}_shift"], fx.rounding_of(p)), np.int64)


def _fast_k(p):
    """k of ec_requant_fast for the output stage if it is exact for every table sum, else None."""
    acc = int(np.abs(_rescaled(p, 1)).max() + np.abs(_rescaled(p, 2)).max())
    e = -int(p["output_shift"])
    if p["output_multiplier"] < 0 or not 1 <= e <= 30 or acc >= 1 << 30:
        return None
    k = (1 << (e - 1)) + (int(p["output_offset"]) << e)
    return k if acc + abs(k) < 1 << 31 else None


def _choose_lut(node, ins, out, params, options) -> bool:
    return (_specialize(options) and tuple(ins[0].shape) == tuple(out.shape) == tuple(ins[1].shape)
            and _fast_k(params) is not None)


def _prepare_lut(node, ins, out, params) -> dict:
    table = np.concatenate([2 * _rescaled(params, 1), 2 * _rescaled(params, 2)]).astype(np.int32)
    return dict(params, add_table=table, add_k=_fast_k(params), size=int(np.prod(out.shape)))


def _ref_lut(a, b, p):
    """Twin of ec_add_lut_s8: the table sums requantized (= the generic Add under _fast_k's bounds)."""
    from .add import ref_int8
    return ref_int8(a, b, p)


def _table_bytes(params) -> int:
    return int(params["add_table"].nbytes)


ADD_LUT = Variant("lut", "ec_add_lut_s8", "ops/add_lut.c.j2", _choose_lut, _prepare_lut, _ref_lut,
                  flash_bytes=_table_bytes)

ADD = [ADD_LUT]
