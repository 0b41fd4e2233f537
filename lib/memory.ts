// Storage for the weights sparq makes (tensors it converts, quantized codes,
// clustered indices, sparse values and masks): typed arrays whose first
// element sits at a 64-byte aligned address. Kernels load whole 64-byte
// blocks; an array at 16 bytes past a cache line (where a plain `new
// Float32Array(n)` of a few MB lands with glibc) splits every such load over
// two lines: `linear` at N = 1 then runs 1.1x (float32) to 1.4x (4-bit
// clustered) slower (bench/alignment.js).
import { native } from './binding.js';

/** Byte alignment of the storage sparq allocates. */
export const STORAGE_ALIGNMENT = 64;

export type TypedArray = Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int32Array | Uint32Array;
export interface TypedArrayClass<T extends TypedArray> {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/**
 * A zero-filled `length`-element array of `type` whose data starts at a
 * multiple of STORAGE_ALIGNMENT bytes (its buffer holds up to 63 bytes more).
 * @internal
 */
export function alignedArray<T extends TypedArray>(type: TypedArrayClass<T>, length: number): T {
  const buffer = new ArrayBuffer(length * type.BYTES_PER_ELEMENT + STORAGE_ALIGNMENT - 1);
  const padding = native.alignmentPadding(buffer);
  // Allocators return at least 16-byte aligned blocks; should one not, the
  // array still starts at a whole element.
  return new type(buffer, padding % type.BYTES_PER_ELEMENT === 0 ? padding : 0, length);
}

/** An aligned copy of `src` (see alignedArray); null stays null. @internal */
export function alignedCopy<T extends TypedArray>(src: T): T;
export function alignedCopy<T extends TypedArray>(src: T | null): T | null;
export function alignedCopy<T extends TypedArray>(src: T | null): T | null {
  if (src === null) return null;
  const out = alignedArray(src.constructor as TypedArrayClass<T>, src.length);
  out.set(src as never);
  return out;
}
