// Time of one linear call on small weights (what a model's small layers pay
// per call: argument checks, the output allocation, activation packing, the
// thread pool's hand-off), with 1 and 2 threads, and with 2 threads writing
// into a preallocated output (linear's options.out). Medians of rounds of back-to-back calls on the same
// (cache-hot) weights, in microseconds. One build per process: two libraries
// in one process would each keep a pool of spinning workers on the same
// cores, so compare builds by running this with --lib for each, in turn.
//
//   node bench/call-time.js [--lib DIR] [--shapes 128x128,16x4096,64x4096,512x4096] [--rounds 15]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, rng, fillGaussian, median } from './common.js';

const args = parseArgs();
const L = args.lib ? await import(pathToFileURL(resolve(args.lib, 'dist/index.js')).href) : await import('sparq');
const rounds = Number(args.rounds ?? 15);
const shapes = String(args.shapes ?? '128x128,16x4096,64x4096,512x4096').split(',').map((s) => s.split('x').map(Number));

/** Median over rounds of the mean time of one call (us); each round runs ~20 ms of calls. */
function time(f) {
  for (let i = 0; i < 200; i++) f();
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) f();
  const calls = Math.max(20, Math.round((20 * 200) / (performance.now() - t0)));
  const per = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    for (let i = 0; i < calls; i++) f();
    per.push(((performance.now() - t) * 1000) / calls);
  }
  return median(per);
}

const lines = [];
for (const [M, K] of shapes) {
  const x = L.Tensor.from(fillGaussian(new Float32Array(K), rng(2)), [1, K]);
  const out = L.Tensor.zeros([1, M]);
  const t = L.Tensor.from(fillGaussian(new Float32Array(M * K), rng(1), 0.02), [M, K]);
  const weights = {
    f32: t,
    'int4 g32 int8-act': [L.quantize(t, { bits: 4, groupSize: 32, search: false }), { activations: 'int8' }],
    '4-bit clustered int8-act': [L.cluster(t, { bits: 4 }), { activations: 'int8' }],
    'bitmap 80% bf16': L.prune(t, { sparsity: 0.8, values: 'bfloat16', format: 'bitmap' }),
  };
  for (const [name, spec] of Object.entries(weights)) {
    const [w, options] = Array.isArray(spec) ? spec : [spec, undefined];
    const us = [1, 2].map((threads) => {
      L.setNumThreads(threads);
      return time(() => L.linear(x, w, null, options)).toFixed(1);
    });
    const withOut = { ...options, out };
    us.push(time(() => L.linear(x, w, null, withOut)).toFixed(1));
    lines.push(`| ${M}x${K} | ${name} | ${us.join(' | ')} |`);
  }
}
console.log(`linear call time, N = 1, cache-hot, us (${args.lib ?? 'this checkout'}):\n`);
console.log('| weights shape | weights | 1 thread | 2 threads | 2 threads, options.out |\n| :--- | :--- | ---: | ---: | ---: |');
console.log(lines.join('\n'));
