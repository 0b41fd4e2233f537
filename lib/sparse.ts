// Sparse weight matrices [M, K]: pruning (by magnitude, or as Wanda does by
// magnitude times a per-input-channel importance; unstructured, per row or
// N:M) and the four storage formats of native/core/sparse.h that `linear`
// computes on: bitmap, csr, nm and ell.
import { native, NativeHalfType, NativeWeightType, type NativeSparseWeights } from './binding.js';
import { rangeError, received, typeError } from './errors.js';
import { checkTensor, Tensor } from './tensor.js';
import { alignedArray, alignedCopy, type TypedArrayClass } from './memory.js';

/** Storage formats (native/core/sparse.h). */
export type SparseFormat = 'bitmap' | 'csr' | 'nm' | 'ell';
/** Storage type of the stored values. */
export type SparseValueType = 'float32' | 'float16' | 'bfloat16';
/** What a SparseTensor stores: float values, or the int8 / 4-bit table forms of quantize(sparse) and cluster(sparse). */
export type StoredValueType = SparseValueType | 'int8' | 'lut4';
/** N kept in every group of M consecutive elements along K (N·log2(M) <= 12). */
export type NmPattern = '1:4' | '2:4' | '3:4' | '1:8' | '2:8' | '3:8' | '4:8';
export type PrunePattern = 'unstructured' | 'row' | NmPattern;

export interface PruneOptions {
  /**
   * Fraction of the M·K elements that become zero, in [0, 1) (default 0.5).
   * 'unstructured' prunes Math.round(sparsity·M·K) over the whole tensor,
   * 'row' Math.round(sparsity·K) in every row; an N:M pattern implies 1 − N/M
   * (giving another value is a RangeError).
   */
  sparsity?: number;
  /** Default 'unstructured'. */
  pattern?: PrunePattern;
  /**
   * Per-input-channel importance, K finite values >= 0 (e.g. Wanda's
   * activation norms ‖X[:, k]‖₂): the score of w[m, k] is |w[m, k]|·importance[k]
   * instead of |w[m, k]|.
   */
  importance?: Float32Array | Tensor<'float32'> | null;
  /** Default 'auto'; 'nm' needs an N:M pattern. */
  format?: SparseFormat | 'auto';
  /** Default: the dtype of `w`. */
  values?: SparseValueType;
}

export interface FromDenseOptions {
  /** Default 'auto'; 'nm' needs `nm`. */
  format?: SparseFormat | 'auto';
  /** Default: the dtype of `w`. */
  values?: SparseValueType;
  /** The N:M pattern the nonzeros follow (format 'nm' or 'auto' only). */
  nm?: NmPattern;
}

export interface SparseConvertOptions {
  /** The N:M pattern of the result when converting to 'nm' (default: this tensor's, if it is 'nm'). */
  nm?: NmPattern;
}

const PAD = 16; // kSparsePad: zero elements after values and cols
const CODE_PAD = 8; // zero bytes after the nm codes
const CSR_BLOCK = 65536; // kCsrBlock
const TILE = 16; // kBitmapTile
const MAX_NNZ = 0xffffffff; // offsets are uint32
const ELL_ROWS = 16; // kEllRows: rows per ell group
const ELL_PANEL = 128; // kEllPanel: columns per ell panel
const ELL_PAD = 0x80; // kEllPadBit: panelCols bit of padding entries
const FORMATS: readonly SparseFormat[] = ['bitmap', 'csr', 'nm', 'ell'];
/** Native value types of int8 codes and 4-bit table indices (native/core/weight_type.h kI8, kLut4). */
const NATIVE_INT8 = 3, NATIVE_LUT4 = 4;
/** Entries of a 'lut4' row table. */
export const LUT4_ENTRIES = 16;
const FORMAT_CODE = { bitmap: 0, csr: 1, nm: 2, ell: 3 } as const;
const VALUE_TYPES: readonly SparseValueType[] = ['float32', 'float16', 'bfloat16'];
const NM_PATTERNS: readonly NmPattern[] = ['1:4', '2:4', '3:4', '1:8', '2:8', '3:8', '4:8'];
const NM_EXPECTED = "an N:M pattern with M = 4 and N in 1..3, or M = 8 and N in 1..4 (e.g. '2:4')";

interface Nm {
  pattern: NmPattern;
  n: number;
  group: number;
  /** log2(group): bits per position in a code. */
  bits: number;
}

/** Density below which format 'auto' picks 'ell' (kernels at AVX-512; see chooseFormat). */
export const AUTO_ELL_DENSITY = 0.35;
/** Density below which format 'auto' picks 'csr' (kernels below AVX-512). */
export const AUTO_CSR_DENSITY = 0.22;

let activeIsaIsAvx512: boolean | undefined;

/**
 * The rule of format 'auto', from `npm run bench:sparsity` (cold, against
 * dense f32; bench/results/sparsity.md). With AVX-512 kernels: 'ell' below
 * AUTO_ELL_DENSITY (sparsity above 65%): at 70% it is the fastest format at
 * N = 1, 8 and 32; from 80% on the fastest at N = 1 by 1.6-2.6x, about even
 * with 'csr' at N = 8 and 32 at 80%, and up to 1.45x slower than 'csr' there
 * from 90% on (both well above dense f32); at 50% slower than dense f32 at
 * N = 32. Below AVX-512 ('ell' gathers there too and ran 0.55-0.64x 'csr'):
 * 'csr' below AUTO_CSR_DENSITY. Else 'bitmap', N:M patterns included ('nm'
 * is never faster than 'bitmap' at the same density). The bitmap kernels
 * cost the same per weight at any density (they expand every 16-wide tile),
 * csr and ell per stored value.
 * @internal
 */
export function chooseFormat(density: number, nm: NmPattern | null): SparseFormat {
  void nm;
  activeIsaIsAvx512 ??= native.cpuInfo().active === 'avx512';
  if (activeIsaIsAvx512) return density < AUTO_ELL_DENSITY ? 'ell' : 'bitmap';
  return density < AUTO_CSR_DENSITY ? 'csr' : 'bitmap';
}

// ------------------------------------------------------------------ validation

function parseNm(argument: string, value: unknown): Nm {
  if (typeof value !== 'string') throw typeError(argument, NM_EXPECTED, value);
  if (!NM_PATTERNS.includes(value as NmPattern)) throw rangeError(argument, NM_EXPECTED, value);
  const [n, group] = value.split(':').map(Number);
  return { pattern: value as NmPattern, n, group, bits: group === 4 ? 2 : 3 };
}

function checkOptionsObject(argument: string, opts: unknown): Record<string, unknown> {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) throw typeError(argument, 'an options object', opts);
  return (opts ?? {}) as Record<string, unknown>;
}

function checkFormat(argument: string, value: unknown): SparseFormat | 'auto' {
  const expected = "'bitmap', 'csr', 'nm', 'ell' or 'auto'";
  if (value === undefined) return 'auto';
  if (typeof value !== 'string') throw typeError(argument, expected, value);
  if (value !== 'auto' && !FORMATS.includes(value as SparseFormat)) throw rangeError(argument, expected, value);
  return value as SparseFormat | 'auto';
}

function checkValueType(argument: string, value: unknown, fallback: SparseValueType): SparseValueType {
  const expected = "'float32', 'float16' or 'bfloat16'";
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw typeError(argument, expected, value);
  if (!VALUE_TYPES.includes(value as SparseValueType)) throw rangeError(argument, expected, value);
  return value as SparseValueType;
}

function checkGroupDividesK(nm: Nm, K: number, shape: readonly number[]): void {
  if (K % nm.group !== 0) {
    throw rangeError('w', `K a multiple of ${nm.group} for the N:M pattern '${nm.pattern}'`, received(`shape [${shape.join(', ')}]`));
  }
}

/** Checks that `w` is a float32, float16 or bfloat16 tensor [M, K]. */
function checkWeights(w: unknown): { wt: Tensor; M: number; K: number; dtype: SparseValueType } {
  const wt = checkTensor('w', w);
  if (wt.dtype !== 'float32' && wt.dtype !== 'float16' && wt.dtype !== 'bfloat16') {
    throw typeError('w', "a 'float32', 'float16' or 'bfloat16' tensor", wt);
  }
  if (wt.rank !== 2) throw rangeError('w', 'a tensor of shape [M, K]', wt);
  const [M, K] = wt.shape as [number, number];
  return { wt, M, K, dtype: wt.dtype };
}

function checkNotNaN(data: Float32Array, K: number): void {
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== data[i]) {
      throw rangeError('w', 'weights that are not NaN', received(`NaN at index ${i} (row ${Math.floor(i / K)}, column ${i % K})`));
    }
  }
}

function checkImportance(value: unknown, K: number): Float32Array | null {
  if (value === undefined || value === null) return null;
  const expected = `a Float32Array or a 'float32' tensor of shape [${K}] (K)`;
  let arr: Float32Array;
  if (value instanceof Float32Array) arr = value;
  else if (value instanceof Tensor) {
    const t = checkTensor('opts.importance', value);
    if (t.dtype !== 'float32') throw typeError('opts.importance', expected, t);
    if (t.rank !== 1) throw rangeError('opts.importance', expected, t);
    arr = t.data as Float32Array;
  } else throw typeError('opts.importance', expected, value);
  if (arr.length !== K) throw rangeError('opts.importance', expected, value);
  const out = new Float32Array(K);
  for (let k = 0; k < K; k++) {
    const v = arr[k];
    if (!(v >= 0 && v < Infinity)) throw rangeError('opts.importance', 'finite values >= 0', received(`${v} at index ${k}`));
    out[k] = v + 0; // -0 becomes +0, so every score is >= +0
  }
  return out;
}

function checkNnz(format: SparseFormat, nnz: number, argument: string): void {
  if (format !== 'nm' && nnz > MAX_NNZ) {
    throw rangeError(argument, `at most ${MAX_NNZ} stored values for format '${format}' (uint32 offsets)`, received(`${nnz}`));
  }
}

// ------------------------------------------------------------------ layout

interface SparseArrays {
  values: Float32Array | Uint16Array | Int8Array | Uint8Array;
  offsets: Uint32Array | null;
  masks: Uint16Array | null;
  cols: Uint16Array | null;
  panelCols: Uint8Array | null;
  codes: Uint8Array | null;
}

const tilesOf = (K: number) => Math.ceil(K / TILE);
const blocksOf = (K: number) => Math.ceil(K / CSR_BLOCK);
const codeStride = (K: number, nm: Nm) => Math.ceil(((K / nm.group) * nm.n * nm.bits) / 8);
const panelsOf = (K: number) => Math.ceil(K / ELL_PANEL);
const ellGroupsOf = (M: number) => Math.ceil(M / ELL_ROWS);
type ValueArray = Float32Array | Uint16Array | Int8Array | Uint8Array;

/** Row m's stored columns and values, kept until its ell group is written. */
interface PendingRow {
  cols: Int32Array;
  values: ValueArray;
}

/**
 * Writes the arrays of one format row by row (rows in order), given row m's
 * stored columns, increasing, each with the index of its value in `src`.
 * With `shared`, `src` already is the values array in that order (bitmap,
 * csr and nm all store a row's values in K order, rows consecutive), and
 * only the index structure is written. 'ell' interleaves the rows of a group:
 * it keeps each group's rows until the last, then writes the group.
 */
class Writer {
  readonly arrays: SparseArrays;
  private v = 0;
  private pending: PendingRow[] = [];
  private entries = 0; // ell: entries written (vectors · 16)

  constructor(
    private readonly format: SparseFormat,
    private readonly M: number,
    private readonly K: number,
    private readonly nnz: number,
    private readonly nm: Nm | null,
    private readonly src: Float32Array | Uint16Array | Int8Array | Uint8Array,
    private readonly shared: boolean,
    private readonly overflow: (m: number, k0: number, count: number) => Error,
  ) {
    // ell: grown while writing (the padding is known group by group), cut to size by finish().
    const capacity = format === 'ell' ? nnz + ELL_ROWS * panelsOf(K) + PAD : nnz + PAD;
    const values = shared ? src : alignedArray(src.constructor as TypedArrayClass<typeof src>, capacity);
    this.arrays = {
      values,
      offsets: format === 'bitmap' ? alignedArray(Uint32Array, M + 1)
        : format === 'csr' ? alignedArray(Uint32Array, M * blocksOf(K) + 1)
          : format === 'ell' ? alignedArray(Uint32Array, ellGroupsOf(M) * panelsOf(K) + 1) : null,
      masks: format === 'bitmap' ? alignedArray(Uint16Array, M * tilesOf(K)) : null,
      cols: format === 'csr' ? alignedArray(Uint16Array, nnz + PAD) : null,
      panelCols: format === 'ell' ? alignedArray(Uint8Array, capacity) : null,
      codes: format === 'nm' ? alignedArray(Uint8Array, M * codeStride(K, nm!) + CODE_PAD) : null,
    };
  }

  row(m: number, cols: Int32Array, idx: Int32Array, count: number): void {
    const { values, offsets, masks } = this.arrays;
    const src = this.src;
    if (this.format === 'ell') {
      const kept = new (src.constructor as new (length: number) => ValueArray)(count);
      for (let i = 0; i < count; i++) kept[i] = src[idx[i]];
      this.pending.push({ cols: cols.slice(0, count), values: kept });
      this.v += count;
      if (this.pending.length === ELL_ROWS || m === this.M - 1) this.writeGroup(Math.floor(m / ELL_ROWS));
    } else if (this.format === 'bitmap') {
      const base = m * tilesOf(this.K);
      let v = this.v;
      for (let i = 0; i < count; i++) {
        const k = cols[i];
        masks![base + (k >>> 4)] |= 1 << (k & 15);
        if (!this.shared) values[v] = src[idx[i]];
        v++;
      }
      offsets![m + 1] = v;
      this.v = v;
    } else if (this.format === 'csr') {
      const B = blocksOf(this.K), out = this.arrays.cols!;
      let v = this.v, i = 0;
      for (let b = 0; b < B; b++) {
        const lo = b * CSR_BLOCK, hi = lo + CSR_BLOCK;
        for (; i < count && cols[i] < hi; i++, v++) {
          out[v] = cols[i] - lo;
          if (!this.shared) values[v] = src[idx[i]];
        }
        offsets![m * B + b + 1] = v;
      }
      this.v = v;
    } else {
      const { n, group, bits } = this.nm!;
      const G = this.K / group, codes = this.arrays.codes!;
      const rowBase = m * codeStride(this.K, this.nm!), codeBits = n * bits;
      let v = m * G * n, i = 0;
      for (let g = 0; g < G; g++) {
        const lo = g * group, hi = lo + group, first = i;
        let stored = 0;
        for (; i < count && cols[i] < hi; i++) stored |= 1 << (cols[i] - lo);
        if (i - first > n) throw this.overflow(m, lo, i - first);
        // Fewer than n stored: explicit zeros at the earliest free positions.
        let zeros = 0;
        for (let p = 0, missing = n - (i - first); missing > 0; p++) {
          if (!((stored >>> p) & 1)) {
            zeros |= 1 << p;
            missing--;
          }
        }
        let code = 0, j = first;
        for (let rest = stored | zeros, q = 0; rest !== 0; q++) {
          const low = rest & -rest;
          code |= (31 - Math.clz32(low)) << (q * bits);
          values[v++] = zeros & low ? 0 : src[idx[j++]];
          rest ^= low;
        }
        const bit = g * codeBits, at = rowBase + (bit >>> 3), word = code << (bit & 7);
        codes[at] |= word & 0xff;
        if (word > 0xff) codes[at + 1] |= (word >>> 8) & 0xff;
        if (word > 0xffff) codes[at + 2] |= word >>> 16;
      }
      this.v = v;
    }
  }

  /**
   * ell: group g's rows (pending) panel by panel: each lane's stored values in
   * column order, then padding to the longest lane, pointing at the first
   * column of the panel its row does not store (lanes past M: column 0).
   */
  private writeGroup(g: number): void {
    const K = this.K, P = panelsOf(K), rows = this.pending, offsets = this.arrays.offsets!;
    const next = new Int32Array(ELL_ROWS), counts = new Int32Array(ELL_ROWS), pads = new Int32Array(ELL_ROWS);
    for (let p = 0; p < P; p++) {
      const hi = (p + 1) * ELL_PANEL;
      let longest = 0;
      for (let l = 0; l < rows.length; l++) {
        const c = rows[l].cols;
        let i = next[l], free = 0;
        for (; i < c.length && c[i] < hi; i++) if (c[i] === p * ELL_PANEL + free) free++;
        counts[l] = i - next[l];
        pads[l] = free;
        longest = Math.max(longest, counts[l]);
      }
      this.reserve(this.entries + longest * ELL_ROWS);
      const { values, panelCols } = this.arrays;
      for (let j = 0; j < longest; j++) {
        for (let l = 0; l < ELL_ROWS; l++) {
          const e = this.entries + j * ELL_ROWS + l;
          if (l < rows.length && j < counts[l]) {
            values[e] = rows[l].values[next[l] + j];
            panelCols![e] = rows[l].cols[next[l] + j] - p * ELL_PANEL;
          } else {
            values[e] = 0;
            panelCols![e] = ELL_PAD | (l < rows.length ? pads[l] : 0);
          }
        }
      }
      for (let l = 0; l < rows.length; l++) next[l] += counts[l];
      this.entries += longest * ELL_ROWS;
      offsets[g * P + p + 1] = this.entries / ELL_ROWS;
    }
    this.pending = [];
  }

  /** ell: room for `entries` entries (plus PAD) in values and panelCols. */
  private reserve(entries: number): void {
    const { values, panelCols } = this.arrays;
    if (entries + PAD <= values.length) return;
    const capacity = Math.max(entries + PAD, Math.ceil(values.length * 1.5));
    const grown = alignedArray(values.constructor as TypedArrayClass<ValueArray>, capacity);
    grown.set(values);
    const grownCols = alignedArray(Uint8Array, capacity);
    grownCols.set(panelCols!);
    this.arrays.values = grown;
    this.arrays.panelCols = grownCols;
  }

  finish(): SparseArrays {
    if (this.v !== this.nnz) throw new Error(`sparq internal error: wrote ${this.v} values, expected ${this.nnz}`);
    if (this.format === 'ell' && this.arrays.values.length !== this.entries + PAD) {
      // Cut to size: entries + PAD zero elements.
      const values = alignedArray(this.arrays.values.constructor as TypedArrayClass<ValueArray>, this.entries + PAD);
      values.set(this.arrays.values.subarray(0, this.entries));
      const panelCols = alignedArray(Uint8Array, this.entries + PAD);
      panelCols.set(this.arrays.panelCols!.subarray(0, this.entries));
      this.arrays.values = values;
      this.arrays.panelCols = panelCols;
    }
    return this.arrays;
  }
}

// ------------------------------------------------------------------ SparseTensor

/**
 * A sparse [M, K] weight matrix: the stored values (float32, float16 or
 * bfloat16, in K order within each row, rows consecutive) and the index
 * structure of one format, exactly as native/core/sparse.h lays them out:
 * - 'bitmap': `masks` (uint16, ceil(K/16) per row; bit b of word t is set
 *   when element 16t + b is stored) and `offsets` (M + 1 uint32).
 * - 'csr': `cols` (uint16 column within a block of 65536 columns) and
 *   `offsets` (M·ceil(K/65536) + 1 uint32, one range per row and block).
 * - 'nm': exactly n values in every group of `group` elements (explicit
 *   zeros where fewer are nonzero) and `codes`: per group the n positions,
 *   log2(group) bits each, in a little-endian bit stream per row.
 * - 'ell' (sliced ELLPACK, for N = 1 to 4 activation rows): rows in groups of
 *   16, columns in panels of 128. `offsets` (ceil(M/16)·ceil(K/128) + 1
 *   uint32) gives each group and panel its vectors of 16 entries, entry l of
 *   a vector belonging to row 16g + l: `values` and `panelCols` (uint8, the
 *   column within the panel). Each row's stored values come in column order,
 *   then padding to the group's longest row in that panel (value 0,
 *   panelCols bit 7 set): `values` holds more than nnz elements, and a row's
 *   values are not contiguous. Float values, or int8 from quantize(); no lut4.
 * `values`, `cols` and `panelCols` end with 16 zero elements, `codes` with 8
 * zero bytes (padding the kernels may read). The arrays are shared, not
 * copied, between tensors made by `.to()`; do not modify them.
 */
export class SparseTensor {
  readonly shape: readonly [number, number];
  readonly format: SparseFormat;
  /**
   * 'int8' for quantize(sparse) with 8 bits: int8 codes with one float32
   * scale per row (`scales`). 'lut4' for quantize(sparse) with 4 bits and
   * cluster(sparse): 4-bit indices, two per byte (value i in byte i >> 1, low
   * nibble first), into a table of 16 float32 weights per row (`table`).
   */
  readonly valueType: StoredValueType;
  /** Stored values (explicit zeros included; for 'nm' M·K·n/group); `values` holds nnz + 16 (for 'ell': plus the padding). */
  readonly nnz: number;
  /** 'nm': the N:M pattern ('2:4', ...); null for the other formats. */
  readonly nm: NmPattern | null;
  readonly values: Float32Array | Uint16Array | Int8Array | Uint8Array;
  /** 'int8' values: the scale of each row (weight = code · scale); else null. */
  readonly scales: Float32Array | null;
  /** 'lut4' values: [M, 16], row m's weights by index (weight = table[16 m + index]); else null. */
  readonly table: Float32Array | null;
  readonly offsets: Uint32Array | null;
  readonly masks: Uint16Array | null;
  readonly cols: Uint16Array | null;
  readonly panelCols: Uint8Array | null;
  readonly codes: Uint8Array | null;
  readonly #nm: Nm | null;

  /** @internal Use prune() or SparseTensor.fromDense(). */
  constructor(fields: {
    shape: [number, number]; format: SparseFormat; valueType: StoredValueType; nnz: number; nm: NmPattern | null;
    scales?: Float32Array | null; table?: Float32Array | null;
  } & SparseArrays) {
    this.shape = Object.freeze([...fields.shape]) as unknown as readonly [number, number];
    this.format = fields.format;
    this.valueType = fields.valueType;
    this.nnz = fields.nnz;
    this.nm = fields.nm;
    this.values = fields.values;
    this.scales = fields.scales ?? null;
    this.table = fields.table ?? null;
    this.offsets = fields.offsets;
    this.masks = fields.masks;
    this.cols = fields.cols;
    this.panelCols = fields.panelCols;
    this.codes = fields.codes;
    this.#nm = fields.nm === null ? null : parseNm('nm', fields.nm);
  }

  /**
   * Stores exactly the nonzeros of `w` (float32, float16 or bfloat16 [M, K];
   * -0 counts as zero). 'nm' (needs `opts.nm`) stores n values per group,
   * explicit zeros at the earliest free positions of groups with fewer
   * nonzeros; more than n nonzeros in a group is a RangeError. NaN is a
   * RangeError. Converting to another `values` type rounds to nearest even;
   * a nonzero that rounds to zero stays stored.
   */
  static fromDense(w: Tensor<'float32' | 'float16' | 'bfloat16'>, opts?: FromDenseOptions): SparseTensor {
    const { wt, M, K, dtype } = checkWeights(w);
    const o = checkOptionsObject('opts', opts);
    let format = checkFormat('opts.format', o.format);
    const valueType = checkValueType('opts.values', o.values, dtype);
    let nm: Nm | null = null;
    if (o.nm !== undefined) {
      nm = parseNm('opts.nm', o.nm);
      if (format !== 'nm' && format !== 'auto') throw rangeError('opts.format', "'nm' or 'auto' when opts.nm is given", format);
      checkGroupDividesK(nm, K, wt.shape);
    }
    if (format === 'nm' && nm === null) throw rangeError('opts.nm', "an N:M pattern such as '2:4' for format 'nm'", o.nm);
    const data = wt.toFloat32().data as Float32Array;
    checkNotNaN(data, K);
    let count = 0;
    for (let i = 0; i < data.length; i++) if (data[i] !== 0) count++;
    const overflow = (m: number, k0: number, c: number) => rangeError('w',
      `at most ${nm!.n} nonzeros in every group of ${nm!.group} along K (opts.nm '${nm!.pattern}')`,
      received(`${c} in row ${m}, columns ${k0}..${k0 + nm!.group - 1}`));
    if (nm !== null && format !== 'nm') {
      for (let i = 0; i < data.length; i += nm.group) {
        let c = 0;
        for (let j = 0; j < nm.group; j++) if (data[i + j] !== 0) c++;
        if (c > nm.n) throw overflow(Math.floor(i / K), i % K, c);
      }
    }
    if (format === 'auto') format = chooseFormat(M * K === 0 ? 0 : count / (M * K), nm?.pattern ?? null);
    const nnz = format === 'nm' ? (M * K / nm!.group) * nm!.n : count;
    checkNnz(format, nnz, 'w');
    const writer = new Writer(format, M, K, nnz, format === 'nm' ? nm : null, data, false, overflow);
    const cols = new Int32Array(K), idx = new Int32Array(K);
    for (let m = 0; m < M; m++) {
      const base = m * K;
      let c = 0;
      for (let k = 0; k < K; k++) {
        if (data[base + k] !== 0) {
          cols[c] = k;
          idx[c++] = base + k;
        }
      }
      writer.row(m, cols, idx, c);
    }
    return finish([M, K], format, valueType, nnz, format === 'nm' ? nm : null, writer.finish());
  }

  /** Stored values over M·K (0 for an empty shape). */
  get density(): number {
    const n = this.shape[0] * this.shape[1];
    return n === 0 ? 0 : this.nnz / n;
  }

  /** Exact storage: the byteLength of every array held (values, scales, table, offsets, masks, cols, panelCols, codes), padding included. */
  get byteLength(): number {
    return this.values.byteLength + (this.scales?.byteLength ?? 0) + (this.table?.byteLength ?? 0) + (this.offsets?.byteLength ?? 0)
      + (this.masks?.byteLength ?? 0) + (this.cols?.byteLength ?? 0) + (this.panelCols?.byteLength ?? 0) + (this.codes?.byteLength ?? 0);
  }

  /** byteLength·8 over M·K (0 for an empty shape). */
  get bitsPerWeight(): number {
    const n = this.shape[0] * this.shape[1];
    return n === 0 ? 0 : (this.byteLength * 8) / n;
  }

  /** @internal */
  get native(): NativeSparseWeights {
    const nm = this.#nm;
    return {
      format: FORMAT_CODE[this.format],
      valueType: this.valueType === 'int8' ? NATIVE_INT8 : this.valueType === 'lut4' ? NATIVE_LUT4 : NativeWeightType[this.valueType],
      values: this.values,
      scales: this.scales,
      lut: this.table,
      offsets: this.offsets,
      masks: this.masks,
      cols: this.cols,
      panelCols: this.panelCols,
      codes: this.codes,
      n: nm?.n ?? 0,
      group: nm?.group ?? 0,
    };
  }

  /** The weights as float32 [M, K]: stored values widened exactly, zeros elsewhere. */
  toDense(): Tensor<'float32'> {
    const [M, K] = this.shape;
    const out = new Float32Array(M * K);
    const vals = this.storedValues();
    const cols = new Int32Array(K), idx = new Int32Array(K);
    for (let m = 0; m < M; m++) {
      const c = this.storedRow(m, cols, idx), base = m * K, s = this.scales?.[m] ?? 1;
      for (let i = 0; i < c; i++) out[base + cols[i]] = vals[idx[i]] * s; // float32 product, one rounding
    }
    return Tensor.from(out, [M, K]);
  }

  /**
   * The same stored set in another format: the values are kept as they are
   * (bitmap, csr and nm→bitmap/csr share this tensor's `values`; to and from
   * 'ell' they are copied in the new order). To 'nm'
   * (pattern `opts.nm`, or this tensor's own), a group with more than n
   * stored values is a RangeError and groups with fewer get explicit zeros.
   * 'auto' applies the same rule as prune. Returns this tensor when nothing changes.
   */
  to(format: SparseFormat | 'auto', opts?: SparseConvertOptions): SparseTensor {
    let target = checkFormat('format', format);
    const o = checkOptionsObject('opts', opts);
    const [M, K] = this.shape;
    let nm: Nm | null = this.#nm;
    if (o.nm !== undefined) {
      nm = parseNm('opts.nm', o.nm);
      if (target !== 'nm' && target !== 'auto') throw rangeError('format', "'nm' or 'auto' when opts.nm is given", target);
    }
    if (target === 'auto') target = chooseFormat(this.density, nm?.pattern ?? null);
    if (target === 'nm' && nm === null) {
      throw rangeError('opts.nm', `an N:M pattern such as '2:4' to convert a '${this.format}' tensor to 'nm'`, o.nm);
    }
    if (target === this.format && (target !== 'nm' || nm!.pattern === this.nm)) return this;
    if (target === 'nm' && K % nm!.group !== 0) {
      throw rangeError('opts.nm', `a pattern whose group divides K = ${K}`, nm!.pattern);
    }
    const toNm = target === 'nm';
    if (toNm && this.valueType === 'lut4') {
      throw rangeError('format', "'bitmap' or 'csr' for 'lut4' values (convert to 'nm' before quantizing or clustering)", format);
    }
    if (target === 'ell' && this.valueType === 'lut4') {
      throw rangeError('format', "'bitmap', 'csr' or 'nm' for 'lut4' values ('ell' stores float or int8 values)", format);
    }
    const nnz = toNm ? (M * K / nm!.group) * nm!.n : this.nnz;
    checkNnz(target, nnz, 'this');
    const overflow = (m: number, k0: number, c: number) => rangeError('this',
      `at most ${nm!.n} stored values in every group of ${nm!.group} along K for '${nm!.pattern}'`,
      received(`${c} in row ${m}, columns ${k0}..${k0 + nm!.group - 1}`));
    const shared = !toNm && target !== 'ell' && this.format !== 'ell'; // both store rows' values in K order
    const writer = new Writer(target, M, K, nnz, toNm ? nm : null, this.values, shared, overflow);
    const cols = new Int32Array(K), idx = new Int32Array(K);
    for (let m = 0; m < M; m++) writer.row(m, cols, idx, this.storedRow(m, cols, idx));
    const arrays = writer.finish();
    return new SparseTensor({
      shape: [M, K], format: target, valueType: this.valueType, nnz, nm: toNm ? nm!.pattern : null, scales: this.scales, table: this.table, ...arrays,
    });
  }

  /** A copy with arrays of its own (nothing shared with this tensor or the tensors it shares arrays with). */
  clone(): SparseTensor {
    return new SparseTensor({
      shape: [this.shape[0], this.shape[1]], format: this.format, valueType: this.valueType, nnz: this.nnz, nm: this.nm,
      values: alignedCopy(this.values), scales: alignedCopy(this.scales), table: alignedCopy(this.table),
      offsets: alignedCopy(this.offsets), masks: alignedCopy(this.masks), cols: alignedCopy(this.cols), panelCols: alignedCopy(this.panelCols),
      codes: alignedCopy(this.codes),
    });
  }

  /** The same stored set and structure arrays (shared) with other values. */
  private withValues(valueType: 'int8' | 'lut4', values: Int8Array | Uint8Array, extra: { scales?: Float32Array; table?: Float32Array }): SparseTensor {
    return new SparseTensor({
      shape: [this.shape[0], this.shape[1]], format: this.format, valueType, nnz: this.nnz, nm: this.nm, ...extra,
      values, offsets: this.offsets, masks: this.masks, cols: this.cols, panelCols: this.panelCols, codes: this.codes,
    });
  }

  toString(): string {
    const kind = this.format === 'nm' ? `nm ${this.nm}` : this.format;
    return `SparseTensor<${kind}, ${this.valueType}, density ${this.density.toFixed(4)}>[${this.shape.join(', ')}]`;
  }

  /** @internal Row m's stored columns (increasing) and the indices of their values; returns their count. */
  storedRow(m: number, cols: Int32Array, idx: Int32Array): number {
    const K = this.shape[1];
    let c = 0;
    if (this.format === 'bitmap') {
      const T = tilesOf(K), masks = this.masks!;
      let v = this.offsets![m];
      for (let t = 0; t < T; t++) {
        let mask = masks[m * T + t];
        while (mask !== 0) {
          const low = mask & -mask;
          cols[c] = t * TILE + 31 - Math.clz32(low);
          idx[c++] = v++;
          mask ^= low;
        }
      }
    } else if (this.format === 'ell') {
      const P = panelsOf(K), g = Math.floor(m / ELL_ROWS), l = m % ELL_ROWS, offsets = this.offsets!, pc = this.panelCols!;
      for (let p = 0; p < P; p++) {
        for (let e = offsets[g * P + p] * ELL_ROWS + l; e < offsets[g * P + p + 1] * ELL_ROWS; e += ELL_ROWS) {
          if (pc[e] & ELL_PAD) break; // padding follows the row's stored values
          cols[c] = p * ELL_PANEL + pc[e];
          idx[c++] = e;
        }
      }
    } else if (this.format === 'csr') {
      const B = blocksOf(K), offsets = this.offsets!, cs = this.cols!;
      for (let b = 0; b < B; b++) {
        for (let i = offsets[m * B + b]; i < offsets[m * B + b + 1]; i++) {
          cols[c] = b * CSR_BLOCK + cs[i];
          idx[c++] = i;
        }
      }
    } else {
      const nm = this.#nm!, { n, group, bits } = nm;
      const G = K / group, codes = this.codes!, codeBits = n * bits, rowBase = m * codeStride(K, nm);
      let v = m * G * n;
      for (let g = 0; g < G; g++) {
        const bit = g * codeBits, at = rowBase + (bit >>> 3);
        const code = ((codes[at] | (codes[at + 1] << 8) | (codes[at + 2] << 16)) >>> (bit & 7)) & ((1 << codeBits) - 1);
        for (let j = 0; j < n; j++) {
          cols[c] = g * group + ((code >>> (j * bits)) & (group - 1));
          idx[c++] = v++;
        }
      }
    }
    return c;
  }

  /**
   * @internal quantize(sparse): the same stored set with int8 values, one
   * symmetric float32 scale per row (absmax / 127; 0 for a row of zeros),
   * codes rounded to nearest (ties away from zero). The structure arrays are
   * shared with this tensor.
   */
  quantizeInt8(): SparseTensor {
    this.checkFloatValues();
    const [M, K] = this.shape;
    const vals = this.storedValues();
    const codes = alignedArray(Int8Array, this.values.length);
    const scales = alignedArray(Float32Array, M);
    const cols = new Int32Array(K), idx = new Int32Array(K);
    for (let m = 0; m < M; m++) {
      const count = this.storedRow(m, cols, idx);
      let absmax = 0;
      for (let j = 0; j < count; j++) {
        const v = vals[idx[j]];
        if (!Number.isFinite(v)) throw rangeError('w', 'finite stored values to quantize', received(`${v} in row ${m}`));
        absmax = Math.max(absmax, Math.abs(v));
      }
      const s = Math.fround(absmax / 127);
      scales[m] = s;
      if (s === 0) continue;
      for (let j = 0; j < count; j++) {
        const i = idx[j], q = Math.round(Math.abs(vals[i]) / s);
        codes[i] = Math.sign(vals[i]) * Math.min(127, q);
      }
    }
    return this.withValues('int8', codes, { scales });
  }

  /**
   * @internal The same stored set with 'lut4' values: `table` ([M, 16]) and
   * each stored value's index of the entry of its row's table nearest to it
   * (ties to the lower index). The values must be finite.
   */
  withTable(table: Float32Array): SparseTensor {
    const vals = this.storedValues();
    const indices = alignedArray(Uint8Array, Math.ceil(this.nnz / 2) + PAD);
    for (let m = 0; m < this.shape[0]; m++) {
      const [lo, hi] = this.rowRange(m), t = m * LUT4_ENTRIES;
      for (let i = lo; i < hi; i++) {
        const v = vals[i];
        let best = 0, err = Math.abs(table[t] - v);
        for (let c = 1; c < LUT4_ENTRIES; c++) {
          const e = Math.abs(table[t + c] - v);
          if (e < err) {
            err = e;
            best = c;
          }
        }
        indices[i >> 1] |= best << ((i & 1) * 4);
      }
    }
    return this.withValues('lut4', indices, { table });
  }

  /** @internal A RangeError unless the values are float32 / float16 / bfloat16 (quantize and cluster start from those). */
  checkFloatValues(): void {
    if (this.valueType === 'int8' || this.valueType === 'lut4') {
      throw rangeError('w', 'a SparseTensor with float values', `one with '${this.valueType}' values`);
    }
  }

  /** @internal This tensor, or for 'ell' the same stored set as 'csr': each row's values contiguous (lut4 values need that). */
  withContiguousRows(): SparseTensor {
    return this.format === 'ell' ? this.to('csr') : this;
  }

  /** @internal Indices [lo, hi) of row m's values (not for 'ell'). */
  rowRange(m: number): [number, number] {
    const K = this.shape[1];
    if (this.format === 'bitmap') return [this.offsets![m], this.offsets![m + 1]];
    if (this.format === 'csr') return [this.offsets![m * blocksOf(K)], this.offsets![(m + 1) * blocksOf(K)]];
    if (this.format === 'ell') throw new Error("sparq internal error: an 'ell' row's values are not contiguous");
    const perRow = (K / this.#nm!.group) * this.#nm!.n;
    return [m * perRow, (m + 1) * perRow];
  }

  /** @internal The stored values as float32 (int8: the codes, unscaled; 'lut4': the table entries), padding included. */
  storedValues(): Float32Array {
    if (this.values instanceof Float32Array) return this.values;
    if (this.values instanceof Int8Array) return Float32Array.from(this.values);
    if (this.valueType === 'lut4') {
      const out = new Float32Array(this.nnz + PAD), v = this.values, table = this.table!;
      for (let m = 0; m < this.shape[0]; m++) {
        const [lo, hi] = this.rowRange(m);
        for (let i = lo; i < hi; i++) out[i] = table[m * LUT4_ENTRIES + ((v[i >> 1] >> ((i & 1) * 4)) & 15)];
      }
      return out;
    }
    const out = new Float32Array(this.values.length);
    native.convertFromHalf(this.values as Uint16Array, out, NativeHalfType[this.valueType as 'float16' | 'bfloat16']);
    return out;
  }
}

/** Wraps float32 arrays from a Writer as a SparseTensor of `valueType` (rounding the values to nearest even). */
function finish(shape: [number, number], format: SparseFormat, valueType: SparseValueType, nnz: number, nm: Nm | null, arrays: SparseArrays): SparseTensor {
  if (valueType !== 'float32') {
    const half = alignedArray(Uint16Array, arrays.values.length);
    native.convertToHalf(arrays.values as Float32Array, half, NativeHalfType[valueType]);
    arrays.values = half;
  }
  return new SparseTensor({ shape, format, valueType, nnz, nm: nm?.pattern ?? null, ...arrays });
}

// ------------------------------------------------------------------ prune

/**
 * Among keys[0, n), the p-th smallest (1 <= p <= n): its value T, and how
 * many keys equal to T fall within the p smallest (`prune`) or not (`keep`).
 * A radix select on 8-bit digits, keeping only the candidates that match the
 * digits chosen so far (in `buf`).
 */
function kthKey(keys: Uint32Array, n: number, p: number, buf: Uint32Array, hist: Uint32Array): { T: number; prune: number; keep: number } {
  let src = keys, len = n, r = p, prefix = 0, equal = 0;
  for (let shift = 24; shift >= 0; shift -= 8) {
    hist.fill(0);
    for (let i = 0; i < len; i++) hist[(src[i] >>> shift) & 255]++;
    let b = 0;
    while (r > hist[b]) r -= hist[b++];
    prefix += b * 2 ** shift;
    equal = hist[b];
    if (shift > 0 && equal < len) {
      let j = 0;
      for (let i = 0; i < len; i++) if (((src[i] >>> shift) & 255) === b) buf[j++] = src[i];
      src = buf;
      len = j;
    }
  }
  return { T: prefix, prune: r, keep: equal - r };
}

/**
 * Prunes a weight matrix [M, K] (float32, float16 or bfloat16) to a
 * SparseTensor. Each element's score is |w[m, k]|, or |w[m, k]|·importance[k]
 * rounded to float32 (±Inf weights score +Inf whatever their importance); the
 * lowest scores are pruned: exactly Math.round(sparsity·M·K) of them
 * ('unstructured'), Math.round(sparsity·K) in every row ('row'), or all but N
 * in every group of M along K (N:M). Ties: among equal scores the later index
 * (row-major) is pruned first, i.e. earlier ones are kept. Every kept element
 * is stored, even when it is zero, so nnz = M·K − pruned exactly. NaN weights
 * are a RangeError. O(M·K): a radix select on the scores' float32 bit patterns.
 */
export function prune(w: Tensor<'float32' | 'float16' | 'bfloat16'>, opts?: PruneOptions): SparseTensor {
  const { wt, M, K, dtype } = checkWeights(w);
  const o = checkOptionsObject('opts', opts);
  const patternExpected = `'unstructured', 'row' or ${NM_EXPECTED}`;
  const pattern = o.pattern ?? 'unstructured';
  if (typeof pattern !== 'string') throw typeError('opts.pattern', patternExpected, pattern);
  let nm: Nm | null = null;
  if (pattern !== 'unstructured' && pattern !== 'row') {
    if (!NM_PATTERNS.includes(pattern as NmPattern)) throw rangeError('opts.pattern', patternExpected, pattern);
    nm = parseNm('opts.pattern', pattern);
  }
  let sparsity = 0.5;
  if (o.sparsity !== undefined) {
    if (typeof o.sparsity !== 'number') throw typeError('opts.sparsity', 'a number in [0, 1)', o.sparsity);
    if (!(o.sparsity >= 0 && o.sparsity < 1)) throw rangeError('opts.sparsity', 'a number in [0, 1)', o.sparsity);
    sparsity = o.sparsity;
  }
  if (nm !== null) {
    const implied = 1 - nm.n / nm.group;
    if (o.sparsity !== undefined && o.sparsity !== implied) {
      throw rangeError('opts.sparsity', `${implied} (implied by pattern '${nm.pattern}') or no value`, o.sparsity);
    }
    sparsity = implied;
  }
  const importance = checkImportance(o.importance, K);
  const requested = checkFormat('opts.format', o.format);
  if (requested === 'nm' && nm === null) {
    throw rangeError('opts.format', `'bitmap', 'csr', 'ell' or 'auto' for pattern '${pattern}' ('nm' needs an N:M pattern)`, requested);
  }
  const valueType = checkValueType('opts.values', o.values, dtype);
  if (nm !== null) checkGroupDividesK(nm, K, wt.shape);

  const data = wt.toFloat32().data as Float32Array;
  checkNotNaN(data, K);

  const total = M * K;
  const perRow = pattern === 'row' ? Math.round(sparsity * K) : 0;
  const pruned = nm !== null ? total - (total / nm.group) * nm.n : pattern === 'row' ? M * perRow : Math.round(sparsity * total);
  const nnz = total - pruned;
  const format = requested === 'auto' ? chooseFormat(total === 0 ? 0 : nnz / total, nm?.pattern ?? null) : requested;
  checkNnz(format, nnz, 'w');

  // Scores of one row as uint32 keys: the float32 bit patterns of scores >= +0 order as the scores do.
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const scores = new Float32Array(K), keys = new Uint32Array(scores.buffer);
  const rowKeys = importance === null
    ? (base: number) => {
      for (let k = 0; k < K; k++) keys[k] = bits[base + k] & 0x7fffffff;
    }
    : (base: number) => {
      for (let k = 0; k < K; k++) {
        const a = Math.abs(data[base + k]);
        scores[k] = a === Infinity ? Infinity : a * importance[k];
      }
    };

  const writer = new Writer(format, M, K, nnz, format === 'nm' ? nm : null, data, false, () => new Error('sparq internal error: N:M overflow'));
  const cols = new Int32Array(K), idx = new Int32Array(K);

  if (nm !== null) {
    const { n, group } = nm;
    // Per group, rank by (score desc, index asc) through one exact number:
    // key·8 + (7 − position) (keys < 2^31). Select the n best, or the
    // group − n worst when that is fewer, by repeated max / min.
    const rank = new Float64Array(group), keepBest = n <= group - n, rounds = keepBest ? n : group - n;
    const full = (1 << group) - 1;
    for (let m = 0; m < M; m++) {
      const base = m * K;
      rowKeys(base);
      let c = 0;
      for (let lo = 0; lo < K; lo += group) {
        for (let i = 0; i < group; i++) rank[i] = keys[lo + i] * 8 + (7 - i);
        let picked = 0;
        for (let q = 0; q < rounds; q++) {
          let at = -1;
          for (let i = 0; i < group; i++) {
            if ((picked >>> i) & 1) continue;
            if (at < 0 || (keepBest ? rank[i] > rank[at] : rank[i] < rank[at])) at = i;
          }
          picked |= 1 << at;
        }
        const kept = keepBest ? picked : full ^ picked;
        for (let i = 0; i < group; i++) {
          if ((kept >>> i) & 1) {
            cols[c] = lo + i;
            idx[c++] = base + lo + i;
          }
        }
      }
      writer.row(m, cols, idx, c);
    }
  } else if (pattern === 'row') {
    const buf = new Uint32Array(K), hist = new Uint32Array(256);
    for (let m = 0; m < M; m++) {
      const base = m * K;
      rowKeys(base);
      let c = 0;
      if (perRow === 0) {
        for (let k = 0; k < K; k++) {
          cols[c] = k;
          idx[c++] = base + k;
        }
      } else {
        const { T, keep } = kthKey(keys, K, perRow, buf, hist);
        let equalLeft = keep;
        for (let k = 0; k < K; k++) {
          const key = keys[k];
          if (key > T || (key === T && equalLeft-- > 0)) {
            cols[c] = k;
            idx[c++] = base + k;
          }
        }
      }
      writer.row(m, cols, idx, c);
    }
  } else {
    // Unstructured: the pruned-th smallest key over the whole tensor, in two
    // histogram passes (top 16 bits, then the low 16 bits within that bucket).
    let T = -1, equalLeft = 0;
    if (pruned > 0) {
      const hist = new Float64Array(65536);
      for (let m = 0; m < M; m++) {
        rowKeys(m * K);
        for (let k = 0; k < K; k++) hist[keys[k] >>> 16]++;
      }
      let r = pruned, hi = 0;
      while (r > hist[hi]) r -= hist[hi++];
      hist.fill(0);
      for (let m = 0; m < M; m++) {
        rowKeys(m * K);
        for (let k = 0; k < K; k++) if (keys[k] >>> 16 === hi) hist[keys[k] & 0xffff]++;
      }
      let lo = 0;
      while (r > hist[lo]) r -= hist[lo++];
      T = hi * 65536 + lo;
      equalLeft = hist[lo] - r; // keys equal to T that are kept: the earliest ones
    }
    for (let m = 0; m < M; m++) {
      const base = m * K;
      rowKeys(base);
      let c = 0;
      for (let k = 0; k < K; k++) {
        const key = keys[k];
        if (key > T || (key === T && equalLeft-- > 0)) {
          cols[c] = k;
          idx[c++] = base + k;
        }
      }
      writer.row(m, cols, idx, c);
    }
  }
  return finish([M, K], format, valueType, nnz, format === 'nm' ? nm : null, writer.finish());
}
