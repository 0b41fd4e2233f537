// Weight quantization: int8 and 4-bit (symmetric, asymmetric, NF4) with one
// scale (and min) per group of consecutive K elements, and the error metrics.
import { native, type NativeQuantWeights } from './binding.js';
import { checkInteger, describe, rangeError, received, typeError } from './errors.js';
import { ClusteredTensor } from './cluster.js';
import { LUT4_ENTRIES, SparseTensor } from './sparse.js';
import { checkTensor, Tensor } from './tensor.js';
import { alignedArray, alignedCopy } from './memory.js';

export type QuantScheme = 'symmetric' | 'asymmetric' | 'nf4';
export type ScaleType = 'float16' | 'float32';

export interface QuantizeOptions {
  /** 8 or 4 (default 8; 'nf4' implies 4). */
  bits?: 8 | 4;
  /** Default 'symmetric'. */
  scheme?: QuantScheme;
  /** Consecutive K elements sharing a scale: a power of two dividing K, at least 16 (8-bit) or 32 (4-bit), or 0 for one per row (default 0 for 8-bit, 32 for 4-bit). */
  groupSize?: number;
  /** Storage of scales and mins (default 'float16'). */
  scaleType?: ScaleType;
  /** Choose each group's scale (and min) to minimise squared error instead of absmax (default: on for 4-bit, off for 8-bit). */
  search?: boolean;
}

/**
 * The 16 NF4 levels of QLoRA / bitsandbytes (quantiles of a standard normal,
 * normalised to [-1, 1], with an exact zero).
 */
export const NF4_LEVELS: Float32Array = Float32Array.of(
  -1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1,
);

/** Code values of the 4-bit schemes: symmetric codes hold q + 8. */
const LUT: Record<QuantScheme, Float32Array> = {
  symmetric: Float32Array.from({ length: 16 }, (_, i) => i - 8),
  asymmetric: Float32Array.from({ length: 16 }, (_, i) => i),
  nf4: NF4_LEVELS,
};

/** Native code types (native/core/quant.h CodeType). */
const CODE_INT8 = 0, CODE_UINT8 = 1, CODE_NIBBLE = 2;

/**
 * A quantized [M, K] weight matrix: w[m, k] = scale · value(code) (+ min),
 * with one scale (and, for 'asymmetric', one min) per group of `groupSize`
 * consecutive elements of a row (per row when groupSize is 0).
 * - 8-bit symmetric: codes are int8 (-128..127); 8-bit asymmetric: uint8.
 * - 4-bit (K a multiple of 32): in each block of 32 weights of a row, byte j
 *   (0..15) holds weight j in its low nibble and weight j + 16 in its high
 *   nibble (ggml's q4_0 order); symmetric codes hold q + 8 for q in -8..7,
 *   asymmetric codes q in 0..15, NF4 codes index NF4_LEVELS.
 */
export class QuantizedTensor {
  readonly shape: readonly [number, number];
  readonly bits: 8 | 4;
  readonly scheme: QuantScheme;
  readonly groupSize: number;
  readonly scaleType: ScaleType;
  readonly codes: Uint8Array;
  readonly scales: Float32Array | Uint16Array;
  readonly mins: Float32Array | Uint16Array | null;

  /** @internal Use quantize(). */
  constructor(fields: {
    shape: [number, number]; bits: 8 | 4; scheme: QuantScheme; groupSize: number; scaleType: ScaleType;
    codes: Uint8Array; scales: Float32Array | Uint16Array; mins: Float32Array | Uint16Array | null;
  }) {
    this.shape = Object.freeze([...fields.shape]) as unknown as readonly [number, number];
    this.bits = fields.bits;
    this.scheme = fields.scheme;
    this.groupSize = fields.groupSize;
    this.scaleType = fields.scaleType;
    this.codes = fields.codes;
    this.scales = fields.scales;
    this.mins = fields.mins;
  }

  /** A copy with arrays of its own (64-byte aligned, like every array sparq allocates). */
  clone(): QuantizedTensor {
    return new QuantizedTensor({
      shape: [this.shape[0], this.shape[1]], bits: this.bits, scheme: this.scheme, groupSize: this.groupSize, scaleType: this.scaleType,
      codes: alignedCopy(this.codes), scales: alignedCopy(this.scales), mins: alignedCopy(this.mins),
    });
  }

  /** Exact storage: codes, scales and mins (the 16-entry tables are constants). */
  get byteLength(): number {
    return this.codes.byteLength + this.scales.byteLength + (this.mins?.byteLength ?? 0);
  }

  /** Storage bits per weight, scales and mins counted. */
  get bitsPerWeight(): number {
    const n = this.shape[0] * this.shape[1];
    return n === 0 ? 0 : (this.byteLength * 8) / n;
  }

  /** @internal */
  get native(): NativeQuantWeights {
    return {
      codes: this.codes,
      codeType: this.bits === 4 ? CODE_NIBBLE : this.scheme === 'asymmetric' ? CODE_UINT8 : CODE_INT8,
      scales: this.scales,
      scaleType: this.scaleType === 'float16' ? 1 : 0,
      mins: this.mins,
      groupSize: this.groupSize,
      lut: this.bits === 4 ? LUT[this.scheme] : null,
    };
  }

  /** The weights as float32 [M, K], exactly as `linear` computes with them. */
  toDense(): Tensor<'float32'> {
    const [M, K] = this.shape;
    const out = new Float32Array(M * K);
    if (out.length > 0) native.dequantize(this.native, M, K, out);
    return Tensor.from(out, [M, K]);
  }

  toString(): string {
    return `QuantizedTensor<${this.bits === 4 && this.scheme === 'nf4' ? 'nf4' : `int${this.bits} ${this.scheme}`}, g${this.groupSize}>[${this.shape.join(', ')}]`;
  }
}

// ------------------------------------------------------------------ helpers

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds to the nearest float16 value (ties to even) and returns its bits. */
function f16Bits(v: number): number {
  f32[0] = v;
  const u = u32[0];
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) return sign | ((a + 0x0fff + ((a >>> 13) & 1) - (112 << 23)) >>> 13);
  // subnormal or zero: multiples of 2^-24
  const q = Math.abs(f32[0]) / 2 ** -24;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 !== 0) r -= 1;
  return sign | r;
}

function f16Value(bits: number): number {
  const e = (bits >> 10) & 0x1f, m = bits & 0x3ff, s = bits & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Index of the NF4 level nearest to t (levels are sorted). */
function nearestNf4(t: number): number {
  let lo = 0, hi = 15;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (NF4_LEVELS[mid] <= t) lo = mid;
    else hi = mid;
  }
  return t - NF4_LEVELS[lo] <= NF4_LEVELS[hi] - t ? lo : hi;
}

/** Native scheme codes (native/core/quant_fit.h QuantScheme). */
const SCHEME_CODE: Record<QuantScheme, number> = { symmetric: 0, asymmetric: 1, nf4: 2 };

/**
 * Scale and min of each group (out[2g], out[2g + 1]), in native code on the
 * thread pool (native/core/quant_fit.cc): absmax (asymmetric: min/max), or with
 * `search` 41 candidate scales around it (absmax·(1 ± 0.5), min/max·(1 ± 0.25),
 * NF4 absmax·(1 ± 0.3)), each refit by least squares (scale, and min for
 * asymmetric) for its codes, keeping the least squared error. Group g is
 * w[offsets[g], offsets[g + 1]) or, without offsets, w[g·size, (g + 1)·size).
 */
function fitGroups(w: Float32Array, offsets: Uint32Array | null, size: number, groups: number, scheme: QuantScheme, bits: 8 | 4, search: boolean): Float64Array {
  const out = new Float64Array(2 * groups);
  native.quantFit(w, offsets, size, groups, SCHEME_CODE[scheme], bits, search, out);
  return out;
}

// ------------------------------------------------------------------ quantize

function checkOptions(K: number, opts: unknown) {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw typeError('opts', 'an options object', opts);
  const o = (opts ?? {}) as QuantizeOptions;
  const scheme = o.scheme ?? 'symmetric';
  if (!['symmetric', 'asymmetric', 'nf4'].includes(scheme)) {
    throw rangeError('opts.scheme', "'symmetric', 'asymmetric' or 'nf4'", scheme);
  }
  const bits = o.bits ?? (scheme === 'nf4' ? 4 : 8);
  if (bits !== 8 && bits !== 4) throw rangeError('opts.bits', '8 or 4', bits);
  if (scheme === 'nf4' && bits !== 4) throw rangeError('opts.bits', "4 for scheme 'nf4'", bits);
  const groupSize = o.groupSize ?? (bits === 4 ? 32 : 0);
  checkInteger('opts.groupSize', groupSize, 0);
  const minGroup = bits === 4 ? 32 : 16;
  if (groupSize !== 0 && (groupSize < minGroup || (groupSize & (groupSize - 1)) !== 0 || K % groupSize !== 0)) {
    throw rangeError('opts.groupSize', `0 or a power of two >= ${minGroup} that divides K = ${K}`, groupSize);
  }
  if (bits === 4 && K % 32 !== 0) throw rangeError('w', 'K a multiple of 32 for 4-bit codes', received(`K = ${K}`));
  const scaleType = o.scaleType ?? 'float16';
  if (scaleType !== 'float16' && scaleType !== 'float32') throw rangeError('opts.scaleType', "'float16' or 'float32'", scaleType);
  const search = o.search ?? bits === 4;
  if (typeof search !== 'boolean') throw typeError('opts.search', 'a boolean', search);
  return { scheme, bits: bits as 8 | 4, groupSize, scaleType: scaleType as ScaleType, search };
}

/**
 * quantize() of a SparseTensor: int8 symmetric with one float32 scale per row,
 * or 4-bit (any scheme) with one scale (and min) per row, stored as a table
 * of the row's 16 dequantized levels ('lut4' values).
 */
function quantizeSparse(w: SparseTensor, opts?: QuantizeOptions): SparseTensor {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw typeError('opts', 'an options object', opts);
  const o = opts ?? {};
  const scheme = o.scheme ?? 'symmetric';
  if (!['symmetric', 'asymmetric', 'nf4'].includes(scheme)) throw rangeError('opts.scheme', "'symmetric', 'asymmetric' or 'nf4'", scheme);
  const bits = o.bits ?? (scheme === 'nf4' ? 4 : 8);
  if (bits !== 8 && bits !== 4) throw rangeError('opts.bits', '8 or 4', bits);
  const only = (name: string, value: unknown, expected: unknown, why: string) => {
    if (value !== undefined && value !== expected) throw rangeError(name, `${JSON.stringify(expected)} for a SparseTensor (${why})`, value);
  };
  const perRow = 'sparse weights get one scale per row';
  only('opts.groupSize', o.groupSize, 0, perRow);
  only('opts.scaleType', o.scaleType, 'float32', 'scales of sparse weights are float32');
  if (bits === 8) {
    only('opts.scheme', o.scheme, 'symmetric', 'sparse int8 is symmetric');
    only('opts.search', o.search, false, 'sparse int8 uses absmax scales');
    return w.quantizeInt8();
  }
  const search = o.search ?? true;
  if (typeof search !== 'boolean') throw typeError('opts.search', 'a boolean', search);
  w.checkFloatValues();
  w = w.withContiguousRows(); // lut4 values: 'ell' becomes 'csr'
  const M = w.shape[0];
  const vals = w.storedValues();
  const table = alignedArray(Float32Array, M * LUT4_ENTRIES);
  const level = LUT[scheme as QuantScheme];
  const offsets = new Uint32Array(M + 1);
  for (let m = 0; m < M; m++) {
    const [lo, hi] = w.rowRange(m);
    for (let i = lo; i < hi; i++) {
      if (!Number.isFinite(vals[i])) throw rangeError('w', 'finite stored values to quantize', received(`${vals[i]} in row ${m}`));
    }
    offsets[m] = lo;
    offsets[m + 1] = hi;
  }
  const fits = fitGroups(vals, offsets, 0, M, scheme as QuantScheme, 4, search);
  for (let m = 0; m < M; m++) {
    const d = Math.fround(fits[2 * m]), mn = Math.fround(fits[2 * m + 1]);
    const row = table.subarray(m * LUT4_ENTRIES, (m + 1) * LUT4_ENTRIES);
    for (let c = 0; c < LUT4_ENTRIES; c++) row[c] = level[c] * d + mn; // rounded to float32 once
  }
  return w.withTable(table);
}

/**
 * Quantizes a float32 (or float16 / bfloat16) weight matrix [M, K].
 * All-zero groups get scale 0 (and decode to exact zeros); a constant group
 * under 'asymmetric' gets scale 0 and min = its value. NaN or Inf weights,
 * and scales that overflow float16, are RangeErrors.
 *
 * A SparseTensor quantizes its stored values, keeping its format and
 * structure, with one float32 scale (and min) per row of stored values
 * (groupSize 0 and scaleType 'float32' are the only settings; others are
 * RangeErrors): 8 bits give int8 symmetric absmax codes ('int8' values);
 * 4 bits any scheme, with `search` on by default, stored as 4-bit indices
 * into each row's 16 dequantized levels ('lut4' values, exactly what
 * toDense() and `linear` use; an 'ell' tensor gives a 'csr' one, as 'ell'
 * does not hold lut4 values). `linear` runs on the result directly.
 */
export function quantize(w: SparseTensor, opts?: QuantizeOptions): SparseTensor;
export function quantize(w: Tensor, opts?: QuantizeOptions): QuantizedTensor;
export function quantize(w: Tensor | SparseTensor, opts?: QuantizeOptions): QuantizedTensor | SparseTensor {
  if (w instanceof SparseTensor) return quantizeSparse(w, opts);
  const wt = checkTensor('w', w);
  if (wt.dtype !== 'float32' && wt.dtype !== 'float16' && wt.dtype !== 'bfloat16') {
    throw typeError('w', "a 'float32', 'float16' or 'bfloat16' tensor", wt);
  }
  if (wt.rank !== 2) throw rangeError('w', 'a tensor of shape [M, K]', wt);
  const [M, K] = wt.shape as [number, number];
  const { scheme, bits, groupSize, scaleType, search } = checkOptions(K, opts);
  const data = wt.toFloat32().data;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw rangeError('w', 'finite weights', received(`${data[i]} at index ${i}`));
  }
  const gs = groupSize === 0 ? K : groupSize;
  const groupsPerRow = K === 0 ? 0 : K / gs;
  const nGroups = M * groupsPerRow;
  const scaleArray = () => (scaleType === 'float16' ? alignedArray(Uint16Array, nGroups) : alignedArray(Float32Array, nGroups));
  const scales = scaleArray();
  const mins = scheme === 'asymmetric' ? scaleArray() : null;
  const codes = alignedArray(Uint8Array, bits === 4 ? (M * K) / 2 : M * K);
  const qmax = bits === 8 ? 127 : 7, qmin = bits === 8 ? -128 : -8, nmax = bits === 8 ? 255 : 15;
  const store = (arr: Float32Array | Uint16Array, i: number, v: number): number => {
    if (arr instanceof Float32Array) return (arr[i] = v);
    const b = f16Bits(v);
    if ((b & 0x7c00) === 0x7c00) {
      throw rangeError('opts.scaleType', "'float32' (a scale or min overflows float16)", received(`'float16' for a scale of ${v}`));
    }
    arr[i] = b;
    return f16Value(b);
  };
  const setCode = (idx: number, c: number) => {
    if (bits === 8) codes[idx] = c & 0xff;
    else codes[(idx >> 5) * 16 + (idx & 15)] |= (c & 0xf) << ((idx & 16) >> 2); // K % 32 == 0: blocks never straddle rows
  };
  const fits = fitGroups(data, null, gs, nGroups, scheme, bits, search);
  for (let m = 0; m < M; m++) {
    for (let g = 0; g < groupsPerRow; g++) {
      const o = m * K + g * gs;
      const gi = m * groupsPerRow + g;
      // Store the scale (and min) as stored values, then pick codes for them.
      const d = store(scales, gi, Math.fround(fits[2 * gi]));
      const mn = mins ? store(mins, gi, Math.fround(fits[2 * gi + 1])) : 0;
      for (let i = 0; i < gs; i++) {
        const v = data[o + i];
        let c: number;
        if (scheme === 'nf4') c = d === 0 ? 7 : nearestNf4(v / d);
        else if (scheme === 'asymmetric') c = d === 0 ? 0 : Math.min(nmax, Math.max(0, roundHalfEven((v - mn) / d)));
        else c = (d === 0 ? 0 : Math.min(qmax, Math.max(qmin, roundHalfEven(v / d)))) + (bits === 4 ? 8 : 0);
        setCode(o + i, c);
      }
    }
  }
  return new QuantizedTensor({ shape: [M, K], bits, scheme, groupSize, scaleType, codes, scales, mins });
}

// ------------------------------------------------------------------ metrics

function values(argument: string, t: unknown): Float32Array {
  if (t instanceof Float32Array) return t;
  if (t instanceof QuantizedTensor || t instanceof ClusteredTensor) return t.toDense().data;
  return checkTensor(argument, t).toFloat32().data;
}

function sums(ref: unknown, approx: unknown): { signal: number; noise: number } {
  const r = values('ref', ref), a = values('approx', approx);
  if (r.length !== a.length) throw rangeError('approx', `${r.length} elements to match ref`, `${a.length} elements (${describe(approx)})`);
  let signal = 0, noise = 0;
  for (let i = 0; i < r.length; i++) {
    signal += r[i] * r[i];
    noise += (r[i] - a[i]) * (r[i] - a[i]);
  }
  return { signal, noise };
}

/** Signal-to-quantization-noise ratio in dB: 10·log10(Σref² / Σ(ref − approx)²); Infinity when equal. */
export function sqnr(ref: Tensor | Float32Array, approx: Tensor | QuantizedTensor | ClusteredTensor | Float32Array): number {
  const { signal, noise } = sums(ref, approx);
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

/** Relative RMSE: sqrt(Σ(ref − approx)² / Σref²). */
export function relativeError(ref: Tensor | Float32Array, approx: Tensor | QuantizedTensor | ClusteredTensor | Float32Array): number {
  const { signal, noise } = sums(ref, approx);
  return signal === 0 ? (noise === 0 ? 0 : Infinity) : Math.sqrt(noise / signal);
}
