import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { workerThreadEntry } from '../paths.js';

/**
 * Request/reply with a lab worker thread (the simulated hardware, a simulated site's boot role, the
 * benchmark's order clients):
 * `call(op, arg)` resolves with what the thread's handler returned, or rejects with its error, or
 * at once once the thread has died, so a stop never waits on a thread that is gone. The thread may
 * also post events (`emit` on its side).
 */
export interface LabThread {
  call(op: string, arg?: unknown): Promise<unknown>;
  /** Asks the thread to `stop` (errors ignored), then terminates it. */
  stop(): Promise<void>;
}

type Reply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: string } | { event: unknown };

export function startLabThread(moduleUrl: string, entry: string, workerData: unknown, onEvent?: (event: unknown) => void): LabThread {
  const { filename, execArgv } = workerThreadEntry(moduleUrl, entry);
  const worker = new Worker(filename, { workerData, ...(execArgv ? { execArgv } : {}), name: `anvil-${entry}` });
  let nextId = 0;
  let gone: Error | null = null;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const fail = (err: Error): void => {
    gone ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (m: Reply) => {
    if ('event' in m) {
      onEvent?.(m.event);
      return;
    }
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.ok) p?.resolve(m.value);
    else p?.reject(new Error(m.error));
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`${entry} thread exited (${code})`)));
  const call = (op: string, arg?: unknown): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (gone) return reject(gone);
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, op, arg });
    });
  return {
    call,
    async stop() {
      await call('stop').catch(() => undefined);
      await worker.terminate();
    },
  };
}

/**
 * Starts a lab thread and calls its `start`, whose result is returned with the thread; if `start`
 * fails, the thread is stopped and the error rethrown.
 */
export async function openLabThread<T>(moduleUrl: string, entry: string, workerData: unknown, onEvent?: (event: unknown) => void): Promise<LabThread & { started: T }> {
  const thread = startLabThread(moduleUrl, entry, workerData, onEvent);
  try {
    return { ...thread, started: (await thread.call('start')) as T };
  } catch (err) {
    await thread.stop();
    throw err;
  }
}

/** The thread's side: answers each call with `handlers[op](arg)`; `emit` posts an event to the parent. */
export function serveLabThreadCalls(handlers: Record<string, (arg: unknown) => unknown>): { emit(event: unknown): void } {
  if (isMainThread || !parentPort) throw new Error('serveLabThreadCalls runs in a worker thread');
  const port = parentPort;
  port.on('message', (m: { id: number; op: string; arg?: unknown }) => {
    const handler = handlers[m.op];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown operation ${m.op}`);
        return handler(m.arg);
      })
      .then(
        (value) => port.postMessage({ id: m.id, ok: true, value }),
        (err: unknown) => port.postMessage({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
  return { emit: (event) => port.postMessage({ event }) };
}
