// Plain TypeScript references for clustering: a brute-force O(k·n²) dynamic
// program for exact 1-D k-means (cluster costs by weighted Welford updates,
// not from prefix sums), the weighted inertia of an assignment, and a
// decoder of ClusteredTensor's packed indices and codebooks.
import { f16ToF32Ref } from './half.js';
import { int8CodeRef } from './quant.js';

/** Sorted distinct values with summed weights (zero weights dropped). */
export function uniqueWeighted(values: ArrayLike<number>, weights?: ArrayLike<number> | null): { x: number[]; w: number[] } {
  const m = new Map<number, number>();
  for (let i = 0; i < values.length; i++) {
    const w = weights ? weights[i] : 1;
    if (w > 0) m.set(values[i] + 0, (m.get(values[i] + 0) ?? 0) + w); // + 0 merges -0 into 0
  }
  const x = [...m.keys()].sort((a, b) => a - b);
  return { x, w: x.map((v) => m.get(v)!) };
}

/** The optimal 1-D k-means cost by brute-force DP over all split points: O(k n²) cost evaluations. */
export function kmeans1dBrute(values: ArrayLike<number>, k: number, weights?: ArrayLike<number> | null): number {
  const { x, w } = uniqueWeighted(values, weights);
  const n = x.length;
  const kk = Math.min(k, n);
  // cost[i][j] = Σ w (x - mean)² of x[i..j], by weighted Welford updates (no prefix-sum cancellation)
  const cost: number[][] = [];
  for (let i = 0; i < n; i++) {
    cost.push([]);
    let sw = 0, mean = 0, m2 = 0;
    for (let j = i; j < n; j++) {
      sw += w[j];
      const d = x[j] - mean;
      mean += (w[j] / sw) * d;
      m2 += w[j] * d * (x[j] - mean);
      cost[i][j] = m2;
    }
  }
  let prev = Array.from({ length: n }, (_, j) => cost[0][j]);
  for (let q = 1; q < kk; q++) {
    const cur = new Array<number>(n).fill(Infinity);
    for (let j = q; j < n; j++) {
      for (let i = q; i <= j; i++) cur[j] = Math.min(cur[j], prev[i - 1] + cost[i][j]);
    }
    prev = cur;
  }
  return prev[n - 1];
}

/** Σ w · |p − c(p)|² of an assignment, in float64. */
export function inertiaRef(points: ArrayLike<number>, dim: number, centroids: ArrayLike<number>, assignments: ArrayLike<number>, weights?: ArrayLike<number> | null): number {
  let s = 0;
  for (let i = 0; i < assignments.length; i++) {
    let d = 0;
    for (let t = 0; t < dim; t++) d += (points[i * dim + t] - centroids[assignments[i] * dim + t]) ** 2;
    s += (weights ? weights[i] : 1) * d;
  }
  return s;
}

export interface ClusteredFields {
  shape: readonly [number, number];
  bits: number;
  dim: number;
  groupSize: number;
  codebookType: 'float16' | 'float32';
  codebook: Float32Array | Uint16Array;
  indices: Uint8Array;
}

/** Bits t, t + 1 of position j (0..31) in the 2-bit plane of a 32-block at byte o. */
function plane2Ref(bytes: Uint8Array, o: number, j: number): number {
  const h = j >> 4, b = (j >> 2) & 3, r = j & 3, a = r & 1, u = r >> 1;
  return (bytes[o + 4 * a + b] >> (2 * (2 * u + h))) & 3;
}

/**
 * Index i of a packed row. 8-bit: blocks of 32 bytes, byte i = index i.
 * Bits 4..7: superblocks of 128 indices, bits × 16 bytes: a 4-bit plane (64
 * bytes; little-endian 32-bit word l holds index 16g + l in bits 4g..4g+3),
 * then four 2-bit planes (8 bytes each, bits 6 and 7), then four 1-bit
 * planes (4 bytes each, bits 5 and 7), one per 32 indices. Bits 1..3: blocks
 * of 32 indices, bits × 4 bytes: a 2-bit plane, then a 1-bit plane. Low
 * bits first. 2-bit plane: with j = 16h + 4b + r (h in 0..1, b, r in 0..3)
 * and r = 2u + a, byte 4a + b holds index j in bits 2t..2t+1, t = 2u + h.
 * 1-bit plane: bit j.
 */
export function clusteredIndexRef(bytes: Uint8Array, rowOffset: number, bits: number, i: number): number {
  if (bits >= 4 && bits < 8) {
    const o = rowOffset + Math.floor(i / 128) * bits * 16;
    const t = i % 128, g = t >> 4, l = t & 15, j = t & 31, q = t >> 5;
    let word = 0;
    for (let k = 0; k < 4; k++) word += bytes[o + 4 * l + k] * 2 ** (8 * k);
    let v = Math.floor(word / 2 ** (4 * g)) % 16;
    let p = o + 64, shift = 4;
    if (bits & 2) {
      v += plane2Ref(bytes, p + 8 * q, j) * 2 ** shift;
      shift += 2;
      p += 32;
    }
    if (bits & 1) v += ((bytes[p + 4 * q + (j >> 3)] >> (j % 8)) & 1) * 2 ** shift;
    return v;
  }
  let o = rowOffset + Math.floor(i / 32) * bits * 4;
  const j = i % 32;
  if (bits === 8) return bytes[o + j];
  let v = 0, shift = 0;
  if (bits & 2) {
    v = plane2Ref(bytes, o, j);
    shift = 2;
    o += 8;
  }
  if (bits & 1) v += ((bytes[o + (j >> 3)] >> (j % 8)) & 1) * 2 ** shift;
  return v;
}

/** The float32 weights a ClusteredTensor stands for. */
export function decodeClusteredRef(c: ClusteredFields): Float32Array {
  const [M, K] = c.shape;
  const E = 2 ** c.bits * c.dim;
  const unit = c.bits >= 4 && c.bits < 8 ? 128 : 32;
  const rowBytes = (Math.ceil(K / c.dim / unit) * unit / 32) * c.bits * 4;
  const out = new Float32Array(M * K);
  const entry = (i: number) => (c.codebook instanceof Uint16Array ? f16ToF32Ref(c.codebook[i]) : c.codebook[i]);
  for (let m = 0; m < M; m++) {
    const book = Math.floor(m / c.groupSize);
    for (let k = 0; k < K; k++) {
      const idx = clusteredIndexRef(c.indices, m * rowBytes, c.bits, Math.floor(k / c.dim));
      out[m * K + k] = entry(book * E + idx * c.dim + (k % c.dim));
    }
  }
  return out;
}

/**
 * The optimal 1-D k-means cost for inputs too large for kmeans1dBrute: the same DP with each layer's
 * leftmost minimisers found by divide and conquer (they are non-decreasing, the cost being Monge),
 * cluster costs from float64 prefix sums around the median value. O(k n log n).
 */
export function kmeans1dDivideConquer(values: ArrayLike<number>, k: number, weights?: ArrayLike<number> | null): number {
  const { x, w } = uniqueWeighted(values, weights);
  const n = x.length;
  const kk = Math.min(k, n);
  const shift = x[n >> 1];
  const pw = new Float64Array(n + 1), p1 = new Float64Array(n + 1), p2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const d = x[i] - shift;
    pw[i + 1] = pw[i] + w[i];
    p1[i + 1] = p1[i] + w[i] * d;
    p2[i + 1] = p2[i] + w[i] * d * d;
  }
  const cost = (i: number, j: number) => {
    const s = p1[j + 1] - p1[i];
    return Math.max(0, p2[j + 1] - p2[i] - (s * s) / (pw[j + 1] - pw[i]));
  };
  let prev = Float64Array.from({ length: n }, (_, j) => cost(0, j));
  for (let q = 1; q < kk; q++) {
    const cur = new Float64Array(n).fill(Infinity);
    const solve = (jlo: number, jhi: number, ilo: number, ihi: number): void => {
      if (jlo > jhi) return;
      const mid = (jlo + jhi) >> 1;
      let best = Infinity, bi = ilo;
      for (let i = ilo; i <= Math.min(ihi, mid); i++) {
        const v = prev[i - 1] + cost(i, mid);
        if (v < best) { best = v; bi = i; }
      }
      cur[mid] = best;
      solve(jlo, mid - 1, ilo, bi);
      solve(mid + 1, jhi, bi, ihi);
    };
    solve(q, n - 1, q, n - 1);
    prev = cur;
  }
  return prev[n - 1];
}

/**
 * What `linear(x, c, bias, { activations: 'int8' })` computes on 4-bit scalar
 * clustered weights, as float values: each codebook rounded to int8 codes with
 * scale max |entry| / 127, and the activations rounded to int8 in groups of 32
 * that follow the 4-bit plane: in each superblock of 128 indices, position
 * t = 32h + 16u + l (h 0..3, u 0..1, l 0..15) belongs to group l >> 2.
 */
export function clusteredInt8Ref(c: ClusteredFields, x: Float32Array, N: number): { x: Float32Array; w: Float32Array } {
  const [M, K] = c.shape;
  const entry = (i: number) => (c.codebook instanceof Uint16Array ? f16ToF32Ref(c.codebook[i]) : c.codebook[i]);
  const books = Math.ceil(M / c.groupSize);
  const table = new Float32Array(books * 16);
  for (let b = 0; b < books; b++) {
    let amax = 0;
    for (let e = 0; e < 16; e++) amax = Math.max(amax, Math.abs(entry(16 * b + e)));
    const s = Math.fround(amax / 127);
    for (let e = 0; e < 16; e++) table[16 * b + e] = Math.fround(int8CodeRef(entry(16 * b + e), s) * s);
  }
  const w = new Float32Array(M * K);
  const rowBytes = Math.ceil(K / 128) * 64;
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) w[m * K + k] = table[16 * Math.floor(m / c.groupSize) + clusteredIndexRef(c.indices, m * rowBytes, 4, k)];
  }
  const xq = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let s0 = 0; s0 < K; s0 += 128) {
      for (let g = 0; g < 4; g++) {
        const members: number[] = [];
        for (let t = 0; t < 128; t++) if (((t & 15) >> 2) === g && s0 + t < K) members.push(s0 + t);
        let amax = 0;
        for (const k of members) amax = Math.max(amax, Math.abs(x[n * K + k]));
        const d = Math.fround(amax / 127);
        for (const k of members) xq[n * K + k] = int8CodeRef(x[n * K + k], d) * d;
      }
    }
  }
  return { x: xq, w };
}
