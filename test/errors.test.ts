import { describe, expect, it } from 'vitest';
import { linear, linearAsync, matmul, setNumThreads, Tensor } from '../lib/index.js';

const x = Tensor.zeros([2, 4]);
const w = Tensor.zeros([3, 4]);

describe('linear and matmul bad input', () => {
  it('rejects wrong dtypes with a TypeError naming the argument', () => {
    expect(() => linear(x.to('bfloat16') as unknown as Tensor<'float32'>, w)).toThrow(
      new TypeError(`Expected a 'float32' tensor for x but received a 'bfloat16' tensor of shape [2, 4]`),
    );
    expect(() => linear(x, w.to('int8') as unknown as Tensor<'float32'>)).toThrow(/'float32', 'float16' or 'bfloat16' tensor, a QuantizedTensor or a ClusteredTensor for w/);
    expect(() => linear(x, w, Tensor.zeros([3]).to('float16') as unknown as Tensor<'float32'>)).toThrow(/for bias/);
    expect(() => linear(new Float32Array(8) as unknown as Tensor<'float32'>, w)).toThrow(/Expected a Tensor for x but received a Float32Array/);
    expect(() => linear(x, null as unknown as Tensor<'float32'>)).toThrow(/Expected a Tensor, a QuantizedTensor, a SparseTensor or a ClusteredTensor for w but received null/);
  });

  it('rejects mismatched shapes with a RangeError naming both shapes', () => {
    expect(() => linear(Tensor.zeros([2, 5]), w)).toThrow(
      new RangeError("Expected shape [..., 4] to match w of shape [3, 4] for x but received a 'float32' tensor of shape [2, 5]"),
    );
    expect(() => linear(x, Tensor.zeros([12]))).toThrow(/shape \[M, K\] for w/);
    expect(() => linear(x, w, Tensor.zeros([4]))).toThrow(/shape \[3\] for bias/);
    expect(() => linear(Tensor.from(new Float32Array(1), []), w)).toThrow(/shape \[\.\.\., K\] for x/);
    expect(() => matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 2]))).toThrow(/shape \[3, N\] to match a of shape \[2, 3\] for b/);
    expect(() => matmul(Tensor.zeros([6]), Tensor.zeros([6, 2]))).toThrow(/2-D tensor for a/);
  });

  it('rejects in async form too, without crashing', async () => {
    await expect(linearAsync(x, Tensor.zeros([3, 5]))).rejects.toThrow(RangeError);
    await expect(linearAsync(undefined as unknown as Tensor<'float32'>, w)).rejects.toThrow(TypeError);
  });

  it('rejects a tensor whose buffer was detached after creation', () => {
    const data = new Float32Array(12);
    const wd = Tensor.from(data, [3, 4]);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    expect(() => linear(x, wd)).toThrow(/detached/);
  });

  it('rejects bad thread counts', () => {
    expect(() => setNumThreads(0)).toThrow(new RangeError('Expected an integer in [1, 1024] for threads but received 0'));
    expect(() => setNumThreads(2.5)).toThrow(RangeError);
    expect(() => setNumThreads('2' as unknown as number)).toThrow(TypeError);
    expect(() => setNumThreads(1e6)).toThrow(RangeError);
  });
});
