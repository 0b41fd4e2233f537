import { describe, expect, it } from 'vitest';
import {
  cluster, clusterAsync, ClusteredTensor, getNumThreads, kmeans, kmeansAsync, linear, linearAsync, quantize, relativeError, setNumThreads, Tensor,
} from '../lib/index.js';
import type { ClusterOptions } from '../lib/index.js';
import {
  absmaxBaseline, clusteredInt8Ref, decodeClusteredRef, f16ToF32Ref, f32ToF16Ref, firstMismatch, inertiaRef, kmeans1dBrute, kmeans1dDivideConquer, linearRef, randomArray, rng, roundHalfEven, syntheticWeights,
} from './reference/index.js';
import { hasSilero, sileroTensors } from './reference/silero.js';

/** |a - b| within a tolerance relative to the problem's magnitude (Σ w x²). */
function closeCost(got: number, want: number, scale: number) {
  expect(Math.abs(got - want), `${got} vs ${want}`).toBeLessThanOrEqual(1e-9 * scale + 1e-12);
}

function scaleOf(values: ArrayLike<number>, weights?: ArrayLike<number> | null) {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (weights ? weights[i] : 1) * values[i] * values[i];
  return s;
}

describe('kmeans in 1-D (exact)', () => {
  it('matches a brute-force DP on small inputs: ties, repeated values, k >= distinct values, n < k, weights', () => {
    const r = rng(11);
    for (let trial = 0; trial < 150; trial++) {
      const n = 1 + Math.floor(r() * 40);
      const k = 1 + Math.floor(r() * 9);
      const kind = trial % 3;
      // integers (many ties / repeats), uniform floats, or clumps
      const values = Float32Array.from({ length: n }, () =>
        kind === 0 ? Math.floor(r() * 8) - 3 : kind === 1 ? r() * 2 - 1 : Math.floor(r() * 4) * 10 + r() * 0.01);
      const weights = trial % 2 ? Float32Array.from({ length: n }, () => (r() < 0.2 ? 0 : r() * 3)) : undefined;
      if (weights && !weights.some((v) => v > 0)) weights[0] = 1;
      const res = kmeans(values, { k, weights });
      const best = kmeans1dBrute(values, k, weights);
      const scale = scaleOf(values, weights);
      closeCost(res.inertia, best, scale);
      // the assignments realise that cost (with float32 centroids, to rounding)
      closeCost(inertiaRef(values, 1, res.centroids, res.assignments, weights), best, scale * 1e3);
      const distinct = new Set(Array.from(values).filter((_, i) => !weights || weights[i] > 0).map((v) => v + 0)).size;
      expect(res.clusters).toBe(Math.min(k, distinct));
      for (let c = 1; c < res.clusters; c++) expect(res.centroids[c]).toBeGreaterThan(res.centroids[c - 1]);
    }
  });

  it('gives zero inertia when k >= distinct values, and handles n < k and a single point', () => {
    const res = kmeans(Float32Array.of(3, 1, 3, 2), { k: 5 });
    expect(res.inertia).toBe(0);
    expect(Array.from(res.centroids)).toEqual([1, 2, 3]);
    expect(Array.from(res.assignments)).toEqual([2, 0, 2, 1]);
    const one = kmeans(Float32Array.of(-7), { k: 3 });
    expect([one.clusters, one.inertia, one.centroids[0]]).toEqual([1, 0, -7]);
  });

  it('is exact on large inputs (radix sort of float32, histogram of float16) with many repeats', () => {
    const r = rng(5);
    const n = 70000;
    const values = Float32Array.from({ length: n }, () => Math.floor(r() * 60) / 8 - 3);
    const weights = Float32Array.from({ length: n }, () => r());
    for (const k of [1, 4, 16]) {
      for (const w of [undefined, weights]) {
        const best = kmeans1dBrute(values, k, w);
        const scale = scaleOf(values, w);
        closeCost(kmeans(values, { k, weights: w }).inertia, best, scale);
        // same values as float16 (exact: multiples of 1/8): the histogram path
        const half = Tensor.from(Uint16Array.from(values, (v) => f32ToF16Ref(v)), [n], 'float16');
        closeCost(kmeans(half, { k, weights: w }).inertia, best, scale);
      }
    }
  });

  it('is exact on large layers (batched sweep with its exactness test and repairs, compact backtrack) with many distinct values, weighted or not, whatever the thread count', () => {
    // > 65,536 rows per DP layer: the linear-time row minima split over the pool
    const n = 150000;
    const values = syntheticWeights(n, 'student-t', rng(17));
    const weights = Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1000) / 250);
    const threads = getNumThreads();
    for (const k of [2, 3, 16]) {
      for (const w of [undefined, weights]) {
        const best = kmeans1dDivideConquer(values, k, w);
        const scale = scaleOf(values, w);
        const res = kmeans(values, { k, weights: w });
        closeCost(res.inertia, best, scale);
        closeCost(inertiaRef(values, 1, res.centroids, res.assignments, w), best, scale * 1e3);
        setNumThreads(1);
        const one = kmeans(values, { k, weights: w });
        setNumThreads(threads);
        expect(one.inertia).toBe(res.inertia);
        expect(Array.from(one.centroids)).toEqual(Array.from(res.centroids));
      }
    }
  });

  it('gives the same results from recycled working memory (blocks of 2 MiB and more kept between calls)', () => {
    // 300,000 values: the DP's working arrays pass 2 MiB, so later calls of
    // these sizes get the blocks earlier calls freed, uninitialised
    const a = syntheticWeights(300000, 'student-t', rng(23));
    const b = syntheticWeights(300000, 'gaussian', rng(29));
    const first = kmeans(a, { k: 16 });
    closeCost(first.inertia, kmeans1dDivideConquer(a, 16), scaleOf(a));
    kmeans(b, { k: 16 });
    kmeans(b.subarray(0, 290000), { k: 5 });
    const again = kmeans(a, { k: 16 });
    expect(again.inertia).toBe(first.inertia);
    expect(Array.from(again.centroids)).toEqual(Array.from(first.centroids));
    expect(Array.from(again.assignments)).toEqual(Array.from(first.assignments));
  });

  it('is exact on large layers of evenly spaced, clumped or heavily repeated values (flat stretches and jumps of the minimisers)', () => {
    // > 65,536 distinct values, so the batched sweep runs: a grid (many equal
    // costs), a grid with a few far clumps, and a grid whose values repeat
    // with varying weights
    const r = rng(23);
    const n = 140000;
    const grid = Float32Array.from({ length: n }, (_, i) => i % 70001);
    const clumps = Float32Array.from({ length: n }, (_, i) => (i % 9 === 0 ? 1e6 + (i % 5) : i));
    const weights = Float32Array.from({ length: n }, () => (r() < 0.1 ? 0 : 1 + Math.floor(r() * 4)));
    const threads = getNumThreads();
    for (const values of [grid, clumps]) {
      for (const k of [3, 16]) {
        for (const w of [undefined, weights]) {
          const best = kmeans1dDivideConquer(values, k, w);
          const scale = scaleOf(values, w);
          const res = kmeans(values, { k, weights: w });
          closeCost(res.inertia, best, scale);
          setNumThreads(1);
          const one = kmeans(values, { k, weights: w });
          setNumThreads(threads);
          expect(one.inertia).toBe(res.inertia);
          expect(Array.from(one.centroids)).toEqual(Array.from(res.centroids));
        }
      }
    }
  });

  it('clusters float16 values through their 16-bit histogram exactly as their float32 copies', () => {
    const n = 100000;
    const h = Uint16Array.from(syntheticWeights(n, 'gaussian', rng(3)), (v) => f32ToF16Ref(v));
    const f = Float32Array.from(h, (b) => f16ToF32Ref(b));
    const a = kmeans(Tensor.from(h, [n], 'float16'), { k: 16 }), b = kmeans(f, { k: 16 });
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
    expect(a.inertia).toBe(b.inertia);
    expect(Array.from(a.assignments.subarray(0, 1000))).toEqual(Array.from(b.assignments.subarray(0, 1000)));
  });

  it('assigns values by their cluster ranges, zero-weight values between ranges to the nearer centroid (ties lower), any k', () => {
    const r = rng(9);
    const n = 6000;
    // A coarse grid (repeats, exact midpoints) and some zero weights.
    const v = Float32Array.from({ length: n }, () => Math.round((r() - 0.5) * 400) / 16);
    const weights = Float32Array.from({ length: n }, () => (r() < 0.3 ? 0 : 1 + Math.floor(r() * 3)));
    for (const src of [v, Tensor.from(Uint16Array.from(v, (x) => f32ToF16Ref(x)), [n], 'float16')]) {
      const vals = src instanceof Float32Array ? src : Float32Array.from(src.data as Uint16Array, (h) => f16ToF32Ref(h));
      for (const k of [1, 3, 16, 17, 40]) {
        const res = kmeans(src, { k, weights });
        const kk = res.centroids.length;
        // Each cluster's range: its positive-weight members' min and max.
        const lo = new Array(kk).fill(Infinity), hi = new Array(kk).fill(-Infinity);
        for (let i = 0; i < n; i++) if (weights[i] > 0) {
          const c = res.assignments[i];
          lo[c] = Math.min(lo[c], vals[i]);
          hi[c] = Math.max(hi[c], vals[i]);
        }
        for (let c = 1; c < kk; c++) expect(lo[c]).toBeGreaterThan(hi[c - 1]);
        for (let i = 0; i < n; i++) {
          const x = vals[i];
          let want = hi.findIndex((h) => h >= x);
          if (want < 0) want = kk - 1;
          else if (want > 0 && x < lo[want]) want = x - res.centroids[want - 1] <= res.centroids[want] - x ? want - 1 : want;
          if (res.assignments[i] !== want) throw new Error(`k ${k} [${i}] = ${x}: ${res.assignments[i]}, want ${want}`);
        }
      }
    }
    // Exact ties: the even values carry the weight (and are the centroids), odd ones lie halfway.
    for (const k of [5, 20]) {
      const x = Float32Array.from({ length: 2 * k - 1 }, (_, i) => i);
      const res = kmeans(x, { k, weights: Float32Array.from(x, (_, i) => (i % 2 === 0 ? 1 : 0)) });
      expect(Array.from(res.assignments)).toEqual(Array.from(x, (_, i) => i >> 1));
    }
  });

  it('is the same sync and async', async () => {
    const v = randomArray(5000, 2);
    const a = kmeans(v, { k: 8 }), b = await kmeansAsync(v, { k: 8 });
    expect(b.inertia).toBe(a.inertia);
    expect(Array.from(b.assignments)).toEqual(Array.from(a.assignments));
  });
});

describe('kmeans on vectors (k-means++ and Lloyd)', () => {
  const points = (n: number, dim: number, seed: number) => {
    const r = rng(seed);
    // a few blobs plus noise
    return Float32Array.from({ length: n * dim }, (_, i) => Math.floor((i / dim) % 5) + (r() - 0.5) * 0.8);
  };

  it('never increases the inertia across iterations, and reports the inertia of its result', () => {
    for (const dim of [2, 3, 8]) {
      const p = points(3000, dim, dim);
      const w = Float32Array.from({ length: 3000 }, (_, i) => 1 + (i % 3));
      for (const weights of [undefined, w]) {
        const res = kmeans(p, { k: 12, dim, maxIter: 30, tolerance: 0, seed: 4, weights });
        for (let i = 1; i < res.history.length; i++) {
          expect(res.history[i], `dim ${dim} iteration ${i}`).toBeLessThanOrEqual(res.history[i - 1] * (1 + 1e-6));
        }
        expect(res.history.length).toBe(res.iterations + 1);
        const ref = inertiaRef(p, dim, res.centroids, res.assignments, weights);
        expect(Math.abs(res.inertia - ref) / ref).toBeLessThan(1e-5);
      }
    }
  });

  it('assigns every point to its nearest centroid', () => {
    const dim = 4, p = points(2000, dim, 9);
    const res = kmeans(p, { k: 20, dim, seed: 2 });
    for (let i = 0; i < 2000; i++) {
      const d = (c: number) => { let s = 0; for (let t = 0; t < dim; t++) s += (p[i * dim + t] - res.centroids[c * dim + t]) ** 2; return s; };
      const mine = d(res.assignments[i]);
      for (let c = 0; c < res.clusters; c++) expect(mine).toBeLessThanOrEqual(d(c) * (1 + 1e-6) + 1e-12);
    }
  });

  it('is deterministic for a seed, whatever the thread count, sync or async', async () => {
    const dim = 8, p = points(20000, dim, 1);
    const a = kmeans(p, { k: 32, dim, seed: 7, maxIter: 5 });
    const threads = getNumThreads();
    setNumThreads(1);
    const b = kmeans(p, { k: 32, dim, seed: 7, maxIter: 5 });
    setNumThreads(threads);
    const c = await kmeansAsync(p, { k: 32, dim, seed: 7, maxIter: 5 });
    for (const x of [b, c]) {
      expect(Array.from(x.centroids)).toEqual(Array.from(a.centroids));
      expect(x.history).toEqual(a.history);
    }
    const d = kmeans(p, { k: 32, dim, seed: 8, maxIter: 5 });
    expect(Array.from(d.centroids)).not.toEqual(Array.from(a.centroids));
  });

  it("runs Lloyd in 1-D with method 'lloyd', never below the exact optimum", () => {
    const v = randomArray(3000, 12);
    const l = kmeans(v, { k: 8, method: 'lloyd', seed: 3 }), e = kmeans(v, { k: 8 });
    expect(l.inertia).toBeGreaterThanOrEqual(e.inertia * (1 - 1e-6));
    expect(l.inertia).toBeLessThan(e.inertia * 1.2);
  });

  it('returns fewer clusters than k when there are fewer distinct points', () => {
    const p = Float32Array.of(1, 1, 2, 2, 1, 1, 5, 5);
    const res = kmeans(p, { k: 6, dim: 2 });
    expect(res.clusters).toBe(3);
    expect(res.inertia).toBe(0);
  });
});

describe('cluster', () => {
  const M = 9, K = 96;
  const w = Tensor.from(syntheticWeights(M * K, 'student-t', rng(21)), [M, K]);
  const SETTINGS: ClusterOptions[] = [];
  for (const bits of [1, 2, 3, 4, 5, 6, 7, 8]) SETTINGS.push({ bits });
  for (const dim of [2, 4, 8] as const) SETTINGS.push({ bits: 4, dim }, { bits: 2, dim, granularity: 'tensor' }, { bits: 3, dim, granularity: 'group', groupSize: 4 });
  SETTINGS.push({ bits: 4, granularity: 'tensor', codebookType: 'float32' }, { bits: 3, granularity: 'group', groupSize: 2 }, { bits: 8, dim: 2, codebookType: 'float32' });

  it('decodes (toDense) exactly as the reference unpacking of indices and codebooks', () => {
    for (const o of SETTINGS) {
      const c = cluster(w, o);
      const got = c.toDense().data, want = decodeClusteredRef(c);
      for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) throw new Error(`${JSON.stringify(o)} [${i}]: ${got[i]} vs ${want[i]}`);
    }
  });

  it('maps every scalar weight to its nearest codebook entry, and is exact per codebook (float32 codebook)', () => {
    for (const granularity of ['row', 'tensor'] as const) {
      const c = cluster(w, { bits: 3, granularity, codebookType: 'float32' });
      const d = c.toDense().data;
      for (let m = 0; m < M; m++) {
        const book = granularity === 'row' ? m : 0;
        const entries = Array.from(c.codebook.subarray(book * 8, book * 8 + 8));
        for (let k = 0; k < K; k++) {
          const v = w.data[m * K + k];
          const best = Math.min(...entries.map((e) => Math.abs(e - v)));
          expect(Math.abs(d[m * K + k] - v)).toBe(best);
        }
      }
      // the error equals the exact optimum (up to float32 rounding of the centroids)
      const rows = granularity === 'row' ? Array.from({ length: M }, (_, m) => w.data.subarray(m * K, (m + 1) * K)) : [w.data];
      const best = rows.reduce((s, r) => s + kmeans1dBrute(r, 8), 0);
      let err = 0;
      for (let i = 0; i < M * K; i++) err += (w.data[i] - d[i]) ** 2;
      expect(Math.abs(err - best) / best).toBeLessThan(1e-5);
    }
  });

  it('takes the nearest stored entry, ties to the lower one, for every codebook size and type (float thresholds, 16-bit tables)', () => {
    // A coarse grid makes repeated values and exact midpoints between entries likely.
    const r = rng(5);
    const grid = Tensor.from(Float32Array.from({ length: M * K }, () => Math.round((r() - 0.5) * 40) / 8), [M, K]);
    let ties = 0;
    for (const src of [w, grid, grid.to('float16')]) {
      const vals = src.toFloat32().data;
      for (const bits of [1, 2, 3, 4, 5, 8]) {
        for (const granularity of ['row', 'tensor'] as const) {
          for (const codebookType of ['float16', 'float32'] as const) {
            const c = cluster(src, { bits, granularity, codebookType });
            const d = c.toDense().data, E = 2 ** bits;
            for (let m = 0; m < M; m++) {
              const book = granularity === 'row' ? m : 0;
              const entries = Array.from(codebookType === 'float32' ? c.codebook.subarray(book * E, (book + 1) * E)
                : Array.from(c.codebook.subarray(book * E, (book + 1) * E), (h) => f16ToF32Ref(h)));
              for (let k = 0; k < K; k++) {
                const v = vals[m * K + k];
                let best = 0;
                for (let e = 1; e < E; e++) if (Math.abs(entries[e] - v) < Math.abs(entries[best] - v)) best = e;
                if (entries.some((e) => e !== entries[best] && Math.abs(e - v) === Math.abs(entries[best] - v))) ties++;
                if (d[m * K + k] !== entries[best]) throw new Error(`${JSON.stringify({ bits, granularity, codebookType })} [${m}, ${k}] = ${v}: ${d[m * K + k]}, nearest ${entries[best]}`);
              }
            }
          }
        }
      }
    }
    // Exact midpoints: the even multiples of 0.25 carry all the importance, so they are the entries; odd ones lie halfway.
    for (const bits of [1, 2, 3, 4, 5, 8]) {
      const E = 2 ** bits, KK = 2 * E;
      const v = Tensor.from(Float32Array.from({ length: 3 * KK }, (_, i) => (i % KK) * 0.25), [3, KK]);
      const importance = Tensor.from(Float32Array.from({ length: 3 * KK }, (_, i) => (i % 2 === 0 ? 1 : 0)), [3, KK]);
      for (const codebookType of ['float16', 'float32'] as const) {
        const d = cluster(v, { bits, codebookType, importance }).toDense().data;
        for (let i = 0; i < d.length; i++) {
          const k = i % KK, want = Math.min(k - (k % 2), KK - 2) * 0.25;
          if (k % 2 === 1 && k < KK - 1) ties++;
          if (d[i] !== want) throw new Error(`bits ${bits} ${codebookType} [${i}] = ${v.data[i]}: ${d[i]}, want ${want}`);
        }
      }
    }
    expect(ties).toBeGreaterThan(0);
  });

  it('reports its storage exactly, codebooks counted', () => {
    const c4 = cluster(w, { bits: 4 });
    expect(c4.indices.byteLength).toBe(M * 64); // K = 96: one superblock of 128, zero-padded
    expect(c4.codebook.byteLength).toBe(M * 16 * 2);
    expect(c4.byteLength).toBe(M * 64 + M * 32);
    expect(c4.bitsPerWeight).toBeCloseTo(((64 + 32) * 8) / 96);
    expect(cluster(w, { bits: 3, granularity: 'tensor' }).byteLength).toBe(M * 3 * 12 + 8 * 2); // 3 blocks of 32
    expect(cluster(w, { bits: 5, granularity: 'tensor' }).indices.byteLength).toBe(M * 80);
    const v = cluster(w, { bits: 4, dim: 4, granularity: 'tensor', codebookType: 'float32' });
    expect(v.byteLength).toBe(M * 64 + 16 * 4 * 4); // 24 indices per row -> one padded superblock
    expect([v.books, v.rowBytes, v.groupSize]).toEqual([1, 64, M]);
    const wide = cluster(Tensor.from(randomArray(2 * 4096, 3), [2, 4096]), { bits: 4 });
    expect(wide.bitsPerWeight).toBeCloseTo(4 + (16 * 2 * 8) / 4096); // no padding when 128 divides K / dim
  });

  it('beats int4 symmetric absmax at equal bits per weight (per-row 4-bit, float16 codebook)', () => {
    const Mq = 8, Kq = 4096;
    for (const kind of ['gaussian', 'student-t'] as const) {
      const data = syntheticWeights(Mq * Kq, kind, rng(8));
      const t = Tensor.from(data, [Mq, Kq]);
      const c = cluster(t, { bits: 4, granularity: 'row' });
      // int4 with one float16 scale per 256 weights: 4 + 16/256 = 4.0625 bits, as 4 + 16·16/4096
      expect(c.bitsPerWeight).toBe(4 + 16 / 256);
      const base = relativeError(t, absmaxBaseline(data, Mq, Kq, 4, 256));
      const mine = relativeError(t, c);
      expect(mine, `${kind}: ${mine} vs ${base}`).toBeLessThan(base);
      expect(mine).toBeLessThan(relativeError(t, quantize(t, { bits: 4, groupSize: 256 })));
    }
  });

  it('weights the clustering by importance', () => {
    const Mi = 4, Ki = 512;
    const data = syntheticWeights(Mi * Ki, 'gaussian', rng(4));
    const imp = Float32Array.from({ length: Mi * Ki }, (_, i) => (i % 7 === 0 ? 100 : 0.01));
    const t = Tensor.from(data, [Mi, Ki]);
    const weighted = (c: ClusteredTensor) => {
      const d = c.toDense().data;
      let s = 0;
      for (let i = 0; i < d.length; i++) s += imp[i] * (d[i] - data[i]) ** 2;
      return s;
    };
    for (const dim of [1, 2] as const) {
      const plain = cluster(t, { bits: 3, dim });
      const imp3 = cluster(t, { bits: 3, dim, importance: Tensor.from(imp, [Mi, Ki]) });
      expect(weighted(imp3)).toBeLessThan(weighted(plain));
    }
  });

  it('clusters float16 and bfloat16 weights as their float32 values', () => {
    const h = w.to('float16');
    const a = cluster(h, { bits: 4 }), b = cluster(h.toFloat32(), { bits: 4 });
    expect(Array.from(a.codebook)).toEqual(Array.from(b.codebook));
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    const bf = w.to('bfloat16');
    expect(Array.from(cluster(bf, { bits: 2, dim: 2 }).indices)).toEqual(Array.from(cluster(bf.toFloat32(), { bits: 2, dim: 2 }).indices));
  });

  it('is the same sync and async', async () => {
    for (const o of [{ bits: 4 }, { bits: 3, dim: 4 as const }]) {
      const a = cluster(w, o), b = await clusterAsync(w, o);
      expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
      expect(Array.from(b.codebook)).toEqual(Array.from(a.codebook));
    }
  });
});

describe('linear on clustered weights (codebook lookups in registers)', () => {
  const SHAPES: [number, number, number][] = [[1, 1, 8], [1, 9, 64], [2, 13, 96], [3, 5, 40], [8, 17, 256], [13, 33, 168], [50, 12, 64], [1, 40, 1024], [1, 11, 48], [2, 7, 56], [1, 19, 200], [2, 6, 328]];
  const SETTINGS: ClusterOptions[] = [
    { bits: 1 }, { bits: 2 }, { bits: 3 }, { bits: 4 }, { bits: 5 }, { bits: 6, codebookType: 'float32' }, { bits: 7 }, { bits: 8 },
    { bits: 4, granularity: 'tensor' }, { bits: 3, granularity: 'group', groupSize: 3 }, { bits: 8, granularity: 'tensor', codebookType: 'float32' },
    { bits: 4, dim: 2 }, { bits: 2, dim: 4 }, { bits: 3, dim: 8 }, { bits: 8, dim: 2 }, { bits: 5, dim: 4, granularity: 'tensor' },
  ];
  for (const o of SETTINGS) {
    it(`matches the reference on ${JSON.stringify(o)} for odd shapes`, () => {
      SHAPES.forEach(([N, M, K], i) => {
        if (K % (o.dim ?? 1) !== 0) return;
        const w = Tensor.from(randomArray(M * K, 60 + i), [M, K]);
        const c = cluster(w, { ...o, maxIter: 4 });
        const x = Tensor.from(randomArray(N * K, 90 + i), [N, K]);
        const bias = i % 2 ? Tensor.from(randomArray(M, 7), [M]) : undefined;
        const y = linear(x, c, bias);
        const ref = linearRef(x.data, N, K, decodeClusteredRef(c), M, bias?.data);
        const bad = firstMismatch(y.data, ref, K);
        expect(bad, `N=${N} M=${M} K=${K}: y[${bad}] = ${y.data[bad]} vs ${ref.y[bad]}`).toBe(-1);
      });
    });
  }

  it('is the same sync and async, and independent of N', async () => {
    const M = 70, K = 256;
    const c = cluster(Tensor.from(randomArray(M * K, 1), [M, K]), { bits: 3 });
    const x = Tensor.from(randomArray(9 * K, 2), [9, K]);
    const all = linear(x, c).data;
    expect(Array.from((await linearAsync(x, c)).data)).toEqual(Array.from(all));
    const one = linear(Tensor.from(x.data.subarray(4 * K, 5 * K), [1, K]), c).data;
    expect(Array.from(one)).toEqual(Array.from(all.subarray(4 * M, 5 * M)));
  });
});

describe("linear on 4-bit clustered weights with activations: 'int8' (integer dot products, VPSHUFB lookups)", () => {
  const SHAPES: [number, number, number][] = [[1, 1, 8], [1, 9, 64], [2, 13, 96], [3, 5, 40], [8, 17, 256], [13, 33, 168], [50, 12, 64], [1, 40, 1024], [1, 19, 200], [2, 6, 328], [5, 23, 129]];
  const SETTINGS: ClusterOptions[] = [
    { bits: 4 }, { bits: 4, codebookType: 'float32' }, { bits: 4, granularity: 'tensor' }, { bits: 4, granularity: 'group', groupSize: 3 },
  ];
  const int8 = { activations: 'int8' as const };
  for (const o of SETTINGS) {
    it(`matches the reference on ${JSON.stringify(o)} for odd shapes (K not a multiple of 32 or 128, N = 1, M = 1)`, () => {
      SHAPES.forEach(([N, M, K], i) => {
        const c = cluster(Tensor.from(randomArray(M * K, 260 + i), [M, K]), o);
        const x = Tensor.from(randomArray(N * K, 290 + i), [N, K]);
        const bias = i % 2 ? Tensor.from(randomArray(M, 7), [M]) : undefined;
        const y = linear(x, c, bias, int8);
        const r = clusteredInt8Ref(c, x.data, N);
        const ref = linearRef(r.x, N, K, r.w, M, bias?.data);
        const bad = firstMismatch(y.data, ref, K);
        expect(bad, `N=${N} M=${M} K=${K}: y[${bad}] = ${y.data[bad]} vs ${ref.y[bad]}`).toBe(-1);
      });
    });
  }

  it('rounds activation ties to even and lays the codes out exactly (integer inputs, exact outputs)', () => {
    // Codebooks with max |entry| 127 (scale 1) and activation groups with max |x| 254 (scale 2): every
    // odd activation is a tie, and every product and sum is an exact integer in float32.
    const M = 3, K = 300, steps = Math.ceil(K / 128);
    const next = rng(77);
    const codebook = new Float32Array(M * 16);
    for (let i = 0; i < codebook.length; i++) codebook[i] = i % 16 === 0 ? 127 : Math.floor(next() * 255) - 127;
    const indices = new Uint8Array(M * steps * 64);
    for (let i = 0; i < indices.length; i++) indices[i] = Math.floor(next() * 256);
    const c = new ClusteredTensor({ shape: [M, K], bits: 4, dim: 1, granularity: 'row', groupSize: 1, codebookType: 'float32', codebook, indices });
    const N = 2;
    const x = new Float32Array(N * K);
    for (let i = 0; i < x.length; i++) x[i] = Math.floor(next() * 507) - 253;
    for (let n = 0; n < N; n++)
      for (let s0 = 0; s0 < K; s0 += 128) for (let g = 0; g < 4; g++) if (s0 + 4 * g < K) x[n * K + s0 + 4 * g] = g % 2 ? 254 : -254;
    const y = linear(Tensor.from(x, [N, K]), c, null, int8).data;
    const w = decodeClusteredRef(c);
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++) {
        let want = 0;
        // Group g's smallest index in a step is 4g (set to ±254 above), so every group with a member
        // below K has scale 2, the tail step's included.
        for (let k = 0; k < K; k++) want += roundHalfEven(x[n * K + k] / 2) * 2 * w[m * K + k];
        expect(y[n * M + m], `y[${n}, ${m}]`).toBe(want);
      }
  });

  it('handles all-zero codebooks and activations, huge activations and outliers', () => {
    const M = 6, K = 256;
    const c = cluster(Tensor.from(randomArray(M * K, 3), [M, K]), { bits: 4, codebookType: 'float32' });
    (c.codebook as Float32Array).fill(0, 16, 32);  // book of row 1: scale 0
    const x = randomArray(3 * K, 4);
    x.fill(0, K, 2 * K);                            // row 1: all zero
    for (let k = 0; k < K; k++) x[2 * K + k] *= 1e30;
    x[2 * K + 5] = 3e33;                            // one outlier in a group
    const y = linear(Tensor.from(x, [3, K]), c, null, int8).data;
    const r = clusteredInt8Ref(c, x, 3);
    const ref = linearRef(r.x, 3, K, r.w, M);
    expect(firstMismatch(y, ref, K)).toBe(-1);
    for (let n = 0; n < 3; n++) expect(y[n * M + 1]).toBe(0);
    for (let m = 0; m < M; m++) expect(y[M + m]).toBe(0);
  });

  it('gives bit-identical outputs for any N and thread count, sync or async', async () => {
    const M = 45, K = 448;  // on one thread: tasks of 16 rows and a last of 13 (at N = 1, stripes of 2 rows)
    const c = cluster(Tensor.from(randomArray(M * K, 6), [M, K]), { bits: 4 });
    const x = Tensor.from(randomArray(9 * K, 5), [9, K]);
    const all = linear(x, c, null, int8).data;
    for (let n = 0; n < 9; n++) {
      const one = linear(Tensor.from(x.data.subarray(n * K, (n + 1) * K), [1, K]), c, null, int8).data;
      expect(Array.from(one), `row ${n}`).toEqual(Array.from(all.subarray(n * M, (n + 1) * M)));
    }
    expect(Array.from((await linearAsync(x, c, null, int8)).data)).toEqual(Array.from(all));
    const threads = getNumThreads();
    try {
      setNumThreads(1);
      expect(Array.from(linear(x, c, null, int8).data)).toEqual(Array.from(all));
      const one = linear(Tensor.from(x.data.subarray(4 * K, 5 * K), [1, K]), c, null, int8).data;
      expect(Array.from(one), 'row 4, one thread').toEqual(Array.from(all.subarray(4 * M, 5 * M)));
    } finally {
      setNumThreads(threads);
    }
  });

  it('adds a small error over float32 activations (measured here: relative RMSE of y)', () => {
    const M = 256, K = 1024, N = 4;
    const x = Tensor.from(randomArray(N * K, 2), [N, K]);
    const lines: string[] = [];
    // Heavy tails put a codebook entry far out, which coarsens the int8 grid for the others.
    for (const [kind, bound] of [['gaussian', 0.015], ['student-t', 0.06]] as const) {
      const c = cluster(Tensor.from(syntheticWeights(M * K, kind, rng(8)), [M, K]), { bits: 4 });
      const err = relativeError(linear(x, c), linear(x, c, null, int8));
      lines.push(`${kind} weights: ${err.toExponential(2)}`);
      expect(err).toBeLessThan(bound);
    }
    console.info(`4-bit clustered, int8 activations vs float32 activations, relative RMSE of y (uniform random x):\n${lines.join('\n')}`);
  });

  it.skipIf(!hasSilero)('adds little to the clustering error on real weights (silero_vad_v5, when present)', () => {
    const lines: string[] = [];
    for (const { name, data, M, K } of sileroTensors()) {
      const w = Tensor.from(data, [M, K]);
      const c = cluster(w, { bits: 4 });
      const x = Tensor.from(randomArray(8 * K, 9), [8, K]);
      const exact = linear(x, w);
      const viaFloat = relativeError(exact, linear(x, c)), viaInt8 = relativeError(exact, linear(x, c, null, int8));
      lines.push(`${name} ${M}x${K}: float32 activations ${viaFloat.toFixed(4)}, int8 ${viaInt8.toFixed(4)}`);
      expect(viaInt8, name).toBeLessThan(1.25 * viaFloat);
    }
    console.info(`4-bit per-row clustered linear on silero_vad_v5, relative RMSE of y against the unclustered weights:\n${lines.join('\n')}`);
  });
});

describe('clustering rejects bad input with clear errors', () => {
  const w = Tensor.from(randomArray(4 * 12, 1), [4, 12]);
  it('kmeans', () => {
    expect(() => kmeans(Float32Array.of(1, 2), { k: 0 })).toThrow(/Expected an integer in \[1, 16777216\] for opts\.k but received 0/);
    expect(() => kmeans(new Float32Array(0), { k: 2 })).toThrow(/at least one point for points/);
    expect(() => kmeans(Float32Array.of(1, NaN, 3), { k: 2 })).toThrow(/Expected finite values for points but received a NaN or Infinity at index 1/);
    expect(() => kmeans(Float32Array.of(1, 2, 3, NaN), { k: 2, dim: 2 })).toThrow(/finite values for points but received NaN at index 3/);
    expect(() => kmeans(Float32Array.of(1, 2, 3), { k: 2, dim: 2 })).toThrow(/Expected a divisor of the number of values \(3\) for opts\.dim/);
    expect(() => kmeans(Float32Array.of(1, 2), { k: 2, weights: Float32Array.of(1, -1) })).toThrow(/finite weights >= 0 for opts.weights but received -1 at index 1/);
    expect(() => kmeans(Float32Array.of(1, 2), { k: 2, weights: Float32Array.of(0, 0) })).toThrow(RangeError);
    expect(() => kmeans(Float32Array.of(1, 2), { k: 2, weights: Float32Array.of(1) })).toThrow(RangeError);
    expect(() => kmeans([1, 2] as unknown as Float32Array, { k: 2 })).toThrow(TypeError);
    expect(() => kmeans(Float32Array.of(1, 2), { k: 2, init: 'random' as 'kmeans++' })).toThrow(RangeError);
    expect(() => kmeans(Float32Array.of(1, 2), undefined as unknown as { k: number })).toThrow(TypeError);
    expect(() => kmeans(Float32Array.of(1, 2, 3, 4), { k: 2, dim: 2, method: 'exact' })).toThrow(/'lloyd' for dim > 1/);
  });
  it('cluster', () => {
    expect(() => cluster(w, { bits: 0 })).toThrow(/Expected an integer in \[1, 8\] for opts\.bits but received 0/);
    expect(() => cluster(w, { bits: 9 })).toThrow(RangeError);
    expect(() => cluster(w, { dim: 8 })).toThrow(/Expected a divisor of K = 12 for opts\.dim but received 8/);
    expect(() => cluster(w, { dim: 3 as 2 })).toThrow(/1, 2, 4 or 8 for opts\.dim/);
    expect(() => cluster(w, { granularity: 'group' })).toThrow(/opts\.groupSize/);
    expect(() => cluster(w, { granularity: 'column' as 'row' })).toThrow(RangeError);
    expect(() => cluster(Tensor.zeros([0, 4]))).toThrow(/non-empty tensor for w/);
    expect(() => cluster(Tensor.from(Float32Array.of(1, Infinity, 3, 4), [2, 2]))).toThrow(/finite weights for w but received a NaN or Infinity at index 1/);
    expect(() => cluster(Tensor.from(Float32Array.of(1, 2, 3, NaN), [2, 2]), { dim: 2 })).toThrow(/index 3/);
    expect(() => cluster(w, { importance: Tensor.zeros([4, 11]) })).toThrow(/shape \[4, 12\] for opts\.importance/);
    expect(() => cluster(w, { importance: Tensor.from(new Float32Array(48).fill(-1), [4, 12]) })).toThrow(/finite values >= 0 for opts\.importance/);
    expect(() => cluster(Tensor.from(Float32Array.of(1e6, 2), [1, 2]), { bits: 1 })).toThrow(/float16/);
    expect(() => cluster(Tensor.from([1, 2, 3], [3]))).toThrow(/shape \[M, K\]/);
  });
  it('linear with clustered weights', () => {
    const c = cluster(w, { bits: 2 });
    expect(() => linear(Tensor.zeros([1, 12]), c, null, { activations: 'int8' })).toThrow(/'int8' needs clustered weights with bits 4 and dim 1 for options.activations but received bits 2, dim 1/);
    const c4 = cluster(Tensor.from(randomArray(4 * 16, 1), [4, 16]), { bits: 4, dim: 2 });
    expect(() => linear(Tensor.zeros([1, 16]), c4, null, { activations: 'int8' })).toThrow(/bits 4, dim 2/);
    const x = new Float32Array(12);
    x[7] = NaN;
    expect(() => linear(Tensor.from(x, [1, 12]), cluster(w, { bits: 4 }), null, { activations: 'int8' })).toThrow(/finite values with activations: 'int8' for x but received NaN at index 7/);
    const c300 = cluster(Tensor.from(randomArray(4 * 300, 2), [4, 300]), { bits: 4 });
    const x300 = randomArray(2 * 300, 3);
    x300[599] = -Infinity;  // past the scan's first blocks, in the second row
    expect(() => linear(Tensor.from(x300, [2, 300]), c300, null, { activations: 'int8' })).toThrow(/received -Infinity at index 599/);
    expect(() => linear(Tensor.zeros([1, 11]), c)).toThrow(/shape \[\.\.\., 12\]/);
  });
});
