/* Sliding-window helpers shared by the convolution kernels. */
#ifndef EC_WINDOW_H
#define EC_WINDOW_H

#include <stdint.h>
#include "ec_config.h"

/* Valid taps [*lo, *hi) of a k_n-tap window with dilation dil that starts at input position
 * start (negative inside the top/left padding) along an axis of length size.  Taps outside
 * [0, size) are padding and are skipped, as TFLM's reference kernels skip them. */
EC_INLINE void ec_tap_range(int32_t start, int32_t dil, int32_t k_n, int32_t size, int32_t *lo, int32_t *hi)
{
    const int32_t l = start < 0 ? (-start + dil - 1) / dil : 0;
    const int32_t room = size - start;
    const int32_t h = room <= 0 ? 0 : (room + dil - 1) / dil;
    *lo = l;
    *hi = h < k_n ? (h > l ? h : l) : (k_n > l ? k_n : l);
}

#endif /* EC_WINDOW_H */
