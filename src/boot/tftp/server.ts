import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
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
import type { TftpSocket, TftpSocketFactory, TimerFactory, UdpPeer } from './socket.js';
import { TransferThreadPool } from './transfer-pool.js';
import { openTransfer } from './transfer-runner.js';
import type { TransferEnd } from './transfer-runner.js';

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
  /** For tests: in-memory sockets and timers. Transfers then run on this thread (`transferThreads` is ignored). */
  socketFactory?: TftpSocketFactory;
  timerFactory?: TimerFactory;
}

type TftpServerEvents = {
  transfer: [TftpTransferRecord];
  transferFailed: [TftpFailedTransferRecord];
};

/** A transfer in progress, wherever it runs. */
interface TransferEntry {
  key: string;
  client: UdpPeer;
  file: string;
  origin: TftpOrigin;
  bytes: number;
  blksize: number;
  windowsize: number;
  abort(reason: string): Promise<void>;
}

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
  private readonly transfers = new Map<string, TransferEntry | 'pending'>();
  private pool: TransferThreadPool | null = null;
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
    // Threads open real sockets: a test's injected socket factory keeps transfers on this loop.
    if (this.config.transferThreads > 0 && this.socketFactory === dgramSocketFactory) {
      const pool = new TransferThreadPool(this.config.transferThreads, this.logger);
      await pool.start();
      this.pool = pool;
    }
    const socket = this.socketFactory(this.family);
    socket.onMessage((packet, from) => this.onRequestDatagram(socket, packet, from));
    socket.onError((err) => this.logger.warn({ err: err.message }, 'tftp request socket error'));
    try {
      await socket.bind(this.config.port, this.config.listenAddress);
    } catch (err) {
      await socket.close();
      await this.pool?.stop();
      this.pool = null;
      throw new InputError(
        `boot.tftp cannot listen on ${this.config.listenAddress}:${this.config.port}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err, details: [{ field: 'boot.tftp.port', message: 'bind failed' }] },
      );
    }
    this.socket = socket;
    this.running = true;
    this.logger.info(
      { ...this.address(), root: this.root.realRoot, ipxe: [...this.ipxeFiles.keys()], transferThreads: this.pool?.size ?? 0 },
      'tftp server listening',
    );
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
    await this.pool?.stop();
    this.pool = null;
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

  /** Threads running transfers now; 0 when transfers run on this thread. */
  transferThreads(): number {
    return this.pool?.liveThreads ?? 0;
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
      const oack = params.acknowledged.size > 0 ? encodeOack(params.acknowledged) : null;
      const owned = source;
      const settings = { blksize: params.blksize, windowsize: params.windowsize, retries: this.config.retries, oack };
      const describe = { key, client, file, origin: found.origin, bytes: source.size, blksize: params.blksize, windowsize: params.windowsize };
      let entry: TransferEntry;
      if (this.pool && this.pool.liveThreads > 0) {
        source = null;
        const handle = this.pool.run(
          { client, family: this.family, listenAddress: this.config.listenAddress, source: owned.handoff(), timeoutMs: params.timeoutMs, settings },
          (end, setupFailed) => {
            // The thread has stopped reading the descriptor (or the thread is gone).
            void owned.close().catch(() => undefined);
            if (!setupFailed || end.ok) return this.settle(entry, end);
            if (this.transfers.get(key) === entry) this.transfers.delete(key);
            this.failRequest(socket, client, file, end.reason);
          },
        );
        // The thread reports through a message, never before this line.
        entry = { ...describe, abort: handle.abort };
        this.transfers.set(key, entry);
      } else {
        const runner = await openTransfer({
          socket: this.socketFactory(this.family), listenAddress: this.config.listenAddress, client, source: owned, settings,
          timeoutMs: params.timeoutMs, timer: this.timerFactory, onEnd: (end) => this.settle(entry, end),
        });
        source = null;
        entry = { ...describe, abort: (reason) => runner.abort(reason) };
        this.transfers.set(key, entry);
        runner.begin();
      }
      if (!this.running) await entry.abort('server shutting down');
    } catch (err) {
      if (source) await source.close().catch(() => undefined);
      if (this.transfers.get(key) === 'pending') this.transfers.delete(key);
      if (err instanceof TftpRefusal) {
        this.refuse(socket, client, err.tftpCode, err.message, request);
        return;
      }
      this.failRequest(socket, client, file, err instanceof Error ? err.message : String(err));
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

  /** Called exactly once per started transfer, when it ends. */
  private settle(entry: TransferEntry, end: TransferEnd): void {
    if (this.transfers.get(entry.key) === entry) this.transfers.delete(entry.key);
    this.counters.retransmits += end.retransmits;
    if (end.ok) {
      this.counters.completed++;
      this.counters.bytes += entry.bytes;
      const record: TftpTransferRecord = {
        client: entry.client, file: entry.file, origin: entry.origin, bytes: entry.bytes,
        ms: end.ms, blksize: entry.blksize, windowsize: entry.windowsize, retransmits: end.retransmits,
      };
      this.logger.debug({ ...record }, 'tftp transfer completed');
      this.emitSafely('transfer', record);
    } else {
      this.counters.errors++;
      const record: TftpFailedTransferRecord = { client: entry.client, file: entry.file, reason: end.reason, ms: end.ms };
      this.logger.warn({ ...record }, 'tftp transfer failed');
      this.emitSafely('transferFailed', record);
    }
  }

  /** A request that failed before any data (not a refusal: an internal error, a transfer socket that would not open). */
  private failRequest(socket: TftpSocket, client: UdpPeer, file: string | undefined, reason: string): void {
    this.counters.refused++;
    this.logger.warn({ client, file, err: reason }, 'tftp request failed');
    if (this.socket === socket) socket.send(encodeError(TftpErrorCode.NOT_DEFINED, 'internal error'), client);
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
