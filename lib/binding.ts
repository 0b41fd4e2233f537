// Loads the native addon (node-gyp-build: build/Release or prebuilds/) and
// declares its shape. SPARQ_ADDON_PATH loads a specific .node file instead
// (the sanitizer build uses it).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeCpuInfo {
  vendor: string;
  brand: string;
  detected: 'scalar' | 'avx2' | 'avx512';
  active: 'scalar' | 'avx2' | 'avx512';
  features: { avx2: boolean; avx512: boolean; avx512vnni: boolean; avx512bf16: boolean };
  cores: number;
}

/** Weight storage codes shared with native/core/kernels.h (WeightType). */
export const NativeWeightType = { float32: 0, float16: 1, bfloat16: 2 } as const;
export type NativeWeightType = (typeof NativeWeightType)[keyof typeof NativeWeightType];

/** Half-precision codes shared with native/core/convert.h (HalfType). */
export const NativeHalfType = { float16: 0, bfloat16: 1 } as const;
export type NativeHalfType = (typeof NativeHalfType)[keyof typeof NativeHalfType];

/** Quantized weights as native/core/quant.h describes them. */
export interface NativeQuantWeights {
  codes: Uint8Array;
  codeType: number;
  scales: Float32Array | Uint16Array;
  scaleType: number;
  mins: Float32Array | Uint16Array | null;
  groupSize: number;
  lut: Float32Array | null;
}

/** Sparse weights as native/core/sparse.h describes them (arrays padded as it says). */
export interface NativeSparseWeights {
  /** 0 bitmap, 1 csr, 2 nm, 3 ell (SparseFormat). */
  format: number;
  /** NativeWeightType of the values, 3: int8 codes with per-row scales, 4: 4-bit indices into per-row tables. */
  valueType: number;
  values: Float32Array | Uint16Array | Int8Array | Uint8Array;
  /** Per-row scales of int8 values (valueType 3), else null. */
  scales: Float32Array | null;
  /** 16 weights per row for 4-bit indices (valueType 4), else null. */
  lut: Float32Array | null;
  offsets: Uint32Array | null;
  masks: Uint16Array | null;
  cols: Uint16Array | null;
  panelCols: Uint8Array | null;
  codes: Uint8Array | null;
  /** nm: values per group, and the group size (0 for the other formats). */
  n: number;
  group: number;
}

/** Clustered weights as native/core/clustered.h describes them. */
export interface NativeClusteredWeights {
  indices: Uint8Array;
  codebook: Float32Array | Uint16Array;
  codebookType: number;
  bits: number;
  dim: number;
  rowsPerBook: number;
}

/** Int8 codebooks of 4-bit scalar clustered weights (clusteredI8Books): entry codes + 128, and scales. */
export interface NativeClusteredInt8Books {
  tables: Uint8Array;
  scales: Float32Array;
}

export interface NativeAddon {
  cpuInfo(): NativeCpuInfo;
  getNumThreads(): number;
  setNumThreads(n: number): void;
  convertToHalf(src: Float32Array, dst: Uint16Array, kind: NativeHalfType): void;
  convertFromHalf(src: Uint16Array, dst: Float32Array, kind: NativeHalfType): void;
  linear(
    x: Float32Array, n: number, k: number,
    w: Float32Array | Uint16Array, wtype: NativeWeightType, m: number,
    bias: Float32Array | null, y: Float32Array, async: false,
  ): Float32Array;
  linear(
    x: Float32Array, n: number, k: number,
    w: Float32Array | Uint16Array, wtype: NativeWeightType, m: number,
    bias: Float32Array | null, y: Float32Array, async: true,
  ): Promise<Float32Array>;
  linearQuant(
    x: Float32Array, n: number, k: number, q: NativeQuantWeights, m: number,
    bias: Float32Array | null, y: Float32Array, async: false, int8Activations: boolean,
  ): Float32Array;
  linearQuant(
    x: Float32Array, n: number, k: number, q: NativeQuantWeights, m: number,
    bias: Float32Array | null, y: Float32Array, async: true, int8Activations: boolean,
  ): Promise<Float32Array>;
  quantFit(
    w: Float32Array, offsets: Uint32Array | null, size: number, groups: number, scheme: number, bits: number, search: boolean, out: Float64Array,
  ): void;
  linearSparse(
    x: Float32Array, n: number, k: number, w: NativeSparseWeights, m: number,
    bias: Float32Array | null, y: Float32Array, async: false,
  ): Float32Array;
  linearSparse(
    x: Float32Array, n: number, k: number, w: NativeSparseWeights, m: number,
    bias: Float32Array | null, y: Float32Array, async: true,
  ): Promise<Float32Array>;
  dequantize(q: NativeQuantWeights, m: number, k: number, out: Float32Array): Float32Array;
  kmeans1d(
    values: Float32Array | Uint16Array, vtype: NativeWeightType, weights: Float32Array | null, k: number,
    centroids: Float64Array, assignments: Int32Array | null, stats: Float64Array, async: false,
  ): Float64Array;
  kmeans1d(
    values: Float32Array | Uint16Array, vtype: NativeWeightType, weights: Float32Array | null, k: number,
    centroids: Float64Array, assignments: Int32Array | null, stats: Float64Array, async: true,
  ): Promise<Float64Array>;
  kmeans(
    points: Float32Array, n: number, dim: number, weights: Float32Array | null, k: number, maxIter: number,
    tolerance: number, seed: number, centroids: Float32Array, assignments: Int32Array, stats: Float64Array, async: false,
  ): Float64Array;
  kmeans(
    points: Float32Array, n: number, dim: number, weights: Float32Array | null, k: number, maxIter: number,
    tolerance: number, seed: number, centroids: Float32Array, assignments: Int32Array, stats: Float64Array, async: true,
  ): Promise<Float64Array>;
  cluster(
    w: Float32Array | Uint16Array, vtype: NativeWeightType, m: number, k: number, importance: Float32Array | null,
    bits: number, dim: number, rowsPerBook: number, codebookType: number, maxIter: number, tolerance: number,
    seed: number, codebook: Float32Array | Uint16Array, indices: Uint8Array, stats: Float64Array, async: false,
  ): Float64Array;
  cluster(
    w: Float32Array | Uint16Array, vtype: NativeWeightType, m: number, k: number, importance: Float32Array | null,
    bits: number, dim: number, rowsPerBook: number, codebookType: number, maxIter: number, tolerance: number,
    seed: number, codebook: Float32Array | Uint16Array, indices: Uint8Array, stats: Float64Array, async: true,
  ): Promise<Float64Array>;
  linearClustered(
    x: Float32Array, n: number, k: number, c: NativeClusteredWeights, m: number,
    bias: Float32Array | null, y: Float32Array, async: false,
  ): Float32Array;
  linearClustered(
    x: Float32Array, n: number, k: number, c: NativeClusteredWeights, m: number,
    bias: Float32Array | null, y: Float32Array, async: true,
  ): Promise<Float32Array>;
  linearClustered(
    x: Float32Array, n: number, k: number, c: NativeClusteredWeights, m: number,
    bias: Float32Array | null, y: Float32Array, async: false, int8Books: NativeClusteredInt8Books,
  ): Float32Array;
  linearClustered(
    x: Float32Array, n: number, k: number, c: NativeClusteredWeights, m: number,
    bias: Float32Array | null, y: Float32Array, async: true, int8Books: NativeClusteredInt8Books,
  ): Promise<Float32Array>;
  clusteredI8Books(c: NativeClusteredWeights, m: number, k: number, tables: Uint8Array, scales: Float32Array): void;
  dequantizeClustered(c: NativeClusteredWeights, m: number, k: number, out: Float32Array): Float32Array;
  alignmentPadding(buffer: ArrayBuffer): number;
  /** The index of the first NaN or ±Infinity in x, or -1. */
  firstNonFinite(x: Float32Array): number;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, k: number, n: number, async: false): Float32Array;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, k: number, n: number, async: true): Promise<Float32Array>;
}

const require = createRequire(import.meta.url);
// lib/binding.ts and dist/binding.js both sit one level below the package root.
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function load(): NativeAddon {
  const isa = process.env.SPARQ_ISA;
  if (isa !== undefined && isa !== '' && !['scalar', 'avx2', 'avx512'].includes(isa)) {
    throw new RangeError(`Expected one of 'scalar', 'avx2', 'avx512' for SPARQ_ISA but received '${isa}'`);
  }
  const explicit = process.env.SPARQ_ADDON_PATH;
  if (explicit) return require(path.resolve(explicit)) as NativeAddon;
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  return nodeGypBuild(packageRoot) as NativeAddon;
}

export const native: NativeAddon = load();
