// A minimal ONNX protobuf encoder, enough to build small single-node models
// (MatMul, ReduceSum, MatMulNBits, MatMulInteger, ...) in memory for the
// benchmarks: no downloads and no committed .onnx files.
//
// Only the fields below are written (field numbers from onnx/onnx.proto3):
//   ModelProto      1 ir_version, 2 producer_name, 7 graph, 8 opset_import
//   OperatorSetId   1 domain, 2 version
//   GraphProto      1 node, 2 name, 5 initializer, 11 input, 12 output
//   NodeProto       1 input, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain
//   AttributeProto  1 name, 2 f, 3 i, 4 s, 5 t, 7 floats, 8 ints, 9 strings, 20 type
//   TensorProto     1 dims, 2 data_type, 8 name, 9 raw_data
//   ValueInfoProto  1 name, 2 type
//   TypeProto       1 tensor_type { 1 elem_type, 2 shape { 1 dim { 1 dim_value | 2 dim_param } } }
//
// Messages are built as lists of byte chunks so large raw_data (hundreds of
// MB of weights) is copied exactly once, into the final buffer.

/** TensorProto.DataType values. */
export const DataType = Object.freeze({
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, BFLOAT16: 16, UINT4: 21, INT4: 22,
});

const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 };

const WIRE_VARINT = 0;
const WIRE_I32 = 5;
const WIRE_LEN = 2;
const utf8 = new TextEncoder();

/** A message under construction: a list of chunks and their total length. */
class Msg {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }
  push(bytes) {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }
  varint(v) {
    // v: a non-negative or negative integer (number or bigint); negatives as 64-bit two's complement.
    let b = BigInt.asUintN(64, BigInt(v));
    const out = [];
    do {
      let byte = Number(b & 0x7fn);
      b >>= 7n;
      if (b !== 0n) byte |= 0x80;
      out.push(byte);
    } while (b !== 0n);
    return this.push(Uint8Array.from(out));
  }
  tag(field, wire) {
    return this.varint((field << 3) | wire);
  }
  int(field, v) {
    return this.tag(field, WIRE_VARINT).varint(v);
  }
  float(field, v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.tag(field, WIRE_I32).push(b);
  }
  bytes(field, bytes) {
    return this.tag(field, WIRE_LEN).varint(bytes.length).push(bytes);
  }
  string(field, s) {
    return this.bytes(field, utf8.encode(s));
  }
  msg(field, m) {
    this.tag(field, WIRE_LEN).varint(m.length);
    for (const c of m.chunks) this.push(c);
    return this;
  }
  packedInts(field, values) {
    const m = new Msg();
    for (const v of values) m.varint(v);
    return this.msg(field, m);
  }
  packedFloats(field, values) {
    return this.bytes(field, new Uint8Array(Float32Array.from(values).buffer));
  }
  toBytes() {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError('raw data must be a TypedArray, DataView or ArrayBuffer');
}

/**
 * TensorProto. `data` is a TypedArray/ArrayBuffer stored as raw_data bytes
 * (little-endian, as laid out in memory; 4-bit types packed two per byte).
 */
function tensorProto({ name, dataType, dims, data }) {
  const m = new Msg();
  if (dims.length) m.packedInts(1, dims);
  m.int(2, dataType);
  if (name) m.string(8, name);
  m.bytes(9, asBytes(data));
  return m;
}

/** ValueInfoProto for a tensor; dims entries are numbers or symbolic names. */
function valueInfo({ name, elemType = DataType.FLOAT, shape }) {
  const shapeMsg = new Msg();
  for (const d of shape) {
    const dim = new Msg();
    if (typeof d === 'string') dim.string(2, d);
    else dim.int(1, d);
    shapeMsg.msg(1, dim);
  }
  const tensorType = new Msg().int(1, elemType).msg(2, shapeMsg);
  const type = new Msg().msg(1, tensorType);
  return new Msg().string(1, name).msg(2, type);
}

/**
 * AttributeProto from a JS value: integer → INT, other number → FLOAT,
 * string → STRING, {floats: [...]} → FLOATS, array of integers → INTS,
 * array of strings → STRINGS, {tensor: {...}} → TENSOR, {float: x} → FLOAT
 * (for integral float values), bigint → INT.
 */
function attribute(name, value) {
  const m = new Msg().string(1, name);
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value))) {
    return m.int(3, value).int(20, AttrType.INT);
  }
  if (typeof value === 'number') return m.float(2, value).int(20, AttrType.FLOAT);
  if (typeof value === 'string') return m.string(4, value).int(20, AttrType.STRING);
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) {
      for (const s of value) m.string(9, s);
      return m.int(20, AttrType.STRINGS);
    }
    return m.packedInts(8, value).int(20, AttrType.INTS);
  }
  if (value && typeof value === 'object') {
    if ('float' in value) return m.float(2, value.float).int(20, AttrType.FLOAT);
    if ('floats' in value) return m.packedFloats(7, value.floats).int(20, AttrType.FLOATS);
    if ('tensor' in value) return m.msg(5, tensorProto(value.tensor)).int(20, AttrType.TENSOR);
  }
  throw new TypeError(`attribute ${name}: unsupported value ${String(value)}`);
}

function nodeProto({ opType, domain = '', name = '', inputs, outputs, attributes = {} }) {
  const m = new Msg();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  if (name) m.string(3, name);
  m.string(4, opType);
  for (const [k, v] of Object.entries(attributes)) m.msg(5, attribute(k, v));
  if (domain) m.string(7, domain);
  return m;
}

/**
 * Encodes a ModelProto.
 * @param {object} model
 * @param {number} [model.irVersion=8]
 * @param {{domain: string, version: number}[]} model.opsets
 * @param {object} model.graph {name, nodes, inputs, outputs, initializers}
 *   nodes: [{opType, domain?, name?, inputs: string[], outputs: string[], attributes?: {}}]
 *   inputs/outputs: [{name, elemType?, shape: (number|string)[]}]
 *   initializers: [{name, dataType, dims: number[], data: TypedArray}]
 * @returns {Uint8Array}
 */
export function encodeModel({ irVersion = 8, producer = 'sparq-bench', opsets, graph }) {
  const g = new Msg();
  for (const n of graph.nodes) g.msg(1, nodeProto(n));
  g.string(2, graph.name ?? 'g');
  for (const t of graph.initializers ?? []) g.msg(5, tensorProto(t));
  for (const v of graph.inputs) g.msg(11, valueInfo(v));
  for (const v of graph.outputs) g.msg(12, valueInfo(v));
  const m = new Msg().int(1, irVersion).string(2, producer).msg(7, g);
  for (const o of opsets) m.msg(8, new Msg().string(1, o.domain ?? '').int(2, o.version));
  return m.toBytes();
}

/**
 * A model of one node. `inputs` are the graph inputs (fed at run time),
 * `initializers` the constant inputs; the node takes `nodeInputs` (default:
 * inputs then initializers, by name; use '' for an omitted optional input).
 * `opset` is the default-domain version; `msOpset` (e.g. 1) adds the
 * 'com.microsoft' domain, and nodes with `domain: 'com.microsoft'` get it
 * automatically.
 */
export function singleNodeModel({
  opType, domain = '', attributes = {}, inputs = [], initializers = [], outputs, nodeInputs,
  opset = 17, msOpset, irVersion = 8,
}) {
  const opsets = [{ domain: '', version: opset }];
  if (msOpset !== undefined || domain === 'com.microsoft') {
    opsets.push({ domain: 'com.microsoft', version: msOpset ?? 1 });
  }
  return encodeModel({
    irVersion,
    opsets,
    graph: {
      name: `${opType}_graph`,
      nodes: [{
        opType, domain, name: opType, attributes,
        inputs: nodeInputs ?? [...inputs.map((i) => i.name), ...initializers.map((i) => i.name)],
        outputs: outputs.map((o) => o.name),
      }],
      inputs, outputs, initializers,
    },
  });
}

/**
 * y[N, M] = x[N, K] · B[K, M] with B a float32 initializer (row-major [K, M],
 * i.e. the [M, K] weight transposed). N may be a number or a symbolic name.
 */
export function matMulModel({ N, K, M, B, opset = 17 }) {
  if (B.length !== K * M) throw new RangeError(`B has ${B.length} elements, expected ${K * M}`);
  return singleNodeModel({
    opType: 'MatMul',
    opset,
    inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [N, K] }],
    initializers: [{ name: 'B', dataType: DataType.FLOAT, dims: [K, M], data: B }],
    outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: [N, M] }],
  });
}

/**
 * com.microsoft MatMulNBits: y[N, M] = x[N, K] · dequant(B)ᵀ, with the [M, K]
 * weight ("N" in ORT's attribute naming is our M) block-quantized along K:
 * B uint8 [M, K / blockSize, blockSize * bits / 8] (codes packed low bits
 * first), scales float [M, K / blockSize], optional zeroPoints uint8
 * [M, ceil((K / blockSize) * bits / 8)] (packed the same way; without them
 * the zero point is 2^(bits-1)); w = (code - zero_point) · scale.
 * N may be a number or a symbolic name.
 */
export function matMulNBitsModel({ N, K, M, bits, blockSize, accuracyLevel = 4, B, scales, zeroPoints = null }) {
  const nb = K / blockSize;
  if (!Number.isInteger(nb)) throw new RangeError(`K = ${K} is not a multiple of block_size ${blockSize}`);
  if (B.length !== (M * K * bits) / 8) throw new RangeError(`B has ${B.length} bytes, expected ${(M * K * bits) / 8}`);
  if (scales.length !== M * nb) throw new RangeError(`scales has ${scales.length} elements, expected ${M * nb}`);
  const initializers = [
    { name: 'B', dataType: DataType.UINT8, dims: [M, nb, (blockSize * bits) / 8], data: B },
    { name: 'scales', dataType: DataType.FLOAT, dims: [M, nb], data: scales },
  ];
  if (zeroPoints) {
    const zpb = Math.ceil((nb * bits) / 8);
    if (zeroPoints.length !== M * zpb) throw new RangeError(`zero points have ${zeroPoints.length} bytes, expected ${M * zpb}`);
    initializers.push({ name: 'zero_points', dataType: DataType.UINT8, dims: [M, zpb], data: zeroPoints });
  }
  return singleNodeModel({
    opType: 'MatMulNBits',
    domain: 'com.microsoft',
    attributes: { K, N: M, bits, block_size: blockSize, accuracy_level: accuracyLevel },
    inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [N, K] }],
    initializers,
    outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: [N, M] }],
  });
}

/**
 * com.microsoft MatMulBnb4 (bitsandbytes 4-bit, quantType 1 = NF4, 0 = FP4):
 * the [M, K] weight flattened row-major and cut into blocks of blockSize
 * elements, B uint8 [M * K / 2] with the first element of each pair in the
 * HIGH nibble, absmax float [M * K / blockSize]; w = level(code) · absmax.
 */
export function matMulBnb4Model({ N, K, M, blockSize, quantType = 1, B, absmax }) {
  if (B.length !== (M * K) / 2) throw new RangeError(`B has ${B.length} bytes, expected ${(M * K) / 2}`);
  if (absmax.length !== Math.ceil((M * K) / blockSize)) throw new RangeError(`absmax has ${absmax.length} elements`);
  return singleNodeModel({
    opType: 'MatMulBnb4',
    domain: 'com.microsoft',
    attributes: { K, N: M, block_size: blockSize, quant_type: quantType },
    inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [N, K] }],
    initializers: [
      { name: 'B', dataType: DataType.UINT8, dims: [(M * K) / 2], data: B },
      { name: 'absmax', dataType: DataType.FLOAT, dims: [absmax.length], data: absmax },
    ],
    outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: [N, M] }],
  });
}
