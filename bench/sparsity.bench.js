// Sparse linear benchmark: sparq `linear` on pruned weights (SparseTensor from
// `prune`) in every storage format, over a sweep of sparsities, against sparq's
// dense float32 and bfloat16 `linear` and onnxruntime-node's MatMul on the same
// (unpruned) matrix, cold (each call uses the next of a rotating set of weight
// copies totalling well over the L3 cache) and hot (the same weights every
// call). Writes bench/results/sparsity.md and bench/results/sparsity.svg
// (speedup over dense f32 against sparsity).
//
//   npm run bench:sparsity                              # full run (~15-20 min)
//   node --expose-gc bench/sparsity.bench.js --quick    # smoke test (~1 min): 512x512, N 1,8, tiny timing
//   SPARQ_BENCH_QUICK=1 npm run bench:sparsity          # the same
//
// Layout of a run: per shape, a dense group (sparq f32, sparq bf16, ORT MatMul
// f32), then one group per sparsity level (sparq f32 dense and every sparse
// format at that level), each (N, cache) timed with its contenders
// interleaved. A level's pruned tensors and their cold copies exist only
// while that level runs.
//
// Options (any of the subset options selects a subset; a subset run, --quick
// included, writes no file unless --out is given):
//   --quick                 tiny configuration for smoke tests (also SPARQ_BENCH_QUICK=1):
//                           512x512, N 1,8, sparsities 0.5,0.9,2:4, float32 and int4 values at 0.9,
//                           --max-time 0.15 --min-samples 3 --rounds 2 --cold-mb 0, small stream probe
//   --shapes 4096x4096,11008x4096   (MxK)
//   --n 1,8,32              batch rows
//   --sparsities LIST       unstructured sparsities in [0, 1) and N:M patterns (default 0,0.5,0.7,0.8,0.9,0.95,2:4)
//   --formats LIST          sparse formats to time (default bitmap,csr,nm,ell; nm at N:M levels only)
//   --f32-at S              the level also timed with float32 values (default 0.8; 'none' to skip)
//   --int4-at LIST          levels also timed with 4-bit values in every format but ell
//                           (quantize(sparse, { bits: 4 }); default 0.8,0.9,2:4; 'none' to skip)
//   --cache cold,hot
//   --no-ort                skip onnxruntime-node
//   --no-bf16               skip sparq dense bf16
//   --max-time S            seconds of sampling per measurement (default 1.5), split over the rounds
//   --min-samples K         minimum benchmark.js samples per measurement (default 10)
//   --rounds R              the contenders of a group take turns in R rounds (default 3)
//   --cold-mb MB            minimum size of each contender's cold weight set (default 160: > 4x the 32 MiB L3)
//   --out PATH              where to write the Markdown report (the SVG goes next to it, .svg)
//   --svg PATH              where to write the SVG chart
//   --dry-run               print the plan (measurements, estimated time and memory) and exit
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import * as sparq from 'sparq';
import {
  parseArgs, list, median, rng, fillUniform, fillGaussian, truncateToBf16, transpose, jsLinear, relError, gc, sleep,
  peakRssMiB, sampleIt, summarize, ort, ortOptions, ortSession, StreamProbe, fmt, mdTable, textRow, rotation,
  between, sink, streamProbeLogger,
} from './common.js';
import { matMulModel } from './onnx-model.js';
import { lineChart, svgDocument } from './svg.js';

const { Tensor, SparseTensor, prune, quantize, linear } = sparq;
const MiB = 2 ** 20;
const here = dirname(fileURLToPath(import.meta.url));
const defaultOut = `${here}/results/sparsity.md`;
// Weights are drawn from N(0, SIGMA²) and made bfloat16-exact, so the float32
// dense matrix, its bfloat16 copy and every pruned tensor (bfloat16 or float32
// values) hold the same numbers, and one float32 reference checks them all.
const SIGMA = 0.02;
const TOL = 1e-4;
const NM_PATTERNS = ['1:4', '2:4', '3:4', '1:8', '2:8', '3:8', '4:8'];
const FORMATS = ['bitmap', 'csr', 'nm', 'ell'];

// ------------------------------------------------------------ options
const args = parseArgs();
const known = new Set([
  'quick', 'shapes', 'n', 'sparsities', 'formats', 'f32-at', 'int4-at', 'cache', 'no-ort', 'no-bf16',
  'max-time', 'min-samples', 'rounds', 'cold-mb', 'out', 'svg', 'dry-run',
]);
for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`unknown option --${k}`);
const envQuick = process.env.SPARQ_BENCH_QUICK;
const quick = Boolean(args.quick) || (envQuick !== undefined && envQuick !== '' && envQuick !== '0');
const subset = quick || ['shapes', 'n', 'sparsities', 'formats', 'f32-at', 'int4-at', 'cache', 'no-ort', 'no-bf16'].some((k) => k in args);

const parseShape = (s) => {
  const [M, K] = s.split('x').map(Number);
  if (!(Number.isInteger(M) && Number.isInteger(K) && M > 0 && K > 0)) throw new Error(`bad shape ${s} (want MxK)`);
  return { M, K };
};
/** '0.8' → 80% unstructured; '2:4' → the N:M pattern (sparsity 1 − N/M). */
function parseLevel(s) {
  if (NM_PATTERNS.includes(s)) {
    const [n, m] = s.split(':').map(Number);
    return { key: s, label: `${s}`, pattern: s, sparsity: 1 - n / m, nm: s };
  }
  const v = Number(s);
  if (!(s !== '' && v >= 0 && v < 1)) throw new Error(`--sparsities: a number in [0, 1) or an N:M pattern (${NM_PATTERNS.join(', ')}), not ${s}`);
  return { key: String(v), label: `${Number((v * 100).toFixed(2))}%`, pattern: 'unstructured', sparsity: v, nm: null };
}

const shapes = list(args.shapes ?? (quick ? '512x512' : '4096x4096,11008x4096')).map(parseShape);
const Ns = list(args.n ?? (quick ? '1,8' : '1,8,32')).map(Number);
for (const N of Ns) if (!(Number.isInteger(N) && N > 0)) throw new Error(`--n: positive integers, not ${N}`);
const levels = list(args.sparsities ?? (quick ? '0.5,0.9,2:4' : '0,0.5,0.7,0.8,0.9,0.95,2:4')).map(parseLevel);
const formats = list(args.formats ?? FORMATS.join(','));
for (const f of formats) if (!FORMATS.includes(f)) throw new Error(`--formats: ${FORMATS.join(', ')}, not ${f}`);
const f32AtArg = String(args['f32-at'] ?? (quick ? '0.9' : '0.8'));
const f32At = f32AtArg === 'none' ? null : parseLevel(f32AtArg).key;
const int4AtArg = String(args['int4-at'] ?? (quick ? '0.9' : '0.8,0.9,2:4'));
const int4At = new Set(int4AtArg === 'none' ? [] : list(int4AtArg).map((l) => parseLevel(l).key));
const caches = list(args.cache ?? 'cold,hot');
for (const c of caches) if (c !== 'cold' && c !== 'hot') throw new Error(`--cache: cold or hot, not ${c}`);
const useOrt = !args['no-ort'];
const useBf16 = !args['no-bf16'];
const timing = {
  maxTime: Number(args['max-time'] ?? (quick ? 0.15 : 1.5)),
  minSamples: Number(args['min-samples'] ?? (quick ? 3 : 10)),
  minTime: quick ? 0.01 : 0.05,
};
const rounds = Math.max(1, Number(args.rounds ?? (quick ? 2 : 3)));
const coldBytes = Number(args['cold-mb'] ?? (quick ? 0 : 160)) * MiB;
const outPath = args.out ?? (subset ? null : defaultOut);
const svgPath = args.svg ?? (outPath ? outPath.replace(/\.md$/, '') + '.svg' : null);
for (const { K } of shapes) {
  for (const l of levels) {
    if (l.nm && K % Number(l.nm.split(':')[1]) !== 0) throw new Error(`--sparsities ${l.key}: K = ${K} is not a multiple of the group`);
  }
}

const info = sparq.cpuInfo();
const threads = sparq.getNumThreads();
const command = `node ${process.execArgv.join(' ')} ${relative(process.cwd(), fileURLToPath(import.meta.url))} ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim();
const started = new Date();
const loadStart = os.loadavg();
const problems = [];
const notes = [];
const log = (s = '') => process.stdout.write(`${s}\n`);

const levelFormats = (l) => formats.filter((f) => f !== 'nm' || l.nm);
const f32Formats = (l) => (l.key === f32At ? levelFormats(l).filter((f) => f !== 'nm') : []);
const perGroupDense = 1 + (useBf16 ? 1 : 0) + (useOrt ? 1 : 0);
const int4Formats = (l) => (int4At.has(l.key) ? levelFormats(l).filter((f) => f !== 'ell') : []); // quantize needs contiguous rows
const perGroupLevels = levels.reduce((t, l) => t + 1 + levelFormats(l).length + int4Formats(l).length + f32Formats(l).length, 0);
const measurements = shapes.length * Ns.length * caches.length * (perGroupDense + perGroupLevels);
// About 0.15 s per round beyond maxTime (warm-up, gc, the 50 ms pause, probe).
const timingMinutes = (measurements * (timing.maxTime + rounds * 0.15)) / 60;

log(`sparq sparse linear benchmark — ${started.toISOString()}${quick ? ' (quick)' : ''}`);
log(`CPU: ${info.vendor} ${info.brand}, ISA ${info.active} (detected ${info.detected}), cores ${info.cores}; sparq threads ${threads}; Node ${process.version}; onnxruntime-node ${useOrt ? ort().env.versions.node : '(skipped)'}`);
log(`shapes ${shapes.map(({ M, K }) => `${M}x${K}`).join(', ')}; N ${Ns.join(', ')}; sparsities ${levels.map((l) => l.label).join(', ')}; formats ${formats.join(', ')} (bfloat16 values${f32At !== null ? `; also float32 values at ${parseLevel(f32At).label}` : ''}); cache ${caches.join(', ')}`);
log(`timing: ${rounds} interleaved rounds of benchmark.js (per round: maxTime ${fmt(timing.maxTime / rounds)}s, minSamples ${Math.ceil(timing.minSamples / rounds)}, minTime ${timing.minTime}s); ${measurements} measurements (timing alone ≈ ${timingMinutes.toFixed(1)} min); cold sets >= ${(coldBytes / MiB).toFixed(0)} MiB per contender; load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}`);
if (f32At !== null && !levels.some((l) => l.key === f32At)) log(`note: --f32-at ${f32AtArg} is not among the sparsities: no float32-value rows`);
if (typeof globalThis.gc !== 'function') {
  notes.push('Run without --expose-gc: pruned tensors of finished levels were freed only when V8 chose to collect them.');
  log('warning: no --expose-gc; memory of finished levels is freed lazily (use npm run bench:sparsity)');
}

// ------------------------------------------------------------ plan
/** Copies in a contender's cold set: at least --cold-mb of them, and at least 2. */
const copiesFor = (bytes) => (caches.includes('cold') ? Math.max(2, Math.ceil(coldBytes / bytes)) : 1);
/** Bytes of a pruned [M, K] tensor (layout of lib/sparse.ts, padding included). */
function sparseBytes(format, valueBytes, level, M, K) {
  const [n, g] = level.nm ? level.nm.split(':').map(Number) : [0, 0];
  const nnz = level.nm ? (M * K * n) / g : M * K - Math.round(level.sparsity * M * K);
  if (format === 'bitmap') return (nnz + 16) * valueBytes + M * Math.ceil(K / 16) * 2 + (M + 1) * 4;
  if (format === 'csr') return (nnz + 16) * (valueBytes + 2) + (M * Math.ceil(K / 65536) + 1) * 4;
  if (format === 'ell') return 1.5 * nnz * (valueBytes + 1); // padding: about 1.3-1.5x at 80-90% sparsity
  return (nnz + 16) * valueBytes + M * Math.ceil(((K / g) * n * Math.log2(g)) / 8) + 8;
}
if (args['dry-run']) {
  // Rough peak: the dense f32 set (kept per shape) plus the larger of the dense
  // phase (bf16 set; ORT sessions at ~2x the f32 weights each, plus the model
  // and the transposed weights while building) and the largest level (cold
  // sets; toDense and the float32 values prune writes before narrowing).
  let peak = 0;
  for (const { M, K } of shapes) {
    const f32 = M * K * 4, sets = copiesFor(f32) * f32;
    const ortSessions = useOrt ? (caches.includes('cold') ? copiesFor(f32) : 0) + (caches.includes('hot') ? 1 : 0) : 0;
    const densePhase = (useBf16 ? copiesFor(f32 / 2) * (f32 / 2) : 0) + ortSessions * 2 * f32 + (useOrt ? 2 * f32 : 0);
    const perLevel = levels.map((l) => {
      const fs = levelFormats(l);
      let b = 0;
      for (const f of fs) b += copiesFor(sparseBytes(f, 2, l, M, K)) * sparseBytes(f, 2, l, M, K);
      for (const f of f32Formats(l)) b += copiesFor(sparseBytes(f, 4, l, M, K)) * sparseBytes(f, 4, l, M, K);
      return { l, b: b + 2 * f32 };
    });
    const worst = perLevel.reduce((a, c) => (c.b > a.b ? c : a));
    const shapePeak = sets + Math.max(densePhase, worst.b);
    peak = Math.max(peak, shapePeak);
    log(`${M}x${K}: dense f32 set ${(sets / MiB).toFixed(0)} MiB; dense phase ${(densePhase / MiB).toFixed(0)} MiB (${ortSessions} ORT sessions); levels ${perLevel.map((p) => `${p.l.label} ${(p.b / MiB).toFixed(0)}`).join(', ')} MiB; peak ≈ ${(shapePeak / 2 ** 30).toFixed(1)} GiB`);
  }
  const probeBytes = threads * (quick ? 32 : 256) * MiB;
  log(`plan: ${measurements} measurements, timing alone ≈ ${timingMinutes.toFixed(1)} min (plus preparation and stream probes); estimated peak RSS ≈ ${((peak + probeBytes) / 2 ** 30 + 0.3).toFixed(1)} GiB (weights ${(peak / 2 ** 30).toFixed(1)}, stream probe buffers ${(probeBytes / 2 ** 30).toFixed(1)}, ~0.3 Node and ORT)`);
  process.exit(0);
}

// ------------------------------------------------------------ stream bandwidth
// Probed at the start, at the end, and inside every group, after each timing
// round (see dense.bench.js): a group's "stream GB/s" is from its own time window.
const STREAM = { threads, bytesPerThread: (quick ? 32 : 256) * MiB };
const STREAM_ROUNDS = quick ? 2 : 5;
const probe = await StreamProbe.start(STREAM);
const streamLog = [];
const streamProbe = streamProbeLogger(probe, streamLog, log);
log('');
streamProbe('start', quick ? 5 : 20);
gc();

// ------------------------------------------------------------ helpers

/** `t` (bfloat16 or float16 values) with its values widened to float32 exactly; index arrays copied. */
function withFloat32Values(t) {
  const wide = Tensor.from(t.values, [t.values.length], t.valueType).to('float32').data;
  const c = t.clone();
  return new SparseTensor({ ...c, shape: [...c.shape], valueType: 'float32', values: wide });
}




// ------------------------------------------------------------ results
const results = new Map(); // `${shape}|${level}|${key}|${N}|${cache}` → { ms, gbs, streamPct, vsDense }
const rkey = (shape, level, key, N, cache) => `${shape}|${level}|${key}|${N}|${cache}`;
const details = [];
const checks = [];
const setsInfo = [];
const autoPicks = new Map(); // `${shape}|${level}` → format
const measured = new Map(); // `${shape}|${level}` → the bfloat16-valued formats timed
const rowDefs = new Map(); // shape → [{ level, key, sparsity, format, values, bpw, auto }]

const columns = [
  { key: 'shape', title: 'shape', align: 'left', width: 10 },
  { key: 'level', title: 'sparsity', align: 'left', width: 8 },
  { key: 'N', title: 'N', width: 3 },
  { key: 'cache', title: 'cache', align: 'left', width: 5 },
  { key: 'what', title: 'contender', align: 'left', width: 20 },
  { key: 'bpw', title: 'bits/w', width: 6 },
  { key: 'ms', title: 'ms', width: 8 },
  { key: 'gbs', title: 'GB/s', width: 6 },
  { key: 'stream', title: 'stream', width: 6 },
  { key: 'pct', title: '%strm', width: 5 },
  { key: 'vs', title: 'vs f32', width: 7 },
];

/**
 * Times one group: `contenders` ({ key, kind, what, bytes, bpw, cold: [...],
 * hot, call(w) }) take turns in `rounds` rounds (order rotated per round,
 * samples pooled, stream probe after each round). The first contender is
 * sparq dense f32: every speedup is relative to it, from the same rounds.
 */
function runGroup({ shape, level, N, cache, contenders }) {
  const hot = cache === 'hot';
  const timed = contenders.map((c) => {
    const next = hot ? () => c.hot : rotation(c.cold, false);
    return { ...c, fn: () => sink(c.call(next())) };
  });
  const perRound = { ...timing, maxTime: timing.maxTime / rounds, minSamples: Math.ceil(timing.minSamples / rounds) };
  const pooled = new Map(timed.map((c) => [c.key, []]));
  const streamSamples = [];
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < timed.length; j++) {
      const c = timed[(j + r) % timed.length];
      pooled.get(c.key).push(...sampleIt(`${c.what} ${shape} ${level.label} N=${N} ${cache}`, c.fn, perRound));
      between();
    }
    streamSamples.push(...probe.measure(STREAM_ROUNDS).samples);
  }
  sink(null);
  const stream = { when: `${shape} ${level.label} N=${N} ${cache}`, median: median(streamSamples), best: Math.max(...streamSamples), rounds: streamSamples.length };
  streamLog.push(stream);
  const dense = summarize(pooled.get(timed[0].key)).median;
  for (const c of timed) {
    const st = summarize(pooled.get(c.key));
    const gbs = c.bytes / (st.median * 1e6);
    const r = { ms: st.median, gbs, stream: stream.median, streamPct: (100 * gbs) / stream.median, vsDense: dense / st.median };
    results.set(rkey(shape, level.key, c.key, N, cache), r);
    details.push({ kind: c.kind, what: c.what, shape, level: level.label, N, cache, ...st, gbs, stream: stream.median, streamPct: r.streamPct, vsDense: r.vsDense });
    log(textRow(columns, {
      shape, level: level.label, N, cache, what: c.what, bpw: fmt(c.bpw, 2), ms: fmt(st.median, 3), gbs: fmt(gbs, 1),
      stream: fmt(stream.median, 1), pct: fmt(r.streamPct, 0), vs: `${fmt(r.vsDense)}x`,
    }));
  }
}

// ------------------------------------------------------------ the run
const DENSE_LEVEL = { key: 'dense', label: 'dense', sparsity: null };
let cur = null; // the inputs of the N being timed: { x, xt, ox }

for (const { M, K } of shapes) {
  const shape = `${M}x${K}`;
  log(`\n# ${shape}: preparing the dense weights ...`);
  const t0 = performance.now();
  const w = truncateToBf16(fillGaussian(new Float32Array(M * K), rng(0x5eed0000 + M * 31 + K), SIGMA));
  const wt = Tensor.from(w, [M, K]).clone(); // aligned, like the sparse tensors
  const xs = new Map(Ns.map((N) => {
    const x = fillUniform(new Float32Array(N * K), rng(0xabc + N));
    const ox = useOrt ? new (ort().Tensor)('float32', x, [N, K]) : null;
    return [N, { x, xt: Tensor.from(x, [N, K]), ox, feeds: { x: ox } }];
  }));
  const check = (level, N, what, sets, err, tol = TOL) => {
    checks.push({ shape, level: level.label, N, what, sets, err, ok: err <= tol });
    if (!(err <= tol)) problems.push(`${shape} ${level.label} N=${N}: ${what} max rel error ${err.toExponential(2)} > ${tol}`);
  };
  const defs = [];
  rowDefs.set(shape, defs);

  // ---- sparq dense f32: the first contender of every group (kept for the whole shape)
  const f32Bytes = M * K * 4, bf16Bytes = M * K * 2;
  const f32Set = [wt];
  for (let i = 1, n = copiesFor(f32Bytes); i < n; i++) f32Set.push(wt.clone());
  setsInfo.push({ shape, level: 'dense', what: 'sparq f32 dense', bytes: f32Bytes, count: f32Set.length });
  const denseContender = { key: 'f32', kind: 'sparq', what: 'f32 dense', bytes: f32Bytes, bpw: 32, cold: f32Set, hot: wt, call: (wi) => linear(cur.xt, wi) };
  const refs = new Map([...xs].map(([N, { xt }]) => [N, linear(xt, wt).data]));
  if (Ns.includes(1)) check(DENSE_LEVEL, 1, 'sparq f32 dense vs JS loop', 1, relError(refs.get(1), jsLinear(xs.get(1).x, w, 1, K, M)));
  for (const [N, { xt }] of xs) {
    let e = 0;
    for (const wi of f32Set.slice(1)) e = Math.max(e, relError(linear(xt, wi).data, refs.get(N)));
    if (f32Set.length > 1) check(DENSE_LEVEL, N, 'sparq f32 dense, every copy vs copy 0', f32Set.length - 1, e, 1e-6);
  }
  defs.push({ level: DENSE_LEVEL, key: 'f32', format: 'f32 dense', values: 'float32', bpw: 32 });

  // ---- dense group: sparq f32, sparq bf16, ORT MatMul f32
  {
    const contenders = [denseContender];
    let bf16Set = [];
    if (useBf16) {
      for (let i = 0, n = copiesFor(bf16Bytes); i < n; i++) bf16Set.push(wt.to('bfloat16'));
      setsInfo.push({ shape, level: 'dense', what: 'sparq bf16 dense', bytes: bf16Bytes, count: bf16Set.length });
      for (const [N, { xt }] of xs) {
        let e = 0;
        for (const b of bf16Set) e = Math.max(e, relError(linear(xt, b).data, refs.get(N)));
        check(DENSE_LEVEL, N, 'sparq bf16 dense vs f32 dense', bf16Set.length, e);
      }
      contenders.push({ key: 'bf16', kind: 'sparq', what: 'bf16 dense', bytes: bf16Bytes, bpw: 16, cold: bf16Set, hot: bf16Set[0], call: (wi) => linear(cur.xt, wi) });
      defs.push({ level: DENSE_LEVEL, key: 'bf16', format: 'bf16 dense', values: 'bfloat16', bpw: 16 });
    }
    let sessions = [], hotSession = null;
    if (useOrt) {
      // ORT MatMul computes x[N, K] · B[K, M]: B is the weight transposed; N
      // is symbolic, so a session serves every N. Each session keeps its own
      // copy of the weights (distinct buffers for the cold rotation). Cold
      // sessions run with spinning off (see ortOptions), the hot one with ORT's defaults.
      let model = matMulModel({ N: 'N', K, M, B: transpose(w, M, K) });
      if (caches.includes('cold')) for (let i = 0, n = copiesFor(f32Bytes); i < n; i++) sessions.push(ortSession(model, ortOptions(threads, { spinning: false })));
      if (caches.includes('hot')) hotSession = ortSession(model, ortOptions(threads));
      model = null;
      setsInfo.push({ shape, level: 'dense', what: 'ORT MatMul f32 (sessions)', bytes: f32Bytes, count: sessions.length });
      for (const [N, { ox }] of xs) {
        let e = 0;
        for (const s of [...sessions, hotSession].filter(Boolean)) e = Math.max(e, relError(s.run({ x: ox }).y.data, refs.get(N)));
        check(DENSE_LEVEL, N, 'ORT MatMul f32 vs sparq f32 dense', sessions.length + (hotSession ? 1 : 0), e);
      }
      contenders.push({ key: 'ort', kind: 'ORT', what: 'ORT MatMul f32', bytes: f32Bytes, bpw: 32, cold: sessions, hot: hotSession, call: (s) => s.run(cur.feeds) });
      defs.push({ level: DENSE_LEVEL, key: 'ort', format: 'ORT MatMul f32', values: 'float32', bpw: 32 });
    }
    gc();
    log(`prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${setsInfo.filter((r) => r.shape === shape).map((r) => `${r.what} ${r.count}x${(r.bytes / MiB).toFixed(1)} MiB`).join(', ')}; peak RSS ${fmt(peakRssMiB(), 0)} MiB`);
    log('');
    log(textRow(columns, Object.fromEntries(columns.map((c) => [c.key, c.title]))));
    for (const cache of caches) {
      for (const N of Ns) {
        cur = xs.get(N);
        runGroup({ shape, level: DENSE_LEVEL, N, cache, contenders });
      }
    }
    for (const s of sessions) s.dispose();
    hotSession?.dispose();
    sessions = null;
    hotSession = null;
    bf16Set = null;
    contenders.length = 1;
    gc();
  }

  // ---- one group per sparsity level: prune once (format 'auto': the format
  // it picks is recorded), convert to the other formats (.to() shares the
  // values array), copy every array for the cold set, check, time, free.
  for (const level of levels) {
    const t1 = performance.now();
    const base = prune(wt, level.nm ? { pattern: level.nm, format: 'auto', values: 'bfloat16' } : { sparsity: level.sparsity, format: 'auto', values: 'bfloat16' });
    autoPicks.set(`${shape}|${level.key}`, base.format);
    // The format 'auto' picks is timed even when --formats leaves it out.
    const here = FORMATS.filter((f) => levelFormats(level).includes(f) || f === base.format);
    measured.set(`${shape}|${level.key}`, here);
    const variants = [];
    for (const f of here) {
      const t = f === base.format ? base : base.to(f, f === 'nm' ? { nm: level.nm } : undefined);
      variants.push({ key: f, format: f, values: 'bfloat16', t });
    }
    for (const v of variants.filter((x) => f32Formats(level).includes(x.format))) {
      variants.push({ key: `${v.format}-f32`, format: v.format, values: 'float32', t: withFloat32Values(v.t) });
    }
    // Sparse int4: every format with 4-bit values (quantize: symmetric, one
    // table of 16 levels per row), checked against linear on its own toDense().
    if (int4At.has(level.key)) {
      let noted = false;
      for (const v of variants.filter((x) => x.values === 'bfloat16' && int4Formats(level).includes(x.format))) {
        const q = quantize(v.t, { bits: 4 });
        if (!noted) {
          noted = true;
          // Same layout and kernels as 4-bit clustered values (cluster(sparse)): only their error is reported.
          const t0 = performance.now();
          const c = sparq.cluster(v.t, { bits: 4 });
          const ms = performance.now() - t0;
          const ref = base.toDense(), err = sparq.relativeError(ref, q.toDense()), errC = sparq.relativeError(ref, c.toDense());
          const line = `${shape} ${level.label}: relative RMSE against the pruned bfloat16 weights: int4 values (symmetric, per row, search) ${fmt(err, 4)}; ` +
            `4-bit clustered values (exact per-row k-means, clustered in ${fmt(ms / 1000, 2)} s) ${fmt(errC, 4)}`;
          log(line);
          notes.push(line + '.');
        }
        variants.push({ key: `${v.format}-int4`, format: v.format, values: 'int4', t: q });
      }
    }
    // Reference: sparq dense f32 on the pruned matrix (toDense: exactly the
    // stored values), itself checked against the JS loop for N = 1.
    let pruned = base.toDense();
    const levelRefs = new Map([...xs].map(([N, { xt }]) => [N, linear(xt, pruned).data]));
    if (Ns.includes(1)) check(level, 1, 'f32 dense on the pruned matrix vs JS loop', 1, relError(levelRefs.get(1), jsLinear(xs.get(1).x, pruned.data, 1, K, M)));
    pruned = null;
    const contenders = [denseContender];
    for (const v of variants) {
      const bytes = v.t.byteLength;
      const set = [v.t];
      for (let i = 1, n = copiesFor(bytes); i < n; i++) set.push(v.t.clone());
      const own = v.values === 'int4' ? v.t.toDense() : null;
      for (const [N, { xt }] of xs) {
        let e = 0;
        const ref = own ? linear(xt, own).data : levelRefs.get(N);
        for (const s of set) e = Math.max(e, relError(linear(xt, s).data, ref));
        check(level, N, `sparse ${v.format} (${v.values} values) vs f32 dense on ${own ? 'its toDense()' : 'the pruned matrix'}`, set.length, e);
      }
      const auto = v.values === 'bfloat16' && v.format === base.format;
      const what = `${v.format}${v.format === 'nm' ? ` ${level.nm}` : ''}${v.values === 'float32' ? ' f32 values' : v.values === 'int4' ? ' int4' : ''}${auto ? ' (auto)' : ''}`;
      setsInfo.push({ shape, level: level.label, what: `sparse ${what}`, bytes, count: set.length });
      contenders.push({ key: v.key, kind: 'sparq', what, bytes, bpw: v.t.bitsPerWeight, cold: set, hot: v.t, call: (s) => linear(cur.xt, s) });
      defs.push({ level, key: v.key, format: v.format === 'nm' ? `nm ${level.nm}` : v.format, values: v.values, bpw: v.t.bitsPerWeight, auto });
    }
    levelRefs.clear();
    gc();
    const mib = contenders.slice(1).reduce((t, c) => t + c.bytes * c.cold.length, 0) / MiB;
    log(`\n# ${shape} ${level.label}: pruned and prepared in ${((performance.now() - t1) / 1000).toFixed(1)} s; auto picks ${base.format}; density ${base.density.toFixed(4)}; ${contenders.slice(1).map((c) => `${c.what} ${c.cold.length}x${(c.bytes / MiB).toFixed(1)} MiB`).join(', ')} (${mib.toFixed(0)} MiB); peak RSS ${fmt(peakRssMiB(), 0)} MiB`);
    for (const cache of caches) {
      for (const N of Ns) {
        cur = xs.get(N);
        runGroup({ shape, level, N, cache, contenders });
      }
    }
    contenders.length = 0;
    variants.length = 0;
    gc();
  }
  f32Set.length = 0;
  gc();
}

log('');
streamProbe('end', quick ? 5 : 20);
await probe.close();
const streamAll = streamLog.map((r) => r.median);
const streamSummary = { median: median(streamAll), min: Math.min(...streamAll), max: Math.max(...streamAll) };
const loadEnd = os.loadavg();
const elapsed = (Date.now() - started.getTime()) / 1000;
const peak = peakRssMiB();

// ------------------------------------------------------------ targets
// Cold, speedup = sparq dense f32 time / sparse time in the same group. The
// sparsity targets use the best bfloat16-valued format at that level; the
// 'auto' target uses the format prune's 'auto' picked.
const targetCache = 'cold';
const bestOf = (shape, level, N, cache) => {
  let best = null;
  for (const f of measured.get(`${shape}|${level.key}`) ?? []) {
    const r = results.get(rkey(shape, level.key, f, N, cache));
    if (r && (!best || r.vsDense > best.vsDense)) best = { ...r, format: f };
  }
  return best;
};
const targets = [];
for (const { M, K } of shapes) {
  const shape = `${M}x${K}`;
  for (const [N, s, min] of [[1, 0.8, 3.5], [1, 0.9, 6], [8, 0.8, 3]]) {
    const level = levels.find((l) => !l.nm && l.sparsity === s);
    const name = `${shape} N=${N} ${s * 100}% ${targetCache}: best format >= ${min}x dense f32`;
    if (!level || !Ns.includes(N) || !caches.includes(targetCache)) {
      targets.push({ status: 'SKIP', name, detail: 'not measured in this run' });
      continue;
    }
    const b = bestOf(shape, level, N, targetCache);
    const a = results.get(rkey(shape, level.key, autoPicks.get(`${shape}|${level.key}`), N, targetCache));
    targets.push({ status: b && b.vsDense >= min ? 'PASS' : 'FAIL', name, detail: b ? `${b.format} ${fmt(b.vsDense)}x (${fmt(b.ms, 3)} ms)${a ? `; auto (${autoPicks.get(`${shape}|${level.key}`)}) ${fmt(a.vsDense)}x` : ''}` : 'no result' });
  }
  {
    const name = `${shape} ${targetCache}: format 'auto' >= 1x dense f32 at every sparsity >= 50%, N <= 32`;
    const cases = [];
    for (const level of levels.filter((l) => l.sparsity >= 0.5)) {
      for (const N of Ns.filter((n) => n <= 32)) {
        const f = autoPicks.get(`${shape}|${level.key}`);
        const r = results.get(rkey(shape, level.key, f, N, targetCache));
        if (r) cases.push({ level, N, f, r });
      }
    }
    if (!cases.length) targets.push({ status: 'SKIP', name, detail: 'not measured in this run' });
    else {
      const worst = cases.reduce((a, b) => (b.r.vsDense < a.r.vsDense ? b : a));
      const slower = cases.filter((c) => c.r.vsDense < 1);
      targets.push({
        status: slower.length ? 'FAIL' : 'PASS', name,
        detail: `worst ${fmt(worst.r.vsDense)}x (${worst.level.label} ${worst.f} N=${worst.N}) over ${cases.length} cases${slower.length ? `; slower: ${slower.map((c) => `${c.level.label} ${c.f} N=${c.N} ${fmt(c.r.vsDense)}x`).join(', ')}` : ''}`,
      });
    }
  }
}

log(`\ndone in ${elapsed.toFixed(0)} s; peak RSS ${fmt(peak, 0)} MiB; streaming read ${fmt(streamSummary.median, 1)} GB/s (median of ${streamLog.length} probes); load average ${loadEnd.map((v) => v.toFixed(2)).join(' ')}`);
log('\nformat picked by \'auto\' (and the best format per N, cold):');
for (const { M, K } of shapes) {
  const shape = `${M}x${K}`;
  for (const level of levels) {
    const best = Ns.map((N) => {
      const b = caches.includes('cold') ? bestOf(shape, level, N, 'cold') : null;
      return `N=${N} ${b ? `${b.format} ${fmt(b.vsDense)}x` : '—'}`;
    });
    log(`  ${shape} ${level.label.padEnd(6)} auto ${String(autoPicks.get(`${shape}|${level.key}`)).padEnd(6)}  best: ${best.join(', ')}`);
  }
}
log(`\ntargets (cold, speedup vs sparq dense f32 in the same round-robin)${quick ? ' — quick run: tiny matrices, not meaningful' : ''}:`);
for (const t of targets) log(`${t.status} ${t.name}: ${t.detail}`);
for (const n of notes) log(`note: ${n}`);
if (problems.length) {
  log('\nPROBLEMS:');
  for (const p of problems) log(`  ${p}`);
}

// ------------------------------------------------------------ chart
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const FORMAT_DASH = { bitmap: '7 4', csr: '2 3', nm: '1 0', ell: '5 2 1 2' };
function chartFor(shape, cache) {
  const series = [];
  const unstructured = levels.filter((l) => !l.nm).sort((a, b) => a.sparsity - b.sparsity);
  const nmLevels = levels.filter((l) => l.nm);
  Ns.forEach((N, i) => {
    const color = COLORS[i % COLORS.length];
    for (const f of formats.filter((x) => x !== 'nm')) {
      series.push({
        label: `${f}`, legend: false, color, dash: FORMAT_DASH[f], width: 1.2, opacity: 0.55, marker: 'none',
        points: unstructured.map((l) => ({ x: l.sparsity, y: results.get(rkey(shape, l.key, f, N, cache))?.vsDense ?? NaN })),
      });
    }
    series.push({
      label: `N=${N}`, color, width: 2.5,
      points: unstructured.map((l) => ({ x: l.sparsity, y: bestOf(shape, l, N, cache)?.vsDense ?? NaN })),
    });
    if (nmLevels.length) {
      series.push({
        label: 'N:M', legend: false, color, line: false, marker: 'diamond',
        points: nmLevels.map((l) => {
          const b = bestOf(shape, l, N, cache);
          return { x: l.sparsity, y: b?.vsDense ?? NaN, label: i === 0 ? l.nm : undefined };
        }),
      });
    }
  });
  const legendEntries = [
    { label: 'best format', color: '#555', width: 2.5, marker: 'circle' },
    ...formats.filter((x) => x !== 'nm').map((f) => ({ label: f, color: '#555', dash: FORMAT_DASH[f], width: 1.2, marker: 'none' })),
  ];
  if (nmLevels.length) legendEntries.push({ label: `${nmLevels.map((l) => l.nm).join(', ')} (best format)`, color: '#555', line: false, marker: 'diamond' });
  return lineChart({
    title: `${shape} (M x K), ${cache}, bfloat16 values`, xLabel: 'sparsity (fraction of weights pruned)', yLabel: 'speedup vs sparq dense f32 (x, log scale)',
    series, legendEntries, hLines: [{ y: 1, label: '1x = dense f32' }], yLog: true,
    xDomain: [0, 1], xTicks: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1], xTickFormat: (v) => `${Math.round(v * 100)}%`,
    yTickFormat: (v) => `${v}x`, width: 600, height: 420, legendWidth: 130,
  });
}

// ------------------------------------------------------------ report
/** One row per (shape, level, comparison): the N checked and the worst error. */
function worstChecks() {
  const worst = new Map();
  for (const c of checks) {
    const k = `${c.shape}|${c.level}|${c.what}`;
    const w = worst.get(k) ?? { shape: c.shape, level: c.level, what: c.what, Ns: [], sets: c.sets, err: 0, ok: true };
    w.Ns.push(c.N);
    w.err = Math.max(w.err, c.err);
    w.ok &&= c.ok;
    worst.set(k, w);
  }
  return [...worst.values()].map((w) => ({ ...w, N: w.Ns.join(', ') }));
}
const pairs = Ns.flatMap((N) => caches.map((cache) => ({ N, cache })));
function shapeTable(shape) {
  const cols = [
    { key: 'level', title: 'sparsity', align: 'left' }, { key: 'format', title: 'format', align: 'left' },
    { key: 'values', title: 'values', align: 'left' }, { key: 'bpw', title: 'bits/w' },
    ...pairs.flatMap(({ N, cache }) => [
      { key: `ms_${N}_${cache}`, title: `N=${N} ${cache} ms` }, { key: `x_${N}_${cache}`, title: `N=${N} ${cache} ×` },
    ]),
  ];
  const rows = rowDefs.get(shape).map((d) => {
    const row = { level: d.level.label, format: `${d.format}${d.auto ? ' (auto)' : ''}`, values: d.values, bpw: fmt(d.bpw, 2) };
    for (const { N, cache } of pairs) {
      const r = results.get(rkey(shape, d.level.key, d.key, N, cache));
      row[`ms_${N}_${cache}`] = r ? fmt(r.ms, 3) : undefined;
      const best = d.level.key !== 'dense' && d.values === 'bfloat16' ? bestOf(shape, d.level, N, cache) : null;
      row[`x_${N}_${cache}`] = r ? (best && best.format === d.key ? `**${fmt(r.vsDense)}x**` : `${fmt(r.vsDense)}x`) : undefined;
    }
    return row;
  });
  return mdTable(cols, rows);
}
function bandwidthTable(shape, cache) {
  const cols = [
    { key: 'level', title: 'sparsity', align: 'left' }, { key: 'format', title: 'format', align: 'left' }, { key: 'values', title: 'values', align: 'left' },
    { key: 'mib', title: 'MiB' },
    ...Ns.flatMap((N) => [{ key: `g_${N}`, title: `N=${N} GB/s` }, { key: `p_${N}`, title: `N=${N} % stream` }]),
  ];
  const [M, K] = shape.split('x').map(Number);
  const rows = rowDefs.get(shape).map((d) => {
    const row = { level: d.level.label, format: d.format, values: d.values, mib: fmt((d.bpw * M * K) / 8 / MiB, 1) };
    for (const N of Ns) {
      const r = results.get(rkey(shape, d.level.key, d.key, N, cache));
      row[`g_${N}`] = r ? fmt(r.gbs, 1) : undefined;
      row[`p_${N}`] = r ? fmt(r.streamPct, 0) : undefined;
    }
    return row;
  });
  return mdTable(cols, rows);
}

if (outPath || svgPath) {
  const chartCache = caches.includes('cold') ? 'cold' : 'hot';
  if (svgPath) {
    const svg = svgDocument(shapes.map(({ M, K }) => chartFor(`${M}x${K}`, chartCache)), {
      cols: Math.min(2, shapes.length),
      title: `sparq sparse linear: speedup over dense f32 (${chartCache}, same round-robin)`,
      notes: [
        `Solid: best bfloat16-valued format per point; thin dashed / dotted: one format; diamonds: N:M patterns (best of ${formats.join(', ')}). ${info.brand}, ${threads} threads, ${started.toISOString().slice(0, 10)}.`,
        `Speedup = sparq dense float32 linear time / sparse linear time, medians of interleaved benchmark.js rounds; ${chartCache === 'cold' ? (coldBytes >= 128 * MiB ? `cold: weights rotate over >= ${(coldBytes / MiB).toFixed(0)} MiB per contender (streamed from DRAM)` : 'cold set below 4x L3 (not DRAM-cold)') : 'hot: the same weights every call'}.${outPath ? ` Data: ${relative(dirname(svgPath), outPath)}.` : ''}${quick ? ' Quick run: tiny matrices, not meaningful.' : ''}`,
      ],
    });
    mkdirSync(dirname(svgPath), { recursive: true });
    writeFileSync(svgPath, svg);
    log(`\nwrote ${relative(process.cwd(), svgPath)}`);
  }
  if (outPath) {
    const md = [];
    const ortVersion = useOrt ? ort().env.versions.node : '(skipped)';
    md.push('# Sparse linear benchmark', '');
    md.push(`- Date: ${started.toISOString()} (${elapsed.toFixed(0)} s)${quick ? ' — **quick configuration (smoke test): not representative**' : ''}`);
    md.push(`- CPU: ${info.vendor} ${info.brand}; sparq ISA ${info.active} (detected ${info.detected}); ${info.cores} cores`);
    md.push(`- Threads: sparq ${threads} (\`getNumThreads()\`), onnxruntime-node intraOpNumThreads ${threads}, interOpNumThreads 1`);
    md.push(`- Node ${process.version}, onnxruntime-node ${ortVersion}, ${os.platform()} ${os.release()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM; peak RSS of this run ${fmt(peak / 1024, 2)} GiB`);
    md.push(`- Command: \`${command}\`${subset ? '' : ' (`npm run bench:sparsity`)'}`);
    md.push(`- Load average (1/5/15 min) at start ${loadStart.map((v) => v.toFixed(2)).join(' ')}, at end ${loadEnd.map((v) => v.toFixed(2)).join(' ')} (a shared 2-core machine: other load shows up as noise)`);
    md.push(`- Streaming-read bandwidth: **${fmt(streamSummary.median, 1)} GB/s** (median over the ${streamLog.length} probes of this run; lowest ${fmt(streamSummary.min, 1)}, highest ${fmt(streamSummary.max, 1)}): ${STREAM.threads} worker threads each scan their own ${STREAM.bytesPerThread / MiB} MiB buffer with memchr (StreamProbe in bench/common.js, as in dense.md); ${STREAM_ROUNDS} probe rounds after each timing round of every group, and "% stream" = the contender's effective GB/s / the median of its group's probe rounds (per group in "All measurements"; ${streamLog[0].rounds}-round probes at the start ${fmt(streamLog[0].median, 1)} and the end ${fmt(streamLog[streamLog.length - 1].median, 1)} GB/s). GB/s are 10^9 bytes/s.`);
    if (svgPath) md.push('', `![speedup vs sparsity](${relative(dirname(outPath), svgPath)})`, '');
    md.push('## Targets', '');
    md.push(`Cold, speedup = sparq dense f32 time / sparse time measured in the same round-robin. The sparsity targets take the best bfloat16-valued format at that level (auto's result shown beside it); the last line of each shape takes the format \`prune(..., { format: 'auto' })\` picked.`);
    md.push('');
    md.push(...targets.map((t) => `- **${t.status}** ${t.name}: ${t.detail}`));
    md.push('');
    md.push("## Format picked by 'auto', and the fastest format", '');
    md.push(...mdTable(
      [
        { key: 'shape', title: 'shape', align: 'left' }, { key: 'level', title: 'sparsity', align: 'left' }, { key: 'auto', title: "'auto' picks", align: 'left' },
        ...pairs.map(({ N, cache }) => ({ key: `b_${N}_${cache}`, title: `fastest N=${N} ${cache}`, align: 'left' })),
      ],
      shapes.flatMap(({ M, K }) => {
        const shape = `${M}x${K}`;
        return levels.map((level) => {
          const f = autoPicks.get(`${shape}|${level.key}`);
          const row = { shape, level: level.label, auto: f };
          for (const { N, cache } of pairs) {
            const b = bestOf(shape, level, N, cache);
            const a = results.get(rkey(shape, level.key, f, N, cache));
            row[`b_${N}_${cache}`] = b ? `${b.format} ${fmt(b.vsDense)}x${b.format === f ? '' : ` (auto ${a ? `${fmt(a.vsDense)}x` : '—'})`}` : undefined;
          }
          return row;
        });
      }),
    ));
    md.push('');
    md.push('## Results', '');
    md.push(`ms = median time of one \`linear(x, w)\` call (x float32 [N, K]); × = sparq dense f32 time / this time, both from the same group (same shape, sparsity, N and cache, contenders interleaved); **bold** = the fastest bfloat16-valued format of that column. "(auto)" marks the format \`prune\` picks with \`format: 'auto'\` (${'`'}chooseFormat${'`'} in lib/sparse.ts). The dense rows come from the dense group (sparq f32, sparq bf16 and ORT MatMul f32 interleaved): × there is also f32 time / this time. bits/w = \`SparseTensor.bitsPerWeight\` (values + index arrays + padding).`);
    for (const { M, K } of shapes) {
      const shape = `${M}x${K}`;
      md.push('', `### ${shape} (M x K)`, '');
      md.push(...shapeTable(shape));
    }
    md.push('');
    md.push('## Effective bandwidth', '');
    md.push(`GB/s = bytes of the stored weights (\`byteLength\`: values and index arrays; M·K·4 / M·K·2 for dense) / time of one call; % stream = that / the streaming-read bandwidth measured in the same group. ${caches.includes('cold') ? 'Cold' : 'Hot'} rows.`);
    for (const { M, K } of shapes) {
      const shape = `${M}x${K}`;
      md.push('', `### ${shape}, ${chartCache}`, '');
      md.push(...bandwidthTable(shape, chartCache));
    }
    md.push('');
    md.push('## Method', '');
    md.push(`- **Weights**: one Gaussian matrix per shape (σ = ${SIGMA}), made bfloat16-exact (low 16 bits cleared), so the float32 dense matrix, the bfloat16 dense copy and the pruned tensors hold the same values. x uniform in [−1, 1).`);
    md.push(`- **Pruning**: \`prune(w, { sparsity, format: 'auto', values: 'bfloat16' })\` (unstructured, by magnitude) or \`{ pattern: '2:4', ... }\` once per level; the other formats are \`.to(format)\` of that tensor (same stored set and values). ${f32At !== null ? `At ${parseLevel(f32At).label}, the same tensors with their values widened to float32 ("f32 values" rows).` : ''}`);
    md.push(`- **cold**: each call uses the next copy of a rotating set of copies of the contender's weights (every array copied: values, offsets, masks, cols, codes), ${coldBytes >= 128 * MiB ? `each contender its own set of at least ${(coldBytes / MiB).toFixed(0)} MiB (> 4x the 32 MiB L3; at least 2 copies), so every call streams its weights from DRAM` : `each contender 2 copies or more for at least ${(coldBytes / MiB).toFixed(0)} MiB — **less than 4x the 32 MiB L3: not DRAM-cold**`}; **hot**: the same weights every call (small sparse tensors stay in L3). A level's tensors and copies exist only while that level is timed. Sizes below.`);
    md.push(`- **ORT**: onnxruntime-node ${ortVersion} MatMul (opset 17, float32, the transposed weight as an initializer, symbolic N, built in memory by bench/onnx-model.js); cold rotates over one session per copy with \`session.intra_op.allow_spinning: '0'\`, hot uses one session with ORT's defaults (see bench/results/dense.md). ORT runs the unpruned matrix (what one would run without sparse weights), in the dense group only.`);
    md.push(`- **Timing**: in each group the contenders take turns in ${rounds} rounds (order rotated each round), each round a benchmark.js run with \`maxTime: ${fmt(timing.maxTime / rounds)}, minSamples: ${Math.ceil(timing.minSamples / rounds)}, minTime: ${timing.minTime}\`; samples of all rounds pooled, medians shown (± rme below); ${STREAM_ROUNDS} stream-probe rounds after each round. All calls synchronous (ORT through the native session \`run\` that \`InferenceSession.run\` wraps in a Promise).`);
    md.push('');
    md.push('### Cold weight sets', '');
    md.push(...mdTable(
      [
        { key: 'shape', title: 'shape', align: 'left' }, { key: 'level', title: 'sparsity', align: 'left' }, { key: 'what', title: 'contender', align: 'left' },
        { key: 'mib', title: 'MiB per copy' }, { key: 'count', title: 'copies' }, { key: 'total', title: 'MiB in rotation' },
      ],
      setsInfo.map((r) => ({ ...r, mib: fmt(r.bytes / MiB, 2), total: fmt((r.bytes * r.count) / MiB, 0) })),
    ));
    md.push('');
    md.push('## Correctness (checked before timing)', '');
    md.push(`Max relative error = max |y − ref| / max |ref| over the output, worst over the copies checked (every copy of every cold set); tolerance ${TOL}. The reference of a sparsity level is sparq's dense f32 \`linear\` on \`toDense()\` of the pruned tensor, itself checked against the plain JS loop (N = 1).`);
    md.push('');
    md.push(...mdTable(
      [
        { key: 'shape', title: 'shape', align: 'left' }, { key: 'level', title: 'sparsity', align: 'left' }, { key: 'N', title: 'N' },
        { key: 'what', title: 'comparison', align: 'left' }, { key: 'sets', title: 'copies' }, { key: 'err', title: 'max rel error (worst over N)' }, { key: 'ok', title: 'ok', align: 'left' },
      ],
      worstChecks().map((c) => ({ ...c, err: c.err.toExponential(2), ok: c.ok ? 'yes' : '**NO**' })),
    ));
    if (notes.length) md.push('', '## Notes', '', ...notes.map((n) => `- ${n}`));
    md.push('');
    md.push('## All measurements', '');
    md.push(...mdTable(
      [
        { key: 'kind', title: 'library', align: 'left' }, { key: 'what', title: 'contender', align: 'left' }, { key: 'shape', title: 'shape', align: 'left' },
        { key: 'level', title: 'sparsity', align: 'left' }, { key: 'N', title: 'N' }, { key: 'cache', title: 'cache', align: 'left' },
        { key: 'median', title: 'median ms' }, { key: 'mean', title: 'mean ms' }, { key: 'min', title: 'min ms' }, { key: 'max', title: 'max ms' },
        { key: 'rme', title: '± rme %' }, { key: 'samples', title: 'samples' }, { key: 'gbs', title: 'GB/s' }, { key: 'stream', title: 'stream GB/s' },
        { key: 'streamPct', title: '% stream' }, { key: 'vsDense', title: 'vs f32 dense' },
      ],
      details.map((d) => ({
        ...d, median: fmt(d.median, 3), mean: fmt(d.mean, 3), min: fmt(d.min, 3), max: fmt(d.max, 3), rme: fmt(d.rme, 1),
        gbs: fmt(d.gbs, 1), stream: fmt(d.stream, 1), streamPct: fmt(d.streamPct, 0), vsDense: `${fmt(d.vsDense)}x`,
      })),
    ));
    if (problems.length) md.push('', '## Problems', '', ...problems.map((p) => `- ${p}`));
    md.push('');
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileSync(outPath, md.join('\n'));
    log(`wrote ${relative(process.cwd(), outPath)}`);
  }
}

if (problems.length) process.exitCode = 1;
