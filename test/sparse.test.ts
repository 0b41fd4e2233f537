import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { linear, linearAsync, prune, SparseTensor, Tensor } from '../lib/index.js';
import type { NmPattern, PruneOptions, SparseFormat, SparseValueType } from '../lib/index.js';
import {
  firstMismatch, layoutProblem, linearRef, pruneRef, randomArray, rng, sparseToDenseRef, storedMaskRef, storedRef,
} from './reference/index.js';

const FORMATS: SparseFormat[] = ['bitmap', 'csr', 'nm', 'ell'];
/** The formats that store each row's values contiguously: quantize and cluster start from these. */
const ROW_FORMATS: SparseFormat[] = ['bitmap', 'csr', 'nm'];
const VALUE_TYPES: SparseValueType[] = ['float32', 'float16', 'bfloat16'];
const NM_PATTERNS: NmPattern[] = ['1:4', '2:4', '3:4', '1:8', '2:8', '3:8', '4:8'];

/** K values with tails past every 16-wide tile (bitmap, csr), and multiples of the group (nm). */
const ODD_K = [1, 15, 17, 31, 33, 100];
const NM_K = [8, 16, 24, 40, 96, 104];

const nmOf = (p: string) => p.split(':').map(Number) as [number, number];

/** The N:M pattern used with format 'nm' for a given K in the tests. */
const nmFor = (K: number): NmPattern => (K % 8 === 0 && K % 16 !== 0 ? '3:8' : '2:4');

/** Zeroes all but the first n nonzeros of every group, so the matrix fits the N:M pattern. */
function fitNm(d: Float32Array, pattern: string): Float32Array {
  const [n, group] = nmOf(pattern);
  const out = d.slice();
  for (let g = 0; g < out.length; g += group) {
    let c = 0;
    for (let j = 0; j < group; j++) if (out[g + j] !== 0 && ++c > n) out[g + j] = 0;
  }
  return out;
}

/** Weight matrices with awkward zero structure, by name. */
function adversarial(M: number, K: number, seed: number): [string, Float32Array][] {
  const r = rng(seed);
  const rand = () => Math.fround(r() * 2 - 1) || 0.25;
  const make = (f: (m: number, k: number) => number) => {
    const d = new Float32Array(M * K);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) d[m * K + k] = f(m, k);
    return d;
  };
  return [
    ['random 30%', make(() => (r() < 0.3 ? rand() : 0))],
    ['all-zero rows between dense rows', make((m) => (m % 2 === 1 ? 0 : rand()))],
    ['fully dense', make(rand)],
    ['a single nonzero', make((m, k) => (m === M - 1 && k === K - 1 ? rand() : 0))],
    ['one dense column', make((_, k) => (k === Math.floor(K / 2) ? rand() : 0))],
    ['all zero', make(() => 0)],
  ];
}

/** Index of the first element whose bits differ, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function expectLayout(s: SparseTensor, what = ''): void {
  expect(layoutProblem(s), `${s} ${what}`).toBeNull();
}

const storedMask = storedMaskRef;

function expectLinearMatchesReference(s: SparseTensor, N: number, seed: number, withBias: boolean, label: string): void {
  const [M, K] = s.shape;
  const x = Tensor.from(randomArray(N * K, seed), [N, K]);
  const bias = withBias ? Tensor.from(randomArray(M, seed + 1), [M]) : undefined;
  const y = linear(x, s, bias);
  expect(y.shape).toEqual([N, M]);
  const ref = linearRef(x.data, N, K, sparseToDenseRef(s), M, bias?.data);
  const bad = firstMismatch(y.data, ref, K);
  expect(bad, bad < 0 ? '' : `${label} ${s} N=${N}: y[${bad}] = ${y.data[bad]}, expected ${ref.y[bad]}`).toBe(-1);
}

describe('SparseTensor.fromDense and toDense', () => {
  it('store exactly the nonzeros and give them back bit for bit, for every format, value type and odd K', () => {
    for (const format of FORMATS) {
      for (const vt of VALUE_TYPES) {
        for (const K of format === 'nm' ? NM_K : ODD_K) {
          const M = 5, pattern = nmFor(K);
          for (const [name, d] of adversarial(M, K, K)) {
            const w = Tensor.from(format === 'nm' ? fitNm(d, pattern) : d, [M, K]).to(vt);
            const s = SparseTensor.fromDense(w, format === 'nm' ? { format, nm: pattern } : { format });
            const label = `${format} ${vt} K=${K} ${name}`;
            expect([s.format, s.valueType, s.nm], label).toEqual([format, vt, format === 'nm' ? pattern : null]);
            expectLayout(s, label);
            const want = w.toFloat32().data;
            const nonzeros = want.reduce((c, v) => c + (v !== 0 ? 1 : 0), 0);
            const [n, group] = nmOf(pattern);
            expect(s.nnz, label).toBe(format === 'nm' ? (M * K * n) / group : nonzeros);
            expect(firstBitDifference(s.toDense().data, want), label).toBe(-1);
            expect(firstBitDifference(sparseToDenseRef(s), want), label).toBe(-1);
          }
        }
      }
    }
  });

  it('round-trips arbitrary matrices: fromDense(toDense(s)) has the same arrays (fast-check)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 12 }), fc.double({ min: 0, max: 1, noNaN: true }),
      fc.constantFrom(...FORMATS), fc.constantFrom(...VALUE_TYPES), fc.integer(),
      (M, k8, density, format, vt, seed) => {
        const K = format === 'nm' ? k8 * 8 : k8 * 7 + (seed & 7);
        const r = rng(seed);
        const d = Float32Array.from({ length: M * K }, () => (r() < density ? (r() - 0.5) * 2 ** Math.floor(r() * 40 - 20) : 0));
        const w = Tensor.from(format === 'nm' ? fitNm(d, '4:8') : d, [M, K]).to(vt);
        const opts = format === 'nm' ? { format, nm: '4:8' as const } : { format };
        const s = SparseTensor.fromDense(w, opts);
        const again = SparseTensor.fromDense(s.toDense(), { ...opts, values: vt });
        expect(layoutProblem(s)).toBeNull();
        for (const key of ['values', 'offsets', 'masks', 'cols', 'panelCols', 'codes'] as const) {
          expect(again[key] === null ? null : Array.from(again[key]!)).toEqual(s[key] === null ? null : Array.from(s[key]!));
        }
      },
    ), { numRuns: 150 });
  });

  it('lays out a small example exactly as native/core/sparse.h says', () => {
    // Row 0: 1.5 at k = 1 and 2 at k = 17; row 1: -3 at k = 3; row 2 empty. K = 20.
    const d = new Float32Array(3 * 20);
    d[1] = 1.5;
    d[17] = 2;
    d[20 + 3] = -3;
    const w = Tensor.from(d, [3, 20]);
    const bitmap = SparseTensor.fromDense(w, { format: 'bitmap' });
    expect(Array.from(bitmap.masks!)).toEqual([0b10, 0b10, 0b1000, 0, 0, 0]);
    expect(Array.from(bitmap.offsets!)).toEqual([0, 2, 3, 3]);
    expect(Array.from(bitmap.values)).toEqual([1.5, 2, -3, ...new Array(16).fill(0)]);
    const csr = SparseTensor.fromDense(w, { format: 'csr' });
    expect(Array.from(csr.offsets!)).toEqual([0, 2, 3, 3]);
    expect(Array.from(csr.cols!)).toEqual([1, 17, 3, ...new Array(16).fill(0)]);
    expect(csr.masks).toBeNull();
    // 2:4, K = 8: row [0, 0, 0, 5 | 0, 0, 0, 0] stores positions {0, 3} (an explicit zero at the
    // earliest free position) and {0, 1} (two explicit zeros). Codes are 2 x 2 bits per group:
    // group 0 = 0 | 3 << 2 = 0xc, group 1 = 0 | 1 << 2 = 0x4, so the row's byte is 0x4c.
    const nm = SparseTensor.fromDense(Tensor.from([0, 0, 0, 5, 0, 0, 0, 0], [1, 8]), { format: 'nm', nm: '2:4' });
    expect(Array.from(nm.codes!)).toEqual([0x4c, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(nm.values)).toEqual([0, 5, 0, 0, ...new Array(16).fill(0)]);
    expect(nm.nnz).toBe(4);
    // 3:8 on two rows, K = 16: 2 groups x 9 bits = 18 bits, 3 bytes per row.
    const d38 = new Float32Array(32);
    d38.set([0, 7, 0, 0, 0, 0, 8, 9], 16 + 8);
    const nm38 = SparseTensor.fromDense(Tensor.from(d38, [2, 16]), { format: 'nm', nm: '3:8' });
    expect(nm38.codes!.length).toBe(2 * 3 + 8);
    // Row 1: group 0 empty -> positions 0, 1, 2; group 1 -> 1, 6, 7.
    const g0 = 0 | (1 << 3) | (2 << 6), g1 = 1 | (6 << 3) | (7 << 6), row1 = g0 | (g1 << 9);
    expect(Array.from(nm38.codes!.subarray(3, 6))).toEqual([row1 & 255, (row1 >> 8) & 255, row1 >> 16]);
    expect(Array.from(nm38.values.subarray(6, 12))).toEqual([0, 0, 0, 7, 8, 9]);
  });

  it('treats -0 as zero (not stored: toDense gives +0)', () => {
    const w = Tensor.from([-0, 1, -0, -2], [2, 2]);
    for (const format of ['bitmap', 'csr'] as const) {
      const s = SparseTensor.fromDense(w, { format });
      expect(s.nnz).toBe(2);
      expect(Object.is(s.toDense().data[0], 0)).toBe(true);
    }
  });

  it('rounds to the requested value type (nearest even); a nonzero that rounds to zero stays stored', () => {
    const d = randomArray(4 * 40, 3, 70000);
    d[5] = 1e-10; // 0 in float16
    d[6] = -1e-10; // -0 in float16
    d[7] = 1 + 2 ** -11; // a float16 tie: rounds to even (1)
    d[8] = 0;
    const w = Tensor.from(d, [4, 40]);
    for (const vt of VALUE_TYPES) {
      for (const format of ['bitmap', 'csr'] as const) {
        const s = SparseTensor.fromDense(w, { format, values: vt });
        expect(s.valueType).toBe(vt);
        expect(s.nnz).toBe(4 * 40 - 1);
        expectLayout(s);
        expect(firstBitDifference(s.toDense().data, w.to(vt).toFloat32().data), `${format} ${vt}`).toBe(-1);
      }
    }
  });

  it('reports exact storage: every array, padding included', () => {
    const M = 64, K = 256;
    const w = Tensor.from(randomArray(M * K, 1), [M, K]);
    const b = prune(w, { sparsity: 0.5, format: 'bitmap' });
    expect(b.byteLength).toBe((M * K / 2 + 16) * 4 + M * (K / 16) * 2 + (M + 1) * 4);
    const c = prune(w, { sparsity: 0.5, format: 'csr', values: 'float16' });
    expect(c.byteLength).toBe((M * K / 2 + 16) * 2 * 2 + (M + 1) * 4);
    const n = prune(w, { pattern: '2:4', format: 'nm', values: 'bfloat16' });
    expect(n.byteLength).toBe((M * K / 2 + 16) * 2 + M * ((K / 4) * 4 / 8) + 8);
    expect(n.bitsPerWeight).toBeCloseTo(n.byteLength * 8 / (M * K), 12);
    expect(n.density).toBe(0.5);
    expect(prune(w, { pattern: '2:4', format: 'nm' }).bitsPerWeight).toBeCloseTo(16 + 1 + (16 * 4 * 8 + 8 * 8) / (M * K), 12);
  });

  it('converts between formats with .to(), keeping the stored set and the values', () => {
    const M = 6, K = 48;
    const w = Tensor.from(fitNm(randomArray(M * K, 2), '2:4'), [M, K]).to('bfloat16');
    const fromNm = SparseTensor.fromDense(w, { format: 'nm', nm: '2:4' });
    const fromBitmap = SparseTensor.fromDense(w, { format: 'bitmap' });
    for (const src of [fromNm, fromBitmap, fromBitmap.to('csr'), fromBitmap.to('ell')]) {
      for (const format of FORMATS) {
        const t = src.to(format, format === 'nm' ? { nm: '2:4' } : undefined);
        expectLayout(t);
        expect(firstBitDifference(t.toDense().data, w.toFloat32().data), `${src} -> ${format}`).toBe(-1);
        expect(t.valueType).toBe('bfloat16');
        if (format !== 'nm') expect(Array.from(storedMask(t))).toEqual(Array.from(storedMask(src)));
        if (format !== 'nm' && format !== 'ell' && src.format !== 'ell') {
          expect(t.values).toBe(src.values); // shared, not copied (ell orders its values differently)
        }
      }
    }
    // nm keeps its explicit zeros as stored values in bitmap and csr.
    expect(fromNm.to('bitmap').nnz).toBe(M * K / 2);
    expect(fromBitmap.to('nm', { nm: '2:4' }).nnz).toBe(M * K / 2);
    // 2:4 fits 4:8; the other way round does not.
    expect(firstBitDifference(fromNm.to('nm', { nm: '4:8' }).toDense().data, w.toFloat32().data)).toBe(-1);
    expect(fromNm.to('nm')).toBe(fromNm);
    expect(fromBitmap.to('bitmap')).toBe(fromBitmap);
    const dense = SparseTensor.fromDense(Tensor.from(randomArray(2 * 8, 4), [2, 8]), { format: 'csr' });
    expect(() => dense.to('nm', { nm: '2:4' })).toThrow(/at most 2 stored values in every group of 4 along K for '2:4' for this but received 4 in row 0, columns 0..3/);
    expect(() => fromBitmap.to('nm')).toThrow(/an N:M pattern such as '2:4' to convert a 'bitmap' tensor to 'nm' for opts.nm/);
    expect(() => fromBitmap.to('nm', { nm: '2:5' as NmPattern })).toThrow(RangeError);
    expect(() => fromBitmap.to('coo' as SparseFormat)).toThrow(/for format but received "coo"/);
  });

  it("chooses the format for 'auto' by density: below 0.35 ell at AVX-512, else below 0.22 csr; otherwise bitmap", async () => {
    const { cpuInfo } = await import('../lib/index.js');
    const avx512 = cpuInfo().active === 'avx512', sparse = avx512 ? 'ell' : 'csr';
    const w = Tensor.from(randomArray(16 * 64, 5), [16, 64]);
    const w1000 = Tensor.from(randomArray(20 * 50, 6), [20, 50]);
    expect(prune(w1000, { sparsity: 0.651 }).format).toBe(avx512 ? 'ell' : 'bitmap'); // density 0.349
    expect(prune(w1000, { sparsity: 0.65 }).format).toBe('bitmap'); // density 0.35
    expect(prune(w1000, { sparsity: 0.781 }).format).toBe(sparse); // density 0.219
    expect(prune(w1000, { sparsity: 0.78 }).format).toBe(avx512 ? 'ell' : 'bitmap'); // density 0.22
    expect(prune(w, { sparsity: 0.5 }).format).toBe('bitmap');
    expect(prune(w, { pattern: '2:4' }).format).toBe('bitmap');
    expect(prune(w, { pattern: '1:4' }).format).toBe(avx512 ? 'ell' : 'bitmap');
    expect(prune(w, { pattern: '1:8' }).format).toBe(sparse);
    expect(SparseTensor.fromDense(w).format).toBe('bitmap');
    expect(SparseTensor.fromDense(Tensor.zeros([3, 3])).format).toBe(sparse);
    expect(prune(w, { sparsity: 0.9, format: 'bitmap' }).to('auto').format).toBe(sparse);
  });

  it('handles empty shapes in every format and value type', () => {
    for (const shape of [[0, 8], [3, 0], [0, 0]] as [number, number][]) {
      for (const format of FORMATS) {
        for (const vt of VALUE_TYPES) {
          const w = Tensor.zeros(shape).to(vt);
          const opts = format === 'nm' ? { format, nm: '2:4' as const } : { format };
          for (const s of [SparseTensor.fromDense(w, opts), prune(w, format === 'nm' ? { pattern: '2:4', format } : { format, sparsity: 0.3 })]) {
            expectLayout(s, `${shape}`);
            expect([s.nnz, s.density, s.bitsPerWeight]).toEqual([0, 0, 0]);
            expect(s.toDense().shape).toEqual(shape);
            const y = linear(Tensor.zeros([2, shape[1]]), s);
            expect(y.shape).toEqual([2, shape[0]]);
            expect(Array.from(y.data).every((v) => v === 0)).toBe(true);
          }
        }
      }
    }
    expect(SparseTensor.fromDense(Tensor.zeros([3, 0]), { format: 'csr' }).offsets!.length).toBe(1);
    expect(SparseTensor.fromDense(Tensor.zeros([3, 0]), { format: 'bitmap' }).offsets!.length).toBe(4);
  });

  it('splits csr rows into blocks of 65536 columns (K = 65537)', () => {
    const M = 2, K = 65537;
    const d = new Float32Array(M * K);
    for (const k of [0, 3, 65534, 65535, 65536]) d[k] = k + 1; // row 0: both blocks
    d[K + 65536] = -7; // row 1: the second block only
    for (let k = 100; k < 65000; k += 997) d[K + k] = k / 1000;
    const s = SparseTensor.fromDense(Tensor.from(d, [M, K]), { format: 'csr' });
    expectLayout(s);
    expect(s.offsets!.length).toBe(M * 2 + 1);
    expect(Array.from(s.offsets!.subarray(0, 3))).toEqual([0, 4, 5]);
    expect(s.cols![4]).toBe(0); // k = 65536 is column 0 of block 1
    expect(firstBitDifference(s.toDense().data, d)).toBe(-1);
    expectLinearMatchesReference(s, 3, 9, true, 'K = 65537');
    expectLinearMatchesReference(s.to('bitmap'), 2, 10, false, 'K = 65537');
  });

  it('runs long csr rows and rows over blocks of 65536 columns for N past the gather path', () => {
    const M = 5, K = 70000;
    const d = randomArray(M * K, 21);
    const keep = (m: number, k: number): boolean =>
      m === 0 ? k < 5000 || (k >= 65536 && k < 65536 + 2100) // 5000 and 2100 entries
        : m === 1 ? false // empty
          : m === 2 ? k === 65540 || k === K - 1 // block 1 only
            : m === 3 ? k < 2048
              : k % 3 === 0; // 21846 + 1556 entries
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) if (!keep(m, k)) d[m * K + k] = 0;
    for (const vt of ['float32', 'bfloat16'] as const) {
      const s = SparseTensor.fromDense(Tensor.from(d, [M, K]), { format: 'csr', values: vt });
      expectLayout(s);
      for (const N of [4, 9, 17]) expectLinearMatchesReference(s, N, N + 40, N % 2 === 1, `csr ${vt} K = ${K}`);
      const x = Tensor.from(randomArray(9 * K, 5), [9, K]), all = linear(x, s).data;
      const one = linear(Tensor.from(x.data.slice(4 * K, 5 * K), [1, K]), s).data;
      expect(firstBitDifference(one, all.subarray(4 * M, 5 * M)), `${vt} row 4 of 9 against N = 1`).toBe(-1);
    }
  });

  it('clones with arrays of its own, for every value type', async () => {
    const { quantize, cluster } = await import('../lib/index.js');
    const w = Tensor.from(randomArray(8 * 40, 171), [8, 40]);
    const s = prune(w, { sparsity: 0.6, format: 'csr', values: 'bfloat16' });
    for (const t of [s, quantize(s), quantize(s, { bits: 4 }), cluster(s, { bits: 2 }), prune(w, { pattern: '2:4', format: 'nm' })]) {
      const c = t.clone();
      expect(String(c)).toBe(String(t));
      for (const k of ['values', 'scales', 'table', 'offsets', 'masks', 'cols', 'panelCols', 'codes'] as const) {
        if (t[k] === null) expect(c[k]).toBeNull();
        else {
          expect(c[k]).not.toBe(t[k]);
          expect(c[k]).toEqual(t[k]);
        }
      }
      expect(c.byteLength).toBe(t.byteLength);
      expect(Array.from(c.toDense().data)).toEqual(Array.from(t.toDense().data));
    }
  });

  it('prints its format, value type, density and shape', () => {
    const s = prune(Tensor.from(randomArray(4 * 8, 1), [4, 8]), { pattern: '2:4', format: 'nm', values: 'bfloat16' });
    expect(String(s)).toBe('SparseTensor<nm 2:4, bfloat16, density 0.5000>[4, 8]');
    expect(String(s.to('csr'))).toBe('SparseTensor<csr, bfloat16, density 0.5000>[4, 8]');
  });
});

describe('prune', () => {
  /** Weights with many exact ties (a few levels, zeros, both signs) or random ones. */
  function weights(M: number, K: number, seed: number, ties: boolean): Float32Array {
    const r = rng(seed);
    return Float32Array.from({ length: M * K }, () => (ties ? (Math.floor(r() * 9) - 4) / 4 : Math.fround(r() * 2 - 1)));
  }

  it('keeps exactly the highest scores, as a sort-based reference does, for every pattern', () => {
    const cases: PruneOptions[] = [
      ...[0, 0.3, 0.5, 0.77, 0.95].flatMap((sparsity) => [{ sparsity }, { sparsity, pattern: 'row' as const }]),
      ...NM_PATTERNS.map((pattern) => ({ pattern })),
    ];
    for (const [M, K] of [[13, 48], [7, 40], [3, 8]]) {
      const importance = Float32Array.from({ length: K }, (_, k) => (k % 5) * 0.75);
      for (const ties of [false, true]) {
        const d = weights(M, K, M * K, ties);
        for (const o of cases) {
          for (const imp of [null, importance]) {
            const s = prune(Tensor.from(d, [M, K]), { ...o, importance: imp });
            const label = `${JSON.stringify(o)} ${M}x${K} ties=${ties} importance=${imp !== null}`;
            expectLayout(s, label);
            const want = pruneRef(d, M, K, { ...o, importance: imp });
            expect(Array.from(storedMask(s)), label).toEqual(Array.from(want));
            const dense = s.toDense().data;
            for (let i = 0; i < d.length; i++) if (want[i] && dense[i] !== d[i]) throw new Error(`${label}: value at ${i}`);
          }
        }
      }
    }
  });

  it('prunes exactly the requested count: whole tensor, every row, N of every M', () => {
    const M = 10, K = 64;
    const w = Tensor.from(weights(M, K, 1, true), [M, K]);
    for (const sparsity of [0, 0.1, 0.33, 0.5, 0.999]) {
      expect(prune(w, { sparsity }).nnz).toBe(M * K - Math.round(sparsity * M * K));
      const rows = storedMask(prune(w, { sparsity, pattern: 'row' }));
      for (let m = 0; m < M; m++) {
        expect(rows.subarray(m * K, (m + 1) * K).reduce((a, b) => a + b, 0)).toBe(K - Math.round(sparsity * K));
      }
    }
    for (const pattern of NM_PATTERNS) {
      const [n, group] = nmOf(pattern);
      for (const format of FORMATS) {
        const s = prune(w, { pattern, format });
        expect(s.nnz).toBe((M * K * n) / group);
        expect(s.density).toBe(n / group);
        const mask = storedMask(s);
        for (let g = 0; g < M * K; g += group) expect(mask.subarray(g, g + group).reduce((a, b) => a + b, 0)).toBe(n);
      }
    }
  });

  it('breaks ties by keeping earlier indices (row-major) and stores kept zeros', () => {
    const ones = Tensor.from(new Float32Array(8).fill(1), [2, 4]);
    expect(Array.from(storedMask(prune(ones, { sparsity: 0.5 })))).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    expect(Array.from(storedMask(prune(ones, { sparsity: 0.5, pattern: 'row' })))).toEqual([1, 1, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(storedMask(prune(ones, { pattern: '1:4' })))).toEqual([1, 0, 0, 0, 1, 0, 0, 0]);
    const zeros = Tensor.zeros([2, 4]);
    for (const format of FORMATS) {
      const s = prune(zeros, format === 'nm' ? { pattern: '3:4', format } : { sparsity: 0.25, format });
      expect(s.nnz).toBe(6); // kept zeros are stored
      expect(Array.from(storedMask(s))).toEqual([1, 1, 1, 0, 1, 1, 1, 0].map((v, i) => (format === 'nm' ? v : i < 6 ? 1 : 0)));
    }
  });

  it('keeps ±Inf weights as the largest scores (whatever their importance) and prunes zeros first', () => {
    const d = Float32Array.of(0.5, -Infinity, 0, 2, Infinity, -0, 0.25, -3);
    const w = Tensor.from(d, [1, 8]);
    const imp = Float32Array.of(1, 0, 1, 1, 0, 1, 1, 1);
    expect(Array.from(storedMask(prune(w, { sparsity: 0.5 })))).toEqual([0, 1, 0, 1, 1, 0, 0, 1]);
    expect(Array.from(storedMask(prune(w, { sparsity: 0.5, importance: imp })))).toEqual([0, 1, 0, 1, 1, 0, 0, 1]);
    expect(Array.from(storedMask(prune(w, { sparsity: 0.75 })))).toEqual([0, 1, 0, 0, 1, 0, 0, 0]);
    const dense = prune(w, { sparsity: 0.25 }).toDense().data;
    expect(Array.from(dense)).toEqual([0.5, -Infinity, 0, 2, Infinity, 0, 0.25, -3]);
  });

  it('weights scores by importance as Wanda does (|w|·‖X[:, k]‖)', () => {
    const w = Tensor.from([0.3, 1.0, 0.2, 0.9, 0.3, 1.0, 0.2, 0.9], [2, 4]);
    expect(Array.from(storedMask(prune(w, { pattern: 'row' })))).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    const importance = Float32Array.of(10, 1, 1, 1);
    const wanda = prune(w, { pattern: 'row', importance });
    expect(Array.from(storedMask(wanda))).toEqual([1, 1, 0, 0, 1, 1, 0, 0]);
    // Wanda's activation norms from calibration activations X [n, K].
    const X = Tensor.from(randomArray(32 * 4, 3).map((v, i) => v * [8, 1, 0.1, 0.5][i % 4]), [32, 4]);
    const norms = Float32Array.from({ length: 4 }, (_, k) => Math.sqrt(Array.from({ length: 32 }, (_, n) => X.data[n * 4 + k] ** 2).reduce((a, b) => a + b)));
    const viaTensor = prune(w, { pattern: '2:4', importance: Tensor.from(norms, [4]) });
    expect(Array.from(storedMask(viaTensor))).toEqual(Array.from(pruneRef(w.data as Float32Array, 2, 4, { pattern: '2:4', importance: norms })));
    expect(Array.from(storedMask(viaTensor))).toEqual([1, 1, 0, 0, 1, 1, 0, 0]);
    // Zero importance prunes a channel first.
    expect(Array.from(storedMask(prune(w, { pattern: '3:4', importance: Float32Array.of(1, 0, 1, 1) })))).toEqual([1, 0, 1, 1, 1, 0, 1, 1]);
  });

  it('stores values as the input dtype by default (bits preserved) or rounds them to nearest even', () => {
    const M = 8, K = 64;
    const w32 = Tensor.from(randomArray(M * K, 7, 3), [M, K]);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const w = w32.to(dtype);
      const s = prune(w, { sparsity: 0.6, format: 'csr' });
      expect(s.valueType).toBe(dtype);
      const stored = storedRef(s);
      for (const [m, k, i] of stored) expect(s.values[i]).toBe(w.data[m * K + k]);
    }
    for (const vt of VALUE_TYPES) {
      for (const format of FORMATS) {
        const s = prune(w32, { pattern: '2:4', format, values: vt });
        const mask = storedMask(s), want = w32.to(vt).toFloat32().data.map((v, i) => (mask[i] ? v : 0));
        expect(firstBitDifference(s.toDense().data, want), `${format} ${vt}`).toBe(-1);
      }
    }
  });

  it('prunes a large layer: every kept score >= every pruned score, exact counts', () => {
    const M = 512, K = 4096;
    const d = randomArray(M * K, 11);
    const w = Tensor.from(d, [M, K]);
    for (const o of [{ sparsity: 0.7 }, { pattern: 'row' as const }, { pattern: '2:4' as const, format: 'nm' as const }]) {
      const s = prune(w, o);
      const mask = storedMask(s);
      let kept = 0, minKept = Infinity, maxPruned = -Infinity;
      if (o.pattern === undefined) {
        for (let i = 0; i < d.length; i++) {
          if (mask[i]) { kept++; minKept = Math.min(minKept, Math.abs(d[i])); } else maxPruned = Math.max(maxPruned, Math.abs(d[i]));
        }
        expect(kept).toBe(M * K - Math.round(0.7 * M * K));
        expect(minKept).toBeGreaterThanOrEqual(maxPruned);
      } else {
        expect(s.nnz).toBe(M * K / 2);
        const span = o.pattern === 'row' ? K : 4;
        for (let g = 0; g < d.length; g += span) {
          let lo = Infinity, hi = -Infinity;
          for (let i = g; i < g + span; i++) if (mask[i]) lo = Math.min(lo, Math.abs(d[i])); else hi = Math.max(hi, Math.abs(d[i]));
          if (lo < hi) throw new Error(`${JSON.stringify(o)}: group at ${g} keeps ${lo} < pruned ${hi}`);
        }
      }
    }
  });
});

describe('prune and fromDense bad input', () => {
  const w = Tensor.from(randomArray(2 * 8, 1), [2, 8]);
  it('rejects bad weights and options with errors naming them', () => {
    const nan = randomArray(16, 2);
    nan[10] = NaN;
    expect(() => prune(Tensor.from(nan, [2, 8]))).toThrow(new RangeError('Expected weights that are not NaN for w but received NaN at index 10 (row 1, column 2)'));
    expect(() => SparseTensor.fromDense(Tensor.from(nan, [2, 8]).to('bfloat16'))).toThrow(/not NaN for w but received NaN at index 10/);
    expect(() => prune(w.to('int8') as unknown as Tensor<'float32'>)).toThrow(new TypeError("Expected a 'float32', 'float16' or 'bfloat16' tensor for w but received a 'int8' tensor of shape [2, 8]"));
    expect(() => prune(w.reshape([2, 2, 4]))).toThrow(/shape \[M, K\] for w/);
    expect(() => prune(w, { sparsity: 1 })).toThrow(new RangeError('Expected a number in [0, 1) for opts.sparsity but received 1'));
    expect(() => prune(w, { sparsity: -0.1 })).toThrow(RangeError);
    expect(() => prune(w, { sparsity: NaN })).toThrow(RangeError);
    expect(() => prune(w, { sparsity: '0.5' as unknown as number })).toThrow(TypeError);
    for (const pattern of ['2:5', '4:4', '5:4', '5:8', '0:4', '2:16', 'N:M', 'diagonal', ' 2:4']) {
      expect(() => prune(w, { pattern: pattern as NmPattern }), pattern).toThrow(RangeError);
    }
    expect(() => prune(w, { pattern: '4:4' as NmPattern })).toThrow(/'unstructured', 'row' or an N:M pattern with M = 4 and N in 1..3, or M = 8 and N in 1..4 \(e.g. '2:4'\) for opts.pattern but received "4:4"/);
    expect(() => prune(w, { pattern: 24 as unknown as NmPattern })).toThrow(TypeError);
    expect(() => prune(w, { pattern: '2:4', sparsity: 0.6 })).toThrow(/Expected 0.5 \(implied by pattern '2:4'\) or no value for opts.sparsity but received 0.6/);
    expect(prune(w, { pattern: '1:8', sparsity: 0.875 }).nnz).toBe(2);
    expect(() => prune(Tensor.zeros([2, 10]), { pattern: '2:4' })).toThrow(/Expected K a multiple of 4 for the N:M pattern '2:4' for w but received shape \[2, 10\]/);
    expect(() => prune(w, { importance: new Float32Array(7) })).toThrow(/Expected a Float32Array or a 'float32' tensor of shape \[8\] \(K\) for opts.importance but received a Float32Array of length 7/);
    expect(() => prune(w, { importance: Float32Array.of(1, 1, 1, -1, 1, 1, 1, 1) })).toThrow(/Expected finite values >= 0 for opts.importance but received -1 at index 3/);
    expect(() => prune(w, { importance: new Float32Array(8).fill(NaN) })).toThrow(/finite values >= 0/);
    expect(() => prune(w, { importance: new Float32Array(8).fill(Infinity) })).toThrow(/finite values >= 0/);
    expect(() => prune(w, { importance: [1, 2, 3, 4, 5, 6, 7, 8] as unknown as Float32Array })).toThrow(TypeError);
    expect(() => prune(w, { importance: Tensor.zeros([8]).to('float16') as unknown as Tensor<'float32'> })).toThrow(TypeError);
    expect(() => prune(w, { format: 'coo' as SparseFormat })).toThrow(new RangeError(`Expected 'bitmap', 'csr', 'nm', 'ell' or 'auto' for opts.format but received "coo"`));
    expect(() => prune(w, { format: 'nm' })).toThrow(/'bitmap', 'csr', 'ell' or 'auto' for pattern 'unstructured' \('nm' needs an N:M pattern\) for opts.format but received "nm"/);
    expect(() => prune(w, { values: 'int8' as SparseValueType })).toThrow(/'float32', 'float16' or 'bfloat16' for opts.values but received "int8"/);
    expect(() => prune(w, 3 as unknown as PruneOptions)).toThrow(TypeError);
  });

  it('rejects fromDense options that do not fit', () => {
    expect(() => SparseTensor.fromDense(w, { format: 'nm', nm: '2:4' })).toThrow(/Expected at most 2 nonzeros in every group of 4 along K \(opts.nm '2:4'\) for w but received 4 in row 0, columns 0..3/);
    expect(() => SparseTensor.fromDense(w, { nm: '3:8' })).toThrow(/at most 3 nonzeros/);
    expect(() => SparseTensor.fromDense(w, { format: 'nm' })).toThrow(/Expected an N:M pattern such as '2:4' for format 'nm' for opts.nm but received undefined/);
    expect(() => SparseTensor.fromDense(w, { format: 'csr', nm: '2:4' })).toThrow(/'nm' or 'auto' when opts.nm is given for opts.format/);
    expect(() => SparseTensor.fromDense(w, { format: 'nm', nm: '3:3' as NmPattern })).toThrow(/for opts.nm but received "3:3"/);
    expect(() => SparseTensor.fromDense(Tensor.zeros([1, 12]), { format: 'nm', nm: '4:8' })).toThrow(/K a multiple of 8/);
  });
});

describe('linear on sparse weights', () => {
  it('matches the float64 reference for every format, value type and N', () => {
    const M = 37, K = 96;
    for (const format of FORMATS) {
      for (const vt of VALUE_TYPES) {
        const pattern = format === 'nm' ? (vt === 'float16' ? '4:8' : '2:4') : 'unstructured';
        const w = Tensor.from(randomArray(M * K, 21), [M, K]);
        const s = prune(w, { pattern, format, values: vt, ...(format === 'nm' ? {} : { sparsity: format === 'csr' ? 0.85 : 0.6 }) });
        [1, 2, 3, 7, 8, 33].forEach((N, i) => expectLinearMatchesReference(s, N, 30 + i, i % 2 === 0, `${format} ${vt}`));
      }
    }
  });

  it('matches the reference on adversarial masks and K tails', () => {
    for (const format of FORMATS) {
      for (const vt of VALUE_TYPES) {
        for (const K of format === 'nm' ? [4, ...NM_K] : ODD_K) {
          const M = 9, pattern = nmFor(K);
          for (const [name, d] of adversarial(M, K, 100 + K)) {
            const w = Tensor.from(format === 'nm' ? fitNm(d, pattern) : d, [M, K]);
            const s = SparseTensor.fromDense(w, format === 'nm' ? { format, nm: pattern, values: vt } : { format, values: vt });
            expectLinearMatchesReference(s, K % 2 === 0 ? 3 : 8, K, K % 3 === 0, `${name} K=${K}`);
          }
        }
      }
    }
  });

  it('gives each output bit for bit the same whatever N and the thread count (kernel paths differ by N)', async () => {
    const { setNumThreads, getNumThreads } = await import('../lib/index.js');
    const M = 70, K = 200, N = 53;
    const w = Tensor.from(randomArray(M * K, 61), [M, K]);
    const x = Tensor.from(randomArray(N * K, 62), [N, K]);
    const before = getNumThreads();
    try {
      const { quantize } = await import('../lib/index.js');
      for (const s of [prune(w, { sparsity: 0.8, format: 'csr', values: 'bfloat16' }), prune(w, { sparsity: 0.6, format: 'bitmap' }),
        prune(w, { pattern: '2:4', format: 'nm', values: 'float16' }), quantize(prune(w, { sparsity: 0.8, format: 'csr' }), { bits: 4 }),
        prune(w, { sparsity: 0.8, format: 'ell', values: 'bfloat16' }), quantize(prune(w, { sparsity: 0.7, format: 'csr' })).to('ell')]) {
        const all = linear(x, s).data;
        for (const n of [0, 5, 17, 52]) {
          const one = linear(Tensor.from(x.data.slice(n * K, (n + 1) * K), [1, K]), s).data;
          expect(firstBitDifference(one, all.subarray(n * M, (n + 1) * M)), `${s} row ${n}`).toBe(-1);
        }
        setNumThreads(1);
        expect(firstBitDifference(linear(x, s).data, all), `${s} one thread`).toBe(-1);
        setNumThreads(before);
      }
    } finally {
      setNumThreads(before);
    }
  });

  it('propagates NaN and Inf from x through pruned positions as the dense product does (0·Inf = NaN)', () => {
    const M = 4, K = 24;
    const d = randomArray(M * K, 5);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k += 4) d[m * K + k] = 0; // column 0 of every group pruned
    d[2 * K + 5] = 0;
    const w = Tensor.from(d, [M, K]);
    const x = new Float32Array(3 * K).fill(0.5);
    x[4] = Infinity; // row 0: Inf at a column pruned everywhere -> NaN in every output
    x[K + 8] = NaN; // row 1: NaN at a pruned column -> NaN everywhere
    x[2 * K + 5] = -Infinity; // row 2: -Inf where only w[2] is pruned -> NaN there, ±Inf elsewhere
    const xt = Tensor.from(x, [3, K]);
    for (const s of [SparseTensor.fromDense(w, { format: 'bitmap' }), SparseTensor.fromDense(w, { format: 'csr' }),
      SparseTensor.fromDense(w, { format: 'nm', nm: '3:4' }), prune(w, { pattern: '3:4', format: 'nm', values: 'bfloat16' }),
      SparseTensor.fromDense(w, { format: 'ell' })]) {
      const y = linear(xt, s).data;
      const ref = linearRef(x, 3, K, sparseToDenseRef(s), M);
      expect(firstMismatch(y, ref, K), String(s)).toBe(-1);
      expect(Array.from(y.subarray(0, 2 * M)).every(Number.isNaN), String(s)).toBe(true);
      expect(Number.isNaN(y[2 * M + 2])).toBe(true);
      for (const m of [0, 1, 3]) expect(Math.abs(y[2 * M + m])).toBe(Infinity);
      const dense = linear(xt, s.toDense()).data;
      expect(Array.from(y).map(Number.isNaN)).toEqual(Array.from(dense).map(Number.isNaN));
    }
  });

  it('gives the same result async, for [..., K] inputs, and as linear on toDense() within the bound', async () => {
    const M = 50, K = 80;
    const w = Tensor.from(randomArray(M * K, 8), [M, K]);
    const x = Tensor.from(randomArray(2 * 3 * K, 9), [2, 3, K]);
    const bias = Tensor.from(randomArray(M, 10), [M]);
    for (const s of [prune(w, { sparsity: 0.7, format: 'bitmap' }), prune(w, { sparsity: 0.9, format: 'csr', values: 'float16' }),
      prune(w, { pattern: '4:8', format: 'nm', values: 'bfloat16' })]) {
      const y = linear(x, s, bias);
      expect(y.shape).toEqual([2, 3, M]);
      const [a, b] = await Promise.all([linearAsync(x, s, bias), linearAsync(x, s, bias)]);
      expect(Array.from(a.data)).toEqual(Array.from(y.data));
      expect(Array.from(b.data)).toEqual(Array.from(y.data));
      const ref = linearRef(x.data, 6, K, s.toDense().data, M, bias.data);
      expect(firstMismatch(y.data, ref, K)).toBe(-1);
      expect(firstMismatch(linear(x, s.toDense(), bias).data, ref, K)).toBe(-1);
    }
  });
});

describe('quantize(SparseTensor): sparse int8', () => {
  it('quantizes the stored values per row (symmetric int8), keeps the structure, and linear runs on it', async () => {
    const { quantize } = await import('../lib/index.js');
    const M = 23, K = 72;
    const w = Tensor.from(randomArray(M * K, 71), [M, K]);
    for (const s of [prune(w, { sparsity: 0.6, format: 'bitmap' }), prune(w, { sparsity: 0.85, format: 'csr', values: 'bfloat16' }),
      prune(w, { pattern: '2:4', format: 'nm', values: 'float16' })]) {
      const q = quantize(s);
      expect(q.valueType).toBe('int8');
      expect(q.format).toBe(s.format);
      expect(q.masks).toBe(s.masks);
      expect(q.cols).toBe(s.cols);
      expect(q.codes).toBe(s.codes);
      expect(q.scales!.length).toBe(M);
      expect(q.byteLength).toBe(s.byteLength - s.values.byteLength + q.values.byteLength + 4 * M);
      // Every stored value within half a step of its row's scale; pruned stay zero.
      const a = s.toDense().data, b = q.toDense().data;
      for (let m = 0; m < M; m++) {
        const step = q.scales![m];
        let absmax = 0;
        for (let k = 0; k < K; k++) absmax = Math.max(absmax, Math.abs(a[m * K + k]));
        expect(step).toBe(Math.fround(absmax / 127));
        for (let k = 0; k < K; k++) {
          if (a[m * K + k] === 0) expect(b[m * K + k]).toBe(0);
          expect(Math.abs(b[m * K + k] - a[m * K + k])).toBeLessThanOrEqual(step * 0.5 + 1e-7);
        }
      }
      for (const N of [1, 3, 8, 33]) expectLinearMatchesReference(q, N, 80 + N, N % 2 === 1, `int8 ${s.format}`);
      const x = Tensor.from(randomArray(5 * K, 90), [5, K]);
      expect(Array.from((await linearAsync(x, q)).data)).toEqual(Array.from(linear(x, q).data));
      expect(q.to(s.format === 'csr' ? 'bitmap' : 'csr').toDense().data).toEqual(b);
    }
  });

  it('gives a row of zeros scale 0, and rejects other settings and non-finite values', async () => {
    const { quantize } = await import('../lib/index.js');
    const d = new Float32Array(3 * 16);
    d[1] = 2; d[40] = -1;
    const q = quantize(SparseTensor.fromDense(Tensor.from(d, [3, 16])));
    expect(Array.from(q.scales!)).toEqual([Math.fround(2 / 127), 0, Math.fround(1 / 127)]);
    expect(Array.from(q.toDense().data)).toEqual(Array.from(d));
    const s = SparseTensor.fromDense(Tensor.from(d, [3, 16]));
    expect(() => quantize(s, { bits: 2 as 4 })).toThrow(/Expected 8 or 4 for opts.bits but received 2/);
    expect(() => quantize(s, { groupSize: 32 })).toThrow(/Expected 0 for a SparseTensor \(sparse weights get one scale per row\) for opts.groupSize/);
    expect(() => quantize(s, { scheme: 'asymmetric', bits: 8 })).toThrow(RangeError);
    expect(() => quantize(s, { scaleType: 'float16' })).toThrow(RangeError);
    expect(() => quantize(q)).toThrow(/float values .* 'int8' values/);
    const inf = d.slice(); inf[3] = Infinity;
    expect(() => quantize(SparseTensor.fromDense(Tensor.from(inf, [3, 16])))).toThrow(/finite stored values/);
  });
});

describe("'lut4' values: quantize(SparseTensor, { bits: 4 }) and cluster(SparseTensor)", () => {
  /** Sum of squared differences over [M, K]. */
  const sse = (a: Float32Array, b: Float32Array) => a.reduce((t, v, i) => t + (v - b[i]) ** 2, 0);

  it('runs linear on every format and N as the reference does, on random, adversarial and odd-K weights', async () => {
    const { quantize, cluster } = await import('../lib/index.js');
    const M = 37, K = 96;
    const w = Tensor.from(randomArray(M * K, 121), [M, K]);
    for (const format of ROW_FORMATS) {
      const s = prune(w, { format, ...(format === 'nm' ? { pattern: '2:4' } : { sparsity: format === 'csr' ? 0.85 : 0.6 }) });
      for (const q of [quantize(s, { bits: 4 }), quantize(s, { bits: 4, scheme: 'asymmetric' }), cluster(s, { bits: 3, granularity: 'tensor' })]) {
        expect(q.valueType).toBe('lut4');
        expectLayout(q);
        expect(Array.from(q.toDense().data)).toEqual(Array.from(sparseToDenseRef(q)));
        [1, 2, 3, 7, 8, 33].forEach((N, i) => expectLinearMatchesReference(q, N, 130 + i, i % 2 === 0, `lut4 ${format}`));
      }
      for (const K2 of format === 'nm' ? [4, ...NM_K] : ODD_K) {
        for (const [name, d] of adversarial(9, K2, 200 + K2)) {
          const pattern = nmFor(K2);
          const t = Tensor.from(format === 'nm' ? fitNm(d, pattern) : d, [9, K2]);
          const q = quantize(SparseTensor.fromDense(t, format === 'nm' ? { format, nm: pattern } : { format }), { bits: 4, scheme: 'nf4' });
          expectLayout(q, name);
          expectLinearMatchesReference(q, K2 % 2 === 0 ? 3 : 8, K2, K2 % 3 === 0, `lut4 ${name} K=${K2}`);
        }
      }
    }
  });

  it('quantizes each row to its 16 levels (scale and min per row) and picks the nearest level; search lowers the error', async () => {
    const { quantize, NF4_LEVELS } = await import('../lib/index.js');
    const M = 19, K = 80;
    const w = Tensor.from(randomArray(M * K, 141), [M, K]);
    const s = prune(w, { sparsity: 0.5, format: 'bitmap', values: 'bfloat16' });
    const a = s.toDense().data, mask = storedMask(s);
    for (const scheme of ['symmetric', 'asymmetric', 'nf4'] as const) {
      const q = quantize(s, { bits: 4, scheme });
      const t = q.table!, b = q.toDense().data;
      expect(q.masks).toBe(s.masks);
      expect(q.offsets).toBe(s.offsets);
      expect(q.byteLength).toBe(s.byteLength - s.values.byteLength + Math.ceil(s.nnz / 2) + 16 + 64 * M);
      for (let m = 0; m < M; m++) {
        const row = Array.from(t.subarray(16 * m, 16 * m + 16));
        // The levels: scale · (c - 8), scale · c + min, or scale · NF4[c], each rounded once to float32.
        const d = scheme === 'symmetric' ? row[9] : scheme === 'asymmetric' ? row[1] - row[0] : row[15];
        const mn = scheme === 'asymmetric' ? row[0] : 0;
        for (let c = 0; c < 16; c++) {
          const level = scheme === 'symmetric' ? c - 8 : scheme === 'asymmetric' ? c : NF4_LEVELS[c];
          expect(Math.abs(row[c] - (level * d + mn))).toBeLessThanOrEqual(Math.abs(d) * 1e-5 + Math.abs(mn) * 1e-6);
        }
        for (let k = 0; k < K; k++) {
          const i = m * K + k;
          if (!mask[i]) {
            expect(b[i]).toBe(0);
            continue;
          }
          const nearest = Math.min(...row.map((v) => Math.abs(v - a[i])));
          expect(Math.abs(b[i] - a[i])).toBe(nearest);
        }
      }
      expect(sse(a, b)).toBeLessThanOrEqual(sse(a, quantize(s, { bits: 4, scheme, search: false }).toDense().data) * (1 + 1e-6));
    }
  });

  it('clusters each row (or the tensor) exactly: the table holds the optimal 1-D centroids, weighted by importance', async () => {
    const { cluster, clusterAsync, kmeans } = await import('../lib/index.js');
    const M = 12, K = 64;
    const w = Tensor.from(randomArray(M * K, 151), [M, K]);
    const s = prune(w, { sparsity: 0.7, format: 'csr' });
    const imp = randomArray(M * K, 152).map(Math.abs);
    for (const bits of [1, 2, 4]) {
      const q = cluster(s, { bits });
      expect(q.bitsPerWeight).toBeCloseTo((q.byteLength * 8) / (M * K), 10);
      const a = s.toDense().data, b = q.toDense().data;
      for (let m = 0; m < M; m++) {
        const [lo, hi] = s.rowRange(m);
        const km = kmeans(s.values.subarray(lo, hi) as Float32Array, { k: 1 << bits });
        const row = Array.from(q.table!.subarray(16 * m, 16 * m + 16));
        expect(row.slice(0, km.clusters)).toEqual(Array.from(km.centroids));
        expect(row.slice(km.clusters).every((v) => v === row[km.clusters - 1])).toBe(true);
        const err = sse(a.subarray(m * K, (m + 1) * K), b.subarray(m * K, (m + 1) * K));
        expect(err).toBeLessThanOrEqual(km.inertia * (1 + 1e-5) + 1e-12);
      }
      const weighted = cluster(s, { bits, importance: Tensor.from(imp, [M, K]) });
      const cols = new Int32Array(K), idx = new Int32Array(K);
      for (let m = 0; m < M; m++) {
        const c = s.storedRow(m, cols, idx);
        const km = kmeans(Float32Array.from(idx.subarray(0, c), (i) => (s.values as Float32Array)[i]),
          { k: 1 << bits, weights: Float32Array.from(cols.subarray(0, c), (k) => imp[m * K + k]) });
        expect(Array.from(weighted.table!.subarray(16 * m, 16 * m + km.clusters))).toEqual(Array.from(km.centroids));
      }
    }
    const t = cluster(s, { granularity: 'tensor', bits: 2 });
    const all = kmeans((s.values as Float32Array).subarray(0, s.nnz), { k: 4 });
    for (let m = 0; m < M; m++) expect(Array.from(t.table!.subarray(16 * m, 16 * m + 4))).toEqual(Array.from(all.centroids));
    const async = await clusterAsync(s, { bits: 3 });
    expect(async.values).toEqual(cluster(s, { bits: 3 }).values);
    expect(async.table).toEqual(cluster(s, { bits: 3 }).table);
  });

  it('converts between bitmap and csr keeping indices and table, and rejects what does not fit', async () => {
    const { quantize, cluster } = await import('../lib/index.js');
    const M = 6, K = 40;
    const d = randomArray(M * K, 161);
    const s = prune(Tensor.from(d, [M, K]), { sparsity: 0.6, format: 'bitmap' });
    const q = cluster(s);
    const c = q.to('csr');
    expect(c.values).toBe(q.values);
    expect(c.table).toBe(q.table);
    expect(Array.from(c.toDense().data)).toEqual(Array.from(q.toDense().data));
    expect(() => q.to('nm', { nm: '2:4' })).toThrow(/'bitmap' or 'csr' for 'lut4' values/);
    expect(() => quantize(q, { bits: 4 })).toThrow(/float values .* 'lut4' values/);
    expect(() => cluster(q)).toThrow(RangeError);
    expect(() => cluster(s, { bits: 5 })).toThrow(/an integer in \[1, 4\] for a SparseTensor for opts.bits/);
    expect(() => cluster(s, { granularity: 'group', groupSize: 2 })).toThrow(/'row' or 'tensor'/);
    expect(() => cluster(s, { dim: 2 })).toThrow(RangeError);
    expect(() => cluster(s, { codebookType: 'float16' })).toThrow(/"float32" for a SparseTensor for opts.codebookType/);
    expect(() => cluster(s, { importance: Tensor.from(new Float32Array(M * K).fill(-1), [M, K]) })).toThrow(/finite values >= 0/);
    expect(() => quantize(s, { bits: 4, groupSize: 32 })).toThrow(RangeError);
    const nan = d.slice(); nan[3] = NaN;
    const sn = SparseTensor.fromDense(Tensor.from(nan.map((v, i) => (i === 3 ? 1 : v)), [M, K]));
    (sn.values as Float32Array)[0] = NaN;
    expect(() => cluster(sn)).toThrow(/finite values/);
    expect(() => quantize(sn, { bits: 4 })).toThrow(/finite stored values/);
    // Empty rows get a zero table; an all-zero importance row clusters unweighted.
    const z = new Float32Array(2 * 16); z[20] = 3; z[21] = -1;
    const sz = SparseTensor.fromDense(Tensor.from(z, [2, 16]));
    const qz = cluster(sz, { importance: Tensor.from(new Float32Array(32), [2, 16]) });
    expect(Array.from(qz.table!.subarray(0, 16)).every((v) => v === 0)).toBe(true);
    expect(Array.from(qz.toDense().data)).toEqual(Array.from(z));
    expect(Array.from(quantize(sz, { bits: 4 }).toDense().data.subarray(0, 16)).every((v) => v === 0)).toBe(true);
  });
});

describe("format 'ell' (sliced ELLPACK over 128-column panels, groups of 16 rows)", () => {
  it('lays out a small example exactly as native/core/sparse.h says', () => {
    // 3 rows (one group, lanes 3..15 absent), K = 130 (panels of 128 and 2 columns).
    const M = 3, K = 130, d = new Float32Array(M * K);
    d[0 * K + 1] = 1; d[0 * K + 5] = 2; d[0 * K + 129] = 3; // row 0: columns 1, 5 | 129
    d[1 * K + 0] = 4; // row 1: column 0
    d[2 * K + 0] = 5; d[2 * K + 1] = 6; d[2 * K + 2] = 7; d[2 * K + 128] = 8; // row 2: 0, 1, 2 | 128
    const s = SparseTensor.fromDense(Tensor.from(d, [M, K]), { format: 'ell' });
    expectLayout(s);
    expect(s.nnz).toBe(8);
    expect(Array.from(s.offsets!)).toEqual([0, 3, 4]); // panel 0: 3 vectors (row 2's 3 values), panel 1: 1
    const lane = (v: number, l: number) => [s.values[16 * v + l], s.panelCols![16 * v + l]];
    // Panel 0. Row 0: 1@1, 2@5, then padding at its first free column 0. Row 1: 4@0, padding at 1.
    expect([0, 1, 2].map((v) => lane(v, 0))).toEqual([[1, 1], [2, 5], [0, 0x80]]);
    expect([0, 1, 2].map((v) => lane(v, 1))).toEqual([[4, 0], [0, 0x81], [0, 0x81]]);
    expect([0, 1, 2].map((v) => lane(v, 2))).toEqual([[5, 0], [6, 1], [7, 2]]);
    expect([0, 1, 2].map((v) => lane(v, 15))).toEqual([[0, 0x80], [0, 0x80], [0, 0x80]]); // no row 15
    // Panel 1 (columns 128, 129). Row 1 stores nothing there: padding at column 0 of the panel.
    expect([lane(3, 0), lane(3, 1), lane(3, 2)]).toEqual([[3, 1], [0, 0x80], [8, 0]]);
    expect(s.values.length).toBe(4 * 16 + 16);
    expect(s.byteLength).toBe(s.values.byteLength + s.panelCols!.byteLength + s.offsets!.byteLength);
    expect(String(s)).toBe('SparseTensor<ell, float32, density 0.0205>[3, 130]');
  });

  it('matches the reference over several groups and panels, every value type, N and thread count', async () => {
    const { setNumThreads, getNumThreads } = await import('../lib/index.js');
    const before = getNumThreads();
    try {
      for (const [M, K] of [[1, 300], [15, 127], [17, 128], [40, 129], [33, 513]] as [number, number][]) {
        for (const vt of VALUE_TYPES) {
          const w = Tensor.from(randomArray(M * K, M + K), [M, K]);
          const sets = [prune(w, { sparsity: 0.8, format: 'ell', values: vt }), prune(w, { sparsity: 0.3, format: 'ell', values: vt }),
            ...adversarial(M, K, K).map(([, d]) => SparseTensor.fromDense(Tensor.from(d, [M, K]), { format: 'ell', values: vt }))];
          for (const s of sets) {
            expectLayout(s);
            expect(firstBitDifference(s.toDense().data, sparseToDenseRef(s))).toBe(-1);
            // N = 1..4: the permute path (pairs of rows); 5 and 17: the outer product; 49: 48 + 1 in two chunks.
            for (const N of [1, 2, 3, 4, 5, 17, 49]) expectLinearMatchesReference(s, N, N * 7 + K, N % 2 === 1, `ell ${vt} ${M}x${K}`);
            const N = 49, x = Tensor.from(randomArray(N * K, 9), [N, K]), all = linear(x, s).data;
            for (const n of [0, 3, 47, 48]) {
              const one = linear(Tensor.from(x.data.slice(n * K, (n + 1) * K), [1, K]), s).data;
              expect(firstBitDifference(one, all.subarray(n * M, (n + 1) * M)), `${s} row ${n}`).toBe(-1);
            }
            setNumThreads(1);
            expect(firstBitDifference(linear(x, s).data, all), `${s} one thread`).toBe(-1);
            setNumThreads(before);
            expect(firstBitDifference((await linearAsync(x, s)).data, all), `${s} async`).toBe(-1);
          }
        }
      }
    } finally {
      setNumThreads(before);
    }
  });

  it('runs on int8 values (quantize, then .to(ell)) as the reference does', async () => {
    const { quantize } = await import('../lib/index.js');
    const M = 35, K = 260;
    const q = quantize(prune(Tensor.from(randomArray(M * K, 3), [M, K]), { sparsity: 0.75, format: 'csr' }));
    const e = q.to('ell');
    expectLayout(e);
    expect(e.valueType).toBe('int8');
    expect(e.scales).toBe(q.scales);
    expect(Array.from(e.toDense().data)).toEqual(Array.from(q.toDense().data));
    for (const N of [1, 3, 6]) expectLinearMatchesReference(e, N, N, true, 'ell int8');
    expect(Array.from(e.to('bitmap').toDense().data)).toEqual(Array.from(q.toDense().data));
  });

  it('gives NaN exactly where the dense product does, with Inf at stored and pruned columns of many rows', () => {
    const M = 40, K = 300;
    const d = randomArray(M * K, 77);
    for (let i = 0; i < d.length; i++) if ((i * 7919) % 5 !== 0) d[i] = 0; // 80% pruned, a different pattern per row
    const s = SparseTensor.fromDense(Tensor.from(d, [M, K]), { format: 'ell', values: 'bfloat16' });
    for (const N of [1, 3, 6]) {
      const x = randomArray(N * K, N);
      x[7] = Infinity; x[K - 1] = -Infinity; // row 0
      if (N > 1) x[K + 130] = NaN;
      const xt = Tensor.from(x, [N, K]);
      const y = linear(xt, s).data, dense = linear(xt, s.toDense()).data;
      expect(Array.from(y).map(Number.isNaN), `N=${N}`).toEqual(Array.from(dense).map(Number.isNaN));
      expect(firstMismatch(y, linearRef(x, N, K, sparseToDenseRef(s), M), K)).toBe(-1);
    }
  });

  it('handles empty shapes, and K and M at panel and group edges', () => {
    for (const [M, K] of [[0, 200], [20, 0], [16, 1], [1, 128]] as [number, number][]) {
      const w = Tensor.from(randomArray(M * K, 5), [M, K]);
      const s = prune(w, { sparsity: 0.5, format: 'ell' });
      expectLayout(s);
      expect(Array.from(s.toDense().data)).toEqual(Array.from(sparseToDenseRef(s)));
      const y = linear(Tensor.from(randomArray(3 * K, 6), [3, K]), s, Tensor.from(randomArray(M, 7), [M]));
      expect(y.shape).toEqual([3, M]);
      expectLinearMatchesReference(s, 2, 8, true, `ell ${M}x${K}`);
    }
  });

  it('quantizes to int8 in place, and to lut4 values (quantize 4-bit, cluster) as csr; lut4 cannot become ell', async () => {
    const { quantize, cluster } = await import('../lib/index.js');
    const M = 21, K = 200;
    const s = prune(Tensor.from(randomArray(M * K, 1), [M, K]), { sparsity: 0.8, format: 'ell', values: 'bfloat16' });
    const csr = s.to('csr');
    const q8 = quantize(s);
    expect(q8.format).toBe('ell');
    expect(q8.offsets).toBe(s.offsets);
    expect(q8.panelCols).toBe(s.panelCols);
    expectLayout(q8);
    expect(Array.from(q8.toDense().data)).toEqual(Array.from(quantize(csr).toDense().data));
    expect(Array.from(q8.scales!)).toEqual(Array.from(quantize(csr).scales!));
    expectLinearMatchesReference(q8, 2, 3, true, 'ell int8');
    for (const [t, u] of [[quantize(s, { bits: 4 }), quantize(csr, { bits: 4 })], [cluster(s, { bits: 2 }), cluster(csr, { bits: 2 })]]) {
      expect(t.format).toBe('csr');
      expect(t.valueType).toBe('lut4');
      expect(Array.from(t.toDense().data)).toEqual(Array.from(u.toDense().data));
    }
    expect(() => quantize(s, { bits: 4 }).to('ell')).toThrow(/'bitmap', 'csr' or 'nm' for 'lut4' values \('ell' stores float or int8 values\) for format/);
  });

  it('rejects native arrays that do not fit (offsets, panel columns, lut4 values) with a RangeError', async () => {
    const { native } = await import('../lib/binding.js');
    const M = 20, K = 200;
    const s = prune(Tensor.from(randomArray(M * K, 2), [M, K]), { sparsity: 0.5, format: 'ell' });
    const x = new Float32Array(K), y = new Float32Array(M);
    const run = (patch: Record<string, unknown>) => native.linearSparse(x, 1, K, { ...s.native, ...patch }, M, null, y, false);
    expect(() => run({})).not.toThrow();
    expect(() => run({ offsets: new Uint32Array(6) })).toThrow(new RangeError('Expected 5 offsets')); // 2 groups x 2 panels + 1
    expect(() => run({ offsets: s.offsets!.slice(1) })).toThrow(/Expected at least 5 elements for offsets but received 4/);
    const bad = s.offsets!.slice();
    bad[2] = bad[1] - 1;
    expect(() => run({ offsets: bad })).toThrow(/nondecreasing offsets/);
    const big = s.offsets!.map((o, i) => o + 40 * i); // 40 more vectors in each panel: 2560 entries past the arrays
    expect(() => run({ offsets: big })).toThrow(/for panelCols|for values/);
    expect(() => run({ panelCols: s.panelCols!.subarray(0, 16) })).toThrow(/Expected at least \d+ elements for panelCols/);
    const wide = new Uint32Array(5); // 129 vectors in the first panel (arrays long enough)
    wide.fill(129, 1);
    const long = { offsets: wide, panelCols: new Uint8Array(129 * 16 + 16), values: new Float32Array(129 * 16 + 16) }; // float32 values
    expect(() => run(long)).toThrow(new RangeError('Expected at most 128 vectors per ell panel'));
    wide.fill(128, 1);
    expect(() => run(long)).not.toThrow();
    expect(() => run({ valueType: 4, lut: new Float32Array(16 * M), values: new Uint8Array(s.values.length) })).toThrow(/float or int8 values for format ell/);
    expect(() => run({ format: 4 })).toThrow(/Unknown sparse format/);
  });
});
