// Plain TypeScript references for quantization: decode a QuantizedTensor's
// codes and scales, and the round-to-nearest absmax baseline the searched
// scales must beat.
import { f16ToF32Ref, roundHalfEven } from './half.js';

export interface QuantFields {
  shape: readonly [number, number];
  bits: 8 | 4;
  scheme: 'symmetric' | 'asymmetric' | 'nf4';
  groupSize: number;
  scaleType: 'float16' | 'float32';
  codes: Uint8Array;
  scales: Float32Array | Uint16Array;
  mins: Float32Array | Uint16Array | null;
}

export const NF4_REF = [
  -1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1,
].map(Math.fround);

/**
 * int8 code of v at scale d: round half to even of fround(v / d), clamped to
 * ±127 (0 when d is 0); the rule of int8_code in native/core/quant.h, used by
 * every int8 activation, codebook and NF4 table code.
 */
export function int8CodeRef(v: number, d: number): number {
  return d === 0 ? 0 : Math.max(-127, Math.min(127, roundHalfEven(Math.fround(v / d))));
}

/** NF4 levels as the int8-activation mode uses them: rounded to int8 at scale max |level| / 127 = 1 / 127. */
export const NF4_INT8_REF = (() => {
  const d = Math.fround(1 / 127);
  return NF4_REF.map((v) => Math.fround(int8CodeRef(v, d) * d));
})();

/**
 * w[m, k] = scale * value (+ min), rounded once to float32. `nf4Int8`: NF4
 * values from NF4_INT8_REF (what linear multiplies with for activations: 'int8').
 */
export function dequantizeRef(q: QuantFields, { nf4Int8 = false } = {}): Float32Array {
  const [M, K] = q.shape;
  const gs = q.groupSize || K;
  const out = new Float32Array(M * K);
  const sc = (a: Float32Array | Uint16Array, i: number) => (a instanceof Uint16Array ? f16ToF32Ref(a[i]) : a[i]);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      const i = m * K + k;
      let v: number;
      if (q.bits === 8) v = q.scheme === 'asymmetric' ? q.codes[i] : (q.codes[i] << 24) >> 24;
      else {
        const c = (q.codes[(i >> 5) * 16 + (i & 15)] >> ((i & 16) >> 2)) & 0xf; // blocks of 32
        v = q.scheme === 'nf4' ? (nf4Int8 ? NF4_INT8_REF : NF4_REF)[c] : q.scheme === 'symmetric' ? c - 8 : c;
      }
      const g = m * (K / gs) + Math.floor(k / gs);
      out[i] = sc(q.scales, g) * v + (q.mins ? sc(q.mins, g) : 0);
    }
  }
  return out;
}

/** Round-to-nearest absmax baseline: symmetric, q in [-(2^(b-1) - 1), 2^(b-1) - 1], float32 scale per group. */
export function absmaxBaseline(w: Float32Array, M: number, K: number, bits: number, groupSize: number): Float32Array {
  const gs = groupSize || K;
  const qmax = 2 ** (bits - 1) - 1;
  const out = new Float32Array(M * K);
  for (let o = 0; o < M * K; o += gs) {
    let amax = 0;
    for (let i = 0; i < gs; i++) amax = Math.max(amax, Math.abs(w[o + i]));
    const d = amax / qmax;
    for (let i = 0; i < gs; i++) out[o + i] = d === 0 ? 0 : Math.round(w[o + i] / d) * d;
  }
  return out;
}

/** Weights for quality tests: Gaussian, or Student-t with 3 degrees of freedom (heavy tails) plus a few large outliers. */
export function syntheticWeights(n: number, kind: 'gaussian' | 'student-t', next: () => number): Float32Array {
  const gauss = () => {
    const u = Math.max(next(), 1e-12), v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (kind === 'gaussian') out[i] = 0.02 * gauss();
    else {
      const z = gauss();
      let chi = 0;
      for (let j = 0; j < 3; j++) chi += gauss() ** 2;
      out[i] = (0.02 * z) / Math.sqrt(chi / 3);
    }
  }
  if (kind === 'student-t') for (let i = 0; i < n; i += 997) out[i] *= 12;
  return out;
}

/** Activations quantized per block of 32 (absmax / 127, round half to even) and decoded back: what the int8 mode multiplies with. */
export function int8ActivationsRef(x: Float32Array, N: number, K: number): Float32Array {
  const out = new Float32Array(N * K);
  for (let b = 0; b < (N * K) / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = Math.fround(amax / 127);
    for (let j = 0; j < 32; j++) out[b * 32 + j] = int8CodeRef(x[b * 32 + j], d) * d;
  }
  return out;
}

// ---------------------------------------------------------------- the scale search
// What native/core/quant_fit.cc computes (plain float64 in this order), for
// tests that check the native fit operation for operation.

export function nearestNf4Ref(t: number): number {
  let lo = 0, hi = 15;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (NF4_REF[mid] <= t) lo = mid;
    else hi = mid;
  }
  return t - NF4_REF[lo] <= NF4_REF[hi] - t ? lo : hi;
}

export interface GroupFit {
  scale: number;
  min: number;
}

// Candidate grid for the search: the absmax (or min/max) choice scaled by
// these factors, each followed by a least-squares refit of scale (and min).
const SEARCH_STEPS = 20;

export function fitSymmetricRef(w: Float32Array, o: number, n: number, qmin: number, qmax: number, search: boolean): GroupFit {
  let amax = 0;
  for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(w[o + i]));
  if (amax === 0) return { scale: 0, min: 0 };
  let best = { scale: amax / qmax, min: 0 };
  if (!search) return best;
  let bestErr = Infinity;
  for (let s = -SEARCH_STEPS; s <= SEARCH_STEPS; s++) {
    const iscale = (qmax * (1 + (s * 0.5) / SEARCH_STEPS)) / amax; // s = 0: absmax
    let swq = 0, sqq = 0;
    for (let i = 0; i < n; i++) {
      const q = Math.min(qmax, Math.max(qmin, Math.round(w[o + i] * iscale)));
      swq += w[o + i] * q;
      sqq += q * q;
    }
    if (sqq === 0) continue;
    const d = swq / sqq;
    let err = 0;
    for (let i = 0; i < n; i++) {
      const q = Math.min(qmax, Math.max(qmin, Math.round(w[o + i] / d)));
      const e = w[o + i] - d * q;
      err += e * e;
    }
    if (err < bestErr) {
      bestErr = err;
      best = { scale: d, min: 0 };
    }
  }
  return best;
}

export function fitAsymmetricRef(w: Float32Array, o: number, n: number, nmax: number, search: boolean): GroupFit {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    lo = Math.min(lo, w[o + i]);
    hi = Math.max(hi, w[o + i]);
  }
  if (hi === lo) return { scale: 0, min: lo };
  let best = { scale: (hi - lo) / nmax, min: lo };
  if (!search) return best;
  let bestErr = Infinity;
  for (let s = -SEARCH_STEPS; s <= SEARCH_STEPS; s++) {
    const iscale = (nmax * (1 + (s * 0.25) / SEARCH_STEPS)) / (hi - lo); // s = 0: min/max
    let sq = 0, sqq = 0, sw = 0, swq = 0;
    for (let i = 0; i < n; i++) {
      const q = Math.min(nmax, Math.max(0, Math.round((w[o + i] - lo) * iscale)));
      sq += q;
      sqq += q * q;
      sw += w[o + i];
      swq += w[o + i] * q;
    }
    const det = n * sqq - sq * sq;
    if (det <= 0) continue;
    const d = (n * swq - sq * sw) / det;
    const m = (sqq * sw - sq * swq) / det;
    if (!(d > 0)) continue;
    let err = 0;
    for (let i = 0; i < n; i++) {
      const q = Math.min(nmax, Math.max(0, Math.round((w[o + i] - m) / d)));
      const e = w[o + i] - (d * q + m);
      err += e * e;
    }
    if (err < bestErr) {
      bestErr = err;
      best = { scale: d, min: m };
    }
  }
  return best;
}

export function fitNf4Ref(w: Float32Array, o: number, n: number, search: boolean): GroupFit {
  let amax = 0;
  for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(w[o + i]));
  if (amax === 0) return { scale: 0, min: 0 };
  let best = { scale: amax, min: 0 };
  if (!search) return best;
  let bestErr = Infinity;
  for (let s = -SEARCH_STEPS; s <= SEARCH_STEPS; s++) {
    const d0 = amax * (1 + (s * 0.3) / SEARCH_STEPS); // s = 0: absmax
    let swt = 0, stt = 0;
    for (let i = 0; i < n; i++) {
      const t = NF4_REF[nearestNf4Ref(w[o + i] / d0)];
      swt += w[o + i] * t;
      stt += t * t;
    }
    if (stt === 0) continue;
    const d = swt / stt;
    if (!(d > 0)) continue;
    let err = 0;
    for (let i = 0; i < n; i++) {
      const e = w[o + i] - d * NF4_REF[nearestNf4Ref(w[o + i] / d)];
      err += e * e;
    }
    if (err < bestErr) {
      bestErr = err;
      best = { scale: d, min: 0 };
    }
  }
  return best;
}

// ------------------------------------------------------------------ quantize
