// Plain TypeScript references for f32 <-> f16 / bf16, written numerically
// (scale, round half to even, rescale) rather than with the bit tricks the
// native code uses, so the two are independent.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32Bits(v: number): number {
  f32[0] = v;
  return u32[0];
}

export function bitsToF32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** Round half to even (the default IEEE rounding of an integer conversion). */
export function roundHalfEven(q: number): number {
  const r = Math.round(q);
  return r - q === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Rounds a float32 value to a binary format with `mantBits` fraction bits, min normal exponent `emin`, max finite `max`. */
function roundTo(v: number, mantBits: number, emin: number, max: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // log2 may round up just below a power of two
  else if (2 ** (e + 1) <= a) e++;
  const exp = Math.max(e, emin);
  const quantum = 2 ** (exp - mantBits);
  const r = roundHalfEven(a / quantum) * quantum;
  if (r > max) return v > 0 ? Infinity : -Infinity;
  return v > 0 ? r : -r;
}

export function f32ToF16Ref(v: number): number {
  const sign = f32Bits(v) >>> 31 ? 0x8000 : 0;
  if (Number.isNaN(v)) return sign | 0x7e00 | ((f32Bits(v) >>> 13) & 0x3ff);
  const r = roundTo(Math.fround(v), 10, -14, 65504);
  return sign | encodeF16Abs(Math.abs(r));
}

function encodeF16Abs(a: number): number {
  if (a === Infinity) return 0x7c00;
  if (a === 0) return 0;
  if (a < 2 ** -14) return Math.round(a / 2 ** -24); // subnormal, exact after rounding
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  const mant = a / 2 ** e - 1;
  return ((e + 15) << 10) | Math.round(mant * 1024);
}

export function f16ToF32Ref(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function f32ToBf16Ref(v: number): number {
  const bits = f32Bits(v);
  const sign = bits >>> 31 ? 0x8000 : 0;
  if (Number.isNaN(v)) return (bits >>> 16) | 0x40;
  const maxBf16 = (2 - 2 ** -7) * 2 ** 127;
  const r = roundTo(Math.fround(v), 7, -126, maxBf16);
  if (Math.abs(r) === Infinity) return sign | 0x7f80;
  // r is exactly representable in bf16, hence in f32: take its top 16 bits.
  return (f32Bits(r) >>> 16) | sign;
}

export function bf16ToF32Ref(h: number): number {
  return bitsToF32(h << 16);
}
