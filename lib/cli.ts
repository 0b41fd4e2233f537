#!/usr/bin/env node
// The `sparq` command line.
import { cluster, cpuInfo, getNumThreads, linear, prune, quantize, setNumThreads, SparseTensor, Tensor } from './index.js';
import type { LinearOptions, LinearWeight } from './index.js';

const USAGE = `Usage: sparq <command> [options]

Commands:
  demo [--m M] [--k K] [--n N] [--threads T]
        A linear layer on a built-in random example (default 4096x4096, N=1)
        with float32, bfloat16, float16, int8, int4, pruned (sparse) and
        k-means clustered weights, with timings.
  info  CPU features, active ISA level and thread count.
  help  This text.

Environment:
  SPARQ_ISA=scalar|avx2|avx512   run the kernels at a lower ISA level`;

function parseOptions(args: string[]): Map<string, string> {
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw new RangeError(`Expected an option like --m 4096 but received '${a}'`);
    const value = args[i + 1];
    if (value === undefined) throw new RangeError(`Expected a value after ${a}`);
    opts.set(a.slice(2), value);
    i++;
  }
  return opts;
}

function intOption(opts: Map<string, string>, name: string, fallback: number): number {
  const raw = opts.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`Expected a positive integer for --${name} but received '${raw}'`);
  return v;
}

/** A deterministic pseudo-random fill (xorshift), values in [-0.5, 0.5). */
function randomFloat32(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

function medianMs(fn: () => void, reps: number): number {
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function demo(opts: Map<string, string>): void {
  const M = intOption(opts, 'm', 4096), K = intOption(opts, 'k', 4096), N = intOption(opts, 'n', 1);
  if (opts.has('threads')) setNumThreads(intOption(opts, 'threads', 1));
  const info = cpuInfo();
  console.log(`sparq demo: linear y[${N}, ${M}] = x[${N}, ${K}] · w[${M}, ${K}]ᵀ + bias`);
  console.log(`CPU ${info.brand || info.vendor}, ISA ${info.active} (detected ${info.detected}), ${getNumThreads()} threads\n`);
  const w32 = Tensor.from(randomFloat32(M * K, 1), [M, K]);
  const x = Tensor.from(randomFloat32(N * K, 2), [N, K]);
  const bias = Tensor.from(randomFloat32(M, 3), [M]);
  const ref = linear(x, w32, bias);
  console.log(`${'weights'.padEnd(26)}    bytes      ms (hot, median)   GB/s   max |y - y_f32| / max |y_f32|`);
  const scale = ref.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  const kinds: [string, () => LinearWeight, LinearOptions?][] = [
    ['float32', () => w32],
    ['bfloat16', () => w32.to('bfloat16')],
    ['float16', () => w32.to('float16')],
    ['int8 (per row)', () => quantize(w32, { bits: 8 })],
    ['int8, int8 activations', () => quantize(w32, { bits: 8 }), { activations: 'int8' }],
    ['int4 (g32)', () => quantize(w32, { bits: 4, groupSize: 32, search: false })],
    ['int4, int8 activations', () => quantize(w32, { bits: 4, groupSize: 32, search: false }), { activations: 'int8' }],
    ['NF4 (g64), int8 act.', () => quantize(w32, { scheme: 'nf4', groupSize: 64, search: false }), { activations: 'int8' }],
    ['sparse 2:4 (bf16)', () => prune(w32, { pattern: '2:4', values: 'bfloat16' })],
    ['sparse 80% (bf16)', () => prune(w32, { sparsity: 0.8, values: 'bfloat16' })],
    ['sparse 90% (bf16)', () => prune(w32, { sparsity: 0.9, values: 'bfloat16' })],
    ['clustered 4-bit (row)', () => cluster(w32.to('float16'), { bits: 4 })],
    ['clustered, int8 act.', () => cluster(w32.to('float16'), { bits: 4 }), { activations: 'int8' }],
  ];
  for (const [label, make, options] of kinds) {
    if (options?.activations === 'int8' && !label.startsWith('clustered') && K % 32 !== 0) continue;
    if (label.startsWith('int4') && K % 32 !== 0) continue;
    if (label.includes('2:4') && K % 4 !== 0) continue;
    const w = make();
    const y = linear(x, w, bias, options);
    let err = 0;
    for (let i = 0; i < y.size; i++) err = Math.max(err, Math.abs(y.data[i] - ref.data[i]));
    const reps = Math.max(5, Math.min(200, Math.round(2e9 / (M * K * N * 2 + 1))));
    const ms = medianMs(() => linear(x, w, bias, options), reps);
    const bytes = w instanceof Tensor ? w.data.byteLength : w.byteLength;
    const name = w instanceof SparseTensor ? `${label.slice(0, -1)}, ${w.format})` : label; // the format 'auto' picked
    console.log(`${name.padEnd(26)} ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB ${ms.toFixed(3).padStart(10)}        ${(bytes / ms / 1e6).toFixed(1).padStart(7)}   ${(err / scale).toExponential(2)}`);
  }
  console.log('\nThe same weights every call (hot). The error column is against the unpruned, unquantized float32');
  console.log('weights (pruning and clustering change the layer; on random weights that error is large).');
  console.log('`npm run bench`, `bench:quant`, `bench:sparsity` and `bench:cluster` also measure weights streamed from DRAM.');
}

function main(argv: string[]): void {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'demo': return demo(parseOptions(rest));
    case 'info': {
      console.log(JSON.stringify({ ...cpuInfo(), threads: getNumThreads() }, null, 2));
      return;
    }
    case 'help': case '--help': case '-h':
      console.log(USAGE);
      return;
    default:
      throw new RangeError(`Expected a command (demo, info, help) but received '${command}'\n\n${USAGE}`);
  }
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error(`sparq: ${(e as Error).message}`);
  process.exitCode = 1;
}
