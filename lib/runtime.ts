// CPU dispatch and thread-pool controls.
import { native } from './binding.js';
import { checkInteger } from './errors.js';

export type IsaLevel = 'scalar' | 'avx2' | 'avx512';

export interface CpuInfo {
  /** CPU vendor and brand strings from cpuid. */
  vendor: string;
  brand: string;
  /** Best level this CPU and OS support. */
  detected: IsaLevel;
  /** Level the kernels run at (`detected`, or lower when SPARQ_ISA asks). */
  active: IsaLevel;
  features: { avx2: boolean; avx512: boolean; avx512vnni: boolean; avx512bf16: boolean };
  /** Cores this process may run on. */
  cores: number;
}

/** The detected and active ISA levels and CPU features. */
export function cpuInfo(): CpuInfo {
  return native.cpuInfo();
}

/** Threads the kernels use (the calling thread included). */
export function getNumThreads(): number {
  return native.getNumThreads();
}

/**
 * Sets the kernel thread count (1..1024; default: the cores available).
 * Results are bit-identical for any count.
 */
export function setNumThreads(threads: number): void {
  native.setNumThreads(checkInteger('threads', threads, 1, 1024));
}
