"""Sparse int8 weights for FullyConnected and Conv2D: the bitmask format, its cost model and the
kernel variants (``OpSpec.variants``) that lower picks per node.

Format (ec_sparse_filter in ec_types.h): the filter is viewed as rows [C_OUT, TAPS, C] (TAPS = KH*KW,
1 for FC).  For every (output channel, tap) there are ceil(C / 8) mask bytes, bit j of byte k set when
channel 8k + j is non-zero; ``values`` holds the non-zero int8 weights in (output channel, tap,
channel) order.  The kernels accumulate bias + sum (x + input_offset) * w over the non-zeros only,
exactly the integers the dense kernel adds (a zero weight adds 0), so requantization is shared and
the outputs are bit-identical.
"""
from __future__ import annotations

import numpy as np

from . import Variant

# Cortex-M4 instructions per output value (gcc -O2, QEMU -icount, least-squares fit over single-layer
# FC / conv / pointwise models at 0-95% sparsity against the DSP dense kernels, within 11%; the dense
# terms refit for ec_matmul.h's int16-row kernels with the fast requantization;
# tests/test_sparse.py::test_cost_model_on_qemu checks the decisions on QEMU).
DENSE_FC = (22.5, 1.6)                   # per output, per MAC: FullyConnected with one row
DENSE_ROWS = (29.3, 1.25)                # ... with many rows (pointwise Conv2D): 2-row blocks
DENSE_CONV = (12.7, 2.4, 1.25)           # per output, per tap, per MAC (im2col)
SPARSE_FC = (71.0, 8.1, 8.2)             # per output, per mask byte, per non-zero
SPARSE_CONV = (196.0, 16.7, 7.9, 6.8)    # per output, per tap, per mask byte, per non-zero
MARGIN = 0.9          # sparse only when it is at most 90% of the dense bytes
MODES = ("auto", "size", "always", "never")   # auto: smaller and not slower; size: smaller


def rows_of(w: np.ndarray) -> np.ndarray:
    """[C_OUT, ...] weights (FC [O, I], Conv OHWI) as [C_OUT, TAPS, C]."""
    return w.reshape(w.shape[0], -1, w.shape[-1])


def encode(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask uint8, values int8) of int8 weights in the bitmask format."""
    r = rows_of(np.asarray(w))
    o, taps, c = r.shape
    nb = -(-c // 8)
    nz = np.zeros((o, taps, nb * 8), bool)
    nz[..., :c] = r != 0
    mask = np.packbits(nz.reshape(o, taps, nb, 8), axis=-1, bitorder="little").reshape(-1)
    return mask, r[r != 0].astype(np.int8)


def decode(mask: np.ndarray, values: np.ndarray, shape) -> np.ndarray:
    """The dense int8 weights of ``shape`` back from (mask, values)."""
    o, c = shape[0], shape[-1]
    taps = int(np.prod(shape[1:-1], dtype=np.int64))
    nb = -(-c // 8)
    bits = np.unpackbits(np.asarray(mask, np.uint8).reshape(o, taps, nb, 1), axis=-1, bitorder="little")
    keep = bits.reshape(o, taps, nb * 8)[..., :c].astype(bool)
    w = np.zeros((o, taps, c), np.int8)
    w[keep] = np.asarray(values, np.int8)[:int(keep.sum())]
    return w.reshape(shape)


def stats(w: np.ndarray, kind: str = "fc", rows: int = 1) -> dict:
    """Sizes in bytes and estimated instructions per output pixel of the dense and sparse forms;
    kind "fc" (``rows`` input rows) or "conv"."""
    r = rows_of(np.asarray(w))
    o, taps, c = r.shape
    nnz = int(np.count_nonzero(r))
    nb = -(-c // 8)
    if kind == "conv":
        dense = o * (DENSE_CONV[0] + taps * (DENSE_CONV[1] + c * DENSE_CONV[2]))
        sparse = o * (SPARSE_CONV[0] + taps * (SPARSE_CONV[1] + nb * SPARSE_CONV[2])) + nnz * SPARSE_CONV[3]
    else:
        a, m = DENSE_FC if rows == 1 else DENSE_ROWS
        dense = o * (a + c * m)
        sparse = o * (SPARSE_FC[0] + nb * SPARSE_FC[1]) + nnz * SPARSE_FC[2]
    return dict(dense_bytes=r.size, sparse_bytes=o * taps * nb + max(nnz, 1), nnz=nnz,
                dense_cost=dense, sparse_cost=sparse)


def _choose(node, ins, out, params, options, kind: str = "conv") -> bool:
    mode = (options or {}).get("sparse", "auto")
    w = ins[1]
    if mode == "never" or w is None or not w.is_const:
        return False
    if mode == "always":
        return True
    s = stats(w.data, kind, int(np.prod(ins[0].shape[:-1])))
    return s["sparse_bytes"] <= MARGIN * s["dense_bytes"] and (mode == "size" or s["sparse_cost"] <= s["dense_cost"])


def _prepare(node, ins, out, params) -> dict:
    mask, values = encode(ins[1].data)
    if values.size == 0:
        values = np.zeros(1, np.int8)        # C has no empty arrays; never read
    params = {k: v for k, v in params.items() if k != "scratch_bytes"}     # the sparse kernels need none
    return dict(params, sparse_mask=mask, sparse_values=values, sparse_nnz=int(np.count_nonzero(ins[1].data)))


def _flash_bytes(params) -> int:
    return int(params["sparse_mask"].size + params["sparse_values"].size)


def pointwise(node, ins) -> bool:
    """A Conv2D that is a matrix product per pixel: 1x1 kernel, stride 1, no padding, one group."""
    w, a = ins[1], node.attrs
    return (w.shape[1:3] == (1, 1) and tuple(a.get("strides", (1, 1))) == (1, 1) and not any(a.get("pads", ()))
            and a.get("groups", 1) == 1)


def _prepare_1x1(node, ins, out, params) -> dict:
    x, w = ins[0], ins[1]
    rows = int(np.prod(x.shape[:-1]))
    return dict(_prepare(node, ins, out, params), input_dims=(rows, 1, 1, x.shape[-1]),
                filter_dims=(w.shape[0], 1, 1, w.shape[-1]), output_dims=(rows, 1, 1, w.shape[0]))


def _ref_1x1(x, w, b, p):
    from .fully_connected import ref_int8 as fc_ref
    w2 = decode(p["sparse_mask"], p["sparse_values"], (w.shape[0], w.shape[-1]))
    return fc_ref(x, w2, b, p)


def variant(kind: str, dense_ref) -> Variant:
    """The sparse Variant of the op whose dense integer reference is ``dense_ref``; its twin decodes
    the emitted (mask, values) and runs the dense arithmetic, the same sum of products as the C."""
    def ref_int8(x, w, b, p):
        return dense_ref(x, decode(p["sparse_mask"], p["sparse_values"], w.shape), b, p)

    def choose(node, ins, out, params, options):
        return _choose(node, ins, out, params, options, "fc" if kind == "fully_connected" else "conv")

    return Variant("sparse", f"ec_{kind}_sparse_s8", f"ops/{kind}_sparse.c.j2", choose, _prepare, ref_int8,
                   replaces=(1,), flash_bytes=_flash_bytes)


# A pointwise Conv2D runs the sparse FullyConnected kernel over its N*H*W pixels.
def _choose_1x1(node, ins, out, params, options) -> bool:
    return pointwise(node, ins) and _choose(node, ins, out, params, options, "fc")


POINTWISE = Variant("sparse_1x1", "ec_fully_connected_sparse_s8", "ops/fully_connected_sparse.c.j2", _choose_1x1,
                    _prepare_1x1, _ref_1x1, replaces=(1,), flash_bytes=_flash_bytes)
