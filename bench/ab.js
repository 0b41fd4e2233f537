// A/B comparison of two builds of sparq in one process, for kernel work on a
// noisy machine: each side makes the same weights with its own library (so a
// layout change is compared fairly), the calls alternate in rounds, and the
// result is the median of the per-round time ratios A / B (> 1: B faster)
// with both sides' medians. Outputs are compared too (max |A - B|).
//
//   git worktree add /tmp/sparq-a <rev> && (cd /tmp/sparq-a && npm ci && npm run build)
//   node bench/ab.js --a /tmp/sparq-a --b . --weights clustered4 --n 1 --cache cold
//
// Options:
//   --a DIR, --b DIR   checkouts with a built addon and dist/ (default: --b is this checkout)
//   --weights KIND     f32 | bf16 | int8 | int4 | int4-g128 | int4-asym | nf4 | clustered4 | clustered2 |
//                      bitmap | csr | ell | bitmap-int4 | csr-int4 (sparse kinds pruned to --sparsity,
//                      bfloat16 values; int4 kinds: groups of 32 unless named, nf4: groups of 64;
//                      no scale search)
//   --weights-b KIND   B's kind (default --weights): with --a . compares two kinds in one build
//   --activations A    float32 | int8 (linear's options.activations; ignored for f32 and bf16)
//   --shape MxK        (default 4096x4096)    --n N          activation rows (default 1)
//   --sparsity S       (default 0.8)          --cache cold|hot (default hot)
//   --rounds R         (default 31)           --calls C      calls per round and side (default 10)
//   --cold-mb MB       weight copies rotated through when cold (default 160: > 4x the 32 MiB L3)
//   --threads T        both libraries' thread count (default: theirs); 1 keeps the two pools'
//                      spinning workers out of small-call comparisons
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, rng, fillGaussian, median } from './common.js';

const args = parseArgs();
const known = new Set(['a', 'b', 'weights', 'weights-b', 'shape', 'n', 'sparsity', 'cache', 'rounds', 'calls', 'cold-mb', 'activations', 'threads']);
for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`unknown option --${k}`);
if (!args.a) throw new Error('--a DIR is required (a checkout with a built addon and dist/)');
const kind = args.weights ?? 'clustered4', kindB = args['weights-b'] ?? kind;
const [M, K] = String(args.shape ?? '4096x4096').split('x').map(Number);
const N = Number(args.n ?? 1), sparsity = Number(args.sparsity ?? 0.8), cold = (args.cache ?? 'hot') === 'cold';
const rounds = Number(args.rounds ?? 31), calls = Number(args.calls ?? 10), coldBytes = Number(args['cold-mb'] ?? 160) * 2 ** 20;

const load = (dir) => import(pathToFileURL(resolve(dir, 'dist/index.js')).href);
const A = await load(args.a), B = await load(args.b ?? '.');
if (args.threads !== undefined) for (const L of [A, B]) L.setNumThreads(Number(args.threads));

const w = fillGaussian(new Float32Array(M * K), rng(1), 0.02);
const x = fillGaussian(new Float32Array(N * K), rng(2));

/** `kind` weights made by library L, and a function copying them (distinct buffers). */
function make(L, kind) {
  const t = L.Tensor.from(w, [M, K]);
  const own = (v) => (typeof v.clone === 'function' ? v.clone() : null); // aligned storage (older builds: none)
  const sparse = (values) => L.prune(t, { sparsity, values, format: kind.split('-')[0] });
  const made = {
    f32: () => own(t) ?? t, bf16: () => t.to('bfloat16'),
    int8: () => L.quantize(t, { bits: 8 }), int4: () => L.quantize(t, { bits: 4, groupSize: 32, search: false }),
    'int4-g128': () => L.quantize(t, { bits: 4, groupSize: 128, search: false }),
    'int4-asym': () => L.quantize(t, { bits: 4, groupSize: 32, scheme: 'asymmetric', search: false }),
    nf4: () => L.quantize(t, { scheme: 'nf4', groupSize: 64, search: false }),
    clustered4: () => L.cluster(t, { bits: 4 }), clustered2: () => L.cluster(t, { bits: 2 }),
    bitmap: () => sparse('bfloat16'), csr: () => sparse('bfloat16'), ell: () => sparse('bfloat16'),
    'bitmap-int4': () => L.quantize(sparse('float32'), { bits: 4 }), 'csr-int4': () => L.quantize(sparse('float32'), { bits: 4 }),
  }[kind];
  if (!made) throw new Error(`--weights: unknown kind ${kind}`);
  const first = made();
  const bytes = first.byteLength ?? first.data.byteLength;
  const copy = () => own(first) ?? (first instanceof L.Tensor ? L.Tensor.from(first.data.slice(), [M, K], first.dtype) : made());
  const set = [first];
  for (let i = 1, n = cold ? Math.max(2, Math.ceil(coldBytes / bytes)) : 1; i < n; i++) set.push(copy());
  // Dense float weights take only float32 activations: --activations applies to the other kinds.
  const options = args.activations && !['f32', 'bf16'].includes(kind) ? { activations: args.activations } : undefined;
  return { set, bytes, xt: L.Tensor.from(x, [N, K]), linear: (xt, wt) => L.linear(xt, wt, null, options) };
}

const a = make(A, kind), b = make(B, kindB);
const ya = a.linear(a.xt, a.set[0]).data, yb = b.linear(b.xt, b.set[0]).data;
let diff = 0;
for (let i = 0; i < ya.length; i++) diff = Math.max(diff, Math.abs(ya[i] - yb[i]));
const ta = [], tb = [];
const time = (s, r) => {
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) s.linear(s.xt, s.set[(r * calls + i) % s.set.length]);
  return (performance.now() - t0) / calls;
};
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    ta.push(time(a, r));
    tb.push(time(b, r));
  } else {
    tb.push(time(b, r));
    ta.push(time(a, r));
  }
}
const ratio = median(ta.map((t, i) => t / tb[i]));
const sparse = /bitmap|csr|ell/.test(kind + kindB);
console.log(`${kind === kindB ? kind : `A ${kind}, B ${kindB}`} ${M}x${K} N=${N}${sparse ? ` sparsity ${sparsity}` : ''} ${cold ? `cold (${a.set.length}/${b.set.length} copies)` : 'hot'}: ` +
  `A ${median(ta).toFixed(3)} ms (${(a.bytes / 2 ** 20).toFixed(1)} MiB), B ${median(tb).toFixed(3)} ms (${(b.bytes / 2 ** 20).toFixed(1)} MiB); ` +
  `median ratio A/B ${ratio.toFixed(2)} over ${rounds} rounds; max |yA - yB| ${diff.toExponential(2)}`);
