import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { InputError } from '../../errors.js';
import { resolveTftpConfig } from './config.js';
import type { TftpConfig } from './config.js';
import { discoverIpxeFiles, openRegularFile, RootDirectory, sanitizeFilename, TftpRefusal } from './files.js';
import { negotiateOptions } from './options.js';
import { encodeError, encodeOack, MAX_REQUEST_BYTES, Opcode, parsePacket, TftpErrorCode, TftpPacketError } from './packet.js';
import type { TftpRequest } from './packet.js';
import { BufferSource, readAll, toNetascii } from './source.js';
import type { BlockSource } from './source.js';
import { dgramSocketFactory, systemTimerFactory } from './socket.js';
import type { RetransmitTimer, TftpSocket, TftpSocketFactory, TimerFactory, UdpPeer } from './socket.js';
import { TransferState } from './transfer.js';
import type { TransferStep } from './transfer.js';

/** The client a request came from. */
export type TftpClient = UdpPeer;

/**
 * Generated content, consulted before the filesystem (per-client iPXE scripts, for example). Receives
 * the sanitized root-relative name (`boot.ipxe` for a request of `/boot.ipxe`). Return null to fall
 * through to the root directory and then the iPXE binaries. A hook that throws fails the request with
 * an ERROR packet; the server keeps running.
 */
export type TftpContentHook = (filename: string, client: TftpClient) => Buffer | null | Promise<Buffer | null>;

/** Where a served file came from. */
export type TftpOrigin = 'generated' | 'root' | 'ipxe';

/** Emitted as `transfer` once the client acknowledged the last block. */
export interface TftpTransferRecord {
  client: TftpClient;
  file: string;
  origin: TftpOrigin;
  bytes: number;
  ms: number;
  blksize: number;
  windowsize: number;
  retransmits: number;
}

/** Emitted as `transferFailed` when a started transfer ends without the last ACK. */
export interface TftpFailedTransferRecord {
  client: TftpClient;
  file: string;
  reason: string;
  ms: number;
}

/** Counters for /metrics; all monotonic except `active`. */
export interface TftpStats {
  /** RRQ and WRQ packets received (well-formed ones). */
  requests: number;
  /** Transfers whose last block was acknowledged. */
  completed: number;
  /** Transfers that started and then failed (timeouts, client ERRORs, read errors). */
  errors: number;
  /** Requests answered with an ERROR instead of data (WRQ, not found, traversal, busy, bad mode). */
  refused: number;
  /** Datagrams on the request port that were not valid TFTP. */
  malformed: number;
  /** File bytes delivered by completed transfers. */
  bytes: number;
  /** DATA packets sent more than once. */
  retransmits: number;
  /** Transfers in progress. */
  active: number;
}

/** Minimal structured logger (pino-compatible signature). */
export interface TftpLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const silentLogger: TftpLogger = { debug() {}, info() {}, warn() {} };

export interface TftpServerOptions {
  config: Partial<TftpConfig> & Pick<TftpConfig, 'rootDir'>;
  generate?: TftpContentHook;
  logger?: TftpLogger;
  /** For tests: in-memory sockets and timers. */
  socketFactory?: TftpSocketFactory;
  timerFactory?: TimerFactory;
}

type TftpServerEvents = {
  transfer: [TftpTransferRecord];
  transferFailed: [TftpFailedTransferRecord];
};

function peerKey(peer: UdpPeer): string {
  return `${peer.address}|${peer.port}`;
}

/**
 * Anvil's read-only TFTP server: RRQ only, octet and netascii modes, RFC 2347/2348/2349/7440 options,
 * one ephemeral socket per transfer (its TID, connected to the client so the kernel drops datagrams from
 * anyone else), bounded concurrency. Every datagram is handled inside a try/catch: a malformed packet is
 * answered with an ERROR or dropped, never allowed to throw out of a socket handler.
 */
export class TftpServer extends EventEmitter<TftpServerEvents> {
  readonly config: TftpConfig;
  private readonly generate: TftpContentHook | undefined;
  private readonly logger: TftpLogger;
  private readonly socketFactory: TftpSocketFactory;
  private readonly timerFactory: TimerFactory;
  private readonly family: 'udp4' | 'udp6';
  private socket: TftpSocket | null = null;
  private root: RootDirectory | null = null;
  private ipxeFiles = new Map<string, string>();
  private running = false;
  /** Keyed by client address and port; holds a slot from the moment an RRQ is accepted. */
  private readonly transfers = new Map<string, ActiveTransfer | 'pending'>();
  private readonly counters: Omit<TftpStats, 'active'> = {
    requests: 0, completed: 0, errors: 0, refused: 0, malformed: 0, bytes: 0, retransmits: 0,
  };

  constructor(options: TftpServerOptions) {
    super();
    this.config = resolveTftpConfig(options.config);
    this.generate = options.generate;
    this.logger = options.logger ?? silentLogger;
    this.socketFactory = options.socketFactory ?? dgramSocketFactory;
    this.timerFactory = options.timerFactory ?? systemTimerFactory;
    this.family = isIP(this.config.listenAddress) === 6 ? 'udp6' : 'udp4';
  }

  /** Binds the request socket. Rejects with InputError when the root is missing or the port is taken. */
  async start(): Promise<void> {
    if (this.running) return;
    try {
      this.root = await RootDirectory.open(this.config.rootDir);
    } catch (err) {
      throw new InputError(`boot.tftp.rootDir ${this.config.rootDir} cannot be opened`, {
        cause: err,
        details: [{ field: 'boot.tftp.rootDir', message: err instanceof Error ? err.message : String(err) }],
      });
    }
    this.ipxeFiles = discoverIpxeFiles(this.config.ipxeDir);
    const socket = this.socketFactory(this.family);
    socket.onMessage((packet, from) => this.onRequestDatagram(socket, packet, from));
    socket.onError((err) => this.logger.warn({ err: err.message }, 'tftp request socket error'));
    try {
      await socket.bind(this.config.port, this.config.listenAddress);
    } catch (err) {
      await socket.close();
      throw new InputError(
        `boot.tftp cannot listen on ${this.config.listenAddress}:${this.config.port}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err, details: [{ field: 'boot.tftp.port', message: 'bind failed' }] },
      );
    }
    this.socket = socket;
    this.running = true;
    this.logger.info({ ...this.address(), root: this.root.realRoot, ipxe: [...this.ipxeFiles.keys()] }, 'tftp server listening');
  }

  /** Stops accepting requests, tells clients of running transfers, closes every socket. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const closing: Promise<void>[] = [];
    for (const transfer of this.transfers.values()) {
      if (transfer !== 'pending') closing.push(transfer.abort('server shutting down'));
    }
    const socket = this.socket;
    this.socket = null;
    if (socket) closing.push(socket.close());
    await Promise.all(closing);
  }

  /** The bound request address (useful with `port: 0`). */
  address(): UdpPeer {
    if (!this.socket) throw new Error('tftp server is not started');
    return this.socket.local();
  }

  /** The iPXE binaries found at start, by the name clients request. */
  ipxeBinaries(): ReadonlyMap<string, string> {
    return this.ipxeFiles;
  }

  stats(): TftpStats {
    return { ...this.counters, active: this.transfers.size };
  }

  private onRequestDatagram(socket: TftpSocket, datagram: Buffer, from: UdpPeer): void {
    try {
      // Port 0 cannot be answered; such a datagram is spoofed or broken.
      if (from.port === 0 || !this.running) return;
      let packet;
      try {
        packet = parsePacket(datagram);
      } catch (err) {
        if (!(err instanceof TftpPacketError)) throw err;
        this.counters.malformed++;
        // Answer only what claims to be a request (or an unknown opcode); stray DATA/ACK/ERROR get nothing.
        const opcode = datagram.length >= 2 ? datagram.readUInt16BE(0) : 0;
        if (opcode === Opcode.RRQ || opcode === Opcode.WRQ || opcode === 0 || opcode > Opcode.OACK) {
          socket.send(encodeError(err.tftpCode, err.message), from);
        }
        return;
      }
      if (packet.opcode === Opcode.WRQ) {
        this.counters.requests++;
        this.refuse(socket, from, TftpErrorCode.ACCESS_VIOLATION, 'access violation: this server is read-only', packet);
        return;
      }
      if (packet.opcode !== Opcode.RRQ) return;
      this.counters.requests++;
      const key = peerKey(from);
      // A client retransmits its RRQ when our first reply is slow; the running transfer answers it.
      if (this.transfers.has(key)) return;
      if (this.transfers.size >= this.config.maxTransfers) {
        this.refuse(socket, from, TftpErrorCode.NOT_DEFINED, 'server busy, try again', packet);
        return;
      }
      this.transfers.set(key, 'pending');
      this.beginRead(socket, packet, from, key).catch((err: unknown) => {
        this.transfers.delete(key);
        this.logger.warn({ client: from, err: err instanceof Error ? err.message : String(err) }, 'tftp request failed');
      });
    } catch (err) {
      this.logger.warn({ client: from, err: err instanceof Error ? err.message : String(err) }, 'tftp datagram handling failed');
    }
  }

  private refuse(socket: TftpSocket, to: UdpPeer, code: number, message: string, request?: TftpRequest): void {
    this.counters.refused++;
    this.logger.debug(
      { client: to, file: request ? printable(request.filename) : undefined, code, reason: message },
      'tftp request refused',
    );
    socket.send(encodeError(code, message), to);
  }

  private async beginRead(socket: TftpSocket, request: TftpRequest, client: UdpPeer, key: string): Promise<void> {
    let source: BlockSource | null = null;
    let file = printable(request.filename);
    try {
      if (request.mode !== 'octet' && request.mode !== 'netascii') {
        throw new TftpRefusal(TftpErrorCode.ILLEGAL_OPERATION, `transfer mode ${request.mode} is not supported`);
      }
      file = sanitizeFilename(request.filename);
      const found = await this.lookup(file, client);
      if (!found) throw new TftpRefusal(TftpErrorCode.FILE_NOT_FOUND, 'file not found');
      source = found.source;
      if (request.mode === 'netascii') {
        if (source.size > this.config.netasciiMaxBytes) {
          throw new TftpRefusal(TftpErrorCode.ACCESS_VIOLATION, 'file too large for netascii mode; use octet');
        }
        const converted = new BufferSource(toNetascii(await readAll(source)));
        await source.close();
        source = converted;
      }
      if (!this.running) throw new TftpRefusal(TftpErrorCode.NOT_DEFINED, 'server shutting down');
      const params = negotiateOptions(request.options, this.config, source.size);
      const transferSocket = this.socketFactory(this.family);
      try {
        await transferSocket.bind(0, this.config.listenAddress);
        await transferSocket.connect(client);
      } catch (err) {
        await transferSocket.close();
        throw err;
      }
      const state = new TransferState(source, {
        blksize: params.blksize,
        windowsize: params.windowsize,
        retries: this.config.retries,
        oack: params.acknowledged.size > 0 ? encodeOack(params.acknowledged) : null,
      });
      const transfer = new ActiveTransfer({
        server: this, key, client, file, origin: found.origin, source, socket: transferSocket, state,
        timeoutMs: params.timeoutMs, blksize: params.blksize, windowsize: params.windowsize,
        timer: this.timerFactory,
      });
      source = null;
      this.transfers.set(key, transfer);
      if (!this.running) {
        await transfer.abort('server shutting down');
        return;
      }
      transfer.begin();
    } catch (err) {
      if (source) await source.close().catch(() => undefined);
      if (this.transfers.get(key) === 'pending') this.transfers.delete(key);
      if (err instanceof TftpRefusal) {
        this.refuse(socket, client, err.tftpCode, err.message, request);
        return;
      }
      this.counters.refused++;
      this.logger.warn({ client, file, err: err instanceof Error ? err.message : String(err) }, 'tftp request failed');
      socket.send(encodeError(TftpErrorCode.NOT_DEFINED, 'internal error'), client);
    }
  }

  /** Hook first, then the root directory, then the iPXE binaries by well-known name. */
  private async lookup(file: string, client: UdpPeer): Promise<{ source: BlockSource; origin: TftpOrigin } | null> {
    if (this.generate) {
      const generated = await this.generate(file, client);
      if (generated) return { source: new BufferSource(generated), origin: 'generated' };
    }
    const fromRoot = await this.root!.open(file);
    if (fromRoot) return { source: fromRoot, origin: 'root' };
    const ipxePath = this.ipxeFiles.get(file);
    if (ipxePath) {
      const fromIpxe = await openRegularFile(ipxePath);
      if (fromIpxe) return { source: fromIpxe, origin: 'ipxe' };
    }
    return null;
  }

  /** Called by a transfer exactly once when it ends. */
  settle(transfer: ActiveTransfer, outcome: { ok: true; ms: number } | { ok: false; ms: number; reason: string }): void {
    if (this.transfers.get(transfer.key) === transfer) this.transfers.delete(transfer.key);
    this.counters.retransmits += transfer.state.retransmits;
    if (outcome.ok) {
      this.counters.completed++;
      this.counters.bytes += transfer.source.size;
      const record: TftpTransferRecord = {
        client: transfer.client, file: transfer.file, origin: transfer.origin, bytes: transfer.source.size,
        ms: outcome.ms, blksize: transfer.blksize, windowsize: transfer.windowsize, retransmits: transfer.state.retransmits,
      };
      this.logger.debug({ ...record }, 'tftp transfer completed');
      this.emitSafely('transfer', record);
    } else {
      this.counters.errors++;
      const record: TftpFailedTransferRecord = { client: transfer.client, file: transfer.file, reason: outcome.reason, ms: outcome.ms };
      this.logger.warn({ ...record }, 'tftp transfer failed');
      this.emitSafely('transferFailed', record);
    }
  }

  /** A listener that throws must not take a transfer (or the process) down with it. */
  private emitSafely<K extends keyof TftpServerEvents>(event: K, ...args: TftpServerEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.logger.warn({ event, err: err instanceof Error ? err.message : String(err) }, 'tftp event listener threw');
    }
  }
}

/** Filename for logs: control and non-ASCII bytes escaped. */
function printable(raw: Buffer): string {
  let out = '';
  for (const byte of raw.subarray(0, MAX_REQUEST_BYTES)) {
    out += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

interface ActiveTransferInit {
  server: TftpServer;
  key: string;
  client: UdpPeer;
  file: string;
  origin: TftpOrigin;
  source: BlockSource;
  socket: TftpSocket;
  state: TransferState;
  timeoutMs: number;
  blksize: number;
  windowsize: number;
  timer: TimerFactory;
}

/** The socket-and-timer shell around one TransferState. */
class ActiveTransfer {
  readonly server: TftpServer;
  readonly key: string;
  readonly client: UdpPeer;
  readonly file: string;
  readonly origin: TftpOrigin;
  readonly source: BlockSource;
  readonly state: TransferState;
  readonly blksize: number;
  readonly windowsize: number;
  private readonly socket: TftpSocket;
  private readonly timeoutMs: number;
  private readonly timer: RetransmitTimer;
  private readonly startedAt = performance.now();
  private ended: Promise<void> | null = null;

  constructor(init: ActiveTransferInit) {
    this.server = init.server;
    this.key = init.key;
    this.client = init.client;
    this.file = init.file;
    this.origin = init.origin;
    this.source = init.source;
    this.socket = init.socket;
    this.state = init.state;
    this.timeoutMs = init.timeoutMs;
    this.blksize = init.blksize;
    this.windowsize = init.windowsize;
    this.timer = init.timer(() => this.apply(() => this.state.onTimeout()));
    // The socket is connected to the client, so the kernel already drops datagrams from other TIDs.
    this.socket.onMessage((packet) => this.apply(() => this.state.onDatagram(packet)));
    // ICMP port unreachable (client gone) arrives here on a connected socket.
    this.socket.onError((err) => {
      if (!this.ended) void this.finish({ ok: false, reason: `socket error: ${err.message}` }, []);
    });
  }

  begin(): void {
    this.apply(() => this.state.start());
  }

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
        for (const packet of step.packets) this.socket.send(packet);
        this.timer.restart(this.timeoutMs * this.state.backoffFactor);
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

  private finish(outcome: { ok: true } | { ok: false; reason: string }, farewell: Buffer[]): Promise<void> {
    if (this.ended) return this.ended;
    this.timer.cancel();
    const ms = Math.round((performance.now() - this.startedAt) * 1000) / 1000;
    this.server.settle(this, outcome.ok ? { ok: true, ms } : { ok: false, ms, reason: outcome.reason });
    this.ended = (async () => {
      // Close only after the farewell ERROR has left, or it would be dropped with the socket.
      if (farewell.length > 0) {
        await new Promise<void>((resolve) => {
          let pending = farewell.length;
          for (const packet of farewell) this.socket.send(packet, undefined, () => (--pending === 0 ? resolve() : undefined));
        });
      }
      await this.socket.close();
      await this.source.close().catch(() => undefined);
    })();
    return this.ended;
  }
}
