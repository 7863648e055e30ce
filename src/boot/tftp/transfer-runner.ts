import { performance } from 'node:perf_hooks';
import { encodeError, TftpErrorCode } from './packet.js';
import type { BlockSource } from './source.js';
import type { RetransmitTimer, TftpSocket, TimerFactory } from './socket.js';
import type { TransferState, TransferStep } from './transfer.js';

/** How a transfer ended, as reported to whoever started it (the server, or a transfer thread's parent). */
export interface TransferEnd {
  ok: boolean;
  ms: number;
  /** Why it failed; null when it completed. */
  reason: string | null;
  retransmits: number;
}

export interface TransferRunnerInit {
  /** The transfer's own socket (its TID), bound and connected to the client. Closed by the runner. */
  socket: TftpSocket;
  state: TransferState;
  /** Closed by the runner once the socket is (a borrowed descriptor stays open; see FileSource.borrow). */
  source: BlockSource;
  timeoutMs: number;
  timer: TimerFactory;
  /** Called exactly once, as soon as the outcome is known (before the sockets are closed). */
  onEnd: (end: TransferEnd) => void;
}

/**
 * The socket-and-timer shell around one TransferState: feeds it datagrams and timeouts, sends what it
 * asks for, re-arms the retransmission timer. The same shell runs on the server's event loop or in a
 * transfer thread (transfer-thread.ts).
 */
export class TransferRunner {
  private readonly timer: RetransmitTimer;
  private readonly startedAt = performance.now();
  private ended: Promise<void> | null = null;

  constructor(private readonly init: TransferRunnerInit) {
    this.timer = init.timer(() => this.apply(() => init.state.onTimeout()));
    // The socket is connected to the client, so the kernel already drops datagrams from other TIDs.
    init.socket.onMessage((packet) => this.apply(() => init.state.onDatagram(packet)));
    // ICMP port unreachable (client gone) arrives here on a connected socket.
    init.socket.onError((err) => {
      if (!this.ended) void this.finish({ ok: false, reason: `socket error: ${err.message}` }, []);
    });
  }

  begin(): void {
    this.apply(() => this.init.state.start());
  }

  /** Ends the transfer with an ERROR to the client; resolves once the sockets are closed. */
  abort(reason: string): Promise<void> {
    if (this.ended) return this.ended;
    return this.finish({ ok: false, reason }, [encodeError(TftpErrorCode.NOT_DEFINED, reason)]);
  }

  private apply(next: () => TransferStep): void {
    if (this.ended) return;
    let step: TransferStep;
    try {
      step = next();
    } catch (err) {
      void this.finish({ ok: false, reason: `internal error: ${err instanceof Error ? err.message : String(err)}` }, [
        encodeError(TftpErrorCode.NOT_DEFINED, 'internal error'),
      ]);
      return;
    }
    switch (step.kind) {
      case 'send':
        for (const packet of step.packets) this.init.socket.send(packet);
        this.timer.restart(this.init.timeoutMs * this.init.state.backoffFactor);
        break;
      case 'ignore':
        break;
      case 'completed':
        void this.finish({ ok: true, reason: null }, []);
        break;
      case 'failed':
        void this.finish({ ok: false, reason: step.reason }, step.packets);
        break;
    }
  }

  private finish(outcome: { ok: boolean; reason: string | null }, farewell: Buffer[]): Promise<void> {
    if (this.ended) return this.ended;
    this.timer.cancel();
    const ms = Math.round((performance.now() - this.startedAt) * 1000) / 1000;
    this.init.onEnd({ ...outcome, ms, retransmits: this.init.state.retransmits });
    this.ended = (async () => {
      // Close only after the farewell ERROR has left, or it would be dropped with the socket.
      if (farewell.length > 0) {
        await new Promise<void>((resolve) => {
          let pending = farewell.length;
          for (const packet of farewell) this.init.socket.send(packet, undefined, () => (--pending === 0 ? resolve() : undefined));
        });
      }
      await this.init.socket.close();
      await this.init.source.close().catch(() => undefined);
    })();
    return this.ended;
  }
}
