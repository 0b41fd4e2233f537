// Plain TypeScript references for sparse weights: decode the arrays of
// native/core/sparse.h (read bit by bit, independently of lib/sparse.ts),
// check their layout and padding, and prune by sorting with a comparator.
import { bf16ToF32Ref, f16ToF32Ref } from './half.js';

export interface SparseFields {
  shape: readonly [number, number];
  format: 'bitmap' | 'csr' | 'nm' | 'ell';
  valueType: 'float32' | 'float16' | 'bfloat16' | 'int8' | 'lut4';
  nnz: number;
  nm: string | null;
  values: Float32Array | Uint16Array | Int8Array | Uint8Array;
  /** 'int8' values: weight = code · scales[row]. */
  scales?: Float32Array | null;
  /** 'lut4' values: weight = table[16 row + 4-bit value]. */
  table?: Float32Array | null;
  offsets: Uint32Array | null;
  masks: Uint16Array | null;
  cols: Uint16Array | null;
  panelCols: Uint8Array | null;
  codes: Uint8Array | null;
}

/** 4-bit value i: bits 4i .. 4i + 3 of the byte array, little-endian. */
export function nibbleRef(bytes: Uint8Array, i: number): number {
  let v = 0;
  for (let b = 0; b < 4; b++) v |= bitAt(bytes, 4 * i + b) << b;
  return v;
}

function valueRef(s: SparseFields, m: number, i: number): number {
  if (s.valueType === 'lut4') return s.table![16 * m + nibbleRef(s.values as Uint8Array, i)];
  const v = s.values[i];
  return s.valueType === 'float16' ? f16ToF32Ref(v) : s.valueType === 'bfloat16' ? bf16ToF32Ref(v) : v;
}

/** Bit `bit` of the byte array, little-endian within bytes. */
function bitAt(bytes: Uint8Array, bit: number): number {
  return (bytes[Math.floor(bit / 8)] >> (bit % 8)) & 1;
}

/** Calls fn(m, k, value index) for every stored element, row by row, in storage order. */
export function forEachStoredRef(s: SparseFields, fn: (m: number, k: number, i: number) => void): void {
  const [M, K] = s.shape;
  if (s.format === 'bitmap') {
    const T = Math.ceil(K / 16);
    for (let m = 0; m < M; m++) {
      let v = s.offsets![m];
      for (let k = 0; k < K; k++) if ((s.masks![m * T + Math.floor(k / 16)] >> (k % 16)) & 1) fn(m, k, v++);
    }
  } else if (s.format === 'csr') {
    const B = Math.ceil(K / 65536);
    for (let m = 0; m < M; m++) {
      for (let b = 0; b < B; b++) {
        for (let i = s.offsets![m * B + b]; i < s.offsets![m * B + b + 1]; i++) fn(m, b * 65536 + s.cols![i], i);
      }
    }
  } else if (s.format === 'ell') {
    // Lane m % 16 of group m / 16, panel by panel, until the padding bit.
    const P = Math.ceil(K / 128);
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / 16);
      for (let p = 0; p < P; p++) {
        for (let v = s.offsets![g * P + p]; v < s.offsets![g * P + p + 1]; v++) {
          const e = 16 * v + (m % 16), c = s.panelCols![e];
          if (c >= 128) break;
          fn(m, p * 128 + c, e);
        }
      }
    }
  } else {
    const [n, group] = s.nm!.split(':').map(Number);
    const bits = Math.log2(group);
    const stride = Math.ceil(((K / group) * n * bits) / 8);
    for (let m = 0; m < M; m++) {
      const row = s.codes!.subarray(m * stride);
      for (let g = 0; g < K / group; g++) {
        for (let j = 0; j < n; j++) {
          let p = 0;
          for (let b = 0; b < bits; b++) p |= bitAt(row, g * n * bits + j * bits + b) << b;
          fn(m, g * group + p, m * (K / group) * n + g * n + j);
        }
      }
    }
  }
}

/** Every stored element as [m, k, value index], in storage order. */
export function storedRef(s: SparseFields): [number, number, number][] {
  const out: [number, number, number][] = [];
  forEachStoredRef(s, (m, k, i) => out.push([m, k, i]));
  return out;
}

/** The stored set as a 0/1 mask over [M, K]. */
export function storedMaskRef(s: SparseFields): Uint8Array {
  const K = s.shape[1], mask = new Uint8Array(s.shape[0] * K);
  forEachStoredRef(s, (m, k) => (mask[m * K + k] = 1));
  return mask;
}

/** The dense float32 [M, K] values the arrays describe. */
export function sparseToDenseRef(s: SparseFields): Float32Array {
  const [, K] = s.shape;
  const out = new Float32Array(s.shape[0] * K);
  forEachStoredRef(s, (m, k, i) => (out[m * K + k] = valueRef(s, m, i) * (s.scales?.[m] ?? 1)));
  return out;
}

/** Where the arrays break the layout of native/core/sparse.h (lengths, padding, order), or null. */
export function layoutProblem(s: SparseFields): string | null {
  const [M, K] = s.shape;
  const zeroTail = (a: ArrayLike<number>, from: number) => {
    for (let i = from; i < a.length; i++) if (a[i] !== 0) return false;
    return true;
  };
  if (s.valueType === 'lut4') {
    const bytes = Math.ceil(s.nnz / 2) + 16;
    if (s.values.length !== bytes) return `values.length ${s.values.length}, expected ceil(nnz / 2) + 16 = ${bytes}`;
    for (let i = s.nnz; i < 2 * bytes; i++) if (nibbleRef(s.values as Uint8Array, i) !== 0) return 'values padding is not zero';
    if (!(s.values instanceof Uint8Array) || s.table?.length !== 16 * M) return 'lut4 arrays';
  } else if (s.format === 'ell') {
    const entries = 16 * (s.offsets?.[s.offsets.length - 1] ?? 0);
    if (s.values.length !== entries + 16) return `values.length ${s.values.length}, expected entries + 16 = ${entries + 16}`;
    if (!zeroTail(s.values, entries)) return 'values padding is not zero';
    if ((s.values instanceof Float32Array) !== (s.valueType === 'float32')) return 'values array type';
  } else {
    if (s.values.length !== s.nnz + 16) return `values.length ${s.values.length}, expected nnz + 16 = ${s.nnz + 16}`;
    if (!zeroTail(s.values, s.nnz)) return 'values padding is not zero';
    if ((s.values instanceof Float32Array) !== (s.valueType === 'float32')) return 'values array type';
  }
  const stored = storedRef(s);
  if (s.format === 'bitmap') {
    const T = Math.ceil(K / 16);
    if (s.masks!.length !== M * T) return `masks.length ${s.masks!.length}, expected ${M * T}`;
    if (s.offsets!.length !== M + 1 || s.offsets![0] !== 0 || s.offsets![M] !== s.nnz) return 'bitmap offsets';
    for (let m = 0; m < M; m++) {
      let bitsInRow = 0;
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < 16; b++) {
          if ((s.masks![m * T + t] >> b) & 1) {
            if (t * 16 + b >= K) return `mask bit past K in row ${m}`;
            bitsInRow++;
          }
        }
      }
      if (s.offsets![m + 1] - s.offsets![m] !== bitsInRow) return `row ${m}: offsets do not match the mask bits`;
    }
    if (s.cols !== null || s.codes !== null || s.panelCols !== null) return 'unused arrays not null';
  } else if (s.format === 'csr') {
    const B = Math.ceil(K / 65536);
    if (s.offsets!.length !== M * B + 1 || s.offsets![0] !== 0 || s.offsets![M * B] !== s.nnz) return 'csr offsets';
    for (let i = 0; i < M * B; i++) if (s.offsets![i + 1] < s.offsets![i]) return 'csr offsets decrease';
    if (s.cols!.length !== s.nnz + 16 || !zeroTail(s.cols!, s.nnz)) return 'cols length or padding';
    if (s.masks !== null || s.codes !== null || s.panelCols !== null) return 'unused arrays not null';
  } else if (s.format === 'ell') {
    const G = Math.ceil(M / 16), P = Math.ceil(K / 128), entries = 16 * s.offsets![G * P];
    if (s.offsets!.length !== G * P + 1 || s.offsets![0] !== 0) return 'ell offsets';
    if (s.panelCols!.length !== entries + 16 || !zeroTail(s.panelCols!, entries)) return 'panelCols length or padding';
    for (let g = 0; g < G; g++) {
      for (let p = 0; p < P; p++) {
        const v0 = s.offsets![g * P + p], v1 = s.offsets![g * P + p + 1], width = Math.min(128, K - p * 128);
        if (v1 < v0) return 'ell offsets decrease';
        let longest = 0;
        for (let l = 0; l < 16; l++) {
          // Stored columns in increasing order, then padding at the row's first unstored column.
          const cols: number[] = [];
          let v = v0;
          for (; v < v1 && s.panelCols![16 * v + l] < 128; v++) cols.push(s.panelCols![16 * v + l]);
          longest = Math.max(longest, cols.length);
          let free = 0;
          while (cols.includes(free)) free++;
          for (let i = 0; i < cols.length; i++) {
            if (cols[i] >= width) return `group ${g} panel ${p} lane ${l}: column past K`;
            if (i > 0 && cols[i] <= cols[i - 1]) return `group ${g} panel ${p} lane ${l}: columns not increasing`;
          }
          for (; v < v1; v++) {
            const e = 16 * v + l;
            if (s.panelCols![e] !== (16 * g + l < M ? 128 | free : 128)) return `group ${g} panel ${p} lane ${l}: padding column ${s.panelCols![e]}`;
            if (s.values[e] !== 0) return `group ${g} panel ${p} lane ${l}: padding value not 0`;
          }
        }
        if (longest !== v1 - v0) return `group ${g} panel ${p}: ${v1 - v0} vectors for at most ${longest} stored values a row`;
      }
    }
    if (s.masks !== null || s.cols !== null || s.codes !== null) return 'unused arrays not null';
  } else {
    const [n, group] = s.nm!.split(':').map(Number);
    const stride = Math.ceil(((K / group) * n * Math.log2(group)) / 8);
    if (s.nnz !== (M * K * n) / group) return `nm nnz ${s.nnz}, expected ${(M * K * n) / group}`;
    if (s.codes!.length !== M * stride + 8 || !zeroTail(s.codes!, M * stride)) return 'codes length or padding';
    // Bits past the last code of each row are zero.
    for (let m = 0; m < M; m++) {
      for (let bit = (K / group) * n * Math.log2(group); bit < stride * 8; bit++) {
        if (bitAt(s.codes!.subarray(m * stride), bit)) return `row ${m}: code bits past the last group`;
      }
    }
    if (s.offsets !== null || s.masks !== null || s.cols !== null || s.panelCols !== null) return 'unused arrays not null';
  }
  if (stored.length !== s.nnz) return `${stored.length} stored elements, nnz ${s.nnz}`;
  for (let i = 0; i < stored.length; i++) {
    const [m, k, v] = stored[i];
    if (v !== i && s.format !== 'ell') return `value index ${v} at stored element ${i}: values are not in row-major K order`;
    if (k >= K) return `column ${k} >= K`;
    if (i > 0 && stored[i - 1][0] === m && stored[i - 1][1] >= k) return `row ${m}: columns not increasing at ${k}`;
  }
  return null;
}

export interface PruneRefOptions {
  sparsity?: number;
  pattern?: string;
  importance?: Float32Array | null;
}

/** Score of a weight: |w|, or |w|·importance rounded to float32 (+Inf for ±Inf weights). */
export function scoreRef(w: number, importance: number | undefined): number {
  if (Math.abs(w) === Infinity) return Infinity;
  return importance === undefined ? Math.abs(w) : Math.fround(Math.abs(w) * importance);
}

/**
 * Which elements prune keeps (1) by sorting with a comparator: lowest score
 * pruned first; among equal scores the later index first.
 */
export function pruneRef(w: Float32Array, M: number, K: number, opts: PruneRefOptions = {}): Uint8Array {
  const pattern = opts.pattern ?? 'unstructured';
  const score = (i: number) => scoreRef(w[i], opts.importance ? opts.importance[i % K] : undefined);
  const keep = new Uint8Array(M * K).fill(1);
  const pruneLowest = (indices: number[], count: number) => {
    indices.sort((a, b) => score(a) - score(b) || b - a);
    for (let i = 0; i < count; i++) keep[indices[i]] = 0;
  };
  const all = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  if (pattern === 'unstructured') pruneLowest(all(0, M * K), Math.round((opts.sparsity ?? 0.5) * M * K));
  else if (pattern === 'row') for (let m = 0; m < M; m++) pruneLowest(all(m * K, K), Math.round((opts.sparsity ?? 0.5) * K));
  else {
    const [n, group] = pattern.split(':').map(Number);
    for (let i = 0; i < M * K; i += group) pruneLowest(all(i, group), group - n);
  }
  return keep;
}
