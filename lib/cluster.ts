// k-means clustering (exact in 1-D, k-means++ and Lloyd for vectors) and
// weight clustering (palettization): ClusteredTensor, computed on by `linear`.
import { native, NativeWeightType, type NativeClusteredInt8Books, type NativeClusteredWeights } from './binding.js';
import { checkInteger, rangeError, received, typeError } from './errors.js';
import { LUT4_ENTRIES, SparseTensor } from './sparse.js';
import { checkTensor, Tensor } from './tensor.js';
import { alignedArray, alignedCopy } from './memory.js';

// ------------------------------------------------------------------ kmeans

export interface KmeansOptions {
  /** Number of clusters (>= 1). Fewer are returned when there are fewer distinct points. */
  k: number;
  /** Entries per point (default 1). dim = 1 is solved exactly (dynamic programming); init, maxIter, tolerance and seed are then unused. */
  dim?: number;
  /** Per-point weights (finite, >= 0, not all zero), one per point. */
  weights?: Float32Array | Tensor<'float32'>;
  /** 'exact' (default for dim 1: the optimal clustering) or 'lloyd' (k-means++ and Lloyd iterations; the only choice for dim > 1). */
  method?: 'exact' | 'lloyd';
  /** Seeding of Lloyd (only 'kmeans++'). */
  init?: 'kmeans++';
  /** Lloyd iterations after seeding (default 50). */
  maxIter?: number;
  /** Stop when an iteration lowers the inertia by at most tolerance × inertia (default 1e-4). */
  tolerance?: number;
  /** Seed of the k-means++ sampling (an integer, default 0): equal seeds give equal results. */
  seed?: number;
}

export interface KmeansResult {
  /** [clusters, dim] centroids, row-major (1-D: sorted ascending). */
  centroids: Float32Array;
  /** Cluster of each point. */
  assignments: Int32Array;
  /** Σ weight · |point − centroid|² (1-D: the exact optimum, computed in float64). */
  inertia: number;
  /** Clusters found: min(k, distinct points) in 1-D; at most k for vectors. */
  clusters: number;
  /** Lloyd iterations run (0 in 1-D). */
  iterations: number;
  /** Inertia after seeding and after each Lloyd iteration (1-D: [inertia]); never increases. */
  history: number[];
}

type Points = Float32Array | Tensor<'float32' | 'float16' | 'bfloat16'>;

function pointValues(points: unknown): { data: Float32Array | Uint16Array; vtype: NativeWeightType } {
  if (points instanceof Float32Array) return { data: points, vtype: NativeWeightType.float32 };
  if (!(points instanceof Tensor)) throw typeError('points', 'a Float32Array or a Tensor', points);
  const t = checkTensor('points', points);
  if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16') {
    throw typeError('points', "a 'float32', 'float16' or 'bfloat16' tensor", t);
  }
  return { data: t.data as Float32Array | Uint16Array, vtype: NativeWeightType[t.dtype as 'float32' | 'float16' | 'bfloat16'] };
}

function checkWeights(argument: string, w: unknown, n: number): Float32Array | null {
  if (w === undefined || w === null) return null;
  let d: Float32Array;
  if (w instanceof Float32Array) d = w;
  else if (w instanceof Tensor) {
    const t = checkTensor(argument, w);
    if (t.dtype !== 'float32') throw typeError(argument, "a 'float32' tensor", t);
    d = t.data as Float32Array;
  } else throw typeError(argument, 'a Float32Array or a float32 Tensor', w);
  if (d.length !== n) throw rangeError(argument, `${n} weights (one per point)`, received(`${d.length}`));
  let any = false;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!(v >= 0) || v === Infinity) throw rangeError(argument, 'finite weights >= 0', received(`${v} at index ${i}`));
    if (v > 0) any = true;
  }
  if (!any) throw rangeError(argument, 'at least one positive weight', received('all zero'));
  return d;
}

function checkFinite(argument: string, d: Float32Array) {
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) throw rangeError(argument, 'finite values', received(`${d[i]} at index ${i}`));
  }
}

interface KmeansCall {
  run(async: false): KmeansResult;
  run(async: true): Promise<KmeansResult>;
}

function prepareKmeans(points: unknown, opts: unknown): KmeansCall {
  if (typeof opts !== 'object' || opts === null) throw typeError('opts', 'an options object with k', opts);
  const o = opts as KmeansOptions;
  const k = checkInteger('opts.k', o.k, 1, 2 ** 24);
  const dim = checkInteger('opts.dim', o.dim ?? 1, 1, 4096);
  if ((o.init ?? 'kmeans++') !== 'kmeans++') throw rangeError('opts.init', "'kmeans++'", o.init);
  const maxIter = checkInteger('opts.maxIter', o.maxIter ?? 50, 0, 100000);
  const tolerance = o.tolerance ?? 1e-4;
  if (typeof tolerance !== 'number' || !(tolerance >= 0) || tolerance === Infinity) throw rangeError('opts.tolerance', 'a finite number >= 0', tolerance);
  const seed = checkInteger('opts.seed', o.seed ?? 0, 0);
  const { data, vtype } = pointValues(points);
  if (data.length === 0) throw rangeError('points', 'at least one point', received('an empty array'));
  if (data.length % dim !== 0) throw rangeError('opts.dim', `a divisor of the number of values (${data.length})`, dim);
  const n = data.length / dim;
  const weights = checkWeights('opts.weights', o.weights, n);
  const method = o.method ?? (dim === 1 ? 'exact' : 'lloyd');
  if (method !== 'exact' && method !== 'lloyd') throw rangeError('opts.method', "'exact' or 'lloyd'", method);
  if (method === 'exact' && dim !== 1) throw rangeError('opts.method', "'lloyd' for dim > 1 (exact needs dim 1)", method);

  if (method === 'exact') {
    const centroids = new Float64Array(k), assignments = new Int32Array(n), stats = new Float64Array(4);
    const finish = (): KmeansResult => {
      if (stats[0] === 1) throw rangeError('points', 'finite values', received(`a NaN or Infinity at index ${stats[1]}`));
      if (stats[0] === 3) throw rangeError('opts.k', '(k - 1) × distinct values <= 2^31 for exact 1-D k-means (use fewer clusters, 16-bit values, or a row/group granularity)', k);
      const clusters = stats[3];
      return {
        centroids: Float32Array.from(centroids.subarray(0, clusters)), assignments, inertia: stats[2], clusters,
        iterations: 0, history: [stats[2]],
      };
    };
    return {
      run: ((async: boolean) => async
        ? native.kmeans1d(data, vtype, weights, k, centroids, assignments, stats, true).then(finish)
        : (native.kmeans1d(data, vtype, weights, k, centroids, assignments, stats, false), finish())) as KmeansCall['run'],
    };
  }
  let f: Float32Array;
  if (data instanceof Float32Array) f = data;
  else f = (points as Tensor).toFloat32().data;
  checkFinite('points', f);
  const centroids = new Float32Array(k * dim), assignments = new Int32Array(n), stats = new Float64Array(6 + maxIter);
  const finish = (): KmeansResult => {
    const clusters = stats[3], iterations = stats[4];
    return {
      centroids: centroids.slice(0, clusters * dim), assignments, inertia: stats[2], clusters, iterations,
      history: Array.from(stats.subarray(5, 6 + iterations)),
    };
  };
  return {
    run: ((async: boolean) => async
      ? native.kmeans(f, n, dim, weights, k, maxIter, tolerance, seed, centroids, assignments, stats, true).then(finish)
      : (native.kmeans(f, n, dim, weights, k, maxIter, tolerance, seed, centroids, assignments, stats, false), finish())) as KmeansCall['run'],
  };
}

/**
 * k-means of `points` (n × dim values, row-major; a Float32Array or a float32
 * / float16 / bfloat16 Tensor, flattened). dim = 1 is solved exactly by default
 * (sorted distinct values with their weights, then the layered dynamic
 * program: a batched SIMD sweep of each layer's monotone row minima, checked
 * exact by a neighbour test, on large layers, divide and conquer on small
 * ones); dim > 1 runs k-means++ seeding and Lloyd iterations with SIMD
 * distances on the thread pool. Deterministic for a given seed, whatever the
 * thread count.
 */
export function kmeans(points: Points, opts: KmeansOptions): KmeansResult {
  return prepareKmeans(points, opts).run(false);
}

/** `kmeans` off the event loop (inputs are kept alive until it settles). */
export async function kmeansAsync(points: Points, opts: KmeansOptions): Promise<KmeansResult> {
  return prepareKmeans(points, opts).run(true);
}

// ------------------------------------------------------------------ cluster

export type ClusterGranularity = 'tensor' | 'row' | 'group';

export interface ClusterOptions {
  /** Index bits, 1..8: 2^bits codebook entries (default 4). */
  bits?: number;
  /** One codebook for the whole tensor, per row, or per `groupSize` consecutive rows (default 'row'). */
  granularity?: ClusterGranularity;
  /** Rows sharing a codebook with granularity 'group' (>= 1). */
  groupSize?: number;
  /** Weights per codebook entry, consecutive along K: 1 (scalar, exact k-means) or 2, 4, 8 (vector k-means); must divide K (default 1). */
  dim?: 1 | 2 | 4 | 8;
  /** Per-element importance [M, K] (e.g. squared gradients, as SqueezeLLM): weighted clustering. Finite, >= 0. */
  importance?: Tensor<'float32'>;
  /** Codebook storage (default 'float16'). */
  codebookType?: 'float16' | 'float32';
  /** Vector entries: Lloyd iterations (default 25), tolerance (default 1e-4) and seed (default 0). */
  maxIter?: number;
  tolerance?: number;
  seed?: number;
}

/**
 * A clustered (palettized) [M, K] weight matrix: w[m, k] =
 * codebook[book(m)][index(m, k / dim)][k % dim], with `2^bits` entries per
 * codebook and one codebook per tensor, row or group of rows. Indices are
 * packed per row as bit planes in superblocks of 128 (bits 4..7) or blocks of 32 (see README, "Clustering").
 * Treat its arrays as read-only: `linear` with int8 activations keeps an int8
 * copy of the codebooks, made on first use.
 */
export class ClusteredTensor {
  readonly shape: readonly [number, number];
  readonly bits: number;
  readonly dim: number;
  readonly granularity: ClusterGranularity;
  /** Rows per codebook. */
  readonly groupSize: number;
  readonly codebookType: 'float16' | 'float32';
  /** [books, 2^bits, dim]: float32 values, or float16 bit patterns. */
  readonly codebook: Float32Array | Uint16Array;
  /** Packed indices, [M, rowBytes]. */
  readonly indices: Uint8Array;

  /** @internal Use cluster(). */
  constructor(fields: {
    shape: [number, number]; bits: number; dim: number; granularity: ClusterGranularity; groupSize: number;
    codebookType: 'float16' | 'float32'; codebook: Float32Array | Uint16Array; indices: Uint8Array;
  }) {
    this.shape = Object.freeze([...fields.shape]) as unknown as readonly [number, number];
    this.bits = fields.bits;
    this.dim = fields.dim;
    this.granularity = fields.granularity;
    this.groupSize = fields.groupSize;
    this.codebookType = fields.codebookType;
    this.codebook = fields.codebook;
    this.indices = fields.indices;
  }

  /** Number of codebooks. */
  get books(): number {
    return this.codebook.length / ((1 << this.bits) * this.dim);
  }

  /** Bytes of one packed row of indices (K / dim indices padded to a multiple of 128 for bits 4..7, else of 32; bits × 4 bytes per 32). */
  get rowBytes(): number {
    return clusteredRowBytes(this.shape[1], this.dim, this.bits);
  }

  /** A copy with arrays of its own (64-byte aligned, like every array sparq allocates). */
  clone(): ClusteredTensor {
    return new ClusteredTensor({
      shape: [this.shape[0], this.shape[1]], bits: this.bits, dim: this.dim, granularity: this.granularity, groupSize: this.groupSize,
      codebookType: this.codebookType, codebook: alignedCopy(this.codebook), indices: alignedCopy(this.indices),
    });
  }

  /** Exact storage: packed indices (row padding included) and codebooks. */
  get byteLength(): number {
    return this.indices.byteLength + this.codebook.byteLength;
  }

  /** Storage bits per weight, codebooks counted. */
  get bitsPerWeight(): number {
    const n = this.shape[0] * this.shape[1];
    return n === 0 ? 0 : (this.byteLength * 8) / n;
  }

  #int8Books: NativeClusteredInt8Books | undefined;

  /**
   * @internal The codebooks as int8 for `linear` with int8 activations (bits 4,
   * dim 1), made on first use and kept: the arrays are treated as read-only.
   */
  get int8Books(): NativeClusteredInt8Books {
    if (this.#int8Books === undefined) {
      const books = this.books;
      const b = { tables: new Uint8Array(books * 16), scales: new Float32Array(books) };
      if (books > 0) native.clusteredI8Books(this.native, this.shape[0], this.shape[1], b.tables, b.scales);
      this.#int8Books = b;
    }
    return this.#int8Books;
  }

  /** @internal */
  get native(): NativeClusteredWeights {
    return {
      indices: this.indices, codebook: this.codebook, codebookType: this.codebookType === 'float16' ? 1 : 0,
      bits: this.bits, dim: this.dim, rowsPerBook: this.groupSize,
    };
  }

  /** The weights as float32 [M, K], exactly as `linear` computes with them. */
  toDense(): Tensor<'float32'> {
    const [M, K] = this.shape;
    const out = new Float32Array(M * K);
    if (out.length > 0) native.dequantizeClustered(this.native, M, K, out);
    return Tensor.from(out, [M, K]);
  }

  toString(): string {
    return `ClusteredTensor<${this.bits}-bit, dim ${this.dim}, ${this.granularity}${this.granularity === 'group' ? ` ${this.groupSize}` : ''}>[${this.shape.join(', ')}]`;
  }
}

export function clusteredRowBytes(K: number, dim: number, bits: number): number {
  const unit = bits >= 4 && bits < 8 ? 128 : 32; // superblocks of 128 for bits with a 4-bit plane
  return (Math.ceil(K / dim / unit) * unit / 32) * bits * 4;
}

interface ClusterCall {
  run(async: false): ClusteredTensor;
  run(async: true): Promise<ClusteredTensor>;
}

function prepareCluster(w: unknown, opts: unknown): ClusterCall {
  const wt = checkTensor('w', w);
  if (wt.dtype !== 'float32' && wt.dtype !== 'float16' && wt.dtype !== 'bfloat16') {
    throw typeError('w', "a 'float32', 'float16' or 'bfloat16' tensor", wt);
  }
  if (wt.rank !== 2) throw rangeError('w', 'a tensor of shape [M, K]', wt);
  const [M, K] = wt.shape as [number, number];
  if (M * K === 0) throw rangeError('w', 'a non-empty tensor', wt);
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw typeError('opts', 'an options object', opts);
  const o = (opts ?? {}) as ClusterOptions;
  const bits = o.bits ?? 4;
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 1 || bits > 8) throw rangeError('opts.bits', 'an integer in [1, 8]', bits);
  const dim = o.dim ?? 1;
  if (dim !== 1 && dim !== 2 && dim !== 4 && dim !== 8) throw rangeError('opts.dim', '1, 2, 4 or 8', dim);
  if (K % dim !== 0) throw rangeError('opts.dim', `a divisor of K = ${K}`, dim);
  const granularity = o.granularity ?? 'row';
  let rowsPerBook: number;
  if (granularity === 'tensor') rowsPerBook = M;
  else if (granularity === 'row') rowsPerBook = 1;
  else if (granularity === 'group') {
    if (o.groupSize === undefined) throw rangeError('opts.groupSize', "a number of rows with granularity 'group'", o.groupSize);
    rowsPerBook = checkInteger('opts.groupSize', o.groupSize, 1);
  } else throw rangeError('opts.granularity', "'tensor', 'row' or 'group'", granularity);
  if (granularity !== 'group' && o.groupSize !== undefined) throw rangeError('opts.groupSize', "undefined unless granularity is 'group'", o.groupSize);
  const codebookType = o.codebookType ?? 'float16';
  if (codebookType !== 'float16' && codebookType !== 'float32') throw rangeError('opts.codebookType', "'float16' or 'float32'", codebookType);
  const maxIter = checkInteger('opts.maxIter', o.maxIter ?? 25, 0, 100000);
  const tolerance = o.tolerance ?? 1e-4;
  if (typeof tolerance !== 'number' || !(tolerance >= 0) || tolerance === Infinity) throw rangeError('opts.tolerance', 'a finite number >= 0', tolerance);
  const seed = checkInteger('opts.seed', o.seed ?? 0, 0);
  const importance = o.importance === undefined || o.importance === null ? null : checkImportance(o.importance, M, K);
  const E = (1 << bits) * dim;
  const books = Math.ceil(M / rowsPerBook);
  const codebook = codebookType === 'float16' ? alignedArray(Uint16Array, books * E) : alignedArray(Float32Array, books * E);
  const indices = alignedArray(Uint8Array, M * clusteredRowBytes(K, dim, bits));
  const stats = new Float64Array(2);
  const data = wt.data as Float32Array | Uint16Array;
  const vtype = NativeWeightType[wt.dtype as 'float32' | 'float16' | 'bfloat16'];
  const finish = (): ClusteredTensor => {
    if (stats[0] === 1) throw rangeError('w', 'finite weights', received(`a NaN or Infinity at index ${stats[1]}`));
    if (stats[0] === 3) throw rangeError('opts.bits', "(2^bits - 1) × distinct values per codebook <= 2^31 for exact clustering (use fewer bits, float16 weights, or granularity 'row' / 'group')", bits);
    if (codebook instanceof Uint16Array) {
      for (let i = 0; i < codebook.length; i++) {
        if ((codebook[i] & 0x7c00) === 0x7c00) throw rangeError('opts.codebookType', "'float32' (a centroid overflows float16)", received("'float16'"));
      }
    }
    return new ClusteredTensor({ shape: [M, K], bits, dim, granularity, groupSize: rowsPerBook, codebookType, codebook, indices });
  };
  const args = [data, vtype, M, K, importance, bits, dim, rowsPerBook, codebookType === 'float16' ? 1 : 0, maxIter, tolerance, seed, codebook, indices, stats] as const;
  return {
    run: ((async: boolean) => async
      ? native.cluster(...args, true).then(finish)
      : (native.cluster(...args, false), finish())) as ClusterCall['run'],
  };
}

/**
 * Clusters a float32 / float16 / bfloat16 weight matrix [M, K] into a
 * ClusteredTensor (see ClusterOptions). Scalar entries (dim 1) get the exact
 * weighted k-means optimum per codebook; vector entries k-means++ and Lloyd.
 * Codebook values are rounded to `codebookType`, then every weight gets the
 * nearest stored entry.
 *
 * A SparseTensor clusters its stored values (Deep Compression: pruning, then
 * weight sharing) and keeps its format and structure ('ell' becomes 'csr':
 * 'ell' does not hold lut4 values): exact 1-D k-means of
 * each row's stored values ('row', default) or of all of them ('tensor'),
 * bits 1..4, optionally weighted by `importance` at the stored positions. The
 * result has 'lut4' values: 4-bit indices into a float32 table of 16 entries
 * per row (the 2^bits centroids; unused entries repeat the largest), each
 * value taking the nearest entry. dim, groupSize and codebookType other than
 * 1, undefined and 'float32' are RangeErrors. `linear` runs on it directly.
 */
export function cluster(w: SparseTensor, opts?: ClusterOptions): SparseTensor;
export function cluster(w: Tensor, opts?: ClusterOptions): ClusteredTensor;
export function cluster(w: Tensor | SparseTensor, opts?: ClusterOptions): ClusteredTensor | SparseTensor {
  if (w instanceof SparseTensor) return clusterSparse(w, opts, (v, o) => kmeans(v, o), (jobs, finish) => finish(jobs.map((j) => j())));
  return prepareCluster(w, opts).run(false);
}

/** `cluster` off the event loop (inputs are kept alive until it settles). */
export async function clusterAsync(w: SparseTensor, opts?: ClusterOptions): Promise<SparseTensor>;
export async function clusterAsync(w: Tensor, opts?: ClusterOptions): Promise<ClusteredTensor>;
export async function clusterAsync(w: Tensor | SparseTensor, opts?: ClusterOptions): Promise<ClusteredTensor | SparseTensor> {
  if (w instanceof SparseTensor) {
    return clusterSparse(w, opts, (v, o) => kmeansAsync(v, o), async (jobs, finish) => finish(await Promise.all(jobs.map((j) => j()))));
  }
  return prepareCluster(w, opts).run(true);
}

/**
 * cluster() of a SparseTensor: one 1-D k-means job per row (or one for the
 * tensor), run by `run` (sync or async), then the tables and indices.
 */
function clusterSparse<R, T>(
  w: SparseTensor, opts: unknown,
  km: (values: Float32Array, o: KmeansOptions) => R,
  run: (jobs: (() => R)[], finish: (results: KmeansResult[]) => SparseTensor) => T,
): T {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw typeError('opts', 'an options object', opts);
  const o = (opts ?? {}) as ClusterOptions;
  const bits = o.bits ?? 4;
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 1 || bits > 4) throw rangeError('opts.bits', 'an integer in [1, 4] for a SparseTensor', bits);
  const granularity = o.granularity ?? 'row';
  if (granularity !== 'row' && granularity !== 'tensor') throw rangeError('opts.granularity', "'row' or 'tensor' for a SparseTensor", granularity);
  const only = (name: string, value: unknown, expected: unknown) => {
    if (value !== undefined && value !== expected) throw rangeError(name, `${JSON.stringify(expected)} for a SparseTensor`, value);
  };
  only('opts.dim', o.dim, 1);
  only('opts.groupSize', o.groupSize, undefined);
  only('opts.codebookType', o.codebookType, 'float32');
  w.checkFloatValues();
  w = w.withContiguousRows(); // lut4 values: 'ell' becomes 'csr'
  const [M, K] = w.shape;
  const importance = o.importance === undefined || o.importance === null ? null : checkImportance(o.importance, M, K);
  const vals = w.storedValues();
  checkFinite('w', vals.subarray(0, w.nnz));
  // Importance of each stored value (at its column).
  let weights: Float32Array | null = null;
  if (importance !== null) {
    weights = new Float32Array(w.nnz);
    const cols = new Int32Array(K), idx = new Int32Array(K);
    for (let m = 0; m < M; m++) {
      const c = w.storedRow(m, cols, idx);
      for (let i = 0; i < c; i++) weights[idx[i]] = importance[m * K + cols[i]];
    }
  }
  // One codebook per group of rows: each non-empty row, or the whole tensor.
  const all = Array.from({ length: M }, (_, m) => m);
  const groups = granularity === 'row'
    ? all.map((m) => ({ rows: [m], range: w.rowRange(m) }))
    : [{ rows: all, range: [0, w.nnz] as [number, number] }];
  const used = groups.filter(({ range: [lo, hi] }) => hi > lo); // empty rows keep a zero table
  const k = 1 << bits;
  const jobs = used.map(({ range: [lo, hi] }) => () => {
    const ws = weights?.subarray(lo, hi);
    const weighted = ws !== undefined && ws.some((x) => x > 0); // all-zero importance: unweighted
    return km(vals.subarray(lo, hi), weighted ? { k, weights: ws } : { k });
  });
  return run(jobs, (results) => {
    const table = new Float32Array(M * LUT4_ENTRIES);
    used.forEach(({ rows }, g) => {
      const c = results[g].centroids;
      for (const m of rows) for (let e = 0; e < LUT4_ENTRIES; e++) table[m * LUT4_ENTRIES + e] = c[Math.min(e, c.length - 1)];
    });
    return w.withTable(table);
  });
}

function checkImportance(t: unknown, M: number, K: number): Float32Array {
  const it = checkTensor('opts.importance', t);
  if (it.dtype !== 'float32') throw typeError('opts.importance', "a 'float32' tensor", it);
  if (it.rank !== 2 || it.shape[0] !== M || it.shape[1] !== K) throw rangeError('opts.importance', `a tensor of shape [${M}, ${K}]`, it);
  const d = it.data as Float32Array;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!(v >= 0) || v === Infinity) throw rangeError('opts.importance', 'finite values >= 0', received(`${v} at index ${i}`));
  }
  return d;
}
