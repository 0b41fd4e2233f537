import { describe, expect, it } from 'vitest';
import { cluster, getNumThreads, linear, linearAsync, matmul, matmulAsync, prune, quantize, setNumThreads, Tensor } from '../lib/index.js';
import { firstMismatch, linearRef, randomArray } from './reference/index.js';

type WDtype = 'float32' | 'float16' | 'bfloat16';
const WDTYPES: WDtype[] = ['float32', 'float16', 'bfloat16'];

/** Shapes [N, M, K]: ones, odd sizes, K around the 8/16/64 vector and tile widths, and a few large. */
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 1, 7], [1, 5, 1], [3, 1, 9], [1, 13, 15], [1, 9, 16], [2, 7, 17], [1, 33, 63], [5, 17, 64],
  [7, 10, 65], [6, 12, 100], [8, 24, 127], [9, 11, 129], [13, 31, 255], [1, 257, 513], [32, 64, 257],
  [37, 100, 300], [49, 19, 33], [100, 9, 70], [1, 1000, 1024], [8, 300, 1000], [50, 70, 31],
];

function check(N: number, M: number, K: number, dtype: WDtype, withBias: boolean, seed: number): void {
  const x = Tensor.from(randomArray(N * K, seed), [N, K]);
  const w32 = Tensor.from(randomArray(M * K, seed + 1), [M, K]);
  const w = w32.to(dtype);
  const bias = withBias ? Tensor.from(randomArray(M, seed + 2), [M]) : undefined;
  const y = linear(x, w, bias);
  expect(y.shape).toEqual([N, M]);
  expect(y.dtype).toBe('float32');
  // The reference uses the weights as stored (after rounding to 16 bits).
  const ref = linearRef(x.data, N, K, w.toFloat32().data, M, bias?.data);
  const bad = firstMismatch(y.data, ref, K);
  expect(bad, bad < 0 ? '' : `N=${N} M=${M} K=${K} ${dtype}: y[${bad}] = ${y.data[bad]}, expected ${ref.y[bad]}`).toBe(-1);
}

describe('linear on dense weights', () => {
  for (const dtype of WDTYPES) {
    it(`matches the float64 reference on ${dtype} weights for odd shapes`, () => {
      SHAPES.forEach(([N, M, K], i) => check(N, M, K, dtype, i % 2 === 0, 100 + i));
    });
  }

  it('matches the reference on a large layer (threaded, several row chunks)', () => {
    check(3, 2048, 1536, 'float32', true, 7);
    check(33, 700, 512, 'bfloat16', true, 8);
  });

  it('returns empty or bias-only results for zero-sized dimensions', () => {
    for (const dtype of WDTYPES) {
      expect(linear(Tensor.zeros([0, 4]), Tensor.zeros([3, 4]).to(dtype)).shape).toEqual([0, 3]);
      expect(linear(Tensor.zeros([2, 4]), Tensor.zeros([0, 4]).to(dtype)).shape).toEqual([2, 0]);
      const y = linear(Tensor.zeros([2, 0]), Tensor.zeros([3, 0]).to(dtype), Tensor.from([1, 2, 3], [3]));
      expect(Array.from(y.data)).toEqual([1, 2, 3, 1, 2, 3]);
    }
  });

  it('takes x of any rank [..., K] and returns [..., M]', () => {
    const x = Tensor.from(randomArray(2 * 3 * 5, 1), [2, 3, 5]);
    const w = Tensor.from(randomArray(4 * 5, 2), [4, 5]);
    const y = linear(x, w);
    expect(y.shape).toEqual([2, 3, 4]);
    expect(Array.from(y.data)).toEqual(Array.from(linear(x.reshape([6, 5]), w).data));
    const v = linear(Tensor.from(randomArray(5, 3), [5]), w);
    expect(v.shape).toEqual([4]);
  });

  it('reads typed-array views with a byte offset', () => {
    const N = 3, M = 21, K = 37;
    const xbuf = randomArray(N * K + 5, 11), wbuf = randomArray(M * K + 3, 12);
    const x = Tensor.from(xbuf.subarray(5), [N, K]);
    const w = Tensor.from(wbuf.subarray(3), [M, K]);
    const bf = w.to('bfloat16').data;
    const wOdd = new Uint16Array(bf.length + 1);
    wOdd.set(bf, 1);
    const y = linear(x, w);
    const ref = linearRef(x.data, N, K, w.data, M);
    expect(firstMismatch(y.data, ref, K)).toBe(-1);
    const y16 = linear(x, Tensor.from(wOdd.subarray(1), [M, K], 'bfloat16'));
    expect(Array.from(y16.data)).toEqual(Array.from(linear(x, w.to('bfloat16')).data));
  });

  it('keeps large magnitudes accurate and propagates NaN and Inf as IEEE arithmetic does', () => {
    const K = 70, M = 5;
    const x = randomArray(2 * K, 1, 1e18);
    const w = randomArray(M * K, 2, 1e18);
    const y = linear(Tensor.from(x, [2, K]), Tensor.from(w, [M, K]));
    expect(firstMismatch(y.data, linearRef(x, 2, K, w, M), K)).toBe(-1);

    const xs = new Float32Array(3 * K).fill(1);
    xs[5] = NaN; // row 0: NaN everywhere
    xs[K + 69] = Infinity; // row 1: +/-Inf by the sign of w[:, 69], NaN if w is 0 there
    const ws = new Float32Array(M * K).fill(0.5);
    ws[1 * K + 69] = -2;
    ws[2 * K + 69] = 0;
    const out = linear(Tensor.from(xs, [3, K]), Tensor.from(ws, [M, K])).data;
    for (let m = 0; m < M; m++) expect(out[m]).toBeNaN();
    expect(Array.from(out.subarray(M, 2 * M))).toEqual([Infinity, -Infinity, NaN, Infinity, Infinity]);
    expect(Array.from(out.subarray(2 * M))).toEqual([35, 32.5, 34.5, 35, 35]);
  });

  it('gives bit-identical results for any thread count', () => {
    const N = 11, M = 333, K = 515;
    const x = Tensor.from(randomArray(N * K, 5), [N, K]);
    const w = Tensor.from(randomArray(M * K, 6), [M, K]);
    const before = getNumThreads();
    try {
      const results = [1, 2, 3, 5].map((t) => {
        setNumThreads(t);
        expect(getNumThreads()).toBe(t);
        return Array.from(linear(x, w.to('bfloat16')).data).concat(Array.from(linear(x, w).data));
      });
      for (const r of results) expect(r).toEqual(results[0]);
    } finally {
      setNumThreads(before);
    }
  });

  it('gives each output independently of N (row blocking does not change results)', () => {
    const M = 40, K = 200;
    const x = Tensor.from(randomArray(9 * K, 1), [9, K]);
    const w = Tensor.from(randomArray(M * K, 2), [M, K]);
    const all = linear(x, w).data;
    for (let n = 0; n < 9; n++) {
      const one = linear(Tensor.from(x.data.subarray(n * K, (n + 1) * K), [1, K]), w).data;
      expect(Array.from(one)).toEqual(Array.from(all.subarray(n * M, (n + 1) * M)));
    }
  });
});

describe('linearAsync', () => {
  it('resolves with the same result as linear, for every weight type', async () => {
    const N = 4, M = 300, K = 257;
    const x = Tensor.from(randomArray(N * K, 1), [N, K]);
    const bias = Tensor.from(randomArray(M, 3), [M]);
    for (const dtype of WDTYPES) {
      const w = Tensor.from(randomArray(M * K, 2), [M, K]).to(dtype);
      const [a, b] = await Promise.all([linearAsync(x, w, bias), linearAsync(x, w, bias)]);
      const s = linear(x, w, bias);
      expect(Array.from(a.data)).toEqual(Array.from(s.data));
      expect(Array.from(b.data)).toEqual(Array.from(s.data));
    }
  });

  it('runs off the event loop', async () => {
    const N = 32, M = 2048, K = 2048;
    const x = Tensor.from(randomArray(N * K, 1), [N, K]);
    const w = Tensor.from(randomArray(M * K, 2), [M, K]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const runs = [];
    for (let i = 0; i < 8; i++) runs.push(linearAsync(x, w));
    await Promise.all(runs);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it('keeps its inputs alive until it settles', async () => {
    const K = 1024, M = 1024;
    const promises = [];
    for (let i = 0; i < 20; i++) {
      // No references kept here: only the pending call holds these tensors.
      promises.push(linearAsync(Tensor.from(new Float32Array(K).fill(1), [1, K]), Tensor.from(new Float32Array(M * K).fill(0.5), [M, K])));
    }
    (globalThis as { gc?: () => void }).gc?.();
    for (const y of await Promise.all(promises)) expect(y.data.every((v) => v === 512)).toBe(true);
  });

  it('rejects bad input with the same errors as linear', async () => {
    await expect(linearAsync(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))).rejects.toThrow(RangeError);
  });
});

describe("linear's options.out", () => {
  const N = 3, M = 20, K = 64;
  const x = Tensor.from(randomArray(N * K, 1), [N, K]);
  const w32 = Tensor.from(randomArray(M * K, 2), [M, K]);
  const bias = Tensor.from(randomArray(M, 3), [M]);
  const weights = {
    float32: w32, bfloat16: w32.to('bfloat16'), int4: quantize(w32, { bits: 4 }), nf4: quantize(w32, { scheme: 'nf4' }),
    sparse: prune(w32, { sparsity: 0.5 }), clustered: cluster(w32, { bits: 4 }),
  };

  it('writes the result into out and returns out, for every weight type and mode', async () => {
    for (const [name, w] of Object.entries(weights)) {
      for (const options of name === 'float32' || name === 'bfloat16' || name === 'sparse' ? [{}] : [{}, { activations: 'int8' as const }]) {
        const expected = linear(x, w, bias, options);
        const out = Tensor.from(new Float32Array(N * M).fill(NaN), [N, M]);
        expect(linear(x, w, bias, { ...options, out }), name).toBe(out);
        expect(Array.from(out.data), name).toEqual(Array.from(expected.data));
        out.data.fill(NaN);
        expect(await linearAsync(x, w, bias, { ...options, out }), name).toBe(out);
        expect(Array.from(out.data), name).toEqual(Array.from(expected.data));
      }
    }
  });

  it('takes a view with a byte offset and writes only its elements', () => {
    const buffer = new Float32Array(N * M + 8).fill(7);
    const out = Tensor.from(buffer.subarray(4, 4 + N * M), [N, M]);
    linear(x, w32, null, { out });
    expect(Array.from(buffer.subarray(0, 4))).toEqual([7, 7, 7, 7]);
    expect(Array.from(buffer.subarray(4 + N * M))).toEqual([7, 7, 7, 7]);
    expect(Array.from(out.data)).toEqual(Array.from(linear(x, w32).data));
  });

  it('refuses an out of another shape or dtype, or sharing memory with x, bias or w', () => {
    expect(() => linear(x, w32, null, { out: Tensor.zeros([N, M + 1]) })).toThrow(/shape \[3, 20\] for options.out/);
    expect(() => linear(x, w32, null, { out: Tensor.zeros([N * M]) })).toThrow(/options.out/);
    expect(() => linear(x, w32, null, { out: Tensor.zeros([N, M]).to('float16') as unknown as Tensor<'float32'> })).toThrow(TypeError);
    expect(() => linear(x, w32, null, { out: x as Tensor<'float32'> })).toThrow(/options.out/);
    const shared = new Float32Array(N * K + N * M);
    const xs = Tensor.from(shared.subarray(0, N * K), [N, K]);
    expect(() => linear(xs, w32, null, { out: Tensor.from(shared.subarray(N * K - 1, N * K - 1 + N * M), [N, M]) })).toThrow(/share memory with x/);
    expect(linear(xs, w32, null, { out: Tensor.from(shared.subarray(N * K), [N, M]) }).shape).toEqual([N, M]);
    const b = new Float32Array(M * 2);
    expect(() => linear(Tensor.from(randomArray(K, 4), [1, K]), w32, Tensor.from(b.subarray(0, M), [M]), { out: Tensor.from(b.subarray(M / 2, M / 2 + M), [1, M]) })).toThrow(/share memory with bias/);
    const wb = new Float32Array(M * K + M);
    const wv = Tensor.from(wb.subarray(0, M * K), [M, K]);
    expect(() => linear(Tensor.from(randomArray(K, 4), [1, K]), wv, null, { out: Tensor.from(wb.subarray(M * K - 1, M * K - 1 + M), [1, M]) })).toThrow(/share memory with w/);
    expect(() => linear(x, w32, null, { out: new Float32Array(N * M) as unknown as Tensor<'float32'> })).toThrow(TypeError);
  });
});

describe('matmul', () => {
  it('matches the reference a[M, K] · b[K, N] for odd shapes', async () => {
    for (const [M, K, N] of [[1, 1, 1], [3, 5, 7], [17, 33, 65], [64, 100, 3], [130, 70, 90]]) {
      const a = Tensor.from(randomArray(M * K, M), [M, K]);
      const b = Tensor.from(randomArray(K * N, N), [K, N]);
      const bt = new Float32Array(N * K);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bt[n * K + k] = b.data[k * N + n];
      const ref = linearRef(a.data, M, K, bt, N);
      const c = matmul(a, b);
      expect(c.shape).toEqual([M, N]);
      expect(firstMismatch(c.data, ref, K)).toBe(-1);
      expect(Array.from((await matmulAsync(a, b)).data)).toEqual(Array.from(c.data));
    }
  });

  it('handles empty dimensions', () => {
    expect(matmul(Tensor.zeros([0, 3]), Tensor.zeros([3, 2])).shape).toEqual([0, 2]);
    expect(Array.from(matmul(Tensor.zeros([2, 0]), Tensor.zeros([0, 2])).data)).toEqual([0, 0, 0, 0]);
  });
});
