import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { workerThreadEntry } from '../../paths.js';
import type { UdpPeer } from './socket.js';
import type { SourceHandoff } from './source.js';
import type { TransferEnd } from './transfer-runner.js';

/** One transfer, as handed to a thread: everything already checked and negotiated by the server. */
export interface ThreadTransferJob {
  client: UdpPeer;
  family: 'udp4' | 'udp6';
  listenAddress: string;
  source: SourceHandoff;
  settings: { blksize: number; windowsize: number; retries: number; oack: Uint8Array | null };
  timeoutMs: number;
}

export type ThreadMessage = { op: 'start'; id: number; job: ThreadTransferJob } | { op: 'abort'; id: number; reason: string };
/** `setupFailed`: the thread could not bind or connect the transfer's socket; nothing was sent. */
export type ThreadReply = { op: 'end'; id: number; setupFailed: boolean; end: TransferEnd };

type ThreadTransferCallback = (end: TransferEnd, setupFailed: boolean) => void;

interface PendingTransfer {
  onEnd: ThreadTransferCallback;
  startedAt: number;
  ended: Promise<void>;
  settle: () => void;
}

interface Slot {
  worker: Worker;
  transfers: Map<number, PendingTransfer>;
  online: boolean;
}

interface PoolLogger {
  warn(obj: object, msg: string): void;
}

/**
 * Worker threads that run TFTP transfers. A PXE ROM transfers lock-step, one block per round trip,
 * so a transfer served on Anvil's main event loop advances one block per loop turn: while that loop
 * is busy with the API and workflows (say 15 ms a turn during a mass deployment), an 850 KB iPXE
 * binary takes seconds, and a ROM's own timeouts come close. In threads, round trips wait only for
 * the network; several threads also spread many concurrent transfers over the host's cores, as
 * tftpd-hpa does with one process per transfer. Requests are still accepted and checked on the main
 * thread (root confinement, hooks, options); a thread only gets an open descriptor or the content.
 */
export class TransferThreadPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private stopping = false;

  constructor(
    readonly size: number,
    private readonly logger: PoolLogger,
  ) {}

  /** Starts the threads; rejects if one cannot load. */
  async start(): Promise<void> {
    this.stopping = false;
    const starting = Array.from({ length: this.size }, () => this.spawn());
    this.slots = starting.map((s) => s.slot);
    try {
      await Promise.all(starting.map((s) => s.online));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** 0 once every thread has died and none could be replaced; the server then runs transfers itself. */
  get liveThreads(): number {
    return this.slots.filter((s) => s.online).length;
  }

  /**
   * Runs a transfer on the least busy thread. `onEnd` is called exactly once: with the thread's
   * report, or with a failure if the thread dies. `abort` resolves when the transfer has ended.
   */
  run(job: ThreadTransferJob, onEnd: ThreadTransferCallback): { abort(reason: string): Promise<void> } {
    const live = this.slots.filter((s) => s.online);
    if (live.length === 0) throw new Error('no TFTP transfer thread is running');
    const slot = live.reduce((best, s) => (s.transfers.size < best.transfers.size ? s : best));
    const id = this.nextId++;
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    slot.transfers.set(id, { onEnd, startedAt: performance.now(), ended, settle });
    slot.worker.postMessage({ op: 'start', id, job } satisfies ThreadMessage);
    return {
      abort: (reason: string) => {
        if (slot.transfers.has(id)) slot.worker.postMessage({ op: 'abort', id, reason } satisfies ThreadMessage);
        return ended;
      },
    };
  }

  /** Terminates the threads. Transfers still running fail; callers abort them first for a clean stop. */
  async stop(): Promise<void> {
    this.stopping = true;
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
    for (const slot of slots) this.failAll(slot, 'server shutting down');
  }

  private spawn(): { slot: Slot; online: Promise<void> } {
    const { filename, execArgv } = workerThreadEntry(import.meta.url, 'transfer-thread');
    const worker = new Worker(filename, { ...(execArgv ? { execArgv } : {}), name: 'anvil-tftp' });
    const slot: Slot = { worker, transfers: new Map(), online: false };
    const online = new Promise<void>((resolve, reject) => {
      worker.once('online', () => {
        slot.online = true;
        resolve();
      });
      worker.once('error', reject);
    });
    // Unhandled if the thread fails after start; the exit handler below deals with that.
    online.catch(() => undefined);
    worker.on('message', (m: ThreadReply) => {
      const pending = slot.transfers.get(m.id);
      if (!pending) return;
      slot.transfers.delete(m.id);
      this.deliver(pending, m.end, m.setupFailed);
    });
    worker.on('error', (err) => this.logger.warn({ err: err.message }, 'tftp transfer thread failed'));
    worker.on('exit', (code) => {
      this.failAll(slot, `transfer thread exited with code ${code}`);
      const index = this.slots.indexOf(slot);
      if (index < 0 || this.stopping) return;
      // Replace a thread that had been working; one that never came online would only fail again.
      if (slot.online) {
        const replacement = this.spawn();
        this.slots[index] = replacement.slot;
      } else {
        this.slots.splice(index, 1);
      }
    });
    return { slot, online };
  }

  private failAll(slot: Slot, reason: string): void {
    const pending = [...slot.transfers.values()];
    slot.transfers.clear();
    for (const p of pending) {
      this.deliver(p, { ok: false, ms: Math.round((performance.now() - p.startedAt) * 1000) / 1000, reason, retransmits: 0 }, false);
    }
  }

  private deliver(pending: PendingTransfer, end: TransferEnd, setupFailed: boolean): void {
    try {
      pending.onEnd(end, setupFailed);
    } finally {
      pending.settle();
    }
  }
}
