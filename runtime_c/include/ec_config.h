/* edgecompile runtime configuration: code paths follow the compiler's feature macros. */
#ifndef EC_CONFIG_H
#define EC_CONFIG_H

/* EC_HAS_DSP: the Armv7E-M / Armv8-M DSP extension (SMLAD, SXTB16, ...).  EC_EMULATE_DSP (host
 * builds only) turns the DSP code paths on with the plain-C intrinsics of ec_dsp.h. */
#if ((defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1)) || defined(EC_EMULATE_DSP)) && \
    !defined(EC_FORCE_PORTABLE)
#define EC_HAS_DSP 1
#else
#define EC_HAS_DSP 0
#endif

/* EC_HAS_MVE: Helium (M-profile vector extension, integer). */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(EC_FORCE_PORTABLE)
#define EC_HAS_MVE 1
#else
#define EC_HAS_MVE 0
#endif

/* Requantization rounding: 0 = TFLM default double rounding, 1 = single rounding
 * (TFLITE_SINGLE_ROUNDING / CMSIS_NN_USE_SINGLE_ROUNDING).  Twin of fixedpoint.py's knob. */
#ifndef EC_SINGLE_ROUNDING
#define EC_SINGLE_ROUNDING 0
#endif

/* EC_MAT_ROW_DIRECT: include the scratch-free one-row matrix product (compile --memory-saving);
 * generated projects pin it to whether the model uses it, so other models do not carry its code. */
#ifndef EC_MAT_ROW_DIRECT
#define EC_MAT_ROW_DIRECT 1
#endif

/* EC_MAT_WIDE: include the DSP matrix product over int16 weight pairs (compile --optimize speed);
 * generated projects pin it to whether the model has such a layer. */
#ifndef EC_MAT_WIDE
#define EC_MAT_WIDE 1
#endif

/* EC_MAT_INT8: include the int8-weight matrix product on DSP cores without Helium; generated projects
 * pin it to 0 when every FC / 1x1 / im2col layer has int16 weights there (compile --optimize speed),
 * leaving only ec_matmul.h's wide product in flash.  Other cores always have the int8 product. */
#ifndef EC_MAT_INT8
#define EC_MAT_INT8 1
#endif

/* EC_ASM: the hand-scheduled inline-assembly loops of the DSP and Helium paths, for GCC-compatible
 * compilers in optimizing builds (at -O0 GCC cannot give them their registers); other builds, and
 * the host's DSP emulation, run the same arithmetic in C.  -DEC_NO_ASM forces the C paths (needed
 * with -fno-omit-frame-pointer on Thumb, which takes r7 from the 2 x 2 DSP loop). */
#if defined(__GNUC__) && defined(__OPTIMIZE__) && !defined(EC_EMULATE_DSP) && !defined(EC_NO_ASM)
#define EC_ASM 1
#else
#define EC_ASM 0
#endif

#if defined(__GNUC__)
#define EC_INLINE static inline __attribute__((always_inline))
#define EC_RESTRICT __restrict__
#else
#define EC_INLINE static inline
#define EC_RESTRICT
#endif

#endif /* EC_CONFIG_H */
