import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeAck, encodeRequest, Opcode, parsePacket, TftpErrorCode } from './packet.js';
import type { TftpPacket } from './packet.js';
import { TftpServer } from './server.js';
import type { TftpServerOptions, TftpTransferRecord, TftpFailedTransferRecord } from './server.js';
import type { RetransmitTimer, TftpSocket, TimerFactory, UdpPeer } from './socket.js';

/** In-memory UDP: datagrams queue until `flush`, connected sockets drop other senders like the kernel. */
class FakeNetwork {
  readonly sockets = new Map<string, FakeSocket>();
  private queue: { from: UdpPeer; to: UdpPeer; packet: Buffer }[] = [];
  private nextPort = 40000;
  dropFilter: ((packet: Buffer, from: UdpPeer, to: UdpPeer) => boolean) | null = null;

  allocatePort(): number {
    return this.nextPort++;
  }
  enqueue(from: UdpPeer, to: UdpPeer, packet: Buffer): void {
    this.queue.push({ from, to, packet: Buffer.from(packet) });
  }
  /** Delivers until quiet; returns the number delivered. */
  flush(limit = 1_000_000): number {
    let delivered = 0;
    while (this.queue.length > 0 && delivered < limit) {
      const { from, to, packet } = this.queue.shift()!;
      if (this.dropFilter?.(packet, from, to)) continue;
      const socket = this.sockets.get(`${to.address}:${to.port}`);
      if (!socket) continue;
      socket.deliver(packet, from);
      delivered++;
    }
    return delivered;
  }
  factory = (): TftpSocket => new FakeSocket(this);
  client(address: string, port: number): FakeSocket {
    const socket = new FakeSocket(this);
    socket.bindSync(port, address);
    return socket;
  }
}

class FakeSocket implements TftpSocket {
  bound: UdpPeer | null = null;
  peer: UdpPeer | null = null;
  received: { packet: Buffer; from: UdpPeer }[] = [];
  private handler: ((packet: Buffer, from: UdpPeer) => void) | null = null;
  constructor(private readonly net: FakeNetwork) {}
  bindSync(port: number, address: string): void {
    this.bound = { address, port: port === 0 ? this.net.allocatePort() : port };
    this.net.sockets.set(`${address}:${this.bound.port}`, this);
  }
  async bind(port: number, address: string): Promise<void> {
    this.bindSync(port, address);
  }
  async connect(peer: UdpPeer): Promise<void> {
    this.peer = peer;
  }
  local(): UdpPeer {
    return this.bound!;
  }
  send(packet: Buffer, to?: UdpPeer, done?: () => void): void {
    this.net.enqueue(this.bound!, to ?? this.peer!, packet);
    if (done) queueMicrotask(done);
  }
  onMessage(handler: (packet: Buffer, from: UdpPeer) => void): void {
    this.handler = handler;
  }
  onError(): void {}
  async close(): Promise<void> {
    if (this.bound) this.net.sockets.delete(`${this.bound.address}:${this.bound.port}`);
  }
  deliver(packet: Buffer, from: UdpPeer): void {
    if (this.peer && (this.peer.address !== from.address || this.peer.port !== from.port)) return;
    if (this.handler) this.handler(packet, from);
    else this.received.push({ packet, from });
  }
  /** Takes everything received so far. */
  take(): { packet: TftpPacket; from: UdpPeer }[] {
    return this.received.splice(0).map(({ packet, from }) => ({ packet: parsePacket(packet), from }));
  }
}

class FakeTimers {
  readonly armed = new Set<() => void>();
  factory: TimerFactory = (onExpiry) => {
    const timers = this.armed;
    const timer: RetransmitTimer = {
      restart: () => void timers.add(onExpiry),
      cancel: () => void timers.delete(onExpiry),
    };
    return timer;
  };
  /** Fires every armed timer once (each transfer's retransmission timeout elapses). */
  fireAll(): void {
    const due = [...this.armed];
    this.armed.clear();
    for (const fire of due) fire();
  }
}

/** Lets the server's async request handling (realpath, open on the libuv pool) make progress. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** Delivers datagrams and waits until `done()` holds (bounded, so a broken server fails the test). */
async function pump(net: FakeNetwork, done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    net.flush();
    if (done()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error('timed out waiting for the server');
}

const SERVER = { address: '10.0.0.1', port: 69 };

describe('TftpServer (in-memory network)', () => {
  let dir: string;
  let root: string;
  let ipxeDir: string;
  const small = Buffer.from('#!ipxe\nchain http://10.0.0.1/boot\n');
  const medium = Buffer.alloc(5000).map((_, i) => (i * 7) & 0xff);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-tftp-server-'));
    root = join(dir, 'root');
    ipxeDir = join(dir, 'ipxe');
    mkdirSync(join(root, 'pxe'), { recursive: true });
    mkdirSync(ipxeDir);
    writeFileSync(join(root, 'small.txt'), small);
    writeFileSync(join(root, 'pxe', 'medium.bin'), medium);
    writeFileSync(join(root, 'exact.bin'), Buffer.alloc(1024, 1));
    writeFileSync(join(dir, 'secret'), 'secret');
    symlinkSync(join(dir, 'secret'), join(root, 'escape'));
    writeFileSync(join(ipxeDir, 'undionly.kpxe'), 'UNDI');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function startServer(extra: Partial<TftpServerOptions> = {}, config: Partial<TftpServerOptions['config']> = {}) {
    const net = new FakeNetwork();
    const timers = new FakeTimers();
    const server = new TftpServer({
      config: { rootDir: root, listenAddress: SERVER.address, port: SERVER.port, ipxeDir, ...config },
      socketFactory: net.factory,
      timerFactory: timers.factory,
      ...extra,
    });
    const transfers: TftpTransferRecord[] = [];
    const failures: TftpFailedTransferRecord[] = [];
    server.on('transfer', (t) => transfers.push(t));
    server.on('transferFailed', (t) => failures.push(t));
    await server.start();
    return { net, timers, server, transfers, failures };
  }

  /** A well-behaved client: sends the RRQ, ACKs OACK and every window, returns the file and the OACK. */
  async function download(
    net: FakeNetwork, clientPort: number, file: string, options: Record<string, number> = {},
  ): Promise<{ data: Buffer; oack: Map<string, string> | null; error: { code: number; message: string } | null }> {
    const client = net.client('10.0.0.50', clientPort);
    let windowsize = 1;
    client.send(encodeRequest(Opcode.RRQ, file, 'octet', options), SERVER);
    const chunks: Buffer[] = [];
    let oack: Map<string, string> | null = null;
    let expected = 1;
    let blksize = 512;
    for (let round = 0; round < 100_000; round++) {
      await pump(net, () => client.received.length > 0);
      const inbound = client.take();
      let sinceAck = 0;
      for (const { packet, from } of inbound) {
        if (packet.opcode === Opcode.ERROR) return { data: Buffer.concat(chunks), oack, error: { code: packet.code, message: packet.message } };
        if (packet.opcode === Opcode.OACK) {
          oack = packet.options;
          blksize = Number(oack.get('blksize') ?? 512);
          windowsize = Number(oack.get('windowsize') ?? 1);
          client.peer = from;
          client.send(encodeAck(0));
          continue;
        }
        if (packet.opcode !== Opcode.DATA) throw new Error(`unexpected opcode ${packet.opcode}`);
        client.peer = from;
        if (packet.block !== (expected & 0xffff)) continue;
        chunks.push(Buffer.from(packet.payload));
        expected++;
        sinceAck++;
        const final = packet.payload.length < blksize;
        if (final || sinceAck === windowsize) {
          client.send(encodeAck(expected - 1));
          sinceAck = 0;
        }
        if (final) {
          net.flush();
          await settle();
          await client.close();
          return { data: Buffer.concat(chunks), oack, error: null };
        }
      }
    }
    throw new Error('download did not finish');
  }

  it('serves a file without options, from an ephemeral port, and reports it', async () => {
    const { net, server, transfers } = await startServer();
    const result = await download(net, 5001, 'pxe/medium.bin');
    expect(result.error).toBeNull();
    expect(result.oack).toBeNull();
    expect(result.data).toEqual(medium);
    expect(transfers).toHaveLength(1);
    expect(transfers[0]).toMatchObject({ client: { address: '10.0.0.50', port: 5001 }, file: 'pxe/medium.bin', origin: 'root', bytes: 5000, blksize: 512, windowsize: 1 });
    expect(server.stats()).toMatchObject({ requests: 1, completed: 1, errors: 0, refused: 0, bytes: 5000, active: 0 });
    await server.stop();
  });

  it('negotiates blksize, tsize, timeout and windowsize in an OACK, capped by config', async () => {
    const { net, server } = await startServer({}, { maxBlksize: 1024, maxWindowsize: 4 });
    const result = await download(net, 5002, '/pxe/medium.bin', { blksize: 1468, tsize: 0, timeout: 2, windowsize: 16 });
    expect(result.error).toBeNull();
    expect(result.data).toEqual(medium);
    expect(result.oack).toEqual(new Map([['blksize', '1024'], ['tsize', '5000'], ['timeout', '2'], ['windowsize', '4']]));
    await server.stop();
  });

  it('ends an exact multiple of blksize with an empty block', async () => {
    const { net, server } = await startServer();
    const result = await download(net, 5003, 'exact.bin');
    expect(result.data).toEqual(Buffer.alloc(1024, 1));
    await server.stop();
  });

  it('consults the content hook first and falls through on null', async () => {
    const seen: string[] = [];
    const { net, server, transfers } = await startServer({
      generate: (file, client) => {
        seen.push(`${file}@${client.address}`);
        return file === 'boot.ipxe' ? Buffer.from(`#!ipxe\necho ${client.address}\n`) : null;
      },
    });
    expect((await download(net, 5004, '/boot.ipxe')).data.toString()).toBe('#!ipxe\necho 10.0.0.50\n');
    expect((await download(net, 5005, 'small.txt')).data).toEqual(small);
    expect(seen).toEqual(['boot.ipxe@10.0.0.50', 'small.txt@10.0.0.50']);
    expect(transfers.map((t) => t.origin)).toEqual(['generated', 'root']);
    await server.stop();
  });

  it('answers a hook that throws with an ERROR and keeps serving', async () => {
    const { net, server } = await startServer({ generate: () => { throw new Error('template broken'); } });
    const result = await download(net, 5006, 'small.txt');
    expect(result.error).toEqual({ code: TftpErrorCode.NOT_DEFINED, message: 'internal error' });
    expect(server.stats().refused).toBe(1);
    await server.stop();
  });

  it('falls back to the iPXE directory for well-known names only', async () => {
    const { net, server, transfers } = await startServer();
    expect((await download(net, 5007, 'undionly.kpxe')).data.toString()).toBe('UNDI');
    expect(transfers[0]!.origin).toBe('ipxe');
    expect(server.ipxeBinaries().has('undionly.kpxe')).toBe(true);
    await server.stop();
  });

  it.each([
    ['a missing file', 'nope.bin', TftpErrorCode.FILE_NOT_FOUND],
    ['a parent-directory escape', '../secret', TftpErrorCode.ACCESS_VIOLATION],
    ['a symlink out of the root', 'escape', TftpErrorCode.ACCESS_VIOLATION],
    ['an absolute path outside the root', '/etc/passwd', TftpErrorCode.FILE_NOT_FOUND],
    ['a control character', 'small\x01.txt', TftpErrorCode.ACCESS_VIOLATION],
  ])('refuses %s with an ERROR packet', async (_what, file, code) => {
    const { net, server } = await startServer();
    const result = await download(net, 5008, file);
    expect(result.error?.code).toBe(code);
    expect(server.stats()).toMatchObject({ refused: 1, completed: 0, active: 0 });
    await server.stop();
  });

  it('refuses write requests with "access violation"', async () => {
    const { net, server } = await startServer();
    const client = net.client('10.0.0.50', 5009);
    client.send(encodeRequest(Opcode.WRQ, 'small.txt'), SERVER);
    net.flush();
    const [reply] = client.take();
    expect(reply!.packet).toMatchObject({ opcode: Opcode.ERROR, code: TftpErrorCode.ACCESS_VIOLATION });
    expect((reply!.packet as { message: string }).message).toMatch(/access violation/);
    expect(server.stats()).toMatchObject({ requests: 1, refused: 1 });
    await server.stop();
  });

  it('serves netascii with CR LF line ends and refuses other modes', async () => {
    const { net, server } = await startServer();
    const client = net.client('10.0.0.50', 5010);
    client.send(encodeRequest(Opcode.RRQ, 'small.txt', 'netascii'), SERVER);
    await pump(net, () => client.received.length > 0);
    const [data] = client.take();
    expect(data!.packet).toMatchObject({ opcode: Opcode.DATA, block: 1 });
    expect((data!.packet as { payload: Buffer }).payload.toString()).toBe('#!ipxe\r\nchain http://10.0.0.1/boot\r\n');
    const other = net.client('10.0.0.50', 5011);
    other.send(encodeRequest(Opcode.RRQ, 'small.txt', 'mail'), SERVER);
    await pump(net, () => other.received.length > 0);
    expect(other.take()[0]!.packet).toMatchObject({ opcode: Opcode.ERROR, code: TftpErrorCode.ILLEGAL_OPERATION });
    await server.stop();
  });

  it('retransmits on timeout, ignores a retransmitted RRQ, and gives up after the retry limit', async () => {
    const { net, timers, server, failures } = await startServer({}, { retries: 2 });
    const client = net.client('10.0.0.50', 5012);
    const rrq = encodeRequest(Opcode.RRQ, 'pxe/medium.bin');
    client.send(rrq, SERVER);
    await pump(net, () => client.received.length > 0);
    client.send(rrq, SERVER); // the client thinks its RRQ was lost
    await pump(net, () => true);
    await settle();
    expect(client.take().map((r) => r.packet.opcode)).toEqual([Opcode.DATA]);
    expect(server.stats().active).toBe(1);
    timers.fireAll();
    net.flush();
    expect(client.take().map((r) => r.packet)).toMatchObject([{ opcode: Opcode.DATA, block: 1 }]);
    timers.fireAll();
    net.flush();
    timers.fireAll();
    net.flush();
    await settle();
    const last = client.take().map((r) => r.packet);
    expect(last[last.length - 1]).toMatchObject({ opcode: Opcode.ERROR, code: 0, message: 'transfer timed out' });
    expect(server.stats()).toMatchObject({ errors: 1, active: 0, retransmits: 2 });
    expect(failures[0]).toMatchObject({ file: 'pxe/medium.bin', client: { port: 5012 } });
    await server.stop();
  });

  it('refuses requests beyond maxTransfers with "server busy" and accepts again once one ends', async () => {
    const { net, timers, server } = await startServer({}, { maxTransfers: 2, retries: 0 });
    const clients = [5020, 5021, 5022].map((port) => net.client('10.0.0.50', port));
    for (const c of clients) c.send(encodeRequest(Opcode.RRQ, 'pxe/medium.bin'), SERVER);
    await pump(net, () => clients.every((c) => c.received.length > 0));
    expect(clients[2]!.take()[0]!.packet).toMatchObject({ opcode: Opcode.ERROR, message: 'server busy, try again' });
    expect(server.stats().active).toBe(2);
    timers.fireAll(); // both time out (retries 0)
    await pump(net, () => server.stats().active === 0);
    expect((await download(net, 5023, 'small.txt')).data).toEqual(small);
    await server.stop();
  });

  it('tells clients of running transfers when it stops', async () => {
    const { net, server } = await startServer();
    const client = net.client('10.0.0.50', 5030);
    client.send(encodeRequest(Opcode.RRQ, 'pxe/medium.bin'), SERVER);
    await pump(net, () => client.received.length > 0);
    client.take();
    await server.stop();
    net.flush();
    expect(client.take()[0]!.packet).toMatchObject({ opcode: Opcode.ERROR, message: 'server shutting down' });
    expect(server.stats().active).toBe(0);
  });

  it('survives a seeded fuzz of random and mutated datagrams and still serves afterwards', async () => {
    let seed = 0x5eed;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 4294967296;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const { net, timers, server } = await startServer({
      generate: (file) => (file.startsWith('gen') ? Buffer.alloc(700, 3) : null),
    }, { maxTransfers: 50, retries: 1 });
    const seeds = [
      encodeRequest(Opcode.RRQ, 'small.txt', 'octet', { blksize: 1468, tsize: 0, windowsize: 8, timeout: 1 }),
      encodeRequest(Opcode.RRQ, 'gen.ipxe', 'netascii'),
      encodeRequest(Opcode.WRQ, 'x', 'octet'),
      encodeRequest(Opcode.RRQ, '../../etc/passwd', 'octet'),
      encodeAck(1),
      Buffer.from([0, 5, 0, 1, 0x41, 0]),
      Buffer.from([0, 6, 0x62, 0]),
    ];
    const replies: Buffer[] = [];
    const sinks = Array.from({ length: 40 }, (_, i) => {
      const sink = net.client('10.0.0.99', 6000 + i);
      sink.onMessage((packet) => replies.push(packet));
      return sink;
    });
    for (let i = 0; i < 3000; i++) {
      let packet: Buffer;
      if (random() < 0.3) {
        packet = Buffer.alloc(Math.floor(random() * 600));
        for (let j = 0; j < packet.length; j++) packet[j] = Math.floor(random() * 256);
        if (packet.length >= 2 && random() < 0.5) packet[0] = 0, packet[1] = Math.floor(random() * 8);
      } else {
        packet = Buffer.from(pick(seeds));
        const mutations = 1 + Math.floor(random() * 4);
        for (let m = 0; m < mutations; m++) {
          const op = random();
          const at = Math.floor(random() * Math.max(1, packet.length));
          if (op < 0.3 && packet.length > 0) packet[at] = Math.floor(random() * 256);
          else if (op < 0.5) packet = packet.subarray(0, at);
          else if (op < 0.7) packet = Buffer.concat([packet.subarray(0, at), Buffer.from([0]), packet.subarray(at)]);
          else if (op < 0.85) packet = Buffer.concat([packet, Buffer.from('blksize\u00000\u0000', 'latin1')]);
          else packet = Buffer.concat([packet, packet]);
        }
      }
      const sink = pick(sinks);
      // Mostly at the request port, sometimes at a transfer socket that may be open.
      const target = random() < 0.8 ? SERVER : { address: SERVER.address, port: 40000 + Math.floor(random() * 50) };
      sink.send(packet, target);
      if (i % 50 === 0) {
        net.flush();
        await settle();
        timers.fireAll();
      }
    }
    for (let i = 0; i < 4; i++) {
      await settle();
      net.flush();
      timers.fireAll();
    }
    await pump(net, () => server.stats().active === 0);
    const stats = server.stats();
    expect(stats.malformed).toBeGreaterThan(100);
    expect(stats.active).toBe(0);
    for (const reply of replies) expect(() => parsePacket(reply)).not.toThrow();
    expect(replies.some((r) => r.readUInt16BE(0) === Opcode.ERROR)).toBe(true);
    expect((await download(net, 5099, 'pxe/medium.bin', { blksize: 1000 })).data).toEqual(medium);
    await server.stop();
  });
});
