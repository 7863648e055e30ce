import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';

export interface UdpPeer {
  address: string;
  port: number;
}

/**
 * The little of a UDP socket the TFTP server uses, so unit tests can drive the server with an in-memory
 * fake. `send` without `to` needs a prior `connect` (transfer sockets are connected to their client).
 */
export interface TftpSocket {
  bind(port: number, address: string): Promise<void>;
  connect(peer: UdpPeer): Promise<void>;
  local(): UdpPeer;
  send(packet: Buffer, to?: UdpPeer, done?: () => void): void;
  onMessage(handler: (packet: Buffer, from: UdpPeer) => void): void;
  onError(handler: (err: Error) => void): void;
  close(): Promise<void>;
}

export type TftpSocketFactory = (family: 'udp4' | 'udp6') => TftpSocket;

/** Re-armable one-shot timer; `restart` replaces any pending expiry. */
export interface RetransmitTimer {
  restart(ms: number): void;
  cancel(): void;
}

export type TimerFactory = (onExpiry: () => void) => RetransmitTimer;

class DgramTftpSocket implements TftpSocket {
  private readonly socket: Socket;
  private closed = false;

  constructor(family: 'udp4' | 'udp6') {
    this.socket = createSocket({ type: family, reuseAddr: false });
  }

  bind(port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.socket.once('error', onError);
      this.socket.bind({ port, address, exclusive: true }, () => {
        this.socket.off('error', onError);
        resolve();
      });
    });
  }

  connect(peer: UdpPeer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.connect(peer.port, peer.address, (err?: Error) => (err ? reject(err) : resolve()));
    });
  }

  local(): UdpPeer {
    const { address, port } = this.socket.address();
    return { address, port };
  }

  send(packet: Buffer, to?: UdpPeer, done?: () => void): void {
    if (this.closed) {
      done?.();
      return;
    }
    // Without a callback Node tries a synchronous send first (uv_udp_try_send); a callback forces the
    // queued path, which costs several microseconds per packet. Only the farewell ERROR before a close
    // needs one. Send errors surface through onError or are the same as a lost datagram.
    if (to) {
      if (done) this.socket.send(packet, to.port, to.address, () => done());
      else this.socket.send(packet, to.port, to.address);
    } else if (done) {
      this.socket.send(packet, () => done());
    } else {
      this.socket.send(packet);
    }
  }

  onMessage(handler: (packet: Buffer, from: UdpPeer) => void): void {
    this.socket.on('message', (msg, rinfo) => handler(msg, { address: rinfo.address, port: rinfo.port }));
  }

  onError(handler: (err: Error) => void): void {
    this.socket.on('error', handler);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

export const dgramSocketFactory: TftpSocketFactory = (family) => new DgramTftpSocket(family);

/**
 * Timers on node:timers, restarted cheaply: a restart only moves a deadline, and the underlying
 * setTimeout, when it fires early, re-arms itself for the remainder. A fast transfer restarts its timer
 * on every packet, so this keeps timer-list work off the per-packet path.
 */
export const systemTimerFactory: TimerFactory = (onExpiry) => {
  let handle: NodeJS.Timeout | null = null;
  let deadline = 0;
  const fire = (): void => {
    const remaining = deadline - performance.now();
    if (remaining > 1) {
      handle = setTimeout(fire, remaining);
      return;
    }
    handle = null;
    onExpiry();
  };
  return {
    restart(ms: number): void {
      const wasDeadline = deadline;
      deadline = performance.now() + ms;
      // Re-arm only when the new deadline is earlier than the pending timer would fire.
      if (handle && deadline >= wasDeadline) return;
      if (handle) clearTimeout(handle);
      handle = setTimeout(fire, ms);
    },
    cancel(): void {
      if (handle) clearTimeout(handle);
      handle = null;
    },
  };
};
