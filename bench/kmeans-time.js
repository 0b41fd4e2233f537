// Times exact 1-D clustering of the clustering benchmark's weights (4096x4096
// from N(0, 0.02²), bench/cluster.bench.js) in one process: the first call
// apart (it pays for first touches of fresh memory) and the median of the
// next calls, then every call's time and user / system CPU time. On the test
// VM calls fall into two modes about 40% apart, whichever build runs them
// (not a matter of system time). --lib times another checkout's build (its
// dist/index.js), so two builds can be compared run after run on the same data.
//
//   node bench/kmeans-time.js [--lib DIR] [--what cluster|kmeans] [--k 16] [--dtype float32|float16] [--calls 4]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, rng, fillGaussian, median } from './common.js';

const args = parseArgs();
const L = args.lib ? await import(pathToFileURL(resolve(args.lib, 'dist/index.js')).href) : await import('sparq');
const what = args.what ?? 'cluster', k = Number(args.k ?? 16), dtype = args.dtype ?? 'float32', calls = Number(args.calls ?? 4);
if (!['cluster', 'kmeans'].includes(what) || !(calls >= 2) || !['float32', 'float16'].includes(dtype)) {
  throw new RangeError('Expected --what cluster|kmeans, --dtype float32|float16 and --calls >= 2');
}
const SIDE = 4096;
const t32 = L.Tensor.from(fillGaussian(new Float32Array(SIDE * SIDE), rng(1), 0.02), [SIDE, SIDE]);
const w = dtype === 'float16' ? t32.to('float16') : t32;
const call = what === 'cluster'
  ? () => L.cluster(w, { bits: Math.log2(k), granularity: 'tensor' })
  : () => L.kmeans(dtype === 'float16' ? L.Tensor.from(w.data, [SIDE * SIDE], 'float16') : t32.data, { k });
const times = [], cpu = [];
for (let i = 0; i < calls; i++) {
  const r0 = process.resourceUsage(), t0 = performance.now();
  call();
  times.push(performance.now() - t0);
  const r1 = process.resourceUsage();
  cpu.push(`${((r1.userCPUTime - r0.userCPUTime) / 1000).toFixed(0)}/${((r1.systemCPUTime - r0.systemCPUTime) / 1000).toFixed(0)}`);
}
console.log(`${what} k=${k} ${dtype} ${SIDE}x${SIDE} (${args.lib ?? 'this checkout'}): first call ${times[0].toFixed(0)} ms, ` +
  `median of the next ${calls - 1} ${median(times.slice(1)).toFixed(0)} ms (each: ${times.map((t) => t.toFixed(0)).join(' ')}; ` +
  `user/system CPU ms of each, all threads: ${cpu.join(' ')})`);
