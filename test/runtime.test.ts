import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { cpuInfo, getNumThreads } from '../lib/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Runs a snippet in a fresh process with `env`; `import('sparq')` loads the built dist/. */
function runNode(code: string, env: Record<string, string>): { ok: boolean; out: string } {
  try {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
      cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { ok: true, out };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: string }).stderr ?? e) };
  }
}

describe('CPU dispatch', () => {
  it('reports the detected and active ISA level and features', () => {
    const info = cpuInfo();
    const levels = ['scalar', 'avx2', 'avx512'];
    expect(levels).toContain(info.detected);
    expect(levels.indexOf(info.active)).toBeLessThanOrEqual(levels.indexOf(info.detected));
    if (process.env.SPARQ_ISA) expect(info.active).toBe(process.env.SPARQ_ISA);
    else expect(info.active).toBe(info.detected);
    if (info.features.avx512) expect(info.features.avx2).toBe(true);
    expect(info.cores).toBeGreaterThanOrEqual(1);
  });

  it('uses every available core by default', () => {
    expect(getNumThreads()).toBe(cpuInfo().cores);
  });

  it('refuses an unknown SPARQ_ISA or a level the CPU lacks with a clear error', () => {
    const bad = runNode("await import('sparq')", { SPARQ_ISA: 'avx9000' });
    expect(bad.ok).toBe(false);
    expect(bad.out).toMatch(/Expected one of 'scalar', 'avx2', 'avx512' for SPARQ_ISA but received 'avx9000'/);
    if (cpuInfo().detected !== 'avx512') {
      const missing = runNode("await import('sparq')", { SPARQ_ISA: 'avx512' });
      expect(missing.ok).toBe(false);
      expect(missing.out).toMatch(/supports up to/);
    }
  });

  it('loads in worker threads', async () => {
    const worker = new Worker(
      `import('sparq').then((s) => {
         const y = s.linear(s.Tensor.from([1, 2], [1, 2]), s.Tensor.from([3, 4], [1, 2]));
         require('node:worker_threads').parentPort.postMessage(y.data[0]);
       });`,
      { eval: true },
    );
    const result = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(result).toBe(11);
  });
});

describe('storage placement', () => {
  it('puts the arrays of every tensor it makes at 64-byte aligned addresses, clones included', async () => {
    const { native } = await import('../lib/binding.js');
    const { Tensor, cluster, quantize, prune } = await import('../lib/index.js');
    const { alignedArray, STORAGE_ALIGNMENT } = await import('../lib/memory.js');
    expect(STORAGE_ALIGNMENT).toBe(64);
    const aligned = (a: ArrayBufferView) => (a.byteOffset - native.alignmentPadding(a.buffer as ArrayBuffer)) % 64 === 0;
    const M = 24, K = 160;
    const w = Tensor.from(Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.7)), [M, K]);
    const c = cluster(w, { bits: 3 });
    const q4 = quantize(w, { bits: 4, groupSize: 32, scheme: 'asymmetric', scaleType: 'float16' });
    const q8 = quantize(w, { bits: 8 });
    const bitmap = prune(w, { sparsity: 0.5, format: 'bitmap', values: 'bfloat16' });
    const csr = prune(w, { sparsity: 0.8, format: 'csr' });
    const nm = prune(w, { pattern: '2:4', format: 'nm', values: 'float16' });
    const arrays: [string, ArrayBufferView | null][] = [
      ['cluster indices', c.indices], ['cluster codebook', c.codebook],
      ['int4 codes', q4.codes], ['int4 scales', q4.scales], ['int4 mins', q4.mins], ['int8 codes', q8.codes],
      ['bitmap values', bitmap.values], ['bitmap masks', bitmap.masks], ['bitmap offsets', bitmap.offsets],
      ['csr values', csr.values], ['csr cols', csr.cols], ['nm codes', nm.codes],
      ['clone values', bitmap.clone().values], ['clone masks', bitmap.clone().masks],
      ['sparse int8 values', quantize(csr, { bits: 8 }).values], ['sparse int4 values', quantize(csr, { bits: 4 }).values],
      ['bfloat16 tensor', w.to('bfloat16').data], ['float32 from bfloat16', w.to('bfloat16').toFloat32().data],
      ['zeros', Tensor.zeros([3, 5]).data], ['empty', alignedArray(Float32Array, 0)],
    ];
    for (const [name, a] of arrays) {
      expect(a, name).not.toBeNull();
      expect(aligned(a!), name).toBe(true);
    }
    for (const t of [w, c, q4, q8, bitmap, csr, nm]) {
      const copy = t.clone();
      expect(copy.constructor, String(t)).toBe(t.constructor);
      const [a0, b0] = t instanceof Tensor ? [t.data, (copy as Tensor).data] : [t.toDense().data, (copy as typeof t).toDense().data];
      expect(Array.from(b0), String(t)).toEqual(Array.from(a0));
      const own = t instanceof Tensor ? (copy as Tensor).data : 'indices' in t ? (copy as typeof c).indices : 'codes' in t && t.codes ? (copy as typeof q4).codes : (copy as typeof csr).values;
      const theirs = t instanceof Tensor ? t.data : 'indices' in t ? t.indices : 'codes' in t && t.codes ? (t as typeof q4).codes : (t as typeof csr).values;
      expect(own.buffer === theirs.buffer, String(t)).toBe(false);
      expect(aligned(own), String(t)).toBe(true);
    }
    for (const n of [0, 1, 7, 1000, 1 << 20]) {
      const a = alignedArray(Uint16Array, n);
      expect([a.length, aligned(a), a.every((v) => v === 0)]).toEqual([n, true, true]);
    }
  });
});
