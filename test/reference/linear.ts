// Plain TypeScript reference for linear and matmul, accumulating in float64,
// plus the error bound any float32 summation order must meet.

/** y[n, m] = sum_k x[n, k] * w[m, k] + bias[m], in float64. Also returns sum_k |x*w| per output. */
export function linearRef(
  x: ArrayLike<number>, N: number, K: number, w: ArrayLike<number>, M: number, bias?: ArrayLike<number> | null,
): { y: Float64Array; mag: Float64Array } {
  const y = new Float64Array(N * M);
  const mag = new Float64Array(N * M);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      let s = 0, a = 0;
      for (let k = 0; k < K; k++) {
        const p = x[n * K + k] * w[m * K + k];
        s += p;
        a += Math.abs(p);
      }
      if (bias) {
        s += bias[m];
        a += Math.abs(bias[m]);
      }
      y[n * M + m] = s;
      mag[n * M + m] = a;
    }
  }
  return { y, mag };
}

/**
 * Largest error a float32 dot product of length K may have in any summation
 * order: (K + 2) * 2^-24 * sum |x*w| (the classic gamma_K bound), with a
 * little slack for the final rounding and tiny results.
 */
export function dotErrorBound(K: number, mag: number): number {
  return (K + 3) * 2 ** -24 * mag + 1e-30;
}

/** Index of the first element of `got` outside the bound, or -1. */
export function firstMismatch(got: Float32Array, ref: { y: Float64Array; mag: Float64Array }, K: number): number {
  for (let i = 0; i < got.length; i++) {
    const r = ref.y[i];
    const g = got[i];
    if (Number.isNaN(r) || Number.isNaN(g)) {
      if (Number.isNaN(r) !== Number.isNaN(g)) return i;
      continue;
    }
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (r !== g) return i;
      continue;
    }
    if (Math.abs(g - r) > dotErrorBound(K, ref.mag[i])) return i;
  }
  return -1;
}

/** A seeded generator (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}
