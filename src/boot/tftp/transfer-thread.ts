/**
 * Worker-thread entry of TransferThreadPool (transfer-pool.ts): runs the transfers it is handed, each
 * on its own socket, and posts back how each ended. Nothing here touches the database or the rest of
 * Anvil, so a transfer's round trips never wait behind the main thread's work.
 */
import { parentPort } from 'node:worker_threads';
import { dgramSocketFactory, systemTimerFactory } from './socket.js';
import { sourceFromHandoff } from './source.js';
import { openTransfer, type TransferRunner } from './transfer-runner.js';
import type { ThreadMessage, ThreadReply } from './transfer-pool.js';

const port = parentPort!;
const running = new Map<number, TransferRunner>();
/** Aborts for transfers still binding their socket, applied as soon as the runner exists. */
const abortedEarly = new Map<number, string>();
const reply = (message: ThreadReply): void => port.postMessage(message);

async function start(m: Extract<ThreadMessage, { op: 'start' }>): Promise<void> {
  const { id, job } = m;
  const runner = await openTransfer({
    socket: dgramSocketFactory(job.family), listenAddress: job.listenAddress, client: job.client, source: sourceFromHandoff(job.source),
    settings: { ...job.settings, oack: job.settings.oack ? Buffer.from(job.settings.oack) : null },
    timeoutMs: job.timeoutMs, timer: systemTimerFactory,
    onEnd: (end) => {
      running.delete(id);
      reply({ op: 'end', id, setupFailed: false, end });
    },
  });
  running.set(id, runner);
  const earlyAbort = abortedEarly.get(id);
  if (earlyAbort !== undefined) {
    abortedEarly.delete(id);
    void runner.abort(earlyAbort);
    return;
  }
  runner.begin();
}

port.on('message', (m: ThreadMessage) => {
  switch (m.op) {
    case 'start':
      // A socket that would not open: nothing was sent to the client.
      start(m).catch((err: unknown) => {
        running.delete(m.id);
        abortedEarly.delete(m.id);
        reply({ op: 'end', id: m.id, setupFailed: true, end: { ok: false, ms: 0, reason: err instanceof Error ? err.message : String(err), retransmits: 0 } });
      });
      break;
    case 'abort': {
      const runner = running.get(m.id);
      if (runner) void runner.abort(m.reason);
      else abortedEarly.set(m.id, m.reason);
      break;
    }
  }
});
