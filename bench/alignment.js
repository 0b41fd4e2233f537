// What the placement of weight storage costs: the same weights at a 64-byte
// aligned address (where sparq puts the arrays it allocates, lib/memory.ts)
// and 16 bytes past one (where a plain `new Float32Array(n)` of a few MB
// lands with glibc), `linear` at N = 1, cold (copies rotated through, more
// than 4x the L3) or hot. The two placements alternate call by call in one
// process; the result is each side's median and the median of the per-round
// ratios.
//
//   node bench/alignment.js [--weights f32,clustered4,int8,int4] [--shape 4096x4096]
//                           [--cache cold|hot] [--rounds 31] [--calls 10]
import { native } from '../dist/binding.js';
import * as L from '../dist/index.js';
import { parseArgs, list, rng, fillGaussian, median } from './common.js';

const args = parseArgs();
const known = new Set(['weights', 'shape', 'cache', 'rounds', 'calls']);
for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`unknown option --${k}`);
const kinds = list(args.weights ?? 'f32,clustered4,int8,int4');
const [M, K] = String(args.shape ?? '4096x4096').split('x').map(Number);
const cold = (args.cache ?? 'cold') === 'cold';
const rounds = Number(args.rounds ?? 31), calls = Number(args.calls ?? 10);
const coldBytes = 160 * 2 ** 20; // > 4x a 32 MiB L3

/** A copy of typed array `a` whose data starts `skew` bytes past a 64-byte boundary. */
function placed(a, skew) {
  const buffer = new ArrayBuffer(a.byteLength + 128);
  const offset = native.alignmentPadding(buffer) + skew;
  const out = new a.constructor(buffer, offset, a.length);
  out.set(a);
  return out;
}

const w = fillGaussian(new Float32Array(M * K), rng(1), 0.02);
const x = L.Tensor.from(fillGaussian(new Float32Array(K), rng(2)), [1, K]);

/** The weights of `kind` with their big arrays placed at `skew`, and their byte size. */
const makers = {
  f32: (skew) => L.Tensor.from(placed(w, skew), [M, K]),
  clustered4: (() => {
    const c = L.cluster(L.Tensor.from(w, [M, K]), { bits: 4, codebookType: 'float16' });
    return (skew) => new L.ClusteredTensor({ shape: [M, K], bits: 4, dim: 1, granularity: c.granularity, groupSize: c.groupSize,
      codebookType: c.codebookType, codebook: placed(c.codebook, skew), indices: placed(c.indices, skew) });
  })(),
  ...Object.fromEntries([['int8', { bits: 8 }], ['int4', { bits: 4, groupSize: 32, search: false }]].map(([name, opts]) => {
    const q = L.quantize(L.Tensor.from(w, [M, K]), opts);
    return [name, (skew) => new L.QuantizedTensor({ shape: [M, K], bits: q.bits, scheme: q.scheme, groupSize: q.groupSize,
      scaleType: q.scaleType, codes: placed(q.codes, skew), scales: placed(q.scales, skew), mins: q.mins && placed(q.mins, skew) })];
  })),
};

console.log(`linear N=1 ${M}x${K} ${cold ? 'cold' : 'hot'}: storage 64-byte aligned (A) against 16 bytes past (B); ${rounds} rounds of ${calls} calls a side`);
for (const kind of kinds) {
  const make = makers[kind];
  if (!make) throw new Error(`--weights: unknown kind ${kind} (f32, clustered4, int8, int4)`);
  const first = make(0);
  const bytes = first.byteLength ?? first.data.byteLength;
  const copies = cold ? Math.max(2, Math.ceil(coldBytes / bytes)) : 1;
  const sides = [0, 16].map((skew) => Array.from({ length: copies }, (_, i) => (i === 0 && skew === 0 ? first : make(skew))));
  const ya = L.linear(x, sides[0][0]).data, yb = L.linear(x, sides[1][0]).data;
  if (ya.some((v, i) => !Object.is(v, yb[i]))) throw new Error(`${kind}: outputs differ between placements`);
  const times = [[], []], ratios = [];
  let at = 0;
  for (let r = 0; r < rounds; r++) {
    const per = [0, 0];
    for (let c = 0; c < calls; c++, at++) {
      for (const s of r % 2 ? [1, 0] : [0, 1]) {
        const t0 = process.hrtime.bigint();
        L.linear(x, sides[s][at % copies]);
        per[s] += Number(process.hrtime.bigint() - t0) / 1e6;
      }
    }
    times[0].push(per[0] / calls);
    times[1].push(per[1] / calls);
    ratios.push(per[1] / per[0]);
  }
  console.log(`${kind} (${(bytes / 2 ** 20).toFixed(1)} MiB, ${copies} copies a side): aligned ${median(times[0]).toFixed(3)} ms, ` +
    `16 bytes past ${median(times[1]).toFixed(3)} ms; median ratio B/A ${median(ratios).toFixed(2)}`);
}
