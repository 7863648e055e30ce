/**
 * An RMCP+ (IPMI v2.0 lanplus) session with one BMC: the handshake (Get Channel Authentication
 * Capabilities, Open Session, RAKP 1-4, Set Session Privilege Level), authenticated and encrypted
 * requests with retransmission and backoff, and Close Session.
 *
 * Concurrent requests are allowed: responses are matched by the 6-bit requester sequence number. Every
 * retransmission carries a fresh session sequence number, since BMCs reject replayed ones.
 */
import { randomBytes } from 'node:crypto';
import { BmcAuthError, BmcError, BmcUnreachableError, InputError } from '../../errors.js';
import {
  AUTH_REJECTED_STATUSES,
  CIPHER_SUITE_REJECTED_STATUSES,
  IpmiCompletionCodeError,
  describeRmcpPlusStatus,
} from './completion-codes.js';
import {
  CIPHER_SUITES,
  MAX_PASSWORD_BYTES,
  MAX_USERNAME_BYTES,
  codesEqual,
  decryptPayload,
  deriveSessionKeys,
  encryptPayload,
  integrityCode,
  rakp2Code,
  rakp3Code,
  rakp4Code,
  sessionIntegrityKey,
  userKey,
  type CipherSuite,
  type CipherSuiteId,
  type RakpExchange,
  type SessionKeys,
} from './crypto.js';
import {
  PayloadType,
  decodeIpmiResponse,
  decodePacket,
  encodeIpmiRequest,
  encodeV15Packet,
  encodeV20Packet,
  type IpmiResponse,
} from './rmcp.js';
import type { DatagramTransport, TransportFactory } from './transport.js';

export const NetFn = { chassis: 0x00, sensor: 0x04, app: 0x06, storage: 0x0a } as const;

export const PRIVILEGE_ADMINISTRATOR = 0x04;
/** RAKP 1 role bit: look the user up by name only (not name and privilege). */
const NAME_ONLY_LOOKUP = 0x10;

export interface IpmiSessionOptions {
  /** Used in messages only; never the password. */
  target: string;
  username: string;
  password: string;
  /** Time one request (with its retransmissions) may take before BmcUnreachableError. */
  timeoutMs: number;
  /** First retransmission delay; doubles up to `maxRetryIntervalMs`. */
  retryIntervalMs?: number;
  maxRetryIntervalMs?: number;
  /** Cipher suites in order of preference; one the BMC rejects falls through to the next. */
  cipherSuites?: CipherSuiteId[];
  /** A session idle for longer is replaced before use (BMCs expire idle sessions, often after 60 s). Default 20 s. */
  idleReopenMs?: number;
  transportFactory: TransportFactory;
  /** Injected by unit tests for reproducible handshakes. */
  randomBytes?: (size: number) => Buffer;
}

export interface RequestOptions {
  signal?: AbortSignal | undefined;
}

type Inbound =
  | { kind: 'ipmi'; response: IpmiResponse; secure: boolean }
  | { kind: 'handshake'; payloadType: number; payload: Buffer };

interface Pending {
  deliver(msg: Inbound): boolean;
  fail(err: Error): void;
}

interface ActiveSession {
  keys: SessionKeys;
  consoleSessionId: number;
  bmcSessionId: number;
  /** Whether a request has completed on it; a reused session that stops answering is re-established once. */
  used: boolean;
  /** Inbound session sequence numbers seen recently, to refuse replayed answers. */
  inbound: InboundWindow;
}

/**
 * Replay protection for inbound in-session packets (IPMI v2.0 section 6.12.13): a sequence number is
 * accepted once, and only if it is no more than 32 behind the highest seen.
 */
export class InboundWindow {
  private highest = 0;
  private readonly seen = new Set<number>();

  accept(sequence: number): boolean {
    if (sequence === 0 || this.seen.has(sequence)) return false;
    if (this.highest !== 0 && sequence + 32 <= this.highest) return false;
    this.seen.add(sequence);
    if (sequence > this.highest) {
      this.highest = sequence;
      for (const old of this.seen) if (old + 32 <= this.highest) this.seen.delete(old);
    }
    return true;
  }
}

export class IpmiSession {
  private readonly opts: Required<Omit<IpmiSessionOptions, 'randomBytes'>> & { randomBytes: (size: number) => Buffer };
  private readonly usernameBytes: Buffer;
  private readonly kuid: Buffer;
  private transport: DatagramTransport | null = null;
  private transportPromise: Promise<DatagramTransport> | null = null;
  private session: ActiveSession | null = null;
  /**
   * A session whose answers are accepted although callers may not use it: between RAKP 4 and the
   * privilege raise, and while Close Session is in flight.
   */
  private authenticatedSession: ActiveSession | null = null;
  private opening: Promise<ActiveSession> | null = null;
  private readonly pending = new Map<string, Pending>();
  private rqSeq = 0;
  private outboundSequence = 1;
  private messageTag = 0;
  private lastActivityAt = 0;
  /** The suite the BMC accepted last time, tried first on re-establishment. */
  private negotiatedSuite: CipherSuiteId | null = null;

  constructor(options: IpmiSessionOptions) {
    this.opts = {
      retryIntervalMs: 500,
      maxRetryIntervalMs: 2000,
      cipherSuites: [17, 3],
      idleReopenMs: 20_000,
      randomBytes,
      ...options,
    } as IpmiSession['opts'];
    this.usernameBytes = Buffer.from(options.username, 'utf8');
    if (this.usernameBytes.length > MAX_USERNAME_BYTES) {
      throw new InputError(`IPMI user name for BMC ${options.target} is longer than ${MAX_USERNAME_BYTES} bytes`);
    }
    if (Buffer.byteLength(options.password, 'utf8') > MAX_PASSWORD_BYTES) {
      throw new InputError(`IPMI password for BMC ${options.target} is longer than ${MAX_PASSWORD_BYTES} bytes`);
    }
    this.kuid = userKey(options.password);
  }

  /** The cipher suite of the open session, or null. */
  get cipherSuite(): CipherSuiteId | null {
    return this.session?.keys.suite.id ?? null;
  }

  /** Opens a session unless a fresh one is already open. */
  async open(opts: RequestOptions = {}): Promise<void> {
    await this.ensureSession(opts.signal);
  }

  /**
   * Sends one IPMI command inside the session and returns the response data after the completion code.
   * Throws IpmiCompletionCodeError (a BmcError) for a non-zero completion code.
   */
  async request(netFn: number, cmd: number, data: Uint8Array, name: string, opts: RequestOptions = {}): Promise<Buffer> {
    let session = await this.ensureSession(opts.signal);
    const reused = session.used;
    let response: IpmiResponse;
    try {
      response = await this.sessionRequest(session, netFn, cmd, data, name, opts.signal);
    } catch (err) {
      // The BMC may have expired or forgotten the session (reboot, idle timeout): packets for it are
      // silently dropped. Re-establish once; a handshake that also gets no answer means unreachable.
      if (!(err instanceof BmcUnreachableError) || !reused || opts.signal?.aborted || this.transport === null) throw err;
      this.dropSession(session);
      session = await this.ensureSession(opts.signal);
      response = await this.sessionRequest(session, netFn, cmd, data, name, opts.signal);
    }
    session.used = true;
    if (response.completionCode !== 0) throw new IpmiCompletionCodeError(name, response.completionCode);
    return response.data;
  }

  /** Sends Close Session (best effort, short timeout) and releases the socket. Idempotent. */
  async close(): Promise<void> {
    const session = this.session;
    this.session = null;
    if (session && this.transport) {
      const data = Buffer.alloc(4);
      data.writeUInt32LE(session.bmcSessionId, 0);
      this.authenticatedSession = session;
      try {
        await this.sessionRequest(session, NetFn.app, 0x3c, data, 'Close Session', undefined, Math.min(this.opts.timeoutMs, 1000));
      } catch {
        // The BMC expires the session on its own; nothing more to do.
      } finally {
        this.authenticatedSession = null;
      }
    }
    const transport = this.transport;
    this.transport = null;
    this.transportPromise = null;
    for (const [key, pending] of this.pending) {
      this.pending.delete(key);
      pending.fail(new BmcUnreachableError(`connection to BMC ${this.opts.target} was closed`));
    }
    transport?.close();
  }

  // ---- session establishment -------------------------------------------------------------

  private async ensureSession(signal: AbortSignal | undefined): Promise<ActiveSession> {
    if (this.session && Date.now() - this.lastActivityAt > this.opts.idleReopenMs) {
      const idle = this.session;
      this.dropSession(idle);
      // Free the BMC's slot (they have few) if it still holds the session; no answer is awaited.
      this.sendCloseSessionOnce(idle);
    }
    if (this.session) return this.session;
    if (!this.opening) {
      this.opening = this.establish(signal).finally(() => {
        this.opening = null;
      });
    }
    return this.opening;
  }

  /**
   * Forgets a session without telling the BMC (it stopped answering, or idled out). Only that one:
   * a concurrent request may already have replaced it with a fresh session.
   */
  private dropSession(session: ActiveSession): void {
    if (this.session === session) this.session = null;
  }

  private async getTransport(): Promise<DatagramTransport> {
    if (this.transport) return this.transport;
    if (!this.transportPromise) {
      this.transportPromise = this.opts.transportFactory().then((transport) => {
        transport.onMessage((packet) => this.onDatagram(packet));
        transport.onError((err) => this.onTransportError(err));
        this.transport = transport;
        return transport;
      });
      this.transportPromise.catch(() => {
        this.transportPromise = null;
      });
    }
    return this.transportPromise;
  }

  private async establish(signal: AbortSignal | undefined): Promise<ActiveSession> {
    await this.getTransport();
    await this.getChannelAuthCapabilities(signal);
    const suites = this.suiteOrder();
    let lastRejection = '';
    for (const [index, suiteId] of suites.entries()) {
      const suite = CIPHER_SUITES[suiteId];
      const consoleSessionId = this.newConsoleSessionId();
      const last = index === suites.length - 1;
      let opened: { status: number; bmcSessionId: number };
      try {
        // Some BMCs drop an Open Session naming algorithms they lack instead of answering with a
        // status: give a non-final suite a shorter wait, then fall through to the next one.
        opened = await this.openSession(suite, consoleSessionId, signal,
          last ? undefined : Math.min(this.opts.timeoutMs, Math.max(500, Math.floor(this.opts.timeoutMs / 3))));
      } catch (err) {
        if (last || !(err instanceof BmcUnreachableError) || signal?.aborted || this.transport === null) throw err;
        lastRejection = `cipher suite ${suiteId}: no answer to Open Session`;
        continue;
      }
      if (opened.status !== 0) {
        if (CIPHER_SUITE_REJECTED_STATUSES.has(opened.status)) {
          lastRejection = `cipher suite ${suiteId}: ${describeRmcpPlusStatus(opened.status)}`;
          continue;
        }
        throw this.statusError('Open Session', opened.status);
      }
      const session = await this.authenticate(suite, consoleSessionId, opened.bmcSessionId, signal);
      this.negotiatedSuite = suiteId;
      this.authenticatedSession = session;
      try {
        await this.raisePrivilege(session, signal);
      } finally {
        this.authenticatedSession = null;
      }
      this.session = session;
      return session;
    }
    throw new BmcError(`BMC ${this.opts.target} accepts none of the cipher suites ${suites.join(', ')} (${lastRejection})`);
  }

  private suiteOrder(): CipherSuiteId[] {
    const order = [...this.opts.cipherSuites];
    if (this.negotiatedSuite !== null && order.includes(this.negotiatedSuite)) {
      return [this.negotiatedSuite, ...order.filter((s) => s !== this.negotiatedSuite)];
    }
    return order;
  }

  private newConsoleSessionId(): number {
    let id = 0;
    while (id === 0) id = this.opts.randomBytes(4).readUInt32LE(0);
    return id;
  }

  private async getChannelAuthCapabilities(signal: AbortSignal | undefined): Promise<void> {
    // 0x8E: channel "this one" with bit 7 asking for the IPMI v2.0 extended data.
    const response = await this.unauthenticatedRequest(NetFn.app, 0x38, Buffer.from([0x8e, PRIVILEGE_ADMINISTRATOR]),
      'Get Channel Authentication Capabilities', signal);
    if (response.completionCode !== 0) throw new IpmiCompletionCodeError('Get Channel Authentication Capabilities', response.completionCode);
    const data = response.data;
    if (data.length < 4 || (data[1]! & 0x80) === 0 || (data[3]! & 0x02) === 0) {
      throw new BmcError(`BMC ${this.opts.target} does not support IPMI v2.0 / RMCP+ (lanplus)`);
    }
  }

  private async openSession(suite: CipherSuite, consoleSessionId: number, signal: AbortSignal | undefined,
    timeoutMs?: number): Promise<{ status: number; bmcSessionId: number }> {
    const tag = this.nextTag();
    const payload = Buffer.alloc(32);
    payload[0] = tag;
    payload[1] = PRIVILEGE_ADMINISTRATOR; // "highest available" (0) fails on BMCs that key RAKP to this value
    payload.writeUInt32LE(consoleSessionId, 4);
    payload.set([0x00, 0, 0, 0x08, suite.authAlgorithm, 0, 0, 0], 8);
    payload.set([0x01, 0, 0, 0x08, suite.integrityAlgorithm, 0, 0, 0], 16);
    payload.set([0x02, 0, 0, 0x08, suite.confidentialityAlgorithm, 0, 0, 0], 24);
    const response = await this.handshake(PayloadType.openSessionRequest, PayloadType.openSessionResponse, tag, payload, 'Open Session', signal, timeoutMs);
    const status = response[1] ?? 0xff;
    if (status !== 0) return { status, bmcSessionId: 0 };
    if (response.length < 36 || response.readUInt32LE(4) !== consoleSessionId) {
      throw new BmcError(`BMC ${this.opts.target} sent a malformed Open Session response`);
    }
    return { status: 0, bmcSessionId: response.readUInt32LE(8) };
  }

  private async authenticate(suite: CipherSuite, consoleSessionId: number, bmcSessionId: number, signal: AbortSignal | undefined): Promise<ActiveSession> {
    const consoleRandom = this.opts.randomBytes(16);
    const role = PRIVILEGE_ADMINISTRATOR | NAME_ONLY_LOOKUP;
    const tag1 = this.nextTag();
    const rakp1 = Buffer.alloc(28 + this.usernameBytes.length);
    rakp1[0] = tag1;
    rakp1.writeUInt32LE(bmcSessionId, 4);
    consoleRandom.copy(rakp1, 8);
    rakp1[24] = role;
    rakp1[27] = this.usernameBytes.length;
    this.usernameBytes.copy(rakp1, 28);
    const rakp2 = await this.handshake(PayloadType.rakp1, PayloadType.rakp2, tag1, rakp1, 'RAKP 1', signal);
    const status2 = rakp2[1] ?? 0xff;
    if (status2 !== 0) throw this.statusError('RAKP 2', status2);
    if (rakp2.length < 40 + suite.keyExchangeCodeLength || rakp2.readUInt32LE(4) !== consoleSessionId) {
      throw new BmcError(`BMC ${this.opts.target} sent a malformed RAKP 2 message`);
    }
    const exchange: RakpExchange = {
      suite,
      userKey: this.kuid,
      consoleSessionId,
      bmcSessionId,
      consoleRandom,
      bmcRandom: Buffer.from(rakp2.subarray(8, 24)),
      bmcGuid: Buffer.from(rakp2.subarray(24, 40)),
      role,
      username: this.usernameBytes,
    };
    if (!codesEqual(rakp2.subarray(40, 40 + suite.keyExchangeCodeLength), rakp2Code(exchange))) {
      // The BMC keyed its code with the password it holds for this user: ours differs. Tell the BMC
      // (RAKP 3 with a status) so it frees the half-open session, without waiting for an answer.
      this.sendRakp3Failure(bmcSessionId);
      throw new BmcAuthError(`authentication failed for BMC ${this.opts.target}: wrong password (RAKP 2 HMAC mismatch)`);
    }
    const sik = sessionIntegrityKey(exchange);
    const tag3 = this.nextTag();
    const code3 = rakp3Code(exchange);
    const rakp3 = Buffer.alloc(8 + code3.length);
    rakp3[0] = tag3;
    rakp3.writeUInt32LE(bmcSessionId, 4);
    code3.copy(rakp3, 8);
    const rakp4 = await this.handshake(PayloadType.rakp3, PayloadType.rakp4, tag3, rakp3, 'RAKP 3', signal);
    const status4 = rakp4[1] ?? 0xff;
    if (status4 !== 0) throw this.statusError('RAKP 4', status4);
    if (rakp4.length < 8 + suite.integrityCodeLength || rakp4.readUInt32LE(4) !== consoleSessionId) {
      throw new BmcError(`BMC ${this.opts.target} sent a malformed RAKP 4 message`);
    }
    if (!codesEqual(rakp4.subarray(8, 8 + suite.integrityCodeLength), rakp4Code(exchange, sik))) {
      throw new BmcAuthError(`authentication failed for BMC ${this.opts.target}: RAKP 4 integrity check value mismatch`);
    }
    this.outboundSequence = 1;
    this.lastActivityAt = Date.now();
    return { keys: deriveSessionKeys(suite, sik), consoleSessionId, bmcSessionId, used: false, inbound: new InboundWindow() };
  }

  private sendCloseSessionOnce(session: ActiveSession): void {
    const data = Buffer.alloc(4);
    data.writeUInt32LE(session.bmcSessionId, 0);
    try {
      this.transport?.send(encodeV20Packet({
        payloadType: PayloadType.ipmi,
        sessionId: session.bmcSessionId,
        sequence: this.nextOutboundSequence(),
        payload: encryptPayload(session.keys, encodeIpmiRequest({ netFn: NetFn.app, cmd: 0x3c, rqSeq: 0, data })),
        encrypted: true,
        sign: (signed) => integrityCode(session.keys, signed),
      }));
    } catch {
      // best effort
    }
  }

  private sendRakp3Failure(bmcSessionId: number): void {
    const rakp3 = Buffer.alloc(8);
    rakp3[0] = this.nextTag();
    rakp3[1] = 0x0f; // invalid integrity check value
    rakp3.writeUInt32LE(bmcSessionId, 4);
    try {
      this.transport?.send(encodeV20Packet({ payloadType: PayloadType.rakp3, sessionId: 0, sequence: 0, payload: rakp3, encrypted: false }));
    } catch {
      // best effort
    }
  }

  private async raisePrivilege(session: ActiveSession, signal: AbortSignal | undefined): Promise<void> {
    // RMCP+ sessions start at USER privilege even when ADMINISTRATOR was negotiated.
    const response = await this.sessionRequest(session, NetFn.app, 0x3b, Buffer.from([PRIVILEGE_ADMINISTRATOR]), 'Set Session Privilege Level', signal);
    if (response.completionCode === 0x80 || response.completionCode === 0x81 || response.completionCode === 0xd4) {
      throw new BmcAuthError(`authentication failed for BMC ${this.opts.target}: user ${this.opts.username} may not use ADMINISTRATOR privilege`);
    }
    if (response.completionCode !== 0) throw new IpmiCompletionCodeError('Set Session Privilege Level', response.completionCode);
  }

  private statusError(step: string, status: number): BmcError {
    const reason = describeRmcpPlusStatus(status);
    if (AUTH_REJECTED_STATUSES.has(status)) {
      return new BmcAuthError(`authentication failed for BMC ${this.opts.target}: ${step} status ${reason}`);
    }
    return new BmcError(`BMC ${this.opts.target} refused the session at ${step}: ${reason}`);
  }

  private nextTag(): number {
    this.messageTag = (this.messageTag + 1) & 0xff;
    return this.messageTag;
  }

  // ---- request/response plumbing ----------------------------------------------------------

  private allocateRqSeq(): number {
    for (let i = 0; i < 64; i++) {
      this.rqSeq = (this.rqSeq + 1) & 0x3f;
      if (!this.pending.has(`ipmi:${this.rqSeq}`)) return this.rqSeq;
    }
    throw new BmcError(`too many concurrent IPMI requests to BMC ${this.opts.target}`);
  }

  private nextOutboundSequence(): number {
    const seq = this.outboundSequence;
    this.outboundSequence = this.outboundSequence >= 0xffffffff ? 1 : this.outboundSequence + 1;
    return seq;
  }

  private unauthenticatedRequest(netFn: number, cmd: number, data: Buffer, name: string, signal: AbortSignal | undefined): Promise<IpmiResponse> {
    const rqSeq = this.allocateRqSeq();
    const packet = encodeV15Packet(encodeIpmiRequest({ netFn, cmd, rqSeq, data }));
    return this.exchange<IpmiResponse>(`ipmi:${rqSeq}`, () => packet, (msg) =>
      msg.kind === 'ipmi' && msg.response.netFn === netFn && msg.response.cmd === cmd ? msg.response : null, name, signal);
  }

  private sessionRequest(session: ActiveSession, netFn: number, cmd: number, data: Uint8Array, name: string,
    signal: AbortSignal | undefined, timeoutMs?: number): Promise<IpmiResponse> {
    const rqSeq = this.allocateRqSeq();
    const message = encodeIpmiRequest({ netFn, cmd, rqSeq, data });
    const build = (): Buffer =>
      encodeV20Packet({
        payloadType: PayloadType.ipmi,
        sessionId: session.bmcSessionId,
        sequence: this.nextOutboundSequence(),
        payload: encryptPayload(session.keys, message),
        encrypted: true,
        sign: (signed) => integrityCode(session.keys, signed),
      });
    return this.exchange<IpmiResponse>(`ipmi:${rqSeq}`, build, (msg) =>
      msg.kind === 'ipmi' && msg.secure && msg.response.netFn === netFn && msg.response.cmd === cmd ? msg.response : null,
      name, signal, timeoutMs).then((response) => {
      this.lastActivityAt = Date.now();
      return response;
    });
  }

  private handshake(requestType: number, responseType: number, tag: number, payload: Buffer, name: string,
    signal: AbortSignal | undefined, timeoutMs?: number): Promise<Buffer> {
    const packet = encodeV20Packet({ payloadType: requestType, sessionId: 0, sequence: 0, payload, encrypted: false });
    return this.exchange<Buffer>(`hs:${responseType}:${tag}`, () => packet, (msg) =>
      msg.kind === 'handshake' && msg.payloadType === responseType ? msg.payload : null, name, signal, timeoutMs);
  }

  /** Sends `build()` and retransmits with exponential backoff until `accept` takes an answer or time runs out. */
  private exchange<T>(key: string, build: () => Buffer, accept: (msg: Inbound) => T | null, name: string,
    signal: AbortSignal | undefined, timeoutMs = this.opts.timeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const transport = this.transport;
      if (!transport) {
        reject(new BmcUnreachableError(`connection to BMC ${this.opts.target} is closed`));
        return;
      }
      const deadline = Date.now() + timeoutMs;
      let interval = this.opts.retryIntervalMs;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (err: Error | null, value?: T): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(key);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onAbort = (): void => finish(new BmcUnreachableError(`${name} to BMC ${this.opts.target} was aborted`));
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(key, {
        deliver: (msg) => {
          const value = accept(msg);
          if (value === null) return false;
          finish(null, value);
          return true;
        },
        fail: (err) => finish(err),
      });
      const tick = (): void => {
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          finish(new BmcUnreachableError(`no answer from BMC ${this.opts.target} to ${name} within ${timeoutMs} ms`));
          return;
        }
        try {
          transport.send(build());
        } catch (err) {
          finish(err instanceof Error ? err : new BmcUnreachableError(String(err)));
          return;
        }
        timer = setTimeout(tick, Math.min(interval, remaining));
        interval = Math.min(interval * 2, this.opts.maxRetryIntervalMs);
      };
      tick();
    });
  }

  private onTransportError(err: Error): void {
    // ICMP port/host unreachable: nothing listens there, so every waiter fails now rather than at its timeout.
    const failure = new BmcUnreachableError(`cannot reach BMC ${this.opts.target}: ${err.message}`, { cause: err });
    for (const [key, pending] of this.pending) {
      this.pending.delete(key);
      pending.fail(failure);
    }
  }

  /** Every datagram lands here; anything malformed, unauthenticated in-session or unexpected is dropped. */
  private onDatagram(datagram: Buffer): void {
    try {
      const msg = this.parseInbound(datagram);
      if (!msg) return;
      const key = msg.kind === 'ipmi' ? `ipmi:${msg.response.rqSeq}` : `hs:${msg.payloadType}:${msg.payload[0]}`;
      this.pending.get(key)?.deliver(msg);
    } catch {
      // A datagram must never take the process down.
    }
  }

  private parseInbound(datagram: Buffer): Inbound | null {
    const session = this.session ?? this.authenticatedSession;
    const packet = decodePacket(datagram, session?.keys.suite.integrityCodeLength ?? 0);
    if (!packet) return null;
    if (packet.format === 'v1.5') {
      if (packet.sessionId !== 0) return null;
      const response = decodeIpmiResponse(packet.message);
      return response ? { kind: 'ipmi', response, secure: false } : null;
    }
    if (packet.payloadType === PayloadType.ipmi) {
      if (!session || packet.sessionId !== session.consoleSessionId || !packet.authenticated) return null;
      if (!codesEqual(packet.authCode, integrityCode(session.keys, packet.signedPart))) return null;
      if (!session.inbound.accept(packet.sequence)) return null;
      const message = packet.encrypted ? decryptPayload(session.keys, packet.payload) : packet.payload;
      if (!message) return null;
      const response = decodeIpmiResponse(message);
      return response ? { kind: 'ipmi', response, secure: true } : null;
    }
    if (packet.payload.length < 2) return null;
    return { kind: 'handshake', payloadType: packet.payloadType, payload: packet.payload };
  }
}
