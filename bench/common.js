// Helpers shared by the benchmarks: argument parsing, deterministic random
// data, reference math, statistics, onnxruntime-node sessions timed
// synchronously, a streaming-read bandwidth probe, and table formatting.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Benchmark from 'benchmark';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------- arguments

/**
 * Parses `--flag`, `--key value` and `--key=value` into an object (values are
 * strings; bare flags are true). Unknown keys are the caller's business.
 */
export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

export const list = (s) => String(s).split(',').map((v) => v.trim()).filter(Boolean);

// ---------------------------------------------------------------- data

/** xorshift32 generator of uint32 values; deterministic per seed. */
export function rng(seed = 0x9e3779b9) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** Fills `f` with uniform values in [-scale, scale). */
export function fillUniform(f, next, scale = 1) {
  const k = (2 * scale) / 4294967296;
  for (let i = 0; i < f.length; i++) f[i] = next() * k - scale;
  return f;
}

/**
 * Fills `f` with uniform values in [-scale, scale) that are exactly
 * representable in bfloat16 (low 16 bits zero), so the float32 and bfloat16
 * copies of a weight matrix hold the same values and one float32 reference
 * checks both.
 */
export function fillBf16Exact(f, next, scale = 1) {
  fillUniform(f, next, scale);
  const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
  for (let i = 0; i < u.length; i++) u[i] &= 0xffff0000;
  return f;
}

/**
 * Makes every value of `f` exactly representable in bfloat16 by clearing the
 * low 16 bits of its float32 pattern (rounding toward zero), in place; returns `f`.
 */
export function truncateToBf16(f) {
  const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
  for (let i = 0; i < u.length; i++) u[i] &= 0xffff0000;
  return f;
}

/**
 * Fills `f` with normal values of mean 0 and standard deviation `sigma`
 * (Box-Muller over the uint32 generator `next`).
 */
export function fillGaussian(f, next, sigma = 1) {
  const k = 1 / 4294967296;
  for (let i = 0; i < f.length; i += 2) {
    const u1 = (next() + 1) * k; // (0, 1]
    const u2 = next() * k;
    const r = sigma * Math.sqrt(-2 * Math.log(u1));
    f[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < f.length) f[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return f;
}

/** dst[c * rows + r] = src[r * cols + c]: a [rows, cols] matrix transposed. */
export function transpose(src, rows, cols) {
  const dst = new Float32Array(rows * cols);
  const T = 64;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const so = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[so + c];
      }
    }
  }
  return dst;
}

// ---------------------------------------------------------------- reference math

/**
 * The plain JavaScript baseline: y[N, M] = x[N, K] · w[M, K]ᵀ over
 * Float32Arrays, one thread, four accumulators.
 */
export function jsLinear(x, w, N, K, M, y = new Float32Array(N * M)) {
  const K4 = K - (K % 4);
  for (let n = 0; n < N; n++) {
    const xo = n * K;
    for (let m = 0; m < M; m++) {
      const wo = m * K;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      let k = 0;
      for (; k < K4; k += 4) {
        a0 += x[xo + k] * w[wo + k];
        a1 += x[xo + k + 1] * w[wo + k + 1];
        a2 += x[xo + k + 2] * w[wo + k + 2];
        a3 += x[xo + k + 3] * w[wo + k + 3];
      }
      for (; k < K; k++) a0 += x[xo + k] * w[wo + k];
      y[n * M + m] = a0 + a1 + a2 + a3;
    }
  }
  return y;
}

/** max |a - ref| / max |ref| (0 for identical arrays). */
export function relError(a, ref) {
  if (a.length !== ref.length) throw new RangeError(`length ${a.length} vs ${ref.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - ref[i]);
    if (!(d <= num)) num = d; // NaN propagates as a huge error
    const r = Math.abs(ref[i]);
    if (r > den) den = r;
  }
  if (Number.isNaN(num)) return Infinity;
  return den === 0 ? num : num / den;
}

// ---------------------------------------------------------------- statistics

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function gc() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the thread for `ms` (lets worker threads of the last library go idle). */
export function sleep(ms) {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/**
 * Times a synchronous `fn` with benchmark.js and returns its samples: per-call
 * times in milliseconds, each the mean call time over one benchmark.js cycle
 * of at least `minTime` seconds.
 */
export function sampleIt(name, fn, { minSamples = 5, maxTime = 1, minTime = 0.05, warmup = 2 } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const bench = new Benchmark(name, fn, { minSamples, maxTime, minTime, initCount: 1 });
  bench.run({ async: false });
  if (bench.error) throw bench.error;
  return bench.stats.sample.map((s) => s * 1e3);
}

/** Median, mean, min, max and relative margin of error (95%, %) of samples. */
export function summarize(sample) {
  const n = sample.length;
  const mean = sample.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? sample.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const sem = Math.sqrt(variance / n);
  return {
    median: median(sample), mean, min: Math.min(...sample), max: Math.max(...sample),
    rme: (100 * 1.96 * sem) / mean, samples: n,
  };
}

/** Peak resident set size of this process in MiB (VmHWM; NaN where /proc is missing). */
export function peakRssMiB() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- onnxruntime-node

let ortModule;
export function ort() {
  return (ortModule ??= require('onnxruntime-node'));
}

/**
 * Session options of the ORT sessions in the benchmarks. `spinning: false`
 * sets session.intra_op.allow_spinning=0: every ORT session owns its own
 * intra-op thread pool whose workers busy-wait for a while after each run, so
 * when several sessions take turns (the cold rotation), the previous
 * sessions' spinning workers steal the two cores from the running one (in
 * development: 13.5 ms instead of 2.2 ms per 4096x4096 call). A single
 * session used alone keeps ORT's default (spinning on).
 */
export function ortOptions(threads, { spinning = true } = {}) {
  const o = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (!spinning) o.extra = { session: { intra_op: { allow_spinning: '0' } } };
  return o;
}

let ortBinding;
/**
 * An ORT inference session whose `run` is synchronous. onnxruntime-node's
 * public `InferenceSession.run` calls the same native `run` from inside a
 * setImmediate callback and wraps it in a Promise; calling the native session
 * directly times the inference itself, without event-loop turns, the same way
 * the synchronous sparq calls are timed. Outputs are onnxruntime Tensors.
 */
export function ortSession(modelBytes, options) {
  if (!ortBinding) {
    ort();
    let b;
    try {
      b = require('onnxruntime-node/dist/binding');
    } catch (e) {
      throw new Error(`cannot load onnxruntime-node/dist/binding (changed layout in this onnxruntime-node version?): ${e.message}`);
    }
    b.initOrt();
    ortBinding = b.binding;
  }
  const s = new ortBinding.InferenceSession();
  s.loadModel(modelBytes.buffer, modelBytes.byteOffset, modelBytes.byteLength, options);
  const outputNames = s.outputMetadata.map((m) => m.name);
  const fetches = Object.fromEntries(outputNames.map((n) => [n, null]));
  const runOptions = {};
  return {
    inputNames: s.inputMetadata.map((m) => m.name),
    outputNames,
    run(feeds) {
      return s.run(feeds, fetches, runOptions);
    },
    dispose() {
      s.dispose();
    },
  };
}

// ---------------------------------------------------------------- bandwidth

/**
 * Streaming-read bandwidth probe: `threads` worker threads each own a
 * `bytesPerThread` buffer (filled by that thread) and, on each round, scan it
 * with memchr (see stream-worker.js), all started together. A round's
 * bandwidth is threads * bytesPerThread / wall time of the round, in GB/s
 * (1e9 bytes/s). The workers stay alive (blocked, not spinning) between
 * `measure` calls, so the probe can be repeated cheaply during a run.
 */
export class StreamProbe {
  static async start({ threads = 2, bytesPerThread = 256 * 2 ** 20 } = {}) {
    const p = new StreamProbe();
    p.threads = threads;
    p.bytesPerThread = bytesPerThread;
    p.ctrl = new Int32Array(new SharedArrayBuffer(12));
    p.round = 0;
    p.workers = [];
    const failed = new Promise((_, reject) => {
      for (let i = 0; i < threads; i++) {
        const w = new Worker(new URL('./stream-worker.js', import.meta.url), { workerData: { bytes: bytesPerThread, ctrl: p.ctrl.buffer } });
        w.on('error', reject);
        p.workers.push(w);
      }
    });
    failed.catch(() => {});
    const deadline = Date.now() + 60_000;
    while (Atomics.load(p.ctrl, 1) < threads) {
      await Promise.race([new Promise((r) => setTimeout(r, 20)), failed]);
      if (Date.now() > deadline) throw new Error('stream workers did not start');
    }
    p.measure(2); // warm-up
    return p;
  }

  /** Runs `rounds` rounds; returns { median, best, rounds, samples } in GB/s. */
  measure(rounds = 10) {
    const c = this.ctrl;
    const gbps = [];
    for (let r = 0; r < rounds; r++) {
      Atomics.store(c, 2, 0);
      const t0 = process.hrtime.bigint();
      Atomics.store(c, 0, ++this.round);
      Atomics.notify(c, 0);
      for (let d; (d = Atomics.load(c, 2)) < this.threads;) {
        if (Atomics.wait(c, 2, d, 10_000) === 'timed-out') throw new Error('stream workers stalled');
      }
      const ns = Number(process.hrtime.bigint() - t0);
      gbps.push((this.threads * this.bytesPerThread) / ns);
    }
    return { median: median(gbps), best: Math.max(...gbps), rounds, samples: gbps };
  }

  async close() {
    const exited = this.workers.map((w) => new Promise((r) => w.on('exit', r)));
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    await Promise.all(exited);
  }
}

// ---------------------------------------------------------------- formatting

export const fmt = (v, digits = 2) => (v === undefined || v === null || Number.isNaN(v) ? '—' : v.toFixed(digits));

/** A Markdown table (header row, separator, rows) as a list of lines. */
export function mdTable(columns, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [
    line(columns.map((c) => c.title)),
    line(columns.map((c) => (c.align === 'left' ? ':---' : '---:'))),
    ...rows.map((r) => line(columns.map((c) => r[c.key] ?? '—'))),
  ];
}

/** Fixed-width text row for stdout. */
export function textRow(columns, row) {
  return columns.map((c) => {
    const v = String(row[c.key] ?? '—');
    return c.align === 'left' ? v.padEnd(c.width) : v.padStart(c.width);
  }).join('  ');
}

/** A getter over `arr`: always its first element when `hot`, else the next one each call (cold rotation). */
export function rotation(arr, hot) {
  if (hot) {
    const v = arr[0];
    return () => v;
  }
  let i = 0;
  return () => {
    const v = arr[i];
    i = i + 1 === arr.length ? 0 : i + 1;
    return v;
  };
}

/** Between two contenders: collect garbage, then let the previous library's spinning worker threads go idle. */
export function between() {
  gc();
  sleep(50);
}

const sinks = [];
/** Keeps a result reachable so no call can be optimized away; sink(null) drops it. */
export function sink(v) {
  sinks[0] = v;
}

/**
 * streamProbe(when, n) for one benchmark: measures `probe` (a StreamProbe)
 * over n rounds, appends { when, median, best, rounds } to `entries` and logs it.
 */
export function streamProbeLogger(probe, entries, log) {
  return (when, n) => {
    const m = probe.measure(n);
    const r = { when, median: m.median, best: m.best, rounds: m.rounds };
    entries.push(r);
    log(`streaming read (${when}): ${fmt(r.median, 1)} GB/s median of ${r.rounds} rounds, best ${fmt(r.best, 1)}`);
    return r;
  };
}
