import { describe, expect, it } from 'vitest';
import { Tensor } from '../lib/index.js';

describe('Tensor', () => {
  it('wraps typed arrays without copying and infers the dtype', () => {
    const f = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = Tensor.from(f, [2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([2, 3]);
    expect(t.data).toBe(f);
    expect(t.size).toBe(6);
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(Tensor.from(new Int8Array(2), [2]).dtype).toBe('int8');
    expect(Tensor.from(new Uint8Array(2), [2]).dtype).toBe('uint8');
    expect(Tensor.from(new Int32Array(2), [2]).dtype).toBe('int32');
    expect(Tensor.from(new Uint16Array(2), [2], 'bfloat16').dtype).toBe('bfloat16');
    expect(Tensor.from(new Float32Array(0), [0, 5]).size).toBe(0);
    expect(Tensor.from(new Float32Array([7]), []).size).toBe(1);
  });

  it('copies plain number arrays into the requested dtype', () => {
    expect(Array.from(Tensor.from([1.5, -2], [2]).data)).toEqual([1.5, -2]);
    expect(Array.from(Tensor.from([1, 2], [2], 'float16').data)).toEqual([0x3c00, 0x4000]);
    expect(Array.from(Tensor.from([0.5, 1.5, 2.5, -300], [4], 'int8').data)).toEqual([0, 2, 2, -128]);
  });

  it('keeps a subarray view with a byte offset', () => {
    const buf = new Float32Array([9, 1, 2, 3]);
    const t = Tensor.from(buf.subarray(1), [3]);
    expect(t.data.byteOffset).toBe(4);
    expect(t.toArray()).toEqual([1, 2, 3]);
    expect(t.to('float16').toFloat32().toArray()).toEqual([1, 2, 3]);
  });

  it('converts between dtypes and returns itself for the same dtype', () => {
    const t = Tensor.from([1, -2.5, 300.7, NaN], [4]);
    expect(t.to('float32')).toBe(t);
    expect(t.to('bfloat16').toFloat32().toArray()).toEqual([1, -2.5, 300, NaN]);
    expect(t.to('float16').toFloat32().toArray()).toEqual([1, -2.5, 300.75, NaN]);
    expect(t.to('float16').shape).toEqual([4]);
    expect(Array.from(Tensor.from([1, 2.5, 3.5, 1e10], [4]).to('int32').data)).toEqual([1, 2, 4, 2147483647]);
    expect(Tensor.from(new Int8Array([-3, 4]), [2]).toFloat32().toArray()).toEqual([-3, 4]);
    expect(() => t.to('int8')).toThrow(/NaN/);
  });

  it('reshapes without copying', () => {
    const t = Tensor.from(new Float32Array(6), [2, 3]);
    const r = t.reshape([3, 2]);
    expect(r.shape).toEqual([3, 2]);
    expect(r.data).toBe(t.data);
    expect(() => t.reshape([4, 2])).toThrow(RangeError);
  });
});

describe('Tensor bad input', () => {
  it('names the argument, the expectation and what it received', () => {
    expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow(
      new RangeError('Expected 6 elements for shape [2, 3] for data but received 5 elements'),
    );
    expect(() => Tensor.from(new Float32Array(6), [2, -3])).toThrow(/Expected a non-negative integer for shape\[1\] but received -3/);
    expect(() => Tensor.from(new Float32Array(6), [2, 1.5])).toThrow(RangeError);
    expect(() => Tensor.from(new Float32Array(6), [2, '3' as unknown as number])).toThrow(TypeError);
    expect(() => Tensor.from(new Float32Array(6), 6 as unknown as number[])).toThrow(/for shape/);
    expect(() => Tensor.from(new Uint16Array(2), [2])).toThrow(/'float16' or 'bfloat16' for a Uint16Array for dtype/);
    expect(() => Tensor.from(new Float32Array(2), [2], 'int8' as 'float32')).toThrow(TypeError);
    expect(() => Tensor.from(new Float64Array(2) as unknown as Float32Array, [2])).toThrow(/Float64Array/);
    expect(() => Tensor.from('abc' as unknown as number[], [3])).toThrow(TypeError);
    expect(() => Tensor.from([1, 'x' as unknown as number], [2])).toThrow(/data\[1\]/);
    expect(() => Tensor.from([1, 2], [2], 'float64' as 'float32')).toThrow(/for dtype but received "float64"/);
    expect(() => Tensor.zeros([1e9, 1e9])).toThrow(RangeError);
  });

  it('rejects detached buffers', () => {
    const data = new Float32Array(4);
    const t = Tensor.from(data, [4]);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    expect(() => Tensor.from(data, [4])).toThrow(/detached/);
    expect(() => t.to('float16')).toThrow(/detached/);
  });
});
