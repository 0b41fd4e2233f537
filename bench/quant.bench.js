// Quantized linear benchmark: sparq `linear` with int8 / int4 / NF4 weights
// (QuantizedTensor from `quantize`) against sparq's dense float32 `linear` on
// the same matrix and onnxruntime-node's MatMulNBits (com.microsoft, weights
// quantized by this script into ORT's layout) at the same bits and block size,
// cold (each call uses the next of a rotating set of weight copies totalling
// well over the L3 cache) and hot (the same weights every call). Also a small
// quality table (relative error of each setting, search on and off).
// Writes bench/results/quant.md.
//
//   node --expose-gc bench/quant.bench.js                 # full run (~20 min)
//   node --expose-gc bench/quant.bench.js --quick --n 1 --settings int8,int4-g32
//
// Options (any of the subset options selects a subset; a subset run writes no
// file unless --out is given):
//   --quick                 only 4096x4096, and the quality table on 1024x4096
//   --shapes 4096x4096,11008x4096   (MxK)
//   --n 1,8,32              batch rows
//   --settings LIST         sparq quantizations (default: all of DEFAULT_SETTINGS below):
//                           int8 (per row), int8-gG, int4-gG, int4-asym-gG, nf4-gG (G = group size)
//   --cache cold,hot        weight sets streamed from DRAM / the same weights every call
//   --modes weights-only,int8-act   sparq compute modes (default: those this build has; see COMPUTE_MODES)
//   --no-ort                skip onnxruntime-node (MatMulNBits and MatMulBnb4)
//   --no-bnb4               skip ORT MatMulBnb4 (NF4, bitsandbytes layout, block 64) for nf4-g64
//   --no-dense              skip sparq dense f32 (no "vs f32 dense" column then)
//   --no-quality            skip the quality table
//   --quality-shape MxK     matrix of the quality table (default 4096x4096; --quick: 1024x4096)
//   --ort-int8-block B      MatMulNBits block size that sparq int8 per-row is compared with (default 32)
//   --ort-accuracy-level L  MatMulNBits accuracy_level (default 4: int8 activations)
//   --max-time S            seconds of sampling per measurement (default 2), split over the rounds
//   --min-samples K         minimum benchmark.js samples per measurement (default 10)
//   --rounds R              the contenders of a group take turns in R rounds (default 3)
//   --cold-mb MB            minimum size of each contender's cold weight set (default 160: > 4x the 32 MiB L3)
//   --out PATH              where to write the Markdown report
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import * as sparq from 'sparq';
import {
  parseArgs, list, median, rng, fillUniform, fillGaussian, jsLinear, relError, gc, sleep, peakRssMiB,
  sampleIt, summarize, ort, ortOptions, ortSession, StreamProbe, fmt, mdTable, textRow, rotation,
  between, sink, streamProbeLogger,
} from './common.js';
import { matMulNBitsModel, matMulBnb4Model } from './onnx-model.js';

const { Tensor, QuantizedTensor, quantize, linear, relativeError, sqnr, NF4_LEVELS } = sparq;
const MiB = 2 ** 20;
const here = dirname(fileURLToPath(import.meta.url));
const defaultOut = `${here}/results/quant.md`;

const DEFAULT_SETTINGS = [
  'int8', 'int8-g32',
  'int4-g32', 'int4-g64', 'int4-g128',
  'int4-asym-g32', 'int4-asym-g64', 'int4-asym-g128',
  'nf4-g64', 'nf4-g32',
];
// Weights are drawn from N(0, SIGMA²), about the spread of LLM linear weights.
const SIGMA = 0.02;

// ------------------------------------------------------------ compute modes
const ORT_TOL = 1e-2; // accuracy_level 4 quantizes the activations to int8 (per block)
const SPARQ_TOL = 1e-4;
const INT8_ACT = Object.freeze({ activations: 'int8' });

/**
 * Whether this sparq build has the int8-activation mode: `linear(x, q, null,
 * { activations: 'int8' })` must run and give a (slightly) different result
 * from the float32-activation path on a small random case (an older build
 * that ignored the option would give identical results).
 */
function detectInt8Act() {
  try {
    const M = 8, K = 64;
    const w = Tensor.from(fillGaussian(new Float32Array(M * K), rng(0x1e7), 1), [M, K]);
    const x = Tensor.from(fillUniform(new Float32Array(2 * K), rng(0x2e7)), [2, K]);
    const q = quantize(w, { bits: 8, search: false });
    const a = linear(x, q).data, b = linear(x, q, null, INT8_ACT).data;
    if (a.every((v, i) => v === b[i])) return { available: false, why: "linear(x, q, null, { activations: 'int8' }) gives the float32-activation result (option ignored by this build)" };
    return { available: true };
  } catch (e) {
    return { available: false, why: `linear(x, q, null, { activations: 'int8' }) throws: ${String(e.message).split('\n')[0]}` };
  }
}

// How sparq computes with quantized weights (the "mode" column):
// - 'weights-only': codes decoded to float32 in registers, float32 activations.
// - 'int8-act': activations quantized to int8 per block of 32 along K and
//   integer dot products (AVX512-VNNI where present): `linear(x, q, null,
//   { activations: 'int8' })`; every setting (NF4 levels rounded to int8).
//   Detected at start-up (see detectInt8Act).
// A further mode goes here: an entry with `call`, `supports(setting)` and the
// tolerance of its output against f32 dense on the dequantized weights.
const int8Act = detectInt8Act();
const COMPUTE_MODES = {
  'weights-only': { available: true, tol: SPARQ_TOL, supports: () => true, call: (xt, q) => linear(xt, q) },
  'int8-act': {
    available: int8Act.available, why: int8Act.why, tol: ORT_TOL, supports: () => true,
    call: (xt, q) => linear(xt, q, null, INT8_ACT),
  },
};

const args = parseArgs();
const known = new Set([
  'quick', 'shapes', 'n', 'settings', 'cache', 'modes', 'no-ort', 'no-bnb4', 'no-dense', 'no-quality', 'quality-shape',
  'ort-int8-block', 'ort-accuracy-level', 'max-time', 'min-samples', 'rounds', 'cold-mb', 'out',
]);
for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`unknown option --${k}`);
const subset = ['quick', 'shapes', 'n', 'settings', 'cache', 'modes', 'no-ort', 'no-bnb4', 'no-dense', 'no-quality', 'quality-shape'].some((k) => k in args);

const parseShape = (s) => {
  const [M, K] = s.split('x').map(Number);
  if (!(M > 0 && K > 0)) throw new Error(`bad shape ${s} (want MxK)`);
  return { M, K };
};
const shapes = list(args.shapes ?? (args.quick ? '4096x4096' : '4096x4096,11008x4096')).map(parseShape);
const Ns = list(args.n ?? '1,8,32').map(Number);
const caches = list(args.cache ?? 'cold,hot');
for (const c of caches) if (c !== 'cold' && c !== 'hot') throw new Error(`--cache: cold or hot, not ${c}`);
const modes = list(args.modes ?? Object.keys(COMPUTE_MODES).filter((m) => COMPUTE_MODES[m].available).join(','));
for (const m of modes) {
  if (!(m in COMPUTE_MODES)) throw new Error(`--modes: ${Object.keys(COMPUTE_MODES).join(' or ')}, not ${m}`);
  if (!COMPUTE_MODES[m].available) throw new Error(`--modes ${m}: not available in this sparq build (${COMPUTE_MODES[m].why})`);
}
const useOrt = !args['no-ort'];
const useBnb4 = useOrt && !args['no-bnb4'];
const useDense = !args['no-dense'];
const useQuality = !args['no-quality'];
const qualityShape = parseShape(args['quality-shape'] ?? (args.quick ? '1024x4096' : '4096x4096'));
const ortInt8Block = Number(args['ort-int8-block'] ?? 32);
const ortAccuracy = Number(args['ort-accuracy-level'] ?? 4);
const timing = { maxTime: Number(args['max-time'] ?? 2), minSamples: Number(args['min-samples'] ?? 10), minTime: 0.05 };
const rounds = Math.max(1, Number(args.rounds ?? 3));
const coldBytes = Number(args['cold-mb'] ?? 160) * MiB;
const outPath = args.out ?? (subset ? null : defaultOut);

/** 'int8' | 'int8-g32' | 'int4-g64' | 'int4-asym-g32' | 'nf4-g64' → quantize options. */
function parseSetting(name) {
  const m = /^(int8|int4|nf4)(-asym)?(?:-g(\d+))?$/.exec(name);
  if (!m || (m[1] === 'nf4' && m[2])) throw new Error(`--settings: bad setting ${name} (int8, int8-gG, int4-gG, int4-asym-gG, nf4-gG)`);
  const bits = m[1] === 'int8' ? 8 : 4;
  const groupSize = m[3] ? Number(m[3]) : 0;
  if (bits === 4 && !groupSize) throw new Error(`--settings ${name}: 4-bit settings need a group size (-g32, -g64, ...)`);
  const scheme = m[1] === 'nf4' ? 'nf4' : m[2] ? 'asymmetric' : 'symmetric';
  return { name, bits, scheme, groupSize };
}
const settings = list(args.settings ?? DEFAULT_SETTINGS.join(',')).map(parseSetting);

// The ORT contender of a sparq setting: MatMulNBits at the same bits and block
// size (zero points for the asymmetric settings). int8 per row has no block
// equivalent (MatMulNBits takes block sizes 16..256): it is compared with
// 8-bit blocks of --ort-int8-block. NF4 has no MatMulNBits form: it is
// compared with 4-bit symmetric at the same block size (same storage), and
// with MatMulBnb4 (NF4 itself, but a dequantize-then-sgemm kernel).
function ortConfigOf(s) {
  const block = s.groupSize || ortInt8Block;
  const zp = s.scheme === 'asymmetric';
  const note = s.groupSize === 0 ? '†' : s.scheme === 'nf4' ? '‡' : '';
  return { key: `nbits-${s.bits}b-b${block}${zp ? '-zp' : ''}`, op: 'MatMulNBits', bits: s.bits, block, zp, note, label: `NBits ${s.bits}b b${block}${zp ? ' zp' : ''}` };
}
function bnb4ConfigOf(s) {
  // Only at bitsandbytes' default block size 64: each MatMulBnb4 session keeps
  // an M*K*4-byte float32 temporary, and the op is far from competitive.
  return s.scheme === 'nf4' && s.groupSize === 64 ? { key: `bnb4-nf4-b${s.groupSize}`, op: 'MatMulBnb4', bits: 4, block: s.groupSize, label: `Bnb4 nf4 b${s.groupSize}` } : null;
}

const info = sparq.cpuInfo();
const threads = sparq.getNumThreads();
const command = `node ${process.execArgv.join(' ')} ${relative(process.cwd(), fileURLToPath(import.meta.url))} ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim();
const started = new Date();
const loadStart = os.loadavg();

const problems = [];
const notes = [];
const log = (s = '') => process.stdout.write(`${s}\n`);

log(`sparq quantized linear benchmark — ${started.toISOString()}`);
log(`CPU: ${info.vendor} ${info.brand}, ISA ${info.active} (detected ${info.detected}), cores ${info.cores}; sparq threads ${threads}; Node ${process.version}; onnxruntime-node ${useOrt ? ort().env.versions.node : '(skipped)'}`);
log(`settings: ${settings.map((s) => s.name).join(', ')}; modes: ${modes.join(', ')}; cache: ${caches.join(', ')}`);
if (!int8Act.available) {
  notes.push(`sparq int8-activation mode not available in this build: ${int8Act.why}.`);
  log(`note: int8-act mode not available (${int8Act.why})`);
}
log(`timing: ${rounds} interleaved rounds of benchmark.js (per round: maxTime ${fmt(timing.maxTime / rounds)}s, minSamples ${Math.ceil(timing.minSamples / rounds)}, minTime ${timing.minTime}s); load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}`);

// ------------------------------------------------------------ helpers

/**
 * The cold copies of all quantized settings live in one shared pool: a
 * setting's `count` copies are QuantizedTensors whose codes, scales and mins
 * are views into the pool at their own offsets, and `materialize()` writes
 * that setting's arrays into all of its copies right before it is checked or
 * timed (about the pool size in memcpy, ~20 ms). Ten settings x 160 MiB of
 * copies would otherwise take 1.6 GB next to ORT's sessions. Copy 0 of each
 * set (the hot weights) is the QuantizedTensor from quantize() itself.
 */
const align64 = (n) => Math.ceil(n / 64) * 64;
const coldPool = { buffer: null, owner: null };
function poolStride(q) {
  return align64(q.codes.byteLength) + align64(q.scales.byteLength) + align64(q.mins?.byteLength ?? 0);
}
function poolCopies(q, count) {
  const stride = poolStride(q);
  const view = (Ctor, off, len) => new Ctor(coldPool.buffer, off, len);
  const copies = [];
  for (let i = 0; i < count; i++) {
    let off = i * stride;
    const codes = view(Uint8Array, off, q.codes.length);
    off += align64(q.codes.byteLength);
    const scales = view(q.scales.constructor, off, q.scales.length);
    off += align64(q.scales.byteLength);
    const mins = q.mins ? view(q.mins.constructor, off, q.mins.length) : null;
    copies.push(new QuantizedTensor({ shape: [...q.shape], bits: q.bits, scheme: q.scheme, groupSize: q.groupSize, scaleType: q.scaleType, codes, scales, mins }));
  }
  const materialize = () => {
    if (coldPool.owner === copies) return;
    for (const c of copies) {
      c.codes.set(q.codes);
      c.scales.set(q.scales);
      if (q.mins) c.mins.set(q.mins);
    }
    coldPool.owner = copies;
  };
  return { copies, materialize };
}

/**
 * Round-to-nearest quantization of a [M, K] float32 matrix into MatMulNBits'
 * layout (see matMulNBitsModel): symmetric (no zero points: the zero point is
 * 2^(bits-1), scale = absmax / (2^(bits-1) - 1)) or with zero points (range
 * [min(0, lo), max(0, hi)] over 2^bits - 1 steps, zero point rounded).
 * Returns the ORT inputs and `deq`, the float32 weights they stand for,
 * (code - zero_point) · scale, the reference the ORT output is checked against.
 */
function quantizeNBits(w, M, K, bits, block, withZp) {
  const nb = K / block;
  const qmax = (1 << bits) - 1, mid = 1 << (bits - 1);
  const B = new Uint8Array((M * K * bits) / 8);
  const scales = new Float32Array(M * nb);
  const zpb = Math.ceil((nb * bits) / 8);
  const zeroPoints = withZp ? new Uint8Array(M * zpb) : null;
  const deq = new Float32Array(M * K);
  for (let m = 0; m < M; m++) {
    for (let b = 0; b < nb; b++) {
      const o = m * K + b * block;
      let lo = 0, hi = 0;
      for (let i = 0; i < block; i++) {
        const v = w[o + i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      let s, z;
      if (withZp) {
        s = Math.fround((hi - lo) / qmax);
        z = s === 0 ? mid : Math.min(qmax, Math.max(0, Math.round(-lo / s)));
        zeroPoints[m * zpb + ((b * bits) >> 3)] |= z << ((b * bits) & 7);
      } else {
        s = Math.fround(Math.max(-lo, hi) / (mid - 1));
        z = mid;
      }
      scales[m * nb + b] = s;
      for (let i = 0; i < block; i++) {
        const idx = o + i;
        const q = s === 0 ? z : Math.min(qmax, Math.max(0, Math.round(w[idx] / s) + z));
        if (bits === 8) B[idx] = q;
        else B[idx >> 1] |= q << ((idx & 1) << 2); // element 2i in the low nibble, 2i+1 in the high
        deq[idx] = Math.fround((q - z) * s);
      }
    }
  }
  return { B, scales, zeroPoints, deq, bytes: B.byteLength + scales.byteLength + (zeroPoints?.byteLength ?? 0) };
}

/**
 * NF4 absmax quantization into MatMulBnb4's layout (bitsandbytes): blocks of
 * the flattened [M, K] matrix, float absmax per block, codes index NF4_LEVELS
 * (nearest level), the first element of each byte in the high nibble.
 */
function quantizeBnb4(w, M, K, block) {
  const n = M * K, nb = Math.ceil(n / block);
  const B = new Uint8Array(n / 2), absmax = new Float32Array(nb), deq = new Float32Array(n);
  const mids = Float32Array.from({ length: 15 }, (_, j) => (NF4_LEVELS[j] + NF4_LEVELS[j + 1]) / 2);
  for (let b = 0; b < nb; b++) {
    const o = b * block, e = Math.min(n, o + block);
    let a = 0;
    for (let i = o; i < e; i++) a = Math.max(a, Math.abs(w[i]));
    absmax[b] = a;
    const inv = a === 0 ? 0 : 1 / a;
    for (let i = o; i < e; i++) {
      const v = w[i] * inv;
      let c = 0;
      while (c < 15 && v > mids[c]) c++;
      B[i >> 1] |= c << ((i & 1) ? 0 : 4);
      deq[i] = Math.fround(NF4_LEVELS[c] * absmax[b]);
    }
  }
  return { B, absmax, deq, bytes: B.byteLength + absmax.byteLength };
}

/** Builds the ORT model of a config from the float32 matrix w [M, K]. */
function buildOrtModel(cfg, w, M, K) {
  if (cfg.op === 'MatMulNBits') {
    const q = quantizeNBits(w, M, K, cfg.bits, cfg.block, cfg.zp);
    const model = matMulNBitsModel({ N: 'N', K, M, bits: cfg.bits, blockSize: cfg.block, accuracyLevel: ortAccuracy, B: q.B, scales: q.scales, zeroPoints: q.zeroPoints });
    return { model, deq: q.deq, bytes: q.bytes };
  }
  const q = quantizeBnb4(w, M, K, cfg.block);
  return { model: matMulBnb4Model({ N: 'N', K, M, blockSize: cfg.block, quantType: 1, B: q.B, absmax: q.absmax }), deq: q.deq, bytes: q.bytes };
}

/**
 * ORT layout check on a small matrix: with accuracy_level 0 (float32
 * compute), MatMulNBits / MatMulBnb4 must reproduce y = x · deqᵀ to float
 * rounding, which pins down the packing (nibble order, zero-point packing,
 * default zero points) independently of the int8 activation error of level 4.
 */
function ortLayoutCheck(cfg) {
  const M = 256, K = 512, N = 4;
  const w = fillGaussian(new Float32Array(M * K), rng(0x1a7 + cfg.block + cfg.bits), SIGMA);
  const x = fillUniform(new Float32Array(N * K), rng(0x2b8));
  let model, deq;
  if (cfg.op === 'MatMulNBits') {
    const q = quantizeNBits(w, M, K, cfg.bits, cfg.block, cfg.zp);
    model = matMulNBitsModel({ N: 'N', K, M, bits: cfg.bits, blockSize: cfg.block, accuracyLevel: 0, B: q.B, scales: q.scales, zeroPoints: q.zeroPoints });
    deq = q.deq;
  } else {
    ({ model, deq } = buildOrtModel(cfg, w, M, K));
  }
  const s = ortSession(model, ortOptions(threads));
  try {
    const y = s.run({ x: new (ort().Tensor)('float32', x, [N, K]) }).y.data;
    return relError(y, jsLinear(x, deq, N, K, M));
  } finally {
    s.dispose();
  }
}

// ------------------------------------------------------------ stream bandwidth
// Probed at the start, at the end, and inside every (shape, N, cache) group,
// interleaved with the contenders' rounds (see dense.bench.js).
const STREAM = { threads, bytesPerThread: 256 * MiB };
const probe = await StreamProbe.start(STREAM);
const streamLog = [];
const STREAM_ROUNDS = 5;
const streamProbe = streamProbeLogger(probe, streamLog, log);
log('');
streamProbe('start', 20);
gc();

// ------------------------------------------------------------ ORT configs
const ortConfigs = new Map(); // key → config (shared by the settings that map to it)
const ortUnsupported = [];
const layoutChecks = [];
if (useOrt) {
  for (const s of settings) {
    const cfgs = [ortConfigOf(s), useBnb4 ? bnb4ConfigOf(s) : null].filter(Boolean);
    for (const c of cfgs) if (!ortConfigs.has(c.key)) ortConfigs.set(c.key, c);
  }
  for (const [key, c] of [...ortConfigs]) {
    try {
      const err = ortLayoutCheck(c);
      layoutChecks.push({ what: `ORT layout: ${c.label}${c.op === 'MatMulNBits' ? ' with accuracy_level 0 (float compute)' : ''} vs JS loop on its dequantized weights`, err, ok: err <= 1e-5 });
      if (!(err <= 1e-5)) problems.push(`ORT layout check ${c.label}: max rel error ${err.toExponential(2)} > 1e-5 (wrong packing?)`);
    } catch (e) {
      const msg = String(e.message).split('\n')[0];
      ortUnsupported.push({ label: c.label, msg });
      notes.push(`ORT ${c.label} (${c.op}) is not supported by onnxruntime-node ${ort().env.versions.node}: ${msg}; skipped.`);
      log(`ORT ${c.label}: unsupported (${msg}); skipped`);
      ortConfigs.delete(key);
    }
  }
  log(`ORT layout checks (256x512, N=4, max rel error vs the JS loop): ${[...ortConfigs.values()].map((c, i) => `${c.label} ${layoutChecks[i].err.toExponential(1)}`).join('; ')}`);
}

// ------------------------------------------------------------ quality
const quality = [];
const ortQuality = [];
if (useQuality) {
  const { M, K } = qualityShape;
  log(`\n# quality: relative error on a Gaussian ${M}x${K} matrix (σ = ${SIGMA}), search off and on ...`);
  const w = fillGaussian(new Float32Array(M * K), rng(0x9a1137), SIGMA);
  const wt = Tensor.from(w, [M, K]);
  for (const s of settings) {
    const row = { setting: s.name };
    for (const search of [false, true]) {
      const t0 = performance.now();
      const q = quantize(wt, { bits: s.bits, scheme: s.scheme, groupSize: s.groupSize, scaleType: 'float16', search });
      const sec = (performance.now() - t0) / 1000;
      const k = search ? 'on' : 'off';
      row.bpw = fmt(q.bitsPerWeight, 3);
      row[`err_${k}`] = relativeError(wt, q);
      row[`sqnr_${k}`] = sqnr(wt, q);
      row[`sec_${k}`] = sec;
    }
    quality.push(row);
    log(`${s.name.padEnd(15)} ${row.bpw} bits/w  rel error ${row.err_off.toFixed(4)} (search off) ${row.err_on.toFixed(4)} (on)  SQNR ${fmt(row.sqnr_off, 1)} / ${fmt(row.sqnr_on, 1)} dB  quantize ${fmt(row.sec_off, 1)} s / ${fmt(row.sec_on, 1)} s`);
    gc();
  }
  for (const c of ortConfigs.values()) {
    const q = c.op === 'MatMulNBits' ? quantizeNBits(w, M, K, c.bits, c.block, c.zp) : quantizeBnb4(w, M, K, c.block);
    ortQuality.push({ config: c.label, bpw: fmt((q.bytes * 8) / (M * K), 3), err: relativeError(wt, q.deq) });
  }
  gc();
}

// ------------------------------------------------------------ table
const columns = [
  { key: 'shape', title: 'shape (MxK)', align: 'left', width: 10 },
  { key: 'N', title: 'N', width: 3 },
  { key: 'weights', title: 'weights', align: 'left', width: 14 },
  { key: 'bpw', title: 'bits/w', width: 6 },
  { key: 'mode', title: 'mode', align: 'left', width: 12 },
  { key: 'cache', title: 'cache', align: 'left', width: 5 },
  { key: 'ms', title: 'sparq ms', width: 8 },
  { key: 'gbs', title: 'sparq GB/s', width: 10 },
  { key: 'stream', title: 'stream GB/s', width: 11 },
  { key: 'streamPct', title: '% stream', width: 8 },
  { key: 'vsDense', title: 'vs f32 dense', width: 12 },
  { key: 'ortOp', title: 'ORT op', align: 'left', width: 17 },
  { key: 'ortBpw', title: 'ORT bits/w', width: 10 },
  { key: 'ortMs', title: 'ORT ms', width: 8 },
  { key: 'ortGBs', title: 'ORT GB/s', width: 8 },
  { key: 'vsOrt', title: 'ORT/sparq', width: 9 },
  { key: 'bnbMs', title: 'Bnb4 ms', width: 8 },
  { key: 'vsBnb', title: 'Bnb4/sparq', width: 10 },
];
const rows = [];
const details = [];
const checks = [];
const setsInfo = [];
log('');
log(textRow(columns, Object.fromEntries(columns.map((c) => [c.key, c.title]))));



/**
 * Times one (shape, N, cache) group: sparq f32 dense, every sparq setting in
 * every mode, and every ORT model, in interleaved rounds (order rotated per
 * round, samples pooled, stream probe after each round; see dense.bench.js),
 * and appends its table rows.
 */
function runGroup({ shape, N, cache, xt, ox, dense, quant, orts }) {
  const feeds = { x: ox };
  const pick = (arr) => rotation(arr, cache === 'hot');
  const contenders = [];
  if (dense) {
    const next = pick(dense.set);
    contenders.push({ key: 'dense', kind: 'sparq', what: 'f32 dense', bytes: dense.bytes, fn: () => sink(linear(xt, next())) });
  }
  for (const qs of quant) {
    for (const mode of modes) {
      if (!COMPUTE_MODES[mode].supports(qs.s)) continue;
      const { call, tol } = COMPUTE_MODES[mode];
      let prepare = null;
      let next = () => qs.q;
      if (cache === 'cold') {
        next = pick(qs.copies);
        // Refill the shared pool with this setting's copies, and spot-check one.
        prepare = () => {
          qs.materialize();
          const e = relError(call(xt, qs.copies[qs.copies.length - 1]).data, qs.refs.get(N));
          if (!(e <= tol)) problems.push(`${shape} N=${N} ${cache}: sparq ${qs.s.name} ${mode} after refilling the cold pool: max rel error ${e.toExponential(2)}`);
        };
      }
      contenders.push({ key: `${qs.s.name}|${mode}`, kind: 'sparq', what: `${qs.s.name} ${mode}`, bytes: qs.bytes, prepare, fn: () => sink(call(xt, next())) });
    }
  }
  for (const o of orts.values()) {
    const next = pick(o.sessions);
    contenders.push({ key: o.c.key, kind: 'ORT', what: o.c.label, bytes: o.bytes, fn: () => sink(next().run(feeds)) });
  }

  const perRound = { ...timing, maxTime: timing.maxTime / rounds, minSamples: Math.ceil(timing.minSamples / rounds) };
  const pooled = new Map(contenders.map((c) => [c.key, []]));
  const streamSamples = [];
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < contenders.length; j++) {
      const c = contenders[(j + r) % contenders.length];
      c.prepare?.();
      pooled.get(c.key).push(...sampleIt(`${c.kind} ${c.what} ${shape} N=${N} ${cache}`, c.fn, perRound));
      between();
    }
    streamSamples.push(...probe.measure(STREAM_ROUNDS).samples);
  }
  sink(null);
  const stream = { when: `${shape} N=${N} ${cache}`, median: median(streamSamples), best: Math.max(...streamSamples), rounds: streamSamples.length };
  streamLog.push(stream);
  const res = new Map();
  for (const c of contenders) {
    const st = summarize(pooled.get(c.key));
    const gbs = c.bytes / (st.median * 1e6);
    details.push({ kind: c.kind, what: c.what, shape, N, cache, ...st, gbs });
    res.set(c.key, { ms: st.median, gbs });
  }

  const common = { shape, N, cache, stream: fmt(stream.median, 1) };
  const d = res.get('dense');
  if (d) {
    const row = { ...common, weights: 'f32 dense', bpw: '32', mode: '—', ms: fmt(d.ms, 3), gbs: fmt(d.gbs, 1), streamPct: fmt((100 * d.gbs) / stream.median, 0), vsDense: '1.00x' };
    rows.push(row);
    log(textRow(columns, row));
  }
  for (const qs of quant) {
    const oc = useOrt ? ortConfigOf(qs.s) : null;
    const o = oc ? orts.get(oc.key) : null;
    const or = o ? res.get(oc.key) : null;
    const bc = useBnb4 ? bnb4ConfigOf(qs.s) : null;
    const br = bc && orts.has(bc.key) ? res.get(bc.key) : null;
    for (const mode of modes) {
      const r = res.get(`${qs.s.name}|${mode}`);
      if (!r) continue; // mode not applicable to this setting
      const row = {
        ...common, weights: qs.s.name, bpw: fmt(qs.bpw, 3), mode,
        ms: fmt(r.ms, 3), gbs: fmt(r.gbs, 1), streamPct: fmt((100 * r.gbs) / stream.median, 0),
        vsDense: d ? `${fmt(d.ms / r.ms)}x` : undefined,
        ortOp: oc ? (o ? `${oc.label}${oc.note}` : `${oc.label}: unsupported`) : undefined,
        ortBpw: o ? fmt(o.bpw, 3) : undefined,
        ortMs: or ? fmt(or.ms, 3) : undefined, ortGBs: or ? fmt(or.gbs, 1) : undefined,
        vsOrt: or ? `${fmt(or.ms / r.ms)}x` : undefined,
        bnbMs: br ? fmt(br.ms, 3) : undefined, vsBnb: br ? `${fmt(br.ms / r.ms)}x` : undefined,
      };
      rows.push(row);
      log(textRow(columns, row));
    }
  }
}

const copiesFor = (bytes) => (caches.includes('cold') ? Math.max(2, Math.ceil(coldBytes / bytes)) : 1);

for (const { M, K } of shapes) {
  const shape = `${M}x${K}`;
  log(`\n# ${shape}: preparing ...`);
  const t0 = performance.now();
  const w = fillGaussian(new Float32Array(M * K), rng(0x5eed0000 + M * 31 + K), SIGMA);
  const wt = Tensor.from(w, [M, K]).clone(); // aligned, like the quantized tensors
  const xs = new Map(Ns.map((N) => {
    const x = fillUniform(new Float32Array(N * K), rng(0xabc + N));
    return [N, { x, xt: Tensor.from(x, [N, K]), ox: useOrt ? new (ort().Tensor)('float32', x, [N, K]) : null }];
  }));
  const check = (N, what, sets, err, tol) => {
    checks.push({ shape, N, what, sets, err, ok: err <= tol, tol });
    if (!(err <= tol)) problems.push(`${shape} N=${N}: ${what} max rel error ${err.toExponential(2)} > ${tol}`);
  };
  const jsRef = (deq) => (Ns.includes(1) ? jsLinear(xs.get(1).x, deq, 1, K, M) : null);

  // ---- sparq dense f32: the matrix itself, copied for the cold set
  let dense = null;
  if (useDense) {
    const bytes = M * K * 4;
    const count = copiesFor(bytes);
    const set = [wt];
    for (let i = 1; i < count; i++) set.push(wt.clone());
    const refs = new Map([...xs].map(([N, { xt }]) => [N, linear(xt, wt).data]));
    if (Ns.includes(1)) check(1, 'sparq f32 dense vs JS loop', 1, relError(refs.get(1), jsRef(w)), SPARQ_TOL);
    for (const [N, { xt }] of xs) {
      let e = 0;
      for (let i = 1; i < count; i++) e = Math.max(e, relError(linear(xt, set[i]).data, refs.get(N)));
      if (count > 1) check(N, 'sparq f32 dense, every copy vs copy 0', count - 1, e, 1e-6);
    }
    dense = { bytes, set };
    setsInfo.push({ shape, what: 'sparq f32 dense', bytes, count });
  }

  // ---- sparq quantized settings: quantize once (search off: the timing does
  // not depend on the values); cold copies in the shared pool
  const quant = [];
  for (const s of settings) {
    const q = quantize(wt, { bits: s.bits, scheme: s.scheme, groupSize: s.groupSize, scaleType: 'float16', search: false });
    // Reference: sparq's dense f32 linear on the dequantized weights (toDense:
    // the weights exactly as linear computes with them), and the JS loop.
    const deq = q.toDense();
    const ref1 = jsRef(deq.data);
    const refs = new Map();
    for (const [N, { xt }] of xs) {
      const ref = linear(xt, deq).data;
      if (N === 1) check(1, `f32 dense on ${s.name} dequantized vs JS loop`, 1, relError(ref, ref1), SPARQ_TOL);
      refs.set(N, ref);
    }
    const count = copiesFor(q.byteLength);
    quant.push({ s, q, refs, count, bytes: q.byteLength, bpw: q.bitsPerWeight });
    setsInfo.push({ shape, what: `sparq ${s.name}`, bytes: q.byteLength, count });
    gc();
  }
  if (caches.includes('cold')) {
    const need = Math.max(0, ...quant.map((qs) => qs.count * poolStride(qs.q)));
    if (!coldPool.buffer || coldPool.buffer.byteLength < need) {
      coldPool.buffer = null;
      gc();
      coldPool.buffer = new ArrayBuffer(need);
    }
    coldPool.owner = null;
    for (const qs of quant) Object.assign(qs, poolCopies(qs.q, qs.count));
  }
  // Every copy checked before timing (after materializing its set).
  for (const qs of quant) {
    const set = [qs.q, ...(qs.copies ?? [])];
    qs.materialize?.();
    for (const [N, { xt }] of xs) {
      for (const mode of modes) {
        const { call, tol, supports } = COMPUTE_MODES[mode];
        if (!supports(qs.s)) continue;
        let e = 0;
        for (const qi of set) e = Math.max(e, relError(call(xt, qi).data, qs.refs.get(N)));
        check(N, `sparq ${qs.s.name} ${mode} vs f32 dense on its dequantized weights`, set.length, e, tol);
      }
    }
  }

  // ---- ORT: the models are built here; their sessions only while their cache
  // phase runs (cold: one session per copy, spinning off, see ortOptions; hot:
  // one session with ORT's defaults), since ORT keeps ~2.3x the packed weight
  // bytes per session. References: sparq's f32 dense linear on the ORT
  // weights dequantized in JS.
  const ortModels = [];
  for (const c of ortConfigs.values()) {
    const { model, deq, bytes } = buildOrtModel(c, w, M, K);
    const deqT = Tensor.from(deq, [M, K]);
    const ref1 = jsRef(deq);
    const refs = new Map();
    for (const [N, { xt }] of xs) {
      const ref = linear(xt, deqT).data;
      if (N === 1) check(1, `f32 dense on ORT ${c.label} dequantized vs JS loop`, 1, relError(ref, ref1), SPARQ_TOL);
      refs.set(N, ref);
    }
    // MatMulBnb4 dequantizes the whole matrix into an M*K*4-byte float32
    // temporary on every call (>= 2x the L3), which flushes its packed weights
    // from the cache anyway: one session (more would each keep an M*K*4-byte
    // arena), so its cold and hot differ only in thread spinning.
    const count = c.op === 'MatMulBnb4' ? 1 : copiesFor(bytes);
    ortModels.push({ c, model, bytes, refs, count, bpw: (bytes * 8) / (M * K) });
    setsInfo.push({ shape, what: `ORT ${c.label}`, bytes, count });
    gc();
  }
  log(`prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${setsInfo.filter((r) => r.shape === shape).map((r) => `${r.what} ${r.count}x${(r.bytes / MiB).toFixed(1)} MiB`).join(', ')}; peak RSS ${fmt(peakRssMiB(), 0)} MiB`);

  // Hot first: the model bytes are only needed to create sessions, so they
  // can be dropped before the cold phase, the one with the most sessions.
  const phases = ['hot', 'cold'].filter((c) => caches.includes(c));
  for (const cache of phases) {
    const last = cache === phases[phases.length - 1];
    const orts = new Map();
    for (const om of ortModels) {
      const { c } = om;
      const sessions = [];
      const n = cache === 'cold' ? om.count : 1;
      for (let i = 0; i < n; i++) sessions.push(ortSession(om.model, ortOptions(threads, { spinning: cache === 'hot' })));
      if (last) om.model = null;
      const tol = c.op === 'MatMulNBits' ? ORT_TOL : SPARQ_TOL;
      for (const [N, { ox }] of xs) {
        let e = 0;
        for (const se of sessions) e = Math.max(e, relError(se.run({ x: ox }).y.data, om.refs.get(N)));
        check(N, `ORT ${c.label}${c.op === 'MatMulNBits' ? ` (accuracy_level ${ortAccuracy})` : ''}, ${cache} session${n > 1 ? 's' : ''}, vs f32 dense on its dequantized weights`, n, e, tol);
      }
      orts.set(c.key, { ...om, sessions });
    }
    gc();
    if (orts.size) log(`${cache}: ${[...orts.values()].reduce((t, o) => t + o.sessions.length, 0)} ORT sessions; peak RSS ${fmt(peakRssMiB(), 0)} MiB`);
    for (const N of Ns) runGroup({ shape, N, cache, ...xs.get(N), dense, quant, orts });
    for (const o of orts.values()) for (const se of o.sessions) se.dispose();
    orts.clear();
    gc();
  }
  ortModels.length = 0;
  quant.length = 0;
  coldPool.owner = null;
  dense = null;
  gc();
}

log('');
streamProbe('end', 20);
await probe.close();
const streamAll = streamLog.map((r) => r.median);
const streamSummary = { median: median(streamAll), min: Math.min(...streamAll), max: Math.max(...streamAll) };
const loadEnd = os.loadavg();
const elapsed = (Date.now() - started.getTime()) / 1000;
const peak = peakRssMiB();
log(`\ndone in ${elapsed.toFixed(0)} s; peak RSS ${fmt(peak, 0)} MiB; load average ${loadEnd.map((v) => v.toFixed(2)).join(' ')}`);
for (const n of notes) log(`note: ${n}`);
if (problems.length) {
  log('\nPROBLEMS:');
  for (const p of problems) log(`  ${p}`);
}

// ------------------------------------------------------------ report
// Rows in (shape, N, cache) order, as in dense.md (they were measured shape, cache, N).
const order = (r) => [shapes.findIndex(({ M, K }) => `${M}x${K}` === r.shape), Ns.indexOf(r.N), caches.indexOf(r.cache)];
rows.sort((a, b) => {
  const x = order(a), y = order(b);
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
});
if (outPath) {
  const md = [];
  const ortVersion = useOrt ? ort().env.versions.node : '(skipped)';
  md.push('# Quantized linear benchmark', '');
  md.push(`- Date: ${started.toISOString()} (${elapsed.toFixed(0)} s)`);
  md.push(`- CPU: ${info.vendor} ${info.brand}; sparq ISA ${info.active} (detected ${info.detected}); ${info.cores} cores`);
  md.push(`- Threads: sparq ${threads} (\`getNumThreads()\`), onnxruntime-node intraOpNumThreads ${threads}, interOpNumThreads 1`);
  md.push(`- Node ${process.version}, onnxruntime-node ${ortVersion}, ${os.platform()} ${os.release()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM; peak RSS of this run ${fmt(peak / 1024, 2)} GiB`);
  md.push(`- Command: \`${command}\``);
  md.push(`- Load average (1/5/15 min) at start ${loadStart.map((v) => v.toFixed(2)).join(' ')}, at end ${loadEnd.map((v) => v.toFixed(2)).join(' ')} (a shared 2-core machine: other load shows up as noise)`);
  md.push('');
  md.push('## Streaming-read bandwidth');
  md.push('');
  md.push(`**${fmt(streamSummary.median, 1)} GB/s** (median over the ${streamLog.length} probes of this run; lowest ${fmt(streamSummary.min, 1)}, highest ${fmt(streamSummary.max, 1)}). Same probe as bench/results/dense.md: ${STREAM.threads} worker threads each scan their own ${STREAM.bytesPerThread / MiB} MiB buffer with memchr; ${STREAM_ROUNDS} probe rounds run after each timing round of every (shape, N, cache) group, and that group's "stream GB/s" is the median of those ${rounds * STREAM_ROUNDS} rounds; "% stream" = effective weight GB/s / stream GB/s. GB/s are 10^9 bytes/s.`);
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
  md.push('- **weights**: `int8` = 8-bit symmetric, one scale per row; `int8-gG` = 8-bit symmetric, one scale per G weights; `int4-gG` = 4-bit symmetric (codes q + 8), `int4-asym-gG` = 4-bit with a scale and a min per group, `nf4-gG` = 4-bit NF4 levels (QLoRA / bitsandbytes) with an absmax scale per group. All with float16 scales (`scaleType: \'float16\'`), quantized with `search: false` (the time does not depend on the values; the error with and without search is in the quality table). **bits/w**: `QuantizedTensor.bitsPerWeight` (codes + scales + mins).');
  md.push(`- **mode**: how sparq computes. \`weights-only\` = codes decoded to float32 in registers, float32 activations (\`linear(x, q)\`). \`int8-act\` = activations quantized to int8 per block of 32 along K and integer dot products, AVX512-VNNI where present (\`linear(x, q, null, { activations: 'int8' })\`; NF4 levels are rounded to int8 too) — like ORT's accuracy_level 4, with a similar extra output error (see Correctness).${COMPUTE_MODES['int8-act'].available ? '' : ` **int8-act is not available in this build** (${COMPUTE_MODES['int8-act'].why}).`}${modes.length < Object.keys(COMPUTE_MODES).length ? ` This run: ${modes.join(', ')}.` : ''}`);
  md.push(`- **cache**: **cold** = each call uses the next copy of a rotating set of weight copies (each contender its own set of at least ${(coldBytes / MiB).toFixed(0)} MiB, more than 4x the 32 MiB L3; sizes below), so every call streams its weights from DRAM; **hot** = the same weights every call (partly cache-resident). To bound memory, the sparq quantized settings' cold copies share one pool buffer, refilled with a setting's copies (and one copy re-checked) right before each of its timing rounds; sparq f32 dense and each ORT model have their own copies / sessions. ORT MatMulBnb4 runs one session in both: it dequantizes the whole matrix into an M·K·4-byte float32 temporary on every call (≥ 2x the L3), which evicts its packed weights anyway.`);
  md.push('- **ms**: median time of one call, `linear(x, w)` with x float32 [N, K]; for ORT one `run` of a one-node model. **GB/s**: weight bytes / time — `QuantizedTensor.byteLength` (codes + float16 scales + mins) for sparq, M·K·4 for f32 dense, B + float32 scales (+ zero points) for MatMulNBits, B + float32 absmax for MatMulBnb4.');
  md.push('- **vs f32 dense**: sparq f32 dense time / this time, in the same group (shape, N, cache) on the same matrix. **ORT/sparq**: ORT MatMulNBits time / sparq time (> 1: sparq faster). **Bnb4/sparq**: the same for ORT MatMulBnb4 (the nf4-g64 rows only: bitsandbytes\' default block size).');
  md.push(`- **ORT op**: the MatMulNBits model (com.microsoft, \`accuracy_level ${ortAccuracy}\`${ortAccuracy === 4 ? ': ORT quantizes the activations to int8 per block and uses integer dot products, i.e. ORT\'s int8-activation mode' : ''}) at the same bits and block size; \`zp\` = with uint8 zero points (for the asymmetric settings). **†** int8 per row: MatMulNBits takes block sizes 16–256 only (onnxruntime ${ortVersion} rejects 512+ at session creation), so it is compared with 8-bit blocks of ${ortInt8Block} (more scale bytes: see ORT bits/w; \`int8-g${ortInt8Block}\` is the like-for-like row). **‡** NF4: MatMulNBits has no NF4 form, so NF4 is compared with 4-bit symmetric at the same block size (same storage), and, in the Bnb4 columns, with ORT's MatMulBnb4 (NF4 proper; its CPU kernel dequantizes the whole matrix to float32 and then runs an sgemm on each call).`);
  md.push('- ORT weights are quantized by this script (round to nearest from the same float matrix): symmetric: scale = absmax / (2^(bits−1) − 1), code = q + 2^(bits−1) (MatMulNBits\' default zero point: 8 for 4-bit, 128 for 8-bit, so no zero_points input); with zero points: range [min(0, lo), max(0, hi)] in 2^bits − 1 steps, zero point rounded, packed two per byte (4-bit) low nibble first, one row of blocks per output row, padded to whole bytes. B is [M, K/block, block·bits/8], 4-bit codes two per byte with element 2i in the low nibble and 2i+1 in the high; scales float32 [M, K/block]. MatMulBnb4: blocks of the flattened [M, K] matrix, float32 absmax, nearest NF4 level, first element of each byte in the HIGH nibble (bitsandbytes\' order). The layouts are checked below with accuracy_level 0 (float compute), where ORT must match the dequantized weights to float rounding.');
  md.push("- **ORT sessions**: cold rotates over one session per copy, created with `session.intra_op.allow_spinning: '0'` (see bench/results/dense.md: idle sessions' spinning workers otherwise steal the cores); hot uses one session with ORT's default options (spinning on). The sessions of a phase exist only while it runs (ORT keeps roughly 2x the packed weight bytes per session).");
  md.push(`- Timing: in each (shape, N, cache) group all contenders take turns in ${rounds} rounds (order rotated each round), each round a benchmark.js run with \`maxTime: ${fmt(timing.maxTime / rounds)}, minSamples: ${Math.ceil(timing.minSamples / rounds)}, minTime: ${timing.minTime}\`; samples of all rounds pooled; the tables show the median (± rme below). All libraries timed synchronously (ORT through the native session \`run\` that \`InferenceSession.run\` wraps in a Promise).`);
  md.push(`- Weights: one Gaussian matrix per shape (σ = ${SIGMA}); x uniform in [−1, 1).`);
  md.push('');
  md.push('### Targets (N = 1, cold)');
  md.push('');
  md.push('Context for judging: int8 ≥ 3.5x f32 dense, int4 (and NF4) ≥ 6x f32 dense, and ≥ 1x ORT MatMulNBits at the same bits/block.');
  md.push('');
  const targetRows = rows.filter((r) => r.N === 1 && r.cache === 'cold' && r.weights !== 'f32 dense').map((r) => {
    const target = r.weights.startsWith('int8') ? 3.5 : 6;
    const v = r.vsDense ? Number.parseFloat(r.vsDense) : NaN;
    const o = r.vsOrt ? Number.parseFloat(r.vsOrt) : NaN;
    return {
      ...r, target: `≥ ${target}x`, metDense: Number.isNaN(v) ? '—' : v >= target ? 'yes' : '**no**',
      metOrt: Number.isNaN(o) ? '—' : o >= 1 ? 'yes' : '**no**',
    };
  });
  md.push(...mdTable(
    [
      { key: 'shape', title: 'shape', align: 'left' }, { key: 'weights', title: 'weights', align: 'left' }, { key: 'mode', title: 'mode', align: 'left' },
      { key: 'ms', title: 'sparq ms' }, { key: 'vsDense', title: 'vs f32 dense' }, { key: 'target', title: 'target' }, { key: 'metDense', title: 'met', align: 'left' },
      { key: 'ortOp', title: 'ORT op', align: 'left' }, { key: 'vsOrt', title: 'ORT/sparq' }, { key: 'metOrt', title: '≥ ORT', align: 'left' },
    ],
    targetRows,
  ));
  md.push('');
  md.push('### Cold weight sets');
  md.push('');
  md.push(...mdTable(
    [{ key: 'shape', title: 'shape', align: 'left' }, { key: 'what', title: 'contender', align: 'left' }, { key: 'mib', title: 'MiB per copy' }, { key: 'count', title: 'copies' }, { key: 'total', title: 'MiB in rotation' }],
    setsInfo.map((r) => ({ ...r, mib: fmt(r.bytes / MiB, 2), total: fmt((r.bytes * r.count) / MiB, 0) })),
  ));
  md.push('');
  if (quality.length) {
    md.push('## Quality');
    md.push('');
    md.push(`\`relativeError(w, q)\` = sqrt(Σ(w − q)² / Σw²) and \`sqnr\` (dB) on one Gaussian ${qualityShape.M}x${qualityShape.K} matrix (σ = ${SIGMA}), float16 scales, with \`search: false\` (absmax / min-max scales) and \`search: true\` (scales chosen to minimise the squared error); quantize time is sparq's JavaScript \`quantize\` on this matrix.`);
    md.push('');
    md.push(...mdTable(
      [
        { key: 'setting', title: 'setting', align: 'left' }, { key: 'bpw', title: 'bits/w' },
        { key: 'err_off', title: 'rel error (search off)' }, { key: 'err_on', title: 'rel error (search on)' },
        { key: 'sqnr_off', title: 'SQNR dB (off)' }, { key: 'sqnr_on', title: 'SQNR dB (on)' },
        { key: 'sec_off', title: 'quantize s (off)' }, { key: 'sec_on', title: 'quantize s (on)' },
      ],
      quality.map((q) => ({
        ...q, err_off: fmt(q.err_off, 4), err_on: fmt(q.err_on, 4), sqnr_off: fmt(q.sqnr_off, 1), sqnr_on: fmt(q.sqnr_on, 1), sec_off: fmt(q.sec_off, 1), sec_on: fmt(q.sec_on, 1),
      })),
    ));
    if (ortQuality.length) {
      md.push('');
      md.push('For comparison, the ORT-layout quantizations this benchmark builds (round to nearest, float32 scales) on the same matrix:');
      md.push('');
      md.push(...mdTable(
        [{ key: 'config', title: 'ORT config', align: 'left' }, { key: 'bpw', title: 'bits/w' }, { key: 'err', title: 'rel error' }],
        ortQuality.map((q) => ({ ...q, err: fmt(q.err, 4) })),
      ));
    }
    md.push('');
  }
  md.push('## Correctness (checked before timing)');
  md.push('');
  md.push(`Max relative error = max |y − ref| / max |ref| over the output, worst over the copies / sessions checked. sparq quantized outputs are compared with sparq's f32 dense \`linear\` on \`q.toDense()\` (the weights exactly as \`linear\` uses them; tolerance ${SPARQ_TOL} for weights-only, ${ORT_TOL} for int8-act, which rounds the activations to int8), and that reference with the plain JS loop for N = 1. ORT MatMulNBits outputs are compared with sparq's f32 dense \`linear\` on the dequantized ORT weights; tolerance ${ORT_TOL} since accuracy_level ${ortAccuracy}${ortAccuracy === 4 ? ' quantizes the activations to int8' : ''}. MatMulBnb4 (float compute) to ${SPARQ_TOL}.`);
  md.push('');
  md.push(...mdTable(
    [
      { key: 'shape', title: 'shape', align: 'left' }, { key: 'N', title: 'N' }, { key: 'what', title: 'comparison', align: 'left' },
      { key: 'sets', title: 'copies' }, { key: 'err', title: 'max rel error' }, { key: 'ok', title: 'ok', align: 'left' },
    ],
    [
      ...layoutChecks.map((c) => ({ shape: '256x512', N: 4, what: c.what, sets: 1, err: c.err.toExponential(2), ok: c.ok ? 'yes' : '**NO**' })),
      ...checks.map((c) => ({ ...c, err: c.err.toExponential(2), ok: c.ok ? 'yes' : '**NO**' })),
    ],
  ));
  if (ortUnsupported.length || notes.length) {
    md.push('', '## Notes', '', ...notes.map((n) => `- ${n}`));
  }
  md.push('');
  md.push('## All measurements');
  md.push('');
  md.push(...mdTable(
    [
      { key: 'kind', title: 'library', align: 'left' }, { key: 'what', title: 'weights / op', align: 'left' }, { key: 'shape', title: 'shape', align: 'left' },
      { key: 'N', title: 'N' }, { key: 'cache', title: 'cache', align: 'left' },
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
