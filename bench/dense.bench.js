// Dense linear benchmark: sparq `linear` with float32 and bfloat16 weights
// against onnxruntime-node MatMul and a plain JavaScript loop, cold (each call
// uses the next of several weight matrices totalling well over the L3 cache)
// and hot (the same matrix every call). Writes bench/results/dense.md.
//
//   npm run bench                                   # full run (~5 min)
//   node --expose-gc bench/dense.bench.js --quick   # 4096x4096 only
//
// Options (any of them selects a subset; a subset run writes no file unless
// --out is given):
//   --quick                 only 4096x4096
//   --shapes 4096x4096,11008x4096   (MxK)
//   --n 1,8,32              batch rows
//   --weights f32,bf16
//   --modes cold,hot
//   --no-ort / --no-js      skip onnxruntime-node / the plain JS loop
//   --max-time S            seconds of sampling per measurement (default 6), split over the rounds
//   --min-samples K         minimum benchmark.js samples per measurement (default 10)
//   --rounds R              sparq f32, ORT and sparq bf16 take turns in R rounds (default 3)
//   --cold-mb MB            minimum size of the cold set of bf16 matrices (default 256)
//   --out PATH              where to write the Markdown report
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import * as sparq from 'sparq';
import {
  parseArgs, list, median, rng, fillUniform, fillBf16Exact, transpose, jsLinear, relError, gc, sleep,
  sampleIt, summarize, ort, ortOptions, ortSession, StreamProbe, fmt, mdTable, textRow, rotation,
  between, sink, streamProbeLogger,
} from './common.js';
import { matMulModel } from './onnx-model.js';

const { Tensor, linear } = sparq;
const MiB = 2 ** 20;
const here = dirname(fileURLToPath(import.meta.url));
const defaultOut = `${here}/results/dense.md`;

const args = parseArgs();
const known = new Set(['quick', 'shapes', 'n', 'weights', 'modes', 'no-ort', 'no-js', 'max-time', 'min-samples', 'rounds', 'cold-mb', 'out']);
for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`unknown option --${k}`);
const subset = ['quick', 'shapes', 'n', 'weights', 'modes', 'no-ort', 'no-js'].some((k) => k in args);

const shapes = list(args.shapes ?? (args.quick ? '4096x4096' : '4096x4096,11008x4096')).map((s) => {
  const [M, K] = s.split('x').map(Number);
  if (!(M > 0 && K > 0)) throw new Error(`bad shape ${s} (want MxK)`);
  return { M, K };
});
const Ns = list(args.n ?? '1,8,32').map(Number);
const weightKinds = list(args.weights ?? 'f32,bf16');
const modes = list(args.modes ?? 'cold,hot');
const useOrt = !args['no-ort'];
const useJs = !args['no-js'];
const timing = { maxTime: Number(args['max-time'] ?? 6), minSamples: Number(args['min-samples'] ?? 10), minTime: 0.05 };
const rounds = Math.max(1, Number(args.rounds ?? 3));
const coldBytes = Number(args['cold-mb'] ?? 256) * MiB;
const outPath = args.out ?? (subset ? null : defaultOut);
for (const w of weightKinds) if (w !== 'f32' && w !== 'bf16') throw new Error(`--weights: f32 or bf16, not ${w}`);
for (const m of modes) if (m !== 'cold' && m !== 'hot') throw new Error(`--modes: cold or hot, not ${m}`);
// The plain JS loop takes tens of ms per call; it runs for N=1 with f32 weights only.
const JS_N = 1;

const info = sparq.cpuInfo();
const threads = sparq.getNumThreads();
const command = `node ${process.execArgv.join(' ')} ${relative(process.cwd(), fileURLToPath(import.meta.url))} ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim();
const started = new Date();
const loadStart = os.loadavg();

const problems = [];
const log = (s = '') => process.stdout.write(`${s}\n`);

log(`sparq dense linear benchmark — ${started.toISOString()}`);
log(`CPU: ${info.vendor} ${info.brand}, ISA ${info.active} (detected ${info.detected}), bf16 ${info.features.avx512bf16}, cores ${info.cores}; sparq threads ${threads}; Node ${process.version}; onnxruntime-node ${useOrt ? ort().env.versions.node : '(skipped)'}`);
log(`timing: ${rounds} interleaved rounds of benchmark.js (per round: maxTime ${fmt(timing.maxTime / rounds)}s, minSamples ${Math.ceil(timing.minSamples / rounds)}, minTime ${timing.minTime}s); load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}`);

// ------------------------------------------------------------ stream bandwidth
// Probed at the start, at the end, and inside every (shape, N, mode) group,
// interleaved with the contenders' rounds: memory bandwidth on a shared
// machine drifts, so each row's "% stream" uses the bandwidth measured in the
// same time window.
const STREAM = { threads, bytesPerThread: 256 * MiB };
const probe = await StreamProbe.start(STREAM);
const streamLog = [];
const STREAM_ROUNDS = 5; // probe rounds after each timing round of a group
const streamProbe = streamProbeLogger(probe, streamLog, log);
log('');
streamProbe('start', 20);
gc();

// ------------------------------------------------------------ table
const columns = [
  { key: 'shape', title: 'shape (MxK)', align: 'left', width: 10 },
  { key: 'N', title: 'N', width: 3 },
  { key: 'weights', title: 'weights', align: 'left', width: 7 },
  { key: 'mode', title: 'mode', align: 'left', width: 4 },
  { key: 'sparqMs', title: 'sparq ms', width: 8 },
  { key: 'sparqGBs', title: 'sparq GB/s', width: 10 },
  { key: 'stream', title: 'stream GB/s', width: 11 },
  { key: 'streamPct', title: '% stream', width: 8 },
  { key: 'ortMs', title: 'ORT ms', width: 8 },
  { key: 'ortGBs', title: 'ORT GB/s', width: 8 },
  { key: 'vsOrt', title: 'sparq vs ORT', width: 12 },
  { key: 'vsF32', title: 'bf16 vs f32', width: 11 },
  { key: 'jsMs', title: 'JS loop ms', width: 10 },
];
const rows = [];
const details = [];
const checks = [];
log('');
log(textRow(columns, Object.fromEntries(columns.map((c) => [c.key, c.title]))));

function record(kind, cfg, r, bytes) {
  const gbs = bytes / (r.median * 1e6);
  details.push({ kind, ...cfg, ...r, gbs });
  return { ms: r.median, gbs };
}



for (const { M, K } of shapes) {
  const shape = `${M}x${K}`;
  const f32Bytes = M * K * 4;
  const bf16Bytes = M * K * 2;
  // One set of matrices serves both weight types: `count` bf16 matrices make
  // at least --cold-mb (and the float32 set twice that).
  const count = Math.max(2, Math.ceil(coldBytes / bf16Bytes));
  log(`\n# ${shape}: ${count} weight matrices (cold set ${(count * f32Bytes / MiB).toFixed(0)} MiB f32, ${(count * bf16Bytes / MiB).toFixed(0)} MiB bf16); preparing ...`);
  const t0 = performance.now();
  const next = rng(0x5eed0000 + M * 31 + K);
  const w32 = [];
  const wbf = [];
  const sessions = []; // cold: one per matrix, spinning off (see ortOptions)
  let hotSession = null; // hot: matrix 0 in one more session with ORT's default spinning
  for (let i = 0; i < count; i++) {
    const t = Tensor.zeros([M, K]); // aligned storage, like every tensor sparq makes
    const data = fillBf16Exact(t.data, next);
    const b = t.to('bfloat16');
    // The values are bf16-exact: the bf16 copy must be the high halves.
    const hi = new Uint16Array(data.buffer, data.byteOffset, 2 * data.length);
    for (let j = 0; j < M * K; j += 4099) {
      if (b.data[j] !== hi[2 * j + 1]) throw new Error(`bf16 conversion of ${shape} matrix ${i} differs at ${j}`);
    }
    if (weightKinds.includes('f32') || useJs) w32.push(t);
    if (weightKinds.includes('bf16')) wbf.push(b);
    if (useOrt) {
      // ORT MatMul computes x[N, K] · B[K, M]: B is the weight transposed.
      // N is symbolic, so one session per matrix serves every N.
      const model = matMulModel({ N: 'N', K, M, B: transpose(data, M, K) });
      sessions.push(ortSession(model, ortOptions(threads, { spinning: false })));
      if (i === 0 && modes.includes('hot')) hotSession = ortSession(model, ortOptions(threads));
    }
  }
  log(`prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  gc();

  for (const N of Ns) {
    const x = fillUniform(new Float32Array(N * K), rng(0xabc + N));
    const xt = Tensor.from(x, [N, K]);
    const ox = useOrt ? new (ort().Tensor)('float32', x, [N, K]) : null;
    const feeds = { x: ox };

    // ---- correctness, once per config, on every matrix of the set
    for (let i = 0; i < count; i++) {
      const y = useOrt ? sessions[i].run(feeds).y.data : null;
      const check = (what, got, against, tol) => {
        const e = relError(got, against);
        checks.push({ shape, N, what, matrix: i, err: e, ok: e <= tol });
        if (!(e <= tol)) problems.push(`${shape} N=${N} matrix ${i}: ${what} max rel error ${e.toExponential(2)} > ${tol}`);
      };
      if (useOrt) {
        if (w32.length && weightKinds.includes('f32')) check('sparq f32 vs ORT', linear(xt, w32[i]).data, y, 1e-4);
        if (wbf.length) check('sparq bf16 vs ORT', linear(xt, wbf[i]).data, y, 1e-4);
        if (i === 0 && hotSession) check('ORT hot session vs ORT', hotSession.run(feeds).y.data, y, 1e-6);
      } else if (w32.length && wbf.length) {
        check('sparq bf16 vs sparq f32', linear(xt, wbf[i]).data, linear(xt, w32[i]).data, 1e-4);
      }
      if (useJs && N === JS_N && i === 0) {
        const yj = jsLinear(x, w32[0].data, N, K, M);
        if (useOrt) check('JS loop vs ORT', yj, y, 1e-4);
        if (weightKinds.includes('f32')) check('sparq f32 vs JS loop', linear(xt, w32[0]).data, yj, 1e-4);
        if (wbf.length) check('sparq bf16 vs JS loop', linear(xt, wbf[0]).data, yj, 1e-4);
      }
    }

    for (const mode of modes) {
      const cfg = { shape, N, mode };
      const pick = (arr) => rotation(arr, mode === 'hot');

      // The contenders take turns: `rounds` rounds, each giving every one
      // maxTime/rounds seconds, in an order rotated per round, and the samples
      // of all rounds pooled. On this shared machine memory bandwidth drifts
      // over seconds; interleaving spreads the drift over all of them.
      const contenders = [];
      if (weightKinds.includes('f32')) {
        const w = pick(w32);
        contenders.push({ key: 'f32', kind: 'sparq', weights: 'f32', bytes: f32Bytes, fn: () => sink(linear(xt, w())) });
      }
      if (useOrt) {
        const s = mode === 'hot' ? () => hotSession : pick(sessions);
        contenders.push({ key: 'ort', kind: 'ORT', weights: 'f32', bytes: f32Bytes, fn: () => sink(s().run(feeds)) });
      }
      if (wbf.length) {
        const w = pick(wbf);
        contenders.push({ key: 'bf16', kind: 'sparq', weights: 'bf16', bytes: bf16Bytes, fn: () => sink(linear(xt, w())) });
      }
      const perRound = { ...timing, maxTime: timing.maxTime / rounds, minSamples: Math.ceil(timing.minSamples / rounds) };
      const pooled = new Map(contenders.map((c) => [c.key, []]));
      const streamSamples = [];
      for (let r = 0; r < rounds; r++) {
        for (let j = 0; j < contenders.length; j++) {
          const c = contenders[(j + r) % contenders.length];
          pooled.get(c.key).push(...sampleIt(`${c.kind} ${c.weights} ${shape} N=${N} ${mode}`, c.fn, perRound));
          between();
        }
        streamSamples.push(...probe.measure(STREAM_ROUNDS).samples);
      }
      const stream = { when: `${shape} N=${N} ${mode}`, median: median(streamSamples), best: Math.max(...streamSamples), rounds: streamSamples.length };
      streamLog.push(stream);
      const res = {};
      for (const c of contenders) res[c.key] = record(c.kind, { ...cfg, weights: c.weights }, summarize(pooled.get(c.key)), c.bytes);
      const f32 = res.f32, orts = res.ort;
      let js = null;
      if (useJs && N === JS_N) {
        const w = pick(w32);
        js = record('JS', { ...cfg, weights: 'f32' }, summarize(sampleIt(`JS loop f32 ${shape} N=${N} ${mode}`, () => sink(jsLinear(x, w().data, N, K, M)), { ...perRound, warmup: 1 })), f32Bytes);
        between();
      }
      if (weightKinds.includes('f32')) {
        const row = {
          shape, N, weights: 'f32', mode,
          sparqMs: fmt(f32.ms, 3), sparqGBs: fmt(f32.gbs, 1), stream: fmt(stream.median, 1), streamPct: fmt((100 * f32.gbs) / stream.median, 0),
          ortMs: orts ? fmt(orts.ms, 3) : undefined, ortGBs: orts ? fmt(orts.gbs, 1) : undefined,
          vsOrt: orts ? `${fmt(orts.ms / f32.ms)}x` : undefined,
          jsMs: js ? fmt(js.ms, 1) : undefined,
        };
        rows.push(row);
        log(textRow(columns, row));
      }
      if (wbf.length) {
        const bf = res.bf16;
        const row = {
          shape, N, weights: 'bf16', mode,
          sparqMs: fmt(bf.ms, 3), sparqGBs: fmt(bf.gbs, 1), stream: fmt(stream.median, 1), streamPct: fmt((100 * bf.gbs) / stream.median, 0),
          ortMs: orts ? `${fmt(orts.ms, 3)}†` : undefined, ortGBs: orts ? `${fmt(orts.gbs, 1)}†` : undefined,
          vsOrt: orts ? `${fmt(orts.ms / bf.ms)}x†` : undefined,
          vsF32: f32 ? `${fmt(f32.ms / bf.ms)}x` : undefined,
        };
        rows.push(row);
        log(textRow(columns, row));
      }
    }
  }

  for (const s of sessions) s.dispose();
  hotSession?.dispose();
  hotSession = null;
  sessions.length = 0;
  w32.length = 0;
  wbf.length = 0;
  sink(null);
  gc();
}

log('');
streamProbe('end', 20);
await probe.close();
const streamAll = streamLog.map((r) => r.median);
const streamSummary = { median: median(streamAll), min: Math.min(...streamAll), max: Math.max(...streamAll) };
const loadEnd = os.loadavg();
const elapsed = (Date.now() - started.getTime()) / 1000;
log(`\ndone in ${elapsed.toFixed(0)} s; load average ${loadEnd.map((v) => v.toFixed(2)).join(' ')}`);

// Correctness summary: one line per (shape, N, comparison), worst over the matrices.
const worstCheck = new Map();
for (const c of checks) {
  const k = `${c.shape}|${c.N}|${c.what}`;
  const w = worstCheck.get(k) ?? { shape: c.shape, N: c.N, what: c.what, matrices: 0, err: 0, ok: true };
  w.matrices++;
  w.err = Math.max(w.err, c.err);
  w.ok &&= c.ok;
  worstCheck.set(k, w);
}

if (problems.length) {
  log('\nPROBLEMS:');
  for (const p of problems) log(`  ${p}`);
}

// ------------------------------------------------------------ report
if (outPath) {
  const md = [];
  md.push('# Dense linear benchmark', '');
  md.push(`- Date: ${started.toISOString()} (${elapsed.toFixed(0)} s)`);
  md.push(`- CPU: ${info.vendor} ${info.brand}; sparq ISA ${info.active} (detected ${info.detected}); avx512bf16 ${info.features.avx512bf16}; ${info.cores} cores`);
  md.push(`- Threads: sparq ${threads} (\`getNumThreads()\`), onnxruntime-node intraOpNumThreads ${threads}, interOpNumThreads 1`);
  md.push(`- Node ${process.version}, onnxruntime-node ${useOrt ? ort().env.versions.node : '(skipped)'}, ${os.platform()} ${os.release()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`);
  md.push(`- Command: \`${command}\`${subset ? '' : ' (`npm run bench`)'}`);
  md.push(`- Load average (1/5/15 min) at start ${loadStart.map((v) => v.toFixed(2)).join(' ')}, at end ${loadEnd.map((v) => v.toFixed(2)).join(' ')} (a shared 2-core machine: other load shows up as noise)`);
  md.push('');
  md.push('## Streaming-read bandwidth');
  md.push('');
  md.push(`**${fmt(streamSummary.median, 1)} GB/s** (median over the ${streamLog.length} probes of this run; lowest ${fmt(streamSummary.min, 1)}, highest ${fmt(streamSummary.max, 1)}).`);
  md.push('');
  md.push(`Measured in this process: ${STREAM.threads} worker threads, each owning a ${STREAM.bytesPerThread / MiB} MiB buffer it filled itself, scan their buffers together with \`Buffer#indexOf\` for an absent byte (glibc \`memchr\`, a SIMD read loop that runs at memory speed); one round's bandwidth is ${STREAM.threads} x ${STREAM.bytesPerThread / MiB} MiB / wall time of the round. (During development an onnxruntime ReduceSum over a 512 MiB tensor with 2 threads, \`Buffer#compare\` of two buffers, and memchr over 2-8 interleaved regions per thread all read at the same speed within noise.) This machine's memory bandwidth drifts with other load on the host, so the probe runs ${STREAM_ROUNDS} rounds after each timing round of every (shape, N, mode) group, and that group's "stream GB/s" is the median of those ${rounds * STREAM_ROUNDS} rounds, taken in the same time window as its timings; "% stream" = effective weight GB/s / stream GB/s. 20-round probes also run at the start and the end. GB/s here and below are 10^9 bytes/s.`);
  md.push('');
  md.push(...mdTable(
    [{ key: 'when', title: 'probe (group)', align: 'left' }, { key: 'median', title: 'GB/s (median round)' }, { key: 'best', title: 'GB/s (best round)' }, { key: 'rounds', title: 'rounds' }],
    streamLog.map((r) => ({ ...r, median: fmt(r.median, 1), best: fmt(r.best, 1) })),
  ));
  md.push('');
  md.push('## Results');
  md.push('');
  md.push(...mdTable(columns, rows));
  md.push('');
  md.push('- **ms**: median time of one call, `y = linear(x, w)` with x float32 [N, K] and w [M, K]; for ORT one `run` of a MatMul model. **GB/s**: weight bytes / time (M·K·4 for f32, M·K·2 for bf16), the effective bandwidth of reading the weights.');
  md.push(`- **cold**: each call uses the next of a rotating set of weight matrices: ${shapes.map(({ M, K }) => { const c = Math.max(2, Math.ceil(coldBytes / (M * K * 2))); return `${c} for ${M}x${K} (${(c * M * K * 4 / MiB).toFixed(0)} MiB f32, ${(c * M * K * 2 / MiB).toFixed(0)} MiB bf16)`; }).join('; ')}, against a 32 MiB L3, so every call streams its weights from DRAM. **hot**: the same matrix every call (4096x4096 bf16 is 32 MiB and partly stays in L3).`);
  md.push("- **ORT sessions**: cold rotates over one session per matrix, created with `session.intra_op.allow_spinning: '0'`: each ORT session has its own thread pool whose workers busy-wait after a run, and with ORT's default the idle sessions' spinning workers took the cores from the running one (13.5 ms instead of 2.2 ms per 4096x4096 N=1 call in development; with spinning off, 8 sessions in rotation matched one session running 8 MatMul nodes back to back). Hot uses one more session on matrix 0 with ORT's default options (spinning on).");
  md.push('- **sparq vs ORT**: ORT time / sparq time (> 1: sparq faster). **bf16 vs f32**: sparq f32 time / sparq bf16 time for the same shape, N and mode.');
  md.push('- **†** onnxruntime 1.30\'s CPU provider has no MatMul kernel for bfloat16 (a bf16 MatMul model fails at session creation: "Could not find an implementation for MatMul(13)"), so bf16 rows repeat ORT\'s float32 MatMul (same values: the weights are generated bf16-exact) and compare sparq bf16 against it.');
  md.push(`- **JS loop**: a plain single-threaded JavaScript loop over Float32Arrays (four accumulators, \`jsLinear\` in bench/common.js), measured for N=${JS_N} with f32 weights only (it takes tens of ms per call).`);
  md.push(`- Timing: for each shape, N and mode, sparq f32, ORT and sparq bf16 take turns in ${rounds} rounds (order rotated each round), each round a benchmark.js run with \`maxTime: ${fmt(timing.maxTime / rounds)}, minSamples: ${Math.ceil(timing.minSamples / rounds)}, minTime: ${timing.minTime}\`; each sample is the mean call time over one benchmark.js cycle lasting at least minTime, the samples of all rounds are pooled, and the table shows their median (± rme below: 95% margin of the mean). Interleaving spreads this shared machine's bandwidth drift over all contenders. All libraries are timed synchronously: sparq's \`linear\` is synchronous, and ORT is called through the native session \`run\` that onnxruntime-node's \`InferenceSession.run\` wraps in a setImmediate/Promise. ORT sessions: \`graphOptimizationLevel: 'all', executionMode: 'sequential'\`, one MatMul node (opset 17) with the transposed weight as a float32 initializer [K, M] and a symbolic N, built in memory by bench/onnx-model.js.`);
  md.push('');
  md.push('## Correctness (checked before timing, on every matrix of each cold set)');
  md.push('');
  md.push('Max relative error = max |y − ref| / max |ref| over the output, worst over the matrices checked; tolerance 1e-4.');
  md.push('');
  md.push(...mdTable(
    [
      { key: 'shape', title: 'shape', align: 'left' }, { key: 'N', title: 'N' }, { key: 'what', title: 'comparison', align: 'left' },
      { key: 'matrices', title: 'matrices' }, { key: 'err', title: 'max rel error' }, { key: 'ok', title: 'ok', align: 'left' },
    ],
    [...worstCheck.values()].map((c) => ({ ...c, err: c.err.toExponential(2), ok: c.ok ? 'yes' : '**NO**' })),
  ));
  md.push('');
  md.push('## All measurements');
  md.push('');
  md.push(...mdTable(
    [
      { key: 'kind', title: 'library', align: 'left' }, { key: 'shape', title: 'shape', align: 'left' }, { key: 'N', title: 'N' },
      { key: 'weights', title: 'weights', align: 'left' }, { key: 'mode', title: 'mode', align: 'left' },
      { key: 'median', title: 'median ms' }, { key: 'mean', title: 'mean ms' }, { key: 'min', title: 'min ms' }, { key: 'max', title: 'max ms' },
      { key: 'rme', title: '± rme %' }, { key: 'samples', title: 'samples' }, { key: 'gbs', title: 'GB/s (median)' },
    ],
    details.map((d) => ({
      ...d, median: fmt(d.median, 3), mean: fmt(d.mean, 3), min: fmt(d.min, 3), max: fmt(d.max, 3), rme: fmt(d.rme, 1), gbs: fmt(d.gbs, 1),
    })),
  ));
  if (problems.length) {
    md.push('', '## Problems', '', ...problems.map((p) => `- ${p}`));
  }
  md.push('');
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, md.join('\n'));
  log(`\nwrote ${relative(process.cwd(), outPath)}`);
}

if (problems.length) process.exitCode = 1;
