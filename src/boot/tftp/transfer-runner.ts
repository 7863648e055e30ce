import { performance } from 'node:perf_hooks';
import { encodeError, TftpErrorCode } from './packet.js';
import type { BlockSource } from './source.js';
import type { RetransmitTimer, TftpSocket, TimerFactory, UdpPeer } from './socket.js';
import { TransferState, type TransferSettings, type TransferStep } from './transfer.js';

/** How a transfer ended, as reported to whoever started it (the server, or a transfer thread's parent). */
export type TransferEnd = { ms: number; retransmits: number } & ({ ok: true } | { ok: false; reason: string });

type Outcome = { ok: true } | { ok: false; reason: string };

interface TransferRunnerInit {
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
        void this.finish({ ok: true }, []);
        break;
      case 'failed':
        void this.finish({ ok: false, reason: step.reason }, step.packets);
        break;
    }
  }

  private finish(outcome: Outcome, farewell: Buffer[]): Promise<void> {
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

/**
 * Opens a transfer's own socket (bound to `listenAddress`, connected to the client) and the runner
 * around it, ready to `begin`. The server's event loop and the transfer threads both start
 * transfers this way. Throws, with the socket closed, when the socket cannot be opened.
 */
export async function openTransfer(init: {
  socket: TftpSocket;
  listenAddress: string;
  client: UdpPeer;
  source: BlockSource;
  settings: TransferSettings;
  timeoutMs: number;
  timer: TimerFactory;
  onEnd: (end: TransferEnd) => void;
}): Promise<TransferRunner> {
  const { socket, source } = init;
  try {
    await socket.bind(0, init.listenAddress);
    await socket.connect(init.client);
  } catch (err) {
    await socket.close();
    throw err;
  }
  return new TransferRunner({ socket, source, state: new TransferState(source, init.settings), timeoutMs: init.timeoutMs, timer: init.timer, onEnd: init.onEnd });
}
