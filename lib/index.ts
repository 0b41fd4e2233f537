// sparq: sparse and quantized tensors for Node.js.
export { Tensor, DTYPES } from './tensor.js';
export type { DType, DataTypeMap, TypedArrayFor } from './tensor.js';
export { linear, linearAsync, matmul, matmulAsync } from './linear.js';
export type { LinearWeight } from './linear.js';
export { cpuInfo, getNumThreads, setNumThreads } from './runtime.js';
export type { CpuInfo, IsaLevel } from './runtime.js';
