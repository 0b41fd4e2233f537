export * from './half.js';
export * from './linear.js';
