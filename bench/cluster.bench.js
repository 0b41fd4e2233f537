// Clustering benchmark. (a) Clustering speed: exact 1-D k-means (sparq
// `cluster`, per tensor and per row) on float32 and float16 weights for
// k = 4, 8, 16, 256, against sparq's own Lloyd (k-means++, 10 iterations)
// and the ml-kmeans npm package on a subsample (time scaled linearly to the
// full size), and vector k-means (points x 8 into 256 centroids, 10
// iterations). (b) `linear` on per-row clustered weights (2, 3, 4-bit, float16
// codebooks; 4-bit also with int8 activations) side by side with dense float32
// and int4 (g32, float32 and int8 activations) weights, cold
// (rotating over weight copies totalling well over the L3 cache) and hot. Also
// a quality row: per-row 4-bit clustering against int4 symmetric absmax at equal
// bits per weight. Writes bench/results/cluster.md.
//
//   node --expose-gc bench/cluster.bench.js            # full run (long: run it on a quiet machine)
//   node --expose-gc bench/cluster.bench.js --tiny     # smoke test with tiny sizes (seconds)
//
// Options:
//   --tiny              tiny sizes everywhere (smoke test; writes no file unless --out)
//   --skip-speed        skip (a);  --skip-linear  skip (b)
//   --row-sample R      per-row clustering is timed on R rows and scaled to all rows (default 512)
//   --sub S             ml-kmeans / Lloyd subsample size (default 262144)
//   --shapes MxK,...    linear shapes (default 4096x4096,11008x4096)
//   --n 1,8,32          batch rows of linear
//   --cold-mb MB        minimum size of each contender's cold weight set (default 160)
//   --max-time S        seconds of sampling per linear measurement (default 1)
//   --out PATH          where to write the Markdown report
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import * as sparq from 'sparq';
import { kmeans as mlKmeans } from 'ml-kmeans';
import {
  parseArgs, list, median, rng, fillUniform, fillGaussian, gc, sampleIt, summarize, StreamProbe, fmt, mdTable, rotation, relError, jsLinear,
} from './common.js';

const { Tensor, cluster, kmeans, prune, quantize, linear, relativeError } = sparq;
const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs();
const tiny = Boolean(args.tiny);
const MiB = 2 ** 20;
const SIGMA = 0.02;

const SIDE = tiny ? 256 : 4096; // (a): SIDE x SIDE weights (16.7M at full size)
const ROW_SAMPLE = Math.min(SIDE, Number(args['row-sample'] ?? (tiny ? 64 : 512)));
const SUB = Math.min(SIDE * SIDE, Number(args.sub ?? (tiny ? 8192 : 262144)));
const VEC_N = tiny ? 16384 : 1 << 20;
const SHAPES = list(args.shapes ?? (tiny ? '256x512' : '4096x4096,11008x4096')).map((s) => s.split('x').map(Number));
const NS = list(args.n ?? (tiny ? '1,8' : '1,8,32')).map(Number);
const COLD_MB = Number(args['cold-mb'] ?? (tiny ? 4 : 160));
const MAX_TIME = Number(args['max-time'] ?? (tiny ? 0.05 : 1));
const out = args.out ?? (tiny ? null : `${here}/results/cluster.md`);

const lines = [];
const log = (s = '') => {
  console.log(s);
  lines.push(s);
};

/** Median of `reps` timed calls of fn (ms), after one warm-up call unless reps is 1. */
function timeIt(fn, reps = 3) {
  if (reps > 1) fn();
  const t = [];
  for (let i = 0; i < reps; i++) {
    gc();
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

function gaussian(n, seed) {
  return fillGaussian(new Float32Array(n), rng(seed), SIGMA);
}

// ---------------------------------------------------------------- (a) speed
function speed() {
  const n = SIDE * SIDE;
  const w32 = Tensor.from(gaussian(n, 1), [SIDE, SIDE]);
  const w16 = w32.to('float16');
  const distinct32 = new Set(w32.data).size, distinct16 = new Set(w16.data).size;
  log(`## (a) Clustering speed\n`);
  log(`Weights: ${SIDE}x${SIDE} = ${n} values from N(0, ${SIGMA}²): ${distinct32} distinct as float32, ${distinct16} as float16. ` +
    `Per-row times are measured on ${ROW_SAMPLE} rows and scaled to ${SIDE} (marked *). ml-kmeans (1-D points, ${10} iterations) and sparq Lloyd run on a ` +
    `subsample of ${SUB} values, scaled to ${n} (marked †). Medians of ${tiny ? 1 : 3} runs (single runs for scaled rows), ${sparq.getNumThreads()} threads.\n`);
  const rows = [];
  for (const k of [4, 8, 16, 256]) {
    const bits = Math.log2(k);
    const r = { k: String(k) };
    r.t16 = fmt(timeIt(() => cluster(w16, { bits, granularity: 'tensor' }), tiny ? 1 : 3), 1);
    // exact per-tensor f32 runs a (k - 1) x distinct DP: past the library's cap of 2^31 cells
    // (kKmeansMaxDpCells, native/core/kmeans.h) cluster() throws, so the cell is skipped
    r.t32 = (k - 1) * distinct32 <= 2 ** 31 ? fmt(timeIt(() => cluster(w32, { bits, granularity: 'tensor' }), tiny ? 1 : 3), 1) : 'skipped (DP over 2^31 cells)';
    const rs16 = Tensor.from(w16.data.subarray(0, ROW_SAMPLE * SIDE), [ROW_SAMPLE, SIDE], 'float16');
    const rs32 = Tensor.from(w32.data.subarray(0, ROW_SAMPLE * SIDE), [ROW_SAMPLE, SIDE]);
    const scale = SIDE / ROW_SAMPLE;
    r.r16 = fmt(timeIt(() => cluster(rs16, { bits }), 1) * scale, 1) + (scale > 1 ? '*' : '');
    r.r32 = fmt(timeIt(() => cluster(rs32, { bits }), 1) * scale, 1) + (scale > 1 ? '*' : '');
    const sub = w32.data.subarray(0, SUB);
    const subScale = n / SUB;
    let lloyd;
    r.lloyd = fmt(timeIt(() => { lloyd = kmeans(sub, { k, method: 'lloyd', maxIter: 10, tolerance: 0, seed: 1 }); }, 1) * subScale, 1) + '†';
    const exact = kmeans(sub, { k });
    const pts = Array.from(sub, (v) => [v]);
    let ml;
    r.ml = fmt(timeIt(() => { ml = mlKmeans(pts, k, { maxIterations: 10, initialization: 'kmeans++', seed: 1 }); }, 1) * subScale, 1) + '†';
    let mlInertia = 0;
    for (let i = 0; i < SUB; i++) mlInertia += (sub[i] - ml.centroids[ml.clusters[i]][0]) ** 2;
    r.q = `${fmt(lloyd.inertia / exact.inertia, 4)} / ${fmt(mlInertia / exact.inertia, 4)}`;
    rows.push(r);
    console.log(JSON.stringify(r)); // progress
  }
  mdTable([
    { key: 'k', title: 'k' },
    { key: 't16', title: 'exact, tensor, f16 ms' }, { key: 't32', title: 'exact, tensor, f32 ms' },
    { key: 'r16', title: 'exact, per row, f16 ms' }, { key: 'r32', title: 'exact, per row, f32 ms' },
    { key: 'lloyd', title: 'sparq Lloyd 1-D ms' }, { key: 'ml', title: 'ml-kmeans 1-D ms' },
    { key: 'q', title: 'inertia / exact (Lloyd / ml-kmeans, subsample)' },
  ], rows).forEach((l) => log(l));
  log('');
  // vector k-means
  const dim = 8, k = 256;
  const pts = gaussian(VEC_N * dim, 2);
  let res;
  const tv = timeIt(() => { res = kmeans(pts, { k, dim, maxIter: 10, tolerance: 0, seed: 1 }); }, 1);
  const vsub = Math.min(VEC_N, tiny ? 4096 : 65536);
  const vpts = Array.from({ length: vsub }, (_, i) => Array.from(pts.subarray(i * dim, (i + 1) * dim)));
  const tml = timeIt(() => mlKmeans(vpts, k, { maxIterations: 10, initialization: 'kmeans++', seed: 1 }), 1) * (VEC_N / vsub);
  log(`Vector k-means, ${VEC_N} x ${dim} into ${k} centroids, k-means++ then 10 Lloyd iterations: sparq ${fmt(tv, 1)} ms ` +
    `(${res.iterations} iterations, inertia ${res.history[0].toExponential(3)} -> ${res.inertia.toExponential(3)}); ` +
    `ml-kmeans on ${vsub} points scaled to ${VEC_N}: ${fmt(tml, 1)} ms†.\n`);
  // quality at equal bits per weight
  const qr = Math.min(SIDE, tiny ? 64 : 256);
  const qw = Tensor.from(w32.data.subarray(0, qr * SIDE), [qr, SIDE]);
  const c = cluster(qw, { bits: 4 });
  const g = Math.max(32, 2 ** Math.round(Math.log2(16 / (c.bitsPerWeight - 4))));
  const q = quantize(qw, { bits: 4, groupSize: Math.min(g, SIDE), search: false });
  log(`Quality (${qr}x${SIDE}): per-row 4-bit clustering, f16 codebook, ${fmt(c.bitsPerWeight, 4)} bits/weight: relative RMSE ${fmt(relativeError(qw, c), 5)}; ` +
    `int4 symmetric absmax g${q.groupSize}, ${fmt(q.bitsPerWeight, 4)} bits/weight: ${fmt(relativeError(qw, q), 5)}.\n`);
}

// ---------------------------------------------------------------- (b) linear
function copies(bytes, make) {
  const count = Math.max(2, Math.ceil((COLD_MB * MiB) / bytes));
  return Array.from({ length: count }, (_, i) => make(i));
}

function linearBench(probe) {
  log(`## (b) linear on clustered weights\n`);
  log(`Per-row clustered weights (f16 codebooks) next to dense f32, int4 (symmetric, g32, f16 scales) and Deep Compression ` +
    `(pruned to 80%, stored values clustered to 4 bits per row: 'lut4' sparse values), each measured in turn ` +
    `in the same run; cold: each call uses the next of >= ${COLD_MB} MB of weight copies; hot: the same weights. Medians, ms. ` +
    `4-bit and int4 g32 also run with int8 activations (linear's \`activations: 'int8'\`, on the same weight copies); ` +
    `'rel. RMSE 4-bit int8-act' is that output's relative RMSE against the exact products with the decoded weights.\n`);
  const rows = [];
  for (const [M, K] of SHAPES) {
    const w = Tensor.from(gaussian(M * K, 3), [M, K]).clone(); // aligned, like the compressed tensors
    const contenders = [['f32', w]];
    contenders.push(['int4-g32', quantize(w, { bits: 4, groupSize: 32 })]);
    for (const bits of [4, 3, 2]) {
      const t0 = performance.now();
      const c = cluster(w, { bits });
      console.log(`clustered ${M}x${K} ${bits}-bit in ${fmt(performance.now() - t0, 0)} ms`);
      contenders.push([`clustered-${bits}b`, c]);
    }
    // Deep Compression: pruned to 80% (format 'auto'), then the stored values clustered to 4 bits per row.
    const t0 = performance.now();
    const pruned = prune(w, { sparsity: 0.8, values: 'bfloat16' });
    const dc = cluster(pruned, { bits: 4 });
    log(`${M}x${K} pruned 80% + 4-bit clustered (${dc.format}, ${fmt(dc.bitsPerWeight, 2)} bits/weight) in ${fmt(performance.now() - t0, 0)} ms; ` +
      `relative RMSE ${fmt(relativeError(pruned.toDense(), dc.toDense()), 4)} against the pruned weights, ${fmt(relativeError(w, dc.toDense()), 4)} against the dense ones (pruning included).`);
    contenders.push(['sparse-c4', dc]);
    const sets = {};
    for (const [name, wt] of contenders) {
      const bytes = wt instanceof Tensor ? wt.data.byteLength : wt.byteLength;
      const copy = () => wt.clone();
      sets[name] = { bytes, cold: copies(bytes, (i) => (i === 0 ? wt : copy())) };
    }
    // int8 activations: the same weight copies, another linear option.
    const int8 = { activations: 'int8' };
    contenders.push(['int4-g32-i8', null, int8, 'int4-g32'], ['clustered-4b-i8', null, int8, 'clustered-4b']);
    sets['int4-g32-i8'] = sets['int4-g32'];
    sets['clustered-4b-i8'] = sets['clustered-4b'];
    for (const N of NS) {
      const x = Tensor.from(fillUniform(new Float32Array(N * K), rng(N)), [N, K]);
      // correctness: clustered linear vs dense linear on its own decoded weights
      const c4 = sets['clustered-4b'].cold[0];
      const ref = jsLinear(x.data, c4.toDense().data, N, K, M);
      const err = relError(linear(x, c4).data, ref);
      const errI8 = relativeError(Tensor.from(ref, [N, M]), linear(x, c4, undefined, int8));
      for (const cache of ['cold', 'hot']) {
        const r = { shape: `${M}x${K}`, N: String(N), cache };
        const times = {};
        for (const [name, , options] of contenders) {
          const next = rotation(sets[name].cold, cache === 'hot');
          const s = summarize(sampleIt(name, () => linear(x, next(), undefined, options), { maxTime: MAX_TIME, minSamples: 5 }));
          times[name] = s.median;
          r[name] = fmt(s.median, 3);
          r[`${name}-gbs`] = fmt(sets[name].bytes / s.median / 1e6, 1);
        }
        for (const bits of [4, 3, 2]) r[`x${bits}`] = fmt(times.f32 / times[`clustered-${bits}b`], 2) + 'x';
        r.xi4 = fmt(times['int4-g32'] / times['clustered-4b'], 2) + 'x';
        r.x4i8 = fmt(times.f32 / times['clustered-4b-i8'], 2) + 'x';
        r.xi4i8 = fmt(times['int4-g32-i8'] / times['clustered-4b-i8'], 2) + 'x';
        r.xdc = fmt(times.f32 / times['sparse-c4'], 2) + 'x';
        r.err = err.toExponential(1);
        r.errI8 = errI8.toExponential(1);
        rows.push(r);
        console.log(JSON.stringify(r)); // progress
      }
    }
  }
  const bw = probe ? probe.measure(10).median : NaN;
  mdTable([
    { key: 'shape', title: 'shape', align: 'left' }, { key: 'N', title: 'N' }, { key: 'cache', title: 'cache', align: 'left' },
    { key: 'f32', title: 'f32 ms' }, { key: 'int4-g32', title: 'int4 g32 ms' },
    { key: 'clustered-4b', title: '4-bit ms' }, { key: 'clustered-3b', title: '3-bit ms' }, { key: 'clustered-2b', title: '2-bit ms' },
    { key: 'clustered-4b-gbs', title: '4-bit GB/s' },
    { key: 'x4', title: '4-bit vs f32' }, { key: 'x3', title: '3-bit vs f32' }, { key: 'x2', title: '2-bit vs f32' }, { key: 'xi4', title: '4-bit vs int4' },
    { key: 'clustered-4b-i8', title: '4-bit int8-act ms' }, { key: 'x4i8', title: '4-bit int8-act vs f32' },
    { key: 'int4-g32-i8', title: 'int4 g32 int8-act ms' }, { key: 'xi4i8', title: '4-bit vs int4, both int8-act' },
    { key: 'sparse-c4', title: '80% + 4-bit ms' }, { key: 'xdc', title: '80% + 4-bit vs f32' },
    { key: 'err', title: 'max rel. err 4-bit' }, { key: 'errI8', title: 'rel. RMSE 4-bit int8-act' },
  ], rows).forEach((l) => log(l));
  log(`\nStreaming-read bandwidth measured after the runs: ${fmt(bw, 1)} GB/s (2 threads).`);
}

async function main() {
  log(`# Clustering benchmark\n`);
  log(`${new Date().toISOString()}, ${os.cpus()[0]?.model ?? 'cpu'}, active ISA ${sparq.cpuInfo().active}, ${sparq.getNumThreads()} threads${tiny ? ', --tiny (smoke test sizes)' : ''}.\n`);
  if (!args['skip-speed']) speed();
  if (!args['skip-linear']) {
    const probe = tiny ? null : await StreamProbe.start({ threads: 2, bytesPerThread: 128 * MiB });
    linearBench(probe);
    await probe?.close();
  }
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, lines.join('\n') + '\n');
    console.log(`wrote ${out}`);
  }
}

await main();
