import { randomBytes } from 'node:crypto';
import { BmcAuthError, BmcError, BmcUnreachableError } from '../../errors.js';
import { IpmiCompletionCodeError } from './completion-codes.js';
import {
  CIPHER_SUITES,
  decryptPayload,
  deriveSessionKeys,
  encryptPayload,
  integrityCode,
  rakp2Code,
  rakp4Code,
  sessionIntegrityKey,
  userKey,
  type CipherSuite,
  type SessionKeys,
} from './crypto.js';
import { PayloadType, decodePacket, encodeV15Packet, encodeV20Packet, ipmiChecksum } from './rmcp.js';
import { InboundWindow, IpmiSession, NetFn } from './session.js';
import type { DatagramTransport } from './transport.js';

/**
 * A BMC in memory, built from the spec's message layouts (independently of session.ts), speaking
 * through a fake transport. It lets tests drop, corrupt and garble traffic deterministically.
 */
class FakeBmc {
  password = 'secret';
  username = 'admin';
  acceptedSuites = new Set<number>([3, 17]);
  /** Open Session requests for these suites are dropped without an answer. */
  silentSuites = new Set<number>();
  /** Packets to ignore before answering (counts down); simulates loss. */
  dropNext = 0;
  /** Sent before every genuine answer. */
  garbage: Buffer[] = [];
  silent = false;
  received: Buffer[] = [];
  privilegeRequests: number[] = [];
  /** In-session command codes received, in order. */
  commands: number[] = [];
  powerOn = true;
  private deliver: (packet: Buffer) => void = () => {};
  private suite: CipherSuite | null = null;
  private consoleSessionId = 0;
  private readonly bmcSessionId = 0x0a0b0c0d;
  private consoleRandom = Buffer.alloc(16);
  private readonly bmcRandom = randomBytes(16);
  private readonly guid = randomBytes(16);
  private role = 0;
  private keys: SessionKeys | null = null;
  private sequence = 1;

  transport(): DatagramTransport {
    return {
      send: (packet) => {
        this.received.push(packet);
        queueMicrotask(() => this.handle(packet));
      },
      onMessage: (handler) => {
        this.deliver = handler;
      },
      onError: () => {},
      close: () => {},
    };
  }

  /**
   * When silent, answer each in-session request with a genuine earlier answer that has the same rqSeq
   * (an attacker replaying captured traffic): valid integrity code, matching command, old sequence.
   */
  replayOldAnswers = false;
  replayed = 0;
  private readonly answersByRqSeq = new Map<number, Buffer>();

  private reply(packet: Buffer): void {
    for (const g of this.garbage) this.deliver(g);
    this.deliver(packet);
  }

  private handle(packet: Buffer): void {
    if (this.silent) {
      const p = this.replayOldAnswers && this.keys ? decodePacket(packet, this.keys.suite.integrityCodeLength) : null;
      if (p?.format === 'v2.0' && p.payloadType === PayloadType.ipmi) {
        const old = this.answersByRqSeq.get(decryptPayload(this.keys!, p.payload)![4]! >> 2);
        if (old) {
          this.replayed++;
          this.deliver(old);
        }
      }
      return;
    }
    if (this.dropNext > 0) {
      this.dropNext--;
      return;
    }
    const p = decodePacket(packet, this.keys?.suite.integrityCodeLength ?? 0);
    if (!p) throw new Error('client sent a malformed packet');
    if (p.format === 'v1.5') {
      // Get Channel Authentication Capabilities: IPMI v2.0 supported
      this.reply(encodeV15Packet(response(p.message, 0x00, [0x01, 0x80 | 0x04, 0x04, 0x02, 0, 0, 0, 0])));
      return;
    }
    const v20 = (payloadType: number, payload: Buffer): Buffer => encodeV20Packet({ payloadType, sessionId: 0, sequence: 0, payload, encrypted: false });
    switch (p.payloadType) {
      case PayloadType.openSessionRequest: {
        const auth = p.payload[12]!;
        const suite = Object.values(CIPHER_SUITES).find((s) => s.authAlgorithm === auth)!;
        const out = Buffer.alloc(36);
        out[0] = p.payload[0]!;
        if (this.silentSuites.has(suite.id)) return;
        if (!this.acceptedSuites.has(suite.id)) {
          out[1] = 0x04; // invalid authentication algorithm
          this.reply(v20(PayloadType.openSessionResponse, out.subarray(0, 8)));
          return;
        }
        this.suite = suite;
        this.consoleSessionId = p.payload.readUInt32LE(4);
        out[2] = p.payload[1]!;
        out.writeUInt32LE(this.consoleSessionId, 4);
        out.writeUInt32LE(this.bmcSessionId, 8);
        p.payload.copy(out, 12, 8, 32);
        this.reply(v20(PayloadType.openSessionResponse, out));
        return;
      }
      case PayloadType.rakp1: {
        this.consoleRandom = Buffer.from(p.payload.subarray(8, 24));
        this.role = p.payload[24]!;
        const name = p.payload.subarray(28, 28 + p.payload[27]!).toString();
        const out = Buffer.alloc(40 + this.suite!.keyExchangeCodeLength);
        out[0] = p.payload[0]!;
        out.writeUInt32LE(this.consoleSessionId, 4);
        if (name !== this.username) {
          out[1] = 0x0d; // unauthorized name
          this.reply(v20(PayloadType.rakp2, out.subarray(0, 8)));
          return;
        }
        this.bmcRandom.copy(out, 8);
        this.guid.copy(out, 24);
        rakp2Code(this.exchange()).copy(out, 40);
        this.reply(v20(PayloadType.rakp2, out));
        return;
      }
      case PayloadType.rakp3: {
        if (p.payload[1] !== 0) return;
        const sik = sessionIntegrityKey(this.exchange());
        this.keys = deriveSessionKeys(this.suite!, sik);
        const code = rakp4Code(this.exchange(), sik);
        const out = Buffer.alloc(8 + code.length);
        out[0] = p.payload[0]!;
        out.writeUInt32LE(this.consoleSessionId, 4);
        code.copy(out, 8);
        this.reply(v20(PayloadType.rakp4, out));
        return;
      }
      case PayloadType.ipmi: {
        const keys = this.keys!;
        if (!integrityCode(keys, p.signedPart).equals(p.authCode)) throw new Error('bad integrity code from client');
        const message = decryptPayload(keys, p.payload)!;
        const cmd = message[5]!;
        this.commands.push(cmd);
        let out: Buffer;
        if (cmd === 0x3b) {
          this.privilegeRequests.push(message[6]!);
          out = response(message, 0, [message[6]!]);
        } else if (cmd === 0x01 && message[1]! >> 2 === NetFn.chassis) {
          out = response(message, 0, [this.powerOn ? 0x01 : 0x00, 0x00, 0x00]);
        } else {
          out = response(message, 0xc1, []);
        }
        const answer = encodeV20Packet({
          payloadType: PayloadType.ipmi,
          sessionId: this.consoleSessionId,
          sequence: this.sequence++,
          payload: encryptPayload(keys, out),
          encrypted: true,
          sign: (signed) => integrityCode(keys, signed),
        });
        if (!this.answersByRqSeq.has(message[4]! >> 2)) this.answersByRqSeq.set(message[4]! >> 2, answer);
        this.reply(answer);
        return;
      }
      default:
        throw new Error(`unexpected payload type ${p.payloadType}`);
    }
  }

  private exchange() {
    return {
      suite: this.suite!,
      userKey: userKey(this.password),
      consoleSessionId: this.consoleSessionId,
      bmcSessionId: this.bmcSessionId,
      consoleRandom: this.consoleRandom,
      bmcRandom: this.bmcRandom,
      bmcGuid: this.guid,
      role: this.role,
      username: Buffer.from(this.username),
    };
  }

  /** Answers the last in-session request in plaintext: v1.5 and unauthenticated v2.0, both well formed. */
  answerLastInPlaintext(): void {
    const last = decodePacket(this.received[this.received.length - 1]!, this.keys!.suite.integrityCodeLength);
    if (!last || last.format !== 'v2.0') throw new Error('no in-session request to answer');
    const message = decryptPayload(this.keys!, last.payload)!;
    const answer = response(message, 0, [0x00, 0x00, 0x00]);
    this.deliver(encodeV15Packet(answer));
    this.deliver(encodeV20Packet({ payloadType: PayloadType.ipmi, sessionId: this.consoleSessionId, sequence: 7, payload: answer, encrypted: false }));
  }

  /** An in-session packet for the right session id but signed with the wrong key. */
  forgedPacket(): Buffer {
    const wrongKeys = deriveSessionKeys(this.suite ?? CIPHER_SUITES[3], randomBytes(20));
    return encodeV20Packet({
      payloadType: PayloadType.ipmi, sessionId: this.consoleSessionId, sequence: 99, encrypted: true,
      payload: encryptPayload(wrongKeys, Buffer.from([0x81, 0x04, 0x7b, 0x20, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0xdb])),
      sign: (signed) => integrityCode(wrongKeys, signed),
    });
  }
}

/** Builds an IPMI LAN response to a request message. */
function response(request: Buffer, completionCode: number, data: number[]): Buffer {
  const out = Buffer.alloc(8 + data.length);
  out[0] = 0x81;
  out[1] = (((request[1]! >> 2) | 1) << 2);
  out[2] = ipmiChecksum(out, 0, 2);
  out[3] = 0x20;
  out[4] = request[4]!;
  out[5] = request[5]!;
  out[6] = completionCode;
  out.set(data, 7);
  out[out.length - 1] = ipmiChecksum(out, 3, out.length - 1);
  return out;
}

function session(bmc: FakeBmc, overrides: Partial<ConstructorParameters<typeof IpmiSession>[0]> = {}): IpmiSession {
  return new IpmiSession({
    target: 'fake-bmc',
    username: 'admin',
    password: 'secret',
    timeoutMs: 300,
    retryIntervalMs: 20,
    transportFactory: async () => bmc.transport(),
    ...overrides,
  });
}

const GARBAGE: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from([0x06]),
  Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06]),
  Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff]), // length beyond the datagram
  Buffer.from([0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 1, 2]), // v1.5 length beyond the datagram
  Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x01]), // 1-byte RAKP 2
  Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x00, 1, 2, 3, 4]), // authenticated, no trailer
  Buffer.from('GET / HTTP/1.1\r\n\r\n'),
  randomBytes(3),
  randomBytes(64),
  randomBytes(200),
];

describe('IpmiSession', () => {
  it('negotiates cipher suite 17 (HMAC-SHA256, HMAC-SHA256-128, AES) when the BMC accepts it', async () => {
    const bmc = new FakeBmc();
    const s = session(bmc);
    expect(await s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status')).toEqual(Buffer.from([1, 0, 0]));
    expect(s.cipherSuite).toBe(17);
    expect(bmc.privilegeRequests).toEqual([0x04]);
  });

  it('falls back to cipher suite 3 when the BMC refuses 17 in Open Session', async () => {
    const bmc = new FakeBmc();
    bmc.acceptedSuites = new Set([3]);
    const s = session(bmc);
    await s.open();
    expect(s.cipherSuite).toBe(3);
  });

  it('falls back to cipher suite 3 when the BMC ignores an Open Session for 17', async () => {
    const bmc = new FakeBmc();
    bmc.silentSuites = new Set([17]);
    const s = session(bmc);
    await s.open();
    expect(s.cipherSuite).toBe(3);
  });

  it('asks for ADMINISTRATOR in Open Session and RAKP 1 (with name-only lookup)', async () => {
    const bmc = new FakeBmc();
    await session(bmc).open();
    const [open, rakp1] = bmc.received.slice(1).map((p) => decodePacket(p, 0));
    expect(open?.format === 'v2.0' && open.payload[1]).toBe(0x04);
    expect(rakp1?.format === 'v2.0' && rakp1.payload[24]).toBe(0x14);
  });

  it('reports a wrong password as BmcAuthError (RAKP 2 HMAC mismatch)', async () => {
    const bmc = new FakeBmc();
    bmc.password = 'other';
    await expect(session(bmc).open()).rejects.toThrow(BmcAuthError);
    await expect(session(bmc).open()).rejects.toThrow(/authentication failed.*RAKP 2/);
  });

  it('reports an unknown user (RAKP 2 status) as BmcAuthError', async () => {
    const bmc = new FakeBmc();
    bmc.username = 'root';
    await expect(session(bmc).open()).rejects.toThrow(BmcAuthError);
  });

  it('reports silence as BmcUnreachableError after retransmitting', async () => {
    const bmc = new FakeBmc();
    bmc.silent = true;
    await expect(session(bmc).open()).rejects.toThrow(BmcUnreachableError);
    expect(bmc.received.length).toBeGreaterThan(1);
  });

  it('retransmits lost packets with fresh session sequence numbers', async () => {
    const bmc = new FakeBmc();
    const s = session(bmc);
    await s.open();
    const before = bmc.received.length;
    bmc.dropNext = 2;
    await s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status');
    const sent = bmc.received.slice(before).map((p) => p.readUInt32LE(10));
    expect(sent.length).toBe(3);
    expect(new Set(sent).size).toBe(3);
  });

  it('drops garbage, truncated and forged datagrams and still completes', async () => {
    const bmc = new FakeBmc();
    bmc.garbage = GARBAGE;
    const s = session(bmc);
    await s.open();
    bmc.garbage = [...GARBAGE, bmc.forgedPacket()];
    expect(await s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status')).toEqual(Buffer.from([1, 0, 0]));
  });

  it('never accepts an unauthenticated answer inside a session', async () => {
    const bmc = new FakeBmc();
    const s = session(bmc);
    await s.open();
    bmc.silent = true;
    const pending = s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status');
    await new Promise((resolve) => setImmediate(resolve));
    // well-formed plaintext answers with the right rqSeq and command must not satisfy the request
    bmc.answerLastInPlaintext();
    await expect(pending).rejects.toThrow(BmcUnreachableError);
  });

  it('turns a non-zero completion code into IpmiCompletionCodeError', async () => {
    const bmc = new FakeBmc();
    const s = session(bmc);
    const err = await s.request(NetFn.app, 0x99, new Uint8Array(0), 'Bogus').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpmiCompletionCodeError);
    expect(err).toBeInstanceOf(BmcError);
    expect((err as IpmiCompletionCodeError).completionCode).toBe(0xc1);
  });

  it('reuses one session for many requests', async () => {
    const bmc = new FakeBmc();
    const s = session(bmc);
    for (let i = 0; i < 5; i++) await s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status');
    const opens = bmc.received.filter((p) => decodePacket(p, 0)?.format === 'v2.0' && (p[5]! & 0x3f) === PayloadType.openSessionRequest);
    expect(opens).toHaveLength(1);
  });

  it('replaces a session that sat idle too long, closing the old one', async () => {
    const bmc = new FakeBmc();
    const s = session(bmc, { idleReopenMs: -1 });
    await s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status');
    await s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status');
    const opens = bmc.received.filter((p) => decodePacket(p, 0)?.format === 'v2.0' && (p[5]! & 0x3f) === PayloadType.openSessionRequest);
    expect(opens).toHaveLength(2);
    expect(bmc.commands).toContain(0x3c);
  });

  it('stops at once when the caller aborts', async () => {
    const bmc = new FakeBmc();
    bmc.silent = true;
    const controller = new AbortController();
    const s = session(bmc, { timeoutMs: 60_000 });
    const pending = s.open({ signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toThrow(BmcUnreachableError);
  });

  it('refuses a replayed answer', async () => {
    const bmc = new FakeBmc();
    const s = session(bmc);
    // 64 requests use every rqSeq once, so the next request's rqSeq has a recorded answer to replay
    for (let i = 0; i < 64; i++) await s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status');
    bmc.replayOldAnswers = true;
    bmc.silent = true;
    await expect(s.request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status')).rejects.toThrow(BmcUnreachableError);
    expect(bmc.replayed).toBeGreaterThan(0);
  });

  it('refuses over-long user names and passwords before sending anything', () => {
    const bmc = new FakeBmc();
    expect(() => session(bmc, { username: 'u'.repeat(17) })).toThrow(/longer than 16/);
    expect(() => session(bmc, { password: 'p'.repeat(21) })).toThrow(/longer than 20/);
    expect(bmc.received).toHaveLength(0);
  });
});

describe('InboundWindow', () => {
  it('accepts each sequence number once and nothing 32 or more behind the highest', () => {
    const w = new InboundWindow();
    expect(w.accept(0)).toBe(false);
    expect(w.accept(5)).toBe(true);
    expect(w.accept(5)).toBe(false);
    expect(w.accept(3)).toBe(true); // out of order, inside the window
    expect(w.accept(100)).toBe(true);
    expect(w.accept(68)).toBe(false);
    expect(w.accept(69)).toBe(true);
  });
});
