import { describe, expect, it } from 'vitest';
import { Tensor } from '../lib/index.js';
import { bf16ToF32Ref, f16ToF32Ref, f32Bits, f32ToBf16Ref, f32ToF16Ref, rng } from './reference/index.js';

const ALL_16BIT = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** Interesting float32 inputs: specials, boundaries, ties, and random values over all exponents. */
function probeValues(): Float32Array {
  const v: number[] = [0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 65536, -65520, 1e38, 3.4e38,
    2 ** -14, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 2 ** -26, 2 ** -149, 2 ** -126, 1, -1, 1 + 2 ** -11,
    1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.3895314e38, 3.3961776e38, 3.4028235e38];
  // Every f16 and bf16 value, and the midpoints between neighbours (ties to even).
  for (let h = 0; h < 0x7c00; h++) {
    v.push(f16ToF32Ref(h), (f16ToF32Ref(h) + f16ToF32Ref(h + 1)) / 2);
  }
  for (let h = 0; h < 0x7f80; h += 7) {
    const a = bf16ToF32Ref(h), b = bf16ToF32Ref(h + 1);
    v.push(a, -a, Math.fround((a + b) / 2));
  }
  // Any bit pattern, signalling NaNs included: written as bits, since a
  // float32 read into a JS number may come back quieted.
  const out = new Float32Array(v.length + 20000);
  out.set(v);
  const bits = new Uint32Array(out.buffer, v.length * 4);
  const r = rng(42);
  for (let i = 0; i < bits.length; i++) bits[i] = Math.floor(r() * 2 ** 32);
  bits[0] = 0x7f800001; // sNaN
  bits[1] = 0xffa00000; // negative sNaN
  return out;
}

function expectBitsEqual(got: Uint16Array, want: (v: number) => number, src: Float32Array): void {
  for (let i = 0; i < src.length; i++) {
    if (got[i] !== want(src[i])) {
      throw new Error(`index ${i}: ${src[i]} (0x${f32Bits(src[i]).toString(16)}) -> 0x${got[i].toString(16)}, expected 0x${want(src[i]).toString(16)}`);
    }
  }
}

describe('float32 -> float16 / bfloat16 conversion', () => {
  const src = probeValues();

  it('rounds to nearest even, keeps NaN and Inf, matching the reference bit for bit', () => {
    expectBitsEqual(Tensor.from(src, [src.length]).to('float16').data, f32ToF16Ref, src);
    expectBitsEqual(Tensor.from(src, [src.length]).to('bfloat16').data, f32ToBf16Ref, src);
  });

  it('handles every length (SIMD tails) and views with a byte offset', () => {
    const big = probeValues().subarray(0, 300);
    for (let n = 0; n <= 70; n++) {
      for (const offset of [0, 1, 3]) {
        const view = big.subarray(offset, offset + n);
        expectBitsEqual(Tensor.from(view, [n]).to('float16').data, f32ToF16Ref, view);
        expectBitsEqual(Tensor.from(view, [n]).to('bfloat16').data, f32ToBf16Ref, view);
      }
    }
  });

  it('converts large arrays (threaded) the same as small ones', () => {
    const n = 1_000_003;
    const r = rng(7);
    const big = new Float32Array(n).map(() => (r() - 0.5) * 1e5);
    expectBitsEqual(Tensor.from(big, [n]).to('float16').data, f32ToF16Ref, big);
    expectBitsEqual(Tensor.from(big, [n]).to('bfloat16').data, f32ToBf16Ref, big);
  });
});

describe('float16 / bfloat16 -> float32 conversion', () => {
  it('widens all 65,536 float16 values exactly (NaN stays NaN)', () => {
    const got = Tensor.from(ALL_16BIT, [65536], 'float16').toFloat32().data;
    for (let h = 0; h < 65536; h++) {
      const want = f16ToF32Ref(h);
      if (Number.isNaN(want)) {
        expect(Number.isNaN(got[h]), `0x${h.toString(16)}`).toBe(true);
        expect(f32Bits(got[h]) >>> 31).toBe(h >> 15);
      } else if (!Object.is(got[h], want)) {
        throw new Error(`0x${h.toString(16)} -> ${got[h]}, expected ${want}`);
      }
    }
  });

  it('widens all 65,536 bfloat16 values exactly', () => {
    const got = Tensor.from(ALL_16BIT, [65536], 'bfloat16').toFloat32().data;
    const bits = new Uint32Array(got.buffer, got.byteOffset, got.length);
    for (let h = 0; h < 65536; h++) {
      if (bits[h] !== (h << 16) >>> 0) throw new Error(`0x${h.toString(16)} -> ${got[h]}`);
    }
  });

  it('round-trips every non-NaN 16-bit value', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const t = Tensor.from(ALL_16BIT, [65536], dtype);
      const wide = t.toFloat32().data;
      const back = t.toFloat32().to(dtype).data;
      for (let h = 0; h < 65536; h++) {
        if (Number.isNaN(wide[h])) continue;
        if (back[h] !== h) throw new Error(`${dtype} 0x${h.toString(16)} -> 0x${back[h].toString(16)}`);
      }
    }
  });
});
