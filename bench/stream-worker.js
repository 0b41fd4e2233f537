// Worker for the streaming-read bandwidth probe in common.js. Each worker owns
// one buffer (filled here, so its pages are faulted in by this thread) and on
// each round scans all of it with Buffer#indexOf for a byte value that is
// absent: Node answers that with glibc memchr, a SIMD (AVX2/EVEX) loop that
// streams the whole buffer at memory speed.
//
// Shared control words (Int32Array on workerData.ctrl):
//   [0] GO: the round number; a worker scans once each time it changes; < 0 ends
//   [1] READY: workers that have filled their buffer
//   [2] DONE: workers that have finished the current round
import { workerData } from 'node:worker_threads';

const { bytes, ctrl } = workerData;
const c = new Int32Array(ctrl);
const buf = Buffer.allocUnsafeSlow(bytes);
buf.fill(1);
Atomics.add(c, 1, 1);
Atomics.notify(c, 1);

let round = 0;
for (;;) {
  Atomics.wait(c, 0, round);
  round = Atomics.load(c, 0);
  if (round < 0) break;
  if (buf.indexOf(0) !== -1) throw new Error('stream-worker: unexpected byte in buffer');
  Atomics.add(c, 2, 1);
  Atomics.notify(c, 2);
}
