// Times exact 1-D clustering of the clustering benchmark's weights (4096x4096
// from N(0, 0.02²), bench/cluster.bench.js) in one process: the first call
// apart (it pays for first touches of fresh memory) and the median of the
// next calls, then every call's time and user / system CPU time. On the test
// VM the speed of the same calls drifts by up to 1.6x over minutes (more user
// CPU time for the same work), so two builds are best compared in one
// process: --ab DIR loads another checkout's build (its dist/index.js) beside
// this one and alternates their calls (ABBA order) on the same data. --lib DIR
// times only that checkout's build.
//
//   node bench/kmeans-time.js [--lib DIR | --ab DIR] [--what cluster|kmeans] [--k 16] [--dtype float32|float16] [--calls 4]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, rng, fillGaussian, median } from './common.js';

const args = parseArgs();
const load = (dir) => import(pathToFileURL(resolve(dir, 'dist/index.js')).href);
const what = args.what ?? 'cluster', k = Number(args.k ?? 16), dtype = args.dtype ?? 'float32', calls = Number(args.calls ?? 4);
if (!['cluster', 'kmeans'].includes(what) || !(calls >= 2) || !['float32', 'float16'].includes(dtype) || (args.lib && args.ab)) {
  throw new RangeError('Expected --what cluster|kmeans, --dtype float32|float16, --calls >= 2 and at most one of --lib and --ab');
}
const builds = args.ab
  ? [{ name: 'this checkout', L: await import('sparq') }, { name: args.ab, L: await load(args.ab) }]
  : [{ name: args.lib ?? 'this checkout', L: args.lib ? await load(args.lib) : await import('sparq') }];
const SIDE = 4096;
const data = fillGaussian(new Float32Array(SIDE * SIDE), rng(1), 0.02);
for (const b of builds) {
  const L = b.L;
  const t32 = L.Tensor.from(data, [SIDE, SIDE]);
  const w = dtype === 'float16' ? t32.to('float16') : t32;
  b.call = what === 'cluster'
    ? () => L.cluster(w, { bits: Math.log2(k), granularity: 'tensor' })
    : () => L.kmeans(dtype === 'float16' ? L.Tensor.from(w.data, [SIDE * SIDE], 'float16') : t32.data, { k });
  b.times = [];
  b.cpu = [];
}
for (let i = 0; i < calls; i++) {
  for (const b of i % 2 ? [...builds].reverse() : builds) {
    const r0 = process.resourceUsage(), t0 = performance.now();
    b.call();
    b.times.push(performance.now() - t0);
    const r1 = process.resourceUsage();
    b.cpu.push(`${((r1.userCPUTime - r0.userCPUTime) / 1000).toFixed(0)}/${((r1.systemCPUTime - r0.systemCPUTime) / 1000).toFixed(0)}`);
  }
}
for (const b of builds) {
  console.log(`${what} k=${k} ${dtype} ${SIDE}x${SIDE} (${b.name}): first call ${b.times[0].toFixed(0)} ms, ` +
    `median of the next ${calls - 1} ${median(b.times.slice(1)).toFixed(0)} ms (each: ${b.times.map((t) => t.toFixed(0)).join(' ')}; ` +
    `user/system CPU ms of each, all threads: ${b.cpu.join(' ')})`);
}
if (builds.length === 2) {
  const [a, b] = builds.map((x) => median(x.times.slice(1)));
  console.log(`${builds[1].name} / this checkout, medians after the first calls: ${(b / a).toFixed(3)}`);
}
