export * from './half.js';
export * from './linear.js';
export * from './quant.js';
export * from './sparse.js';
export * from './cluster.js';
