"""ec_requant_fast (ec_fixedpoint.h) equals the exact requantization under the bounds the lowering
checks (ops/dw_variants.fast_requant_k, ops/add_variants._fast_k): a NumPy model of its C formula
against quant/fixedpoint.py over random and extreme accumulators, both rounding modes."""
import numpy as np
import pytest

from edgecompile.quant import fixedpoint as fx


def fast(acc, m, e, out_off, rounding):
    """The C: acc2 = 2 acc; x = SMMULR(acc2, m) (double) or SMMUL (single); (x [+ x>>31] + k) >> e."""
    acc2 = 2 * acc.astype(np.int64)
    k = (np.int64(1) << (e - 1)) + (np.int64(out_off) << e)
    if rounding == fx.SINGLE_ROUNDING:
        x = (acc2 * m) >> 32
        return (x + k) >> e
    x = (acc2 * m + (1 << 31)) >> 32
    return (x + (x >> 31) + k) >> e


@pytest.mark.parametrize("rounding", fx.ROUNDING_MODES)
def test_requant_fast_is_exact(rounding):
    rng = np.random.default_rng(0)
    for _ in range(300):
        real = float(np.exp(rng.uniform(np.log(1e-9), np.log(0.49))))
        m, shift = fx.quantize_multiplier(real)
        e = -shift
        if not 1 <= e <= 30:
            continue
        out_off = int(rng.integers(-128, 128))
        k_abs = (1 << (e - 1)) + abs(out_off << e)
        lim = min((1 << 30) - 1, (1 << 31) - 1 - k_abs)
        if lim < 1:                     # the lowering refuses such a node
            continue
        acc = np.concatenate([rng.integers(-lim, lim + 1, 2000), [-lim, lim, 0, 1, -1]]).astype(np.int64)
        # ties of the final division: accumulators landing near multiples of 2^(31 + e) / m
        ties = [max(-lim, min(lim, (i << (30 + e)) // max(m, 1) + d)) for i in range(-50, 50) for d in (-1, 0, 1)]
        acc = np.concatenate([acc, np.array(ties, np.int64)])
        want = fx.multiply_by_quantized_multiplier(acc, m, shift, rounding) + out_off
        assert np.array_equal(fast(acc, m, e, out_off, rounding), want), (m, shift, out_off)
