/** A lab thread for src/lab/thread-calls.test.ts: echoes, fails, emits, or dies on request. */
import { workerData } from 'node:worker_threads';
import { serveLabThreadCalls } from '../../src/lab/thread-calls.js';

const thread = serveLabThreadCalls({
  start: () => {
    if ((workerData as { failStart?: boolean } | null)?.failStart) throw new Error('start refused');
    return 'started';
  },
  echo: (arg) => arg,
  fail: () => {
    throw new Error('handler failed');
  },
  emit: (arg) => thread.emit(arg),
  // Never answers: the thread ends while the call waits.
  hang: () => new Promise(() => setTimeout(() => process.exit(3), 20)),
  stop: () => undefined,
});
