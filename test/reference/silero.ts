// The real trained weights in ../shared/data (when present): the float32
// tensors of silero_vad_v5.safetensors with at least 2 dimensions, as
// [M, K] (M the first dimension), read with a minimal safetensors parser.
import { existsSync, readFileSync } from 'node:fs';

export const SILERO = new URL('../../../shared/data/silero_vad_v5.safetensors', import.meta.url);
export const hasSilero = existsSync(SILERO);

export function sileroTensors(): { name: string; data: Float32Array; M: number; K: number }[] {
  const buf = readFileSync(SILERO);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = [];
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || t.dtype !== 'F32' || t.shape.length < 2) continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    out.push({ name, data, M: t.shape[0], K: data.length / t.shape[0] });
  }
  return out;
}
