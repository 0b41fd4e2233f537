import { describe, expect, it } from 'vitest';
import { getNumThreads, linear, linearAsync, quantize, QuantizedTensor, relativeError, setNumThreads, sqnr, Tensor } from '../lib/index.js';
import type { QuantizeOptions } from '../lib/index.js';
import {
  absmaxBaseline, dequantizeRef, firstMismatch, fitAsymmetricRef, fitNf4Ref, fitSymmetricRef, int8ActivationsRef, linearRef, randomArray, rng, syntheticWeights,
} from './reference/index.js';
import { hasSilero, sileroTensors } from './reference/silero.js';

const SETTINGS: QuantizeOptions[] = [
  { bits: 8 }, { bits: 8, groupSize: 32 }, { bits: 8, scheme: 'asymmetric' }, { bits: 8, scheme: 'asymmetric', groupSize: 16, scaleType: 'float32' },
  { bits: 4 }, { bits: 4, groupSize: 64, scaleType: 'float32' }, { bits: 4, groupSize: 0 }, { bits: 4, search: false },
  { bits: 4, scheme: 'asymmetric' }, { bits: 4, scheme: 'asymmetric', groupSize: 128 }, { scheme: 'nf4' }, { scheme: 'nf4', groupSize: 64, search: false },
];

const label = (o: QuantizeOptions) => JSON.stringify(o);

describe('quantize', () => {
  it('decodes (toDense) exactly as the reference rule scale * value (+ min)', () => {
    const M = 7, K = 256;
    const w = Tensor.from(randomArray(M * K, 3), [M, K]);
    for (const o of SETTINGS) {
      const q = quantize(w, o);
      const got = q.toDense().data, want = dequantizeRef(q);
      for (let i = 0; i < got.length; i++) {
        if (got[i] !== want[i]) throw new Error(`${label(o)} [${i}]: ${got[i]} vs ${want[i]}`);
      }
    }
  });

  it('reports its storage exactly', () => {
    const w = Tensor.from(randomArray(64 * 256, 1), [64, 256]);
    expect(quantize(w, { bits: 8 }).bitsPerWeight).toBeCloseTo(8 + 16 / 256);
    expect(quantize(w, { bits: 4, groupSize: 32 }).byteLength).toBe(64 * 128 + 64 * 8 * 2);
    expect(quantize(w, { bits: 4, groupSize: 32 }).bitsPerWeight).toBe(4.5);
    expect(quantize(w, { bits: 4, scheme: 'asymmetric', groupSize: 32 }).bitsPerWeight).toBe(5);
    expect(quantize(w, { bits: 4, groupSize: 32, scaleType: 'float32' }).bitsPerWeight).toBe(5);
    const q = quantize(w, { scheme: 'nf4' });
    expect([q.bits, q.scheme, q.groupSize, q.scaleType]).toEqual([4, 'nf4', 32, 'float16']);
  });

  it('turns all-zero groups into exact zeros and keeps constant groups exact (asymmetric)', () => {
    const K = 64;
    const data = randomArray(2 * K, 9);
    data.fill(0, 0, 32);
    data.fill(0.3, K, K + 32);
    const w = Tensor.from(data, [2, K]);
    for (const o of SETTINGS.filter((s) => [16, 32].includes(s.groupSize ?? (s.bits === 8 ? 0 : 32)))) {
      const d = quantize(w, o).toDense().data;
      expect(Array.from(d.subarray(0, 32)).every((v) => v === 0), label(o)).toBe(true);
    }
    const d = quantize(w, { bits: 4, scheme: 'asymmetric', groupSize: 32, scaleType: 'float32' }).toDense().data;
    expect(Array.from(d.subarray(K, K + 32)).every((v) => v === Math.fround(0.3))).toBe(true);
  });

  it('with search beats round-to-nearest absmax at equal bits per weight (4-bit, per group)', () => {
    const M = 64, K = 512, r = rng(5);
    for (const kind of ['gaussian', 'student-t'] as const) {
      const data = syntheticWeights(M * K, kind, r);
      const w = Tensor.from(data, [M, K]);
      for (const groupSize of [32, 64, 128]) {
        const base = relativeError(w, absmaxBaseline(data, M, K, 4, groupSize));
        const searched = relativeError(w, quantize(w, { bits: 4, groupSize }));
        expect(searched, `${kind} g${groupSize}: ${searched} vs ${base}`).toBeLessThan(base);
      }
    }
  });

  it('chooses each scale (and min) exactly as the float64 reference search does (native fit, any thread count)', async () => {
    const { setNumThreads, getNumThreads, prune } = await import('../lib/index.js');
    const M = 48, K = 256, r = rng(9);
    const before = getNumThreads();
    try {
      for (const kind of ['gaussian', 'student-t'] as const) {
        const data = syntheticWeights(M * K, kind, r);
        for (let i = 0; i < 64; i++) data[5 * K + i] = 0; // an all-zero group
        for (let i = 0; i < 32; i++) data[7 * K + i] = 0.25; // a constant group
        const w = Tensor.from(data, [M, K]);
        for (const o of [{ bits: 4 }, { bits: 4, scheme: 'asymmetric' }, { bits: 4, scheme: 'nf4', groupSize: 64 }, { bits: 8, search: true },
          { bits: 8, scheme: 'asymmetric', search: true, groupSize: 16 }, { bits: 4, groupSize: 0, search: false }] as QuantizeOptions[]) {
          const gs = (o.groupSize ?? (o.bits === 4 ? 32 : 0)) || K;
          const scheme = o.scheme ?? 'symmetric', search = o.search ?? o.bits === 4;
          for (const threads of [1, 2]) {
            setNumThreads(threads);
            const q = quantize(w, { ...o, scaleType: 'float32' });
            for (let g = 0; g < (M * K) / gs; g++) {
              const f = scheme === 'symmetric' ? fitSymmetricRef(data, g * gs, gs, o.bits === 8 ? -128 : -8, o.bits === 8 ? 127 : 7, search)
                : scheme === 'asymmetric' ? fitAsymmetricRef(data, g * gs, gs, o.bits === 8 ? 255 : 15, search) : fitNf4Ref(data, g * gs, gs, search);
              expect(q.scales[g], `${kind} ${label(o)} group ${g}`).toBe(Math.fround(f.scale));
              if (q.mins) expect(q.mins[g]).toBe(Math.fround(f.min));
            }
          }
        }
        // Sparse 4-bit: one group per row of stored values.
        const s = prune(w, { sparsity: 0.7, format: 'csr' });
        const sq = quantize(s, { bits: 4 });
        for (let m = 0; m < M; m++) {
          const [lo, hi] = s.rowRange(m);
          const f = fitSymmetricRef(s.values as Float32Array, lo, hi - lo, -8, 7, true);
          expect(sq.table![16 * m + 9]).toBe(Math.fround(f.scale)); // level c = 9 is 1 · scale
        }
      }
    } finally {
      setNumThreads(before);
    }
  });

  it('measures error: sqnr in dB and relative RMSE', () => {
    const a = Tensor.from([1, 2, 3, 4], [4]);
    expect(sqnr(a, a)).toBe(Infinity);
    expect(relativeError(a, a)).toBe(0);
    const b = Tensor.from([1, 2, 3, 5], [4]);
    expect(relativeError(a, b)).toBeCloseTo(Math.sqrt(1 / 30));
    expect(sqnr(a, b)).toBeCloseTo(10 * Math.log10(30));
    expect(() => sqnr(a, Tensor.from([1], [1]))).toThrow(RangeError);
  });
});

describe('linear on quantized weights (weights decoded in registers)', () => {
  const SHAPES: [number, number, number][] = [[1, 1, 32], [1, 9, 64], [2, 13, 96], [3, 5, 128], [8, 17, 256], [13, 33, 160], [50, 12, 64], [1, 40, 1024]];

  for (const o of SETTINGS) {
    it(`matches the reference on ${label(o)} for odd shapes`, () => {
      SHAPES.forEach(([N, M, K], i) => {
        if (o.groupSize && K % o.groupSize !== 0) return;
        const w = Tensor.from(randomArray(M * K, 40 + i), [M, K]);
        const q = quantize(w, o);
        const x = Tensor.from(randomArray(N * K, 80 + i), [N, K]);
        const bias = i % 2 ? Tensor.from(randomArray(M, 7), [M]) : undefined;
        const y = linear(x, q, bias);
        const ref = linearRef(x.data, N, K, dequantizeRef(q), M, bias?.data);
        const bad = firstMismatch(y.data, ref, K);
        expect(bad, `N=${N} M=${M} K=${K}: y[${bad}] = ${y.data[bad]} vs ${ref.y[bad]}`).toBe(-1);
      });
    });
  }

  it('handles a K tail (per-row groups, K not a multiple of 16 for 8-bit; any multiple of 32 for 4-bit)', () => {
    for (const o of [{ bits: 8 as const }, { bits: 8 as const, scheme: 'asymmetric' as const }, { bits: 4 as const, groupSize: 0 }, { scheme: 'nf4' as const, groupSize: 0 }]) {
      for (const K of o.bits === 8 ? [2, 6, 18, 40, 70] : [32, 96, 160]) {
        const M = 11, N = 3;
        const w = Tensor.from(randomArray(M * K, K), [M, K]);
        const q = quantize(w, o);
        const x = Tensor.from(randomArray(N * K, K + 1), [N, K]);
        const y = linear(x, q);
        expect(firstMismatch(y.data, linearRef(x.data, N, K, dequantizeRef(q), M), K), `${label(o)} K=${K}`).toBe(-1);
      }
    }
  });

  it('is the same sync and async, and independent of N', async () => {
    const M = 70, K = 256;
    const q = quantize(Tensor.from(randomArray(M * K, 1), [M, K]), { bits: 4 });
    const x = Tensor.from(randomArray(9 * K, 2), [9, K]);
    const all = linear(x, q).data;
    expect(Array.from((await linearAsync(x, q)).data)).toEqual(Array.from(all));
    const one = linear(Tensor.from(x.data.subarray(4 * K, 5 * K), [1, K]), q).data;
    expect(Array.from(one)).toEqual(Array.from(all.subarray(4 * M, 5 * M)));
  });
});

describe("linear on quantized weights with activations: 'int8' (integer dot products)", () => {
  // Plus a group spanning a whole 64-weight step of byte codes, and one wider than a 128-weight 4-bit step.
  const INT8_SETTINGS = [
    ...SETTINGS.filter((o) => (o.groupSize ?? (o.bits === 4 ? 32 : 0)) !== 16),
    { bits: 8, groupSize: 64 }, { bits: 4, groupSize: 256, scheme: 'asymmetric' },
  ] as QuantizeOptions[];
  const SHAPES: [number, number, number][] = [[1, 1, 32], [1, 9, 64], [2, 13, 96], [3, 5, 128], [4, 17, 256], [7, 33, 160], [50, 12, 64], [1, 40, 1024]];

  for (const o of INT8_SETTINGS) {
    it(`matches the reference with int8 activations on ${label(o)}`, () => {
      SHAPES.forEach(([N, M, K], i) => {
        if (o.groupSize && K % o.groupSize !== 0) return;
        const q = quantize(Tensor.from(randomArray(M * K, 140 + i), [M, K]), o);
        const x = Tensor.from(randomArray(N * K, 180 + i), [N, K]);
        const bias = i % 2 ? Tensor.from(randomArray(M, 7), [M]) : undefined;
        const y = linear(x, q, bias, { activations: 'int8' });
        const ref = linearRef(int8ActivationsRef(x.data, N, K), N, K, dequantizeRef(q, { nf4Int8: true }), M, bias?.data);
        const bad = firstMismatch(y.data, ref, K);
        expect(bad, `N=${N} M=${M} K=${K}: y[${bad}] = ${y.data[bad]} vs ${ref.y[bad]}`).toBe(-1);
      });
    });
  }

  it('gives bit-identical outputs for any N and thread count', () => {
    // K: three 128-weight steps and a 64-weight tail. M: on one thread, tasks of 16 rows and a last of 13
    // (at N = 1, 8 stripes of 2 rows, the last ones short).
    const M = 45, K = 448;
    const x = Tensor.from(randomArray(9 * K, 5), [9, K]);
    for (const o of INT8_SETTINGS) {
      const q = quantize(Tensor.from(randomArray(M * K, 6), [M, K]), { ...o, groupSize: o.groupSize && K % o.groupSize ? 32 : o.groupSize });
      const all = linear(x, q, null, { activations: 'int8' }).data;
      for (let n = 0; n < 9; n++) {
        const one = linear(Tensor.from(x.data.subarray(n * K, (n + 1) * K), [1, K]), q, null, { activations: 'int8' }).data;
        expect(Array.from(one), `${label(o)} row ${n}`).toEqual(Array.from(all.subarray(n * M, (n + 1) * M)));
      }
      const threads = getNumThreads();
      try {
        setNumThreads(1);
        expect(Array.from(linear(x, q, null, { activations: 'int8' }).data), label(o)).toEqual(Array.from(all));
        // One thread: each task holds several 8-row tiles (at N = 1, stripes or prefetching the next).
        const one = linear(Tensor.from(x.data.subarray(4 * K, 5 * K), [1, K]), q, null, { activations: 'int8' }).data;
        expect(Array.from(one), `${label(o)} row 4, one thread`).toEqual(Array.from(all.subarray(4 * M, 5 * M)));
      } finally {
        setNumThreads(threads);
      }
    }
  });

  it('adds a small error over weights-only (measured here: relative RMSE of y)', () => {
    const M = 256, K = 1024, N = 4;
    const w = Tensor.from(randomArray(M * K, 1), [M, K]);
    const x = Tensor.from(randomArray(N * K, 2), [N, K]);
    const lines: string[] = [];
    for (const o of [{ bits: 8 as const }, { bits: 4 as const }, { bits: 4 as const, scheme: 'asymmetric' as const }, { scheme: 'nf4' as const }]) {
      const q = quantize(w, o);
      const exact = linear(x, q);
      const fast = linear(x, q, null, { activations: 'int8' });
      const err = relativeError(exact, fast);
      lines.push(`${label(o)}: ${err.toExponential(2)}`);
      expect(err).toBeLessThan(0.01);
    }
    console.info(`int8 activations vs float32 activations, relative RMSE of y (uniform random x, w):\n${lines.join('\n')}`);
  });

  it('refuses K not a multiple of 32, non-finite activations, and dense weights', () => {
    const q8 = quantize(Tensor.from(randomArray(4 * 48, 1), [4, 48]), { bits: 8 });
    expect(() => linear(Tensor.zeros([1, 48]), q8, null, { activations: 'int8' })).toThrow(/multiple of 32/);
    const q = quantize(Tensor.from(randomArray(4 * 64, 1), [4, 64]), { bits: 8 });
    const x = new Float32Array(64);
    x[3] = Infinity;
    expect(() => linear(Tensor.from(x, [1, 64]), q, null, { activations: 'int8' })).toThrow(/finite values/);
    expect(() => linear(Tensor.zeros([1, 64]), Tensor.zeros([4, 64]), null, { activations: 'int8' })).toThrow(/dense weights/);
    expect(() => linear(Tensor.zeros([1, 64]), q, null, { activations: 'int4' as 'int8' })).toThrow(/options.activations/);
  });
});

describe('quantize bad input', () => {
  const w = Tensor.from(randomArray(4 * 64, 1), [4, 64]);
  it('rejects bad options and weights with errors naming them', () => {
    expect(() => quantize(w, { bits: 3 as 8 })).toThrow(/Expected 8 or 4 for opts.bits but received 3/);
    expect(() => quantize(w, { groupSize: 48 })).toThrow(/power of two >= 16 that divides K = 64 for opts.groupSize but received 48/);
    expect(() => quantize(w, { groupSize: 128 })).toThrow(RangeError);
    expect(() => quantize(w, { scheme: 'nf4', bits: 8 })).toThrow(/opts.bits/);
    expect(() => quantize(w, { scheme: 'ternary' as 'nf4' })).toThrow(/opts.scheme/);
    expect(() => quantize(w, { scaleType: 'float64' as 'float32' })).toThrow(/opts.scaleType/);
    expect(() => quantize(Tensor.zeros([2, 48]), { bits: 4, groupSize: 0 })).toThrow(/K a multiple of 32 for 4-bit codes for w but received K = 48/);
    expect(() => quantize(w, { bits: 4, groupSize: 16 })).toThrow(/power of two >= 32/);
    const nan = randomArray(64, 2);
    nan[10] = NaN;
    expect(() => quantize(Tensor.from(nan, [1, 64]))).toThrow(/finite weights for w but received NaN at index 10/);
    const huge = Tensor.from(new Float32Array(64).fill(1e7), [1, 64]);
    expect(() => quantize(huge)).toThrow(/overflows float16/);
    expect(quantize(huge, { scaleType: 'float32' }).toDense().data[0] / 1e7).toBeCloseTo(1, 6);
    expect(() => quantize(Tensor.zeros([2, 2, 16]))).toThrow(/shape \[M, K\]/);
    expect(() => linear(Tensor.zeros([1, 32]), quantize(w))).toThrow(/shape \[\.\.\., 64\]/);
  });
});

// Real trained weights with heavy tails, when ../shared/data is present.
describe.skipIf(!hasSilero)('quantization error on real weights (silero_vad_v5)', () => {
  /** The tensors whose K is a multiple of 32. */
  const tensors = () => sileroTensors().filter((t) => t.K % 32 === 0);

  it('4-bit with search beats absmax at every group size; int8 errors are far below 4-bit', () => {
    const list = tensors();
    expect(list.length).toBeGreaterThan(0);
    const table: string[] = [];
    for (const { name, data, M, K } of list) {
      const w = Tensor.from(data, [M, K]);
      const row = [name];
      for (const groupSize of [32, 64].filter((g) => K % g === 0)) {
        const base = relativeError(w, absmaxBaseline(data, M, K, 4, groupSize));
        const searched = relativeError(w, quantize(w, { bits: 4, groupSize }));
        const nf4 = relativeError(w, quantize(w, { scheme: 'nf4', groupSize }));
        expect(searched, `${name} g${groupSize}: ${searched} vs ${base}`).toBeLessThan(base);
        row.push(`g${groupSize} absmax ${base.toFixed(4)} int4 ${searched.toFixed(4)} nf4 ${nf4.toFixed(4)}`);
        const int8 = relativeError(w, quantize(w, { bits: 8, groupSize }));
        expect(int8, name).toBeLessThan(searched / 8);
        row.push(`int8 ${int8.toFixed(5)}`);
      }
      table.push(row.join('  '));
    }
    console.info(`relative RMSE on silero_vad_v5:\n${table.join('\n')}`);
  });
});

expect(QuantizedTensor).toBeDefined();
