// linear (y = x·wᵀ + bias) over dense, quantized, sparse and clustered
// weights, and matmul. Each weight format plugs into the same `linear` through
// `prepareLinear`, which validates and returns the native call to make.
import { native, NativeWeightType } from './binding.js';
import { rangeError, received, typeError } from './errors.js';
import { ClusteredTensor } from './cluster.js';
import { QuantizedTensor } from './quantize.js';
import { SparseTensor } from './sparse.js';
import { checkTensor, Tensor } from './tensor.js';

/** Weight types `linear` accepts. */
export type LinearWeight = Tensor<'float32' | 'float16' | 'bfloat16'> | QuantizedTensor | SparseTensor | ClusteredTensor;

/** Options of `linear` and `linearAsync`. */
export interface LinearOptions {
  /**
   * 'float32' (default): weights decoded to float32, activations used as given.
   * 'int8' (quantized weights, and 4-bit scalar clustered weights): the
   * activations are quantized to int8 per block of 32 (absmax / 127) and
   * multiplied with integer dot products (VNNI where present): faster, with
   * the small extra error of the activation rounding. Quantized weights:
   * blocks of 32 consecutive activations along K, which must be a multiple of
   * 32; NF4 levels are also rounded to int8 (scale 1/127, within 1/254 of a
   * group's scale). Clustered weights (bits 4, dim 1; any K): each
   * codebook is also rounded to int8 (scale max |entry| / 127), and the
   * blocks of 32 follow the index packing (README, "Clustering"). x must be
   * finite.
   */
  activations?: 'float32' | 'int8';
  /**
   * A float32 tensor of the output's shape ([..., M]) to write the result
   * into, which is then returned: no allocation per call (a fresh output
   * buffer costs about as much as the whole call on small layers). It must
   * not share memory with x, bias or dense weights. With linearAsync it is
   * written on a worker: do not read or modify it until the promise settles.
   */
  out?: Tensor<'float32'>;
}

interface LinearCall {
  run(async: false): Float32Array;
  run(async: true): Promise<Float32Array>;
  outShape: number[];
  /** options.out, if given: run writes into its data. */
  out: Tensor<'float32'> | null;
}

/** Whether two typed arrays share bytes of one buffer. */
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

function prepareLinear(x: unknown, w: unknown, bias: unknown, options: unknown): LinearCall {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw typeError('options', 'an options object', options);
  }
  const activations = (options as LinearOptions | undefined)?.activations ?? 'float32';
  if (activations !== 'float32' && activations !== 'int8') {
    throw rangeError('options.activations', "'float32' or 'int8'", activations);
  }
  const xt = checkTensor('x', x);
  if (xt.dtype !== 'float32') throw typeError('x', "a 'float32' tensor", xt);
  if (xt.rank < 1) throw rangeError('x', 'a tensor of shape [..., K]', xt);
  let wt: Tensor | null = null;
  if (!(w instanceof QuantizedTensor) && !(w instanceof SparseTensor) && !(w instanceof ClusteredTensor)) {
    if (!(w instanceof Tensor)) throw typeError('w', 'a Tensor, a QuantizedTensor, a SparseTensor or a ClusteredTensor', w);
    wt = checkTensor('w', w);
    if (wt.dtype !== 'float32' && wt.dtype !== 'float16' && wt.dtype !== 'bfloat16') {
      throw typeError('w', "a 'float32', 'float16' or 'bfloat16' tensor, a QuantizedTensor or a ClusteredTensor", wt);
    }
    if (wt.rank !== 2) throw rangeError('w', 'a tensor of shape [M, K]', wt);
  }
  const [M, K] = (wt ?? (w as QuantizedTensor | SparseTensor | ClusteredTensor)).shape as [number, number];
  const xK = xt.shape[xt.rank - 1];
  if (xK !== K) {
    throw rangeError('x', `shape [..., ${K}] to match w of shape [${M}, ${K}]`, xt);
  }
  const N = xt.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  let b: Float32Array | null = null;
  if (bias !== undefined && bias !== null) {
    const bt = checkTensor('bias', bias);
    if (bt.dtype !== 'float32') throw typeError('bias', "a 'float32' tensor", bt);
    if (bt.rank !== 1 || bt.shape[0] !== M) {
      throw rangeError('bias', `a tensor of shape [${M}]`, bt);
    }
    b = bt.data as Float32Array;
  }
  const outShape = [...xt.shape.slice(0, -1), M];
  const xd = xt.data as Float32Array;
  const outOption = (options as LinearOptions | undefined)?.out;
  let out: Tensor<'float32'> | null = null;
  if (outOption !== undefined) {
    const ot = checkTensor('options.out', outOption);
    if (ot.dtype !== 'float32') throw typeError('options.out', "a 'float32' tensor", ot);
    if (ot.rank !== outShape.length || ot.shape.some((d, i) => d !== outShape[i])) {
      throw rangeError('options.out', `a tensor of shape [${outShape.join(', ')}]`, ot);
    }
    for (const [name, t] of [['x', xt], ['bias', bias], ['w', wt]] as const) {
      if (t instanceof Tensor && overlaps(ot.data, t.data)) {
        throw rangeError('options.out', `a tensor that does not share memory with ${name}`, received(`a view of ${name}'s buffer`));
      }
    }
    out = ot as Tensor<'float32'>;
  }
  // Wraps one native entry point: start(y, async) runs it into y.
  const call = (start: (y: Float32Array, async: boolean) => Float32Array | Promise<Float32Array>): LinearCall => ({
    outShape,
    out,
    run: ((async: boolean) => start(out !== null ? (out.data as Float32Array) : new Float32Array(N * M), async)) as LinearCall['run'],
  });
  const checkFinite = () => {
    const i = native.firstNonFinite(xd);
    if (i >= 0) throw rangeError('x', "finite values with activations: 'int8'", received(`${xd[i]} at index ${i}`));
  };
  if (w instanceof SparseTensor) {
    if (activations !== 'float32') throw rangeError('options.activations', "'float32' for sparse weights", activations);
    const sw = w.native;
    return call((y, async) => (async ? native.linearSparse(xd, N, K, sw, M, b, y, true) : native.linearSparse(xd, N, K, sw, M, b, y, false)));
  }
  if (w instanceof ClusteredTensor) {
    const c = w.native;
    if (activations === 'int8') {
      if (w.bits !== 4 || w.dim !== 1) {
        throw rangeError('options.activations', "'float32' here: 'int8' needs clustered weights with bits 4 and dim 1", received(`bits ${w.bits}, dim ${w.dim}`));
      }
      checkFinite();
      const books = w.int8Books;
      return call((y, async) => (async ? native.linearClustered(xd, N, K, c, M, b, y, true, books) : native.linearClustered(xd, N, K, c, M, b, y, false, books)));
    }
    return call((y, async) => (async ? native.linearClustered(xd, N, K, c, M, b, y, true) : native.linearClustered(xd, N, K, c, M, b, y, false)));
  }
  if (wt === null) {
    const qt = w as QuantizedTensor;
    const int8 = activations === 'int8';
    if (int8) {
      if (K % 32 !== 0 || (qt.groupSize !== 0 && qt.groupSize < 32)) {
        throw rangeError('options.activations', `'float32' here: 'int8' needs K a multiple of 32 and groupSize 0 or >= 32`, received(`K = ${K}, groupSize ${qt.groupSize}`));
      }
      checkFinite();
    }
    const q = qt.native;
    return call((y, async) => (async ? native.linearQuant(xd, N, K, q, M, b, y, true, int8) : native.linearQuant(xd, N, K, q, M, b, y, false, int8)));
  }
  if (activations !== 'float32') throw rangeError('options.activations', "'float32' for dense weights", activations);
  const wd = wt.data as Float32Array | Uint16Array;
  const wtype = NativeWeightType[wt.dtype as 'float32' | 'float16' | 'bfloat16'];
  return call((y, async) => (async ? native.linear(xd, N, K, wd, wtype, M, b, y, true) : native.linear(xd, N, K, wd, wtype, M, b, y, false)));
}

/**
 * y = x·wᵀ + bias. `x` is float32 [..., K]; `w` is [M, K]: a float32, float16
 * or bfloat16 tensor (widened to float32 in registers), a QuantizedTensor
 * (see LinearOptions.activations), a SparseTensor (equal to linear on its
 * toDense(), NaN and Inf in x included) or a ClusteredTensor (codebook
 * lookups in registers); `bias` is float32 [M]. Returns float32
 * [..., M]. Runs on the sparq thread pool and blocks until done.
 */
export function linear(x: Tensor<'float32'>, w: LinearWeight, bias?: Tensor<'float32'> | null, options?: LinearOptions): Tensor<'float32'> {
  const call = prepareLinear(x, w, bias, options);
  const y = call.run(false);
  return call.out ?? Tensor.from(y, call.outShape);
}

/**
 * `linear` off the event loop: runs on a libuv worker and resolves with the
 * result. The inputs are kept alive until it settles; do not modify or
 * transfer their buffers meanwhile.
 */
export async function linearAsync(x: Tensor<'float32'>, w: LinearWeight, bias?: Tensor<'float32'> | null, options?: LinearOptions): Promise<Tensor<'float32'>> {
  const call = prepareLinear(x, w, bias, options);
  const y = await call.run(true);
  return call.out ?? Tensor.from(y, call.outShape);
}

function prepareMatmul(a: unknown, b: unknown) {
  const at = checkTensor('a', a);
  const bt = checkTensor('b', b);
  for (const [name, t] of [['a', at], ['b', bt]] as const) {
    if (t.dtype !== 'float32') throw typeError(name, "a 'float32' tensor", t);
    if (t.rank !== 2) throw rangeError(name, 'a 2-D tensor', t);
  }
  const [M, K] = at.shape as [number, number];
  const [K2, N] = bt.shape as [number, number];
  if (K2 !== K) throw rangeError('b', `shape [${K}, N] to match a of shape [${M}, ${K}]`, bt);
  return { a: at.data as Float32Array, b: bt.data as Float32Array, M, K, N };
}

/** c = a·b for float32 a [M, K] and b [K, N]; returns float32 [M, N]. */
export function matmul(a: Tensor<'float32'>, b: Tensor<'float32'>): Tensor<'float32'> {
  const p = prepareMatmul(a, b);
  const c = native.matmul(p.a, p.b, new Float32Array(p.M * p.N), p.M, p.K, p.N, false);
  return Tensor.from(c, [p.M, p.N]);
}

/** `matmul` off the event loop (see `linearAsync`). */
export async function matmulAsync(a: Tensor<'float32'>, b: Tensor<'float32'>): Promise<Tensor<'float32'>> {
  const p = prepareMatmul(a, b);
  const c = await native.matmul(p.a, p.b, new Float32Array(p.M * p.N), p.M, p.K, p.N, true);
  return Tensor.from(c, [p.M, p.N]);
}
