// Dense tensors: a dtype, a shape and a zero-copy view on a TypedArray.
import { native, NativeHalfType } from './binding.js';
import { checkInteger, describe, rangeError, received, typeError } from './errors.js';
import { alignedArray, alignedCopy, type TypedArray, type TypedArrayClass } from './memory.js';

/** Element types. 16-bit floats are stored as raw bits in a Uint16Array. */
export interface DataTypeMap {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int32: Int32Array;
}
export type DType = keyof DataTypeMap;
export type TypedArrayFor<D extends DType> = DataTypeMap[D];

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int8', 'uint8', 'int32'];

const ARRAY_CLASS = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int32: Int32Array,
} as const;

const INT_RANGE = { int8: [-128, 127], uint8: [0, 255], int32: [-2147483648, 2147483647] } as const;

function dtypeOfArray(data: ArrayBufferView): DType | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int32Array) return 'int32';
  return undefined;
}

/** True when the view's buffer was detached (transferred): views on it read as empty. */
export function isDetached(view: ArrayBufferView): boolean {
  if (view.byteLength !== 0) return false;
  try {
    new Uint8Array(view.buffer); // throws on a detached buffer
    return false;
  } catch {
    return true;
  }
}

/** Checks a shape (non-negative integers) and returns its element count. */
export function checkShape(argument: string, shape: unknown): number {
  if (!Array.isArray(shape)) throw typeError(argument, 'an array of non-negative integers', shape);
  let size = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw (typeof d === 'number' ? rangeError : typeError)(
        `${argument}[${i}]`, 'a non-negative integer', d);
    }
    size *= d;
  }
  if (!Number.isSafeInteger(size)) throw rangeError(argument, 'a shape with fewer than 2^53 elements', shape);
  return size;
}

/** Rounds to nearest (ties to even) and saturates to the integer type's range. */
function toIntArray(src: ArrayLike<number>, dtype: 'int8' | 'uint8' | 'int32'): Int8Array | Uint8Array | Int32Array {
  const [lo, hi] = INT_RANGE[dtype];
  const out = new ARRAY_CLASS[dtype](src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (Number.isNaN(v)) throw rangeError(`value at index ${i}`, `a number convertible to ${dtype}`, v);
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r -= 1; // ties to even
    out[i] = r < lo ? lo : r > hi ? hi : r;
  }
  return out;
}

/**
 * An immutable n-dimensional array of one dtype. `data` is a view on the
 * caller's memory (no copy) when built from a TypedArray; operations return
 * new tensors and never modify their inputs.
 */
export class Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayFor<D>;
  /** Number of elements. */
  readonly size: number;

  private constructor(data: TypedArrayFor<D>, shape: readonly number[], dtype: D) {
    this.data = data;
    this.size = data.length;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
  }

  /**
   * Wraps `data` (no copy) as a tensor of `shape`. The dtype follows the
   * array type; a Uint16Array needs dtype 'float16' or 'bfloat16'. A plain
   * number array is copied into a new array of `dtype` (default 'float32').
   */
  static from(data: Float32Array, shape: readonly number[], dtype?: 'float32'): Tensor<'float32'>;
  static from<D extends 'float16' | 'bfloat16'>(data: Uint16Array, shape: readonly number[], dtype: D): Tensor<D>;
  static from(data: Int8Array, shape: readonly number[], dtype?: 'int8'): Tensor<'int8'>;
  static from(data: Uint8Array, shape: readonly number[], dtype?: 'uint8'): Tensor<'uint8'>;
  static from(data: Int32Array, shape: readonly number[], dtype?: 'int32'): Tensor<'int32'>;
  static from<D extends DType = 'float32'>(data: readonly number[], shape: readonly number[], dtype?: D): Tensor<D>;
  static from(data: unknown, shape: unknown, dtype?: unknown): Tensor {
    if (dtype !== undefined && !DTYPES.includes(dtype as DType)) {
      throw typeError('dtype', `one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`, dtype);
    }
    const size = checkShape('shape', shape);
    let view: ArrayBufferView;
    let dt: DType;
    if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
      if (isDetached(data)) throw typeError('data', 'a TypedArray on a live (not detached) buffer', received('a detached buffer'));
      const inferred = dtypeOfArray(data);
      if (data instanceof Uint16Array) {
        if (dtype !== 'float16' && dtype !== 'bfloat16') {
          throw typeError('dtype', "'float16' or 'bfloat16' for a Uint16Array", dtype);
        }
        dt = dtype;
      } else if (inferred === undefined) {
        throw typeError('data', 'a Float32Array, Uint16Array, Int8Array, Uint8Array or Int32Array', data);
      } else {
        if (dtype !== undefined && dtype !== inferred) {
          throw typeError('dtype', `'${inferred}' for a ${data.constructor.name} (convert with .to())`, dtype);
        }
        dt = inferred;
      }
      view = data;
    } else if (Array.isArray(data)) {
      dt = (dtype as DType | undefined) ?? 'float32';
      for (let i = 0; i < data.length; i++) {
        if (typeof data[i] !== 'number') throw typeError(`data[${i}]`, 'a number', data[i]);
      }
      view = dt === 'float32' ? Float32Array.from(data as number[])
        : dt === 'float16' || dt === 'bfloat16' ? Tensor.from(Float32Array.from(data as number[]), [data.length]).to(dt).data
        : toIntArray(data as number[], dt);
    } else {
      throw typeError('data', 'a TypedArray or an array of numbers', data);
    }
    const length = (view as Float32Array).length;
    if (length !== size) {
      throw rangeError('data', `${size} elements for shape ${describe(shape)}`, received(`${length} elements`));
    }
    return new Tensor(view as TypedArrayFor<DType>, shape as number[], dt);
  }

  /** A new zero-filled tensor. */
  static zeros<D extends DType = 'float32'>(shape: readonly number[], dtype?: D): Tensor<D> {
    const dt = (dtype ?? 'float32') as D;
    if (!DTYPES.includes(dt)) throw typeError('dtype', `one of ${DTYPES.join(', ')}`, dtype);
    const size = checkShape('shape', shape);
    return new Tensor(alignedArray(ARRAY_CLASS[dt] as TypedArrayClass<TypedArray>, size) as TypedArrayFor<D>, shape, dt);
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /**
   * The same values as `dtype`. Floats convert with round to nearest even
   * (NaN and Inf preserved); to integer types values round to nearest (ties
   * to even) and saturate, and NaN is a RangeError. Same dtype: returns this.
   */
  to<T extends DType>(dtype: T): Tensor<T> {
    assertLive('this', this);
    if (!DTYPES.includes(dtype)) throw typeError('dtype', `one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`, dtype);
    if ((dtype as DType) === this.dtype) return this as unknown as Tensor<T>;
    if (dtype === 'float16' || dtype === 'bfloat16') {
      const src = this.toFloat32().data;
      const out = alignedArray(Uint16Array, src.length);
      if (out.length > 0) native.convertToHalf(src, out, NativeHalfType[dtype as "float16" | "bfloat16"]);
      return new Tensor(out as TypedArrayFor<T>, this.shape, dtype);
    }
    if (dtype === 'float32') return this.toFloat32() as unknown as Tensor<T>;
    const ints = toIntArray(this.toFloat32().data, dtype as 'int8' | 'uint8' | 'int32');
    return new Tensor(ints as TypedArrayFor<T>, this.shape, dtype);
  }

  /** The values as float32 (this tensor itself when already float32). */
  toFloat32(): Tensor<'float32'> {
    assertLive('this', this);
    if (this.dtype === 'float32') return this as unknown as Tensor<'float32'>;
    const out = alignedArray(Float32Array, this.size);
    if (this.dtype === 'float16' || this.dtype === 'bfloat16') {
      if (out.length > 0) native.convertFromHalf(this.data as Uint16Array, out, NativeHalfType[this.dtype as "float16" | "bfloat16"]);
    } else {
      out.set(this.data as Int8Array | Uint8Array | Int32Array);
    }
    return new Tensor(out, this.shape, 'float32');
  }

  /**
   * A copy with storage of its own, 64-byte aligned like every array sparq
   * allocates (`Tensor.from` wraps your array as it is; kernels stream an
   * array that starts mid cache line more slowly, see bench/alignment.js).
   */
  clone(): Tensor<D> {
    assertLive('this', this);
    return new Tensor(alignedCopy(this.data as TypedArray) as TypedArrayFor<D>, this.shape, this.dtype);
  }

  /** The same data with a new shape of the same size (no copy). */
  reshape(shape: readonly number[]): Tensor<D> {
    const size = checkShape('shape', shape);
    if (size !== this.size) throw rangeError('shape', `a shape of ${this.size} elements`, shape);
    return new Tensor(this.data, shape, this.dtype);
  }

  /** Copies into plain nested arrays of numbers (float32 values for 16-bit floats). */
  toArray(): number[] {
    return Array.from(this.toFloat32().data);
  }

  toString(): string {
    return `Tensor<${this.dtype}>[${this.shape.join(', ')}]`;
  }
}

/** Throws if the tensor's buffer was detached (transferred) after it was made. */
function assertLive(argument: string, t: Tensor): void {
  if (t.data.length !== t.size) throw typeError(argument, 'a Tensor whose buffer is not detached', received('a detached buffer'));
}

/** Throws unless `t` is a live Tensor (from this copy of sparq). */
export function checkTensor(argument: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw typeError(argument, 'a Tensor', t);
  assertLive(argument, t);
  return t;
}

export { checkInteger };
