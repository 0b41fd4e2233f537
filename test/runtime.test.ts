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
