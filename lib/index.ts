// sparq: sparse and quantized tensors for Node.js.
export { Tensor, DTYPES } from './tensor.js';
export type { DType, DataTypeMap, TypedArrayFor } from './tensor.js';
export { linear, linearAsync, matmul, matmulAsync } from './linear.js';
export type { LinearOptions, LinearWeight } from './linear.js';
export { quantize, QuantizedTensor, NF4_LEVELS, sqnr, relativeError } from './quantize.js';
export type { QuantizeOptions, QuantScheme, ScaleType } from './quantize.js';
export { prune, SparseTensor } from './sparse.js';
export type { FromDenseOptions, NmPattern, PruneOptions, PrunePattern, SparseConvertOptions, SparseFormat, SparseValueType, StoredValueType } from './sparse.js';
export { kmeans, kmeansAsync, cluster, clusterAsync, ClusteredTensor } from './cluster.js';
export type { KmeansOptions, KmeansResult, ClusterOptions, ClusterGranularity } from './cluster.js';
export { cpuInfo, getNumThreads, setNumThreads } from './runtime.js';
export type { CpuInfo, IsaLevel } from './runtime.js';
