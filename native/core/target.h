// Function-level target attributes: SIMD kernels are compiled for their ISA per
// function, never per file, so the addon still runs on any x86-64 CPU. Every
// function that uses a level's intrinsics (helpers included) carries its macro.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define SPARQ_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,popcnt")))
#define SPARQ_TARGET_AVX512 \
  __attribute__((target("avx2,fma,f16c,popcnt,avx512f,avx512bw,avx512vl,avx512dq")))
#else
#define SPARQ_TARGET_AVX2
#define SPARQ_TARGET_AVX512
#endif

// For members whose only effect is a prefetch: GCC finds them pure and, when
// it has not inlined them, drops the calls as dead.
#if defined(__GNUC__) || defined(__clang__)
#define SPARQ_ALWAYS_INLINE __attribute__((always_inline))
#else
#define SPARQ_ALWAYS_INLINE
#endif

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* helpers (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// AVX-512 with VNNI (VPDPBUSD): the int8 dot-product kernels.
#if defined(__GNUC__) || defined(__clang__)
#define SPARQ_TARGET_AVX512VNNI \
  __attribute__((target("avx2,fma,f16c,popcnt,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#else
#define SPARQ_TARGET_AVX512VNNI
#endif
