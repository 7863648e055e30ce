import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TftpServer } from '../../../src/boot/tftp/server.js';
import type { TftpTransferRecord } from '../../../src/boot/tftp/server.js';
import { encodeRequest, Opcode, parsePacket, TftpErrorCode } from '../../../src/boot/tftp/packet.js';
import { waitFor } from '../../support/wait.js';

/**
 * Anvil's TFTP server on loopback against the Debian clients operators use: tftp-hpa, curl and atftp.
 * Every download is compared byte for byte with the served file.
 */

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runClient(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function which(cmd: string): boolean {
  return ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((dir) => existsSync(join(dir, cmd)));
}

const missing = ['tftp', 'curl', 'atftp'].filter((c) => !which(c));
if (missing.length > 0) console.warn(`skipping TFTP client interop tests: ${missing.join(', ')} not installed (apt-get install tftp-hpa atftp curl)`);
const describeWithClients = missing.length === 0 ? describe : describe.skip;

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Sends one raw request from a fresh socket and returns the first reply. */
function rawRequest(port: number, packet: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no reply'));
    }, 3000);
    socket.once('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(packet, port, '127.0.0.1');
  });
}

describeWithClients('TFTP server with real clients on loopback', () => {
  let dir: string;
  let root: string;
  let out: string;
  let server: TftpServer;
  let port: number;
  const transfers: TftpTransferRecord[] = [];
  const boot = randomBytes(300_001); // not a multiple of any block size
  const exact = randomBytes(1468 * 20); // exact multiple of 1468: ends with an empty block
  const big = randomBytes(33 * 1024 * 1024 + 123); // > 32 MiB: 512-byte block numbers roll over
  const menu = '#!ipxe\nmenu Anvil\nitem local Boot from disk\n';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-tftp-it-'));
    root = join(dir, 'root');
    out = join(dir, 'out');
    mkdirSync(join(root, 'pxe'), { recursive: true });
    mkdirSync(out);
    writeFileSync(join(root, 'pxe', 'boot.bin'), boot);
    writeFileSync(join(root, 'exact.bin'), exact);
    writeFileSync(join(root, 'big.bin'), big);
    writeFileSync(join(root, 'menu.ipxe'), menu);
    writeFileSync(join(dir, 'secret'), 'do not serve');
    symlinkSync(join(dir, 'secret'), join(root, 'link-out'));
    server = new TftpServer({
      config: { rootDir: root, listenAddress: '127.0.0.1', port: 0, ipxeDir: null, maxBlksize: 1468, maxWindowsize: 16 },
      generate: (file, client) => (file === 'client.ipxe' ? Buffer.from(`#!ipxe\necho hello ${client.address}\n`) : null),
    });
    server.on('transfer', (t) => transfers.push(t));
    await server.start();
    port = server.address().port;
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function outFile(name: string): string {
    return join(out, name);
  }

  function transfersOf(file: string): TftpTransferRecord[] {
    return transfers.filter((t) => t.file === file);
  }

  /**
   * The record of the transfer of `file` after the `seen` earlier ones. The server records a transfer
   * when the final ACK reaches it (in a transfer thread), which can be after the client has exited.
   */
  function nextTransfer(file: string, seen: number): Promise<TftpTransferRecord> {
    return waitFor(() => transfersOf(file)[seen], 5000, `the transfer record of ${file}`);
  }

  it('tftp-hpa downloads a boot file byte-identical (512-byte blocks, binary mode)', async () => {
    const seen = transfersOf('pxe/boot.bin').length;
    const r = await runClient('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', 'pxe/boot.bin', outFile('hpa.bin')]);
    expect(r.stderr).toBe('');
    expect(sha256(readFileSync(outFile('hpa.bin')))).toBe(sha256(boot));
    expect(await nextTransfer('pxe/boot.bin', seen)).toMatchObject({ blksize: 512, windowsize: 1, bytes: boot.length });
  });

  it('tftp-hpa in its default netascii mode gets the text back unchanged', async () => {
    // tftp-hpa 5.2's client negotiates no options (no blksize); curl and atftp cover those below.
    const seen = transfersOf('menu.ipxe').length;
    const r = await runClient('tftp', ['127.0.0.1', String(port), '-c', 'get', 'menu.ipxe', outFile('menu.ipxe')]);
    expect(r.stderr).toBe('');
    expect(readFileSync(outFile('menu.ipxe'), 'utf8')).toBe(menu);
    expect((await nextTransfer('menu.ipxe', seen)).bytes).toBe(Buffer.byteLength(menu) + 3); // three LF -> CR LF
  });

  it('curl downloads byte-identical with the default block size and with --tftp-blksize 1468 (exact multiple)', async () => {
    const seenBoot = transfersOf('pxe/boot.bin').length;
    const seenExact = transfersOf('exact.bin').length;
    const a = await runClient('curl', ['-sS', '-o', outFile('curl-512.bin'), `tftp://127.0.0.1:${port}/pxe/boot.bin`]);
    expect(a).toMatchObject({ code: 0, stderr: '' });
    expect(sha256(readFileSync(outFile('curl-512.bin')))).toBe(sha256(boot));
    const b = await runClient('curl', ['-sS', '--tftp-blksize', '1468', '-o', outFile('curl-1468.bin'), `tftp://127.0.0.1:${port}/exact.bin`]);
    expect(b).toMatchObject({ code: 0, stderr: '' });
    expect(sha256(readFileSync(outFile('curl-1468.bin')))).toBe(sha256(exact));
    expect(await nextTransfer('pxe/boot.bin', seenBoot)).toMatchObject({ blksize: 512, bytes: boot.length });
    expect(await nextTransfer('exact.bin', seenExact)).toMatchObject({ blksize: 1468, bytes: exact.length });
  });

  it('curl receives generated per-client content from the hook', async () => {
    const r = await runClient('curl', ['-sS', `tftp://127.0.0.1:${port}/client.ipxe`]);
    expect(r.stdout).toBe('#!ipxe\necho hello 127.0.0.1\n');
  });

  it('atftp downloads with blksize 1468 and windowsize 16 (RFC 7440)', async () => {
    const seen = transfersOf('pxe/boot.bin').length;
    const r = await runClient('atftp', [
      '-g', '-r', 'pxe/boot.bin', '-l', outFile('atftp-w16.bin'),
      '--option', 'blksize 1468', '--option', 'windowsize 16', '--option', 'tsize 0', '127.0.0.1', String(port),
    ]);
    expect(r.code).toBe(0);
    expect(sha256(readFileSync(outFile('atftp-w16.bin')))).toBe(sha256(boot));
    expect(await nextTransfer('pxe/boot.bin', seen)).toMatchObject({ blksize: 1468, windowsize: 16, bytes: boot.length });
  });

  it('answers a traversal request with an access-violation ERROR packet', async () => {
    const reply = parsePacket(await rawRequest(port, encodeRequest(Opcode.RRQ, '../../../etc/passwd')));
    expect(reply).toMatchObject({ opcode: Opcode.ERROR, code: TftpErrorCode.ACCESS_VIOLATION });
    const viaLink = parsePacket(await rawRequest(port, encodeRequest(Opcode.RRQ, 'link-out')));
    expect(viaLink).toMatchObject({ opcode: Opcode.ERROR, code: TftpErrorCode.ACCESS_VIOLATION });
    const hpa = await runClient('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', '../secret', outFile('nope')]);
    expect(hpa.stdout + hpa.stderr).toMatch(/Error code 2/);
    // curl maps TFTP error 2 to CURLE_TFTP_PERM (69).
    const c = await runClient('curl', ['-sS', '-o', outFile('nope2'), `tftp://127.0.0.1:${port}/link-out`]);
    expect(c.code).toBe(69);
  });

  it('refuses a write request from tftp-hpa with "access violation"', async () => {
    writeFileSync(outFile('upload.bin'), 'x');
    const r = await runClient('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'put', outFile('upload.bin'), 'upload.bin']);
    expect(r.stdout + r.stderr).toMatch(/Error code 2: access violation/);
    expect(existsSync(join(root, 'upload.bin'))).toBe(false);
  });

  it('serves a 33 MiB file to tftp-hpa with 512-byte blocks across the block-number rollover', async () => {
    const seen = transfersOf('big.bin').length;
    const r = await runClient('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', 'big.bin', outFile('big.bin')], 120_000);
    expect(r.stderr).toBe('');
    expect(sha256(readFileSync(outFile('big.bin')))).toBe(sha256(big));
    expect(await nextTransfer('big.bin', seen)).toMatchObject({ blksize: 512, bytes: big.length });
    rmSync(outFile('big.bin'));
  }, 150_000);

  it('keeps serving after a burst of random datagrams on the real socket', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    for (let i = 0; i < 500; i++) {
      const packet = Buffer.alloc(Math.floor(random() * 700));
      for (let j = 0; j < packet.length; j++) packet[j] = Math.floor(random() * 256);
      if (packet.length > 1 && i % 2 === 0) packet[0] = 0;
      await new Promise<void>((resolve) => socket.send(packet, port, '127.0.0.1', () => resolve()));
    }
    socket.close();
    for (let i = 0; i < 100 && server.stats().malformed === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.stats().malformed).toBeGreaterThan(0);
    const r = await runClient('curl', ['-sS', '-o', outFile('after-fuzz.bin'), `tftp://127.0.0.1:${port}/pxe/boot.bin`]);
    expect(r.code).toBe(0);
    expect(sha256(readFileSync(outFile('after-fuzz.bin')))).toBe(sha256(boot));
  });

  it('counts what it did', () => {
    const stats = server.stats();
    expect(stats.completed).toBeGreaterThanOrEqual(7);
    expect(stats.refused).toBeGreaterThanOrEqual(5);
    // Random datagrams can form valid RRQs for files that exist; those transfers may still be running.
    expect(stats.errors).toBe(0);
    expect(stats.active).toBe(0);
    expect(stats.bytes).toBeGreaterThan(big.length);
  });
});

/** Blocks this thread (as a busy API or workflow burst would) until `done()` or `maxMs`; returns whether `done` came true. */
function blockEventLoopUntil(done: () => boolean, maxMs: number): boolean {
  const until = Date.now() + maxMs;
  while (Date.now() < until) if (done()) return true;
  return done();
}

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

describeWithClients('TFTP transfers in worker threads', () => {
  let dir: string;
  const file = randomBytes(4 * 1024 * 1024);
  const servers: TftpServer[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-tftp-threads-'));
    mkdirSync(join(dir, 'root'));
    writeFileSync(join(dir, 'root', 'big.bin'), file);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(transferThreads: number): Promise<TftpServer> {
    const server = new TftpServer({ config: { rootDir: join(dir, 'root'), listenAddress: '127.0.0.1', port: 0, ipxeDir: null, transferThreads } });
    servers.push(server);
    await server.start();
    return server;
  }

  /** Starts a lock-step download (512-byte blocks: 8,192 round trips) and waits until data flows. */
  async function startDownload(server: TftpServer, name: string): Promise<{ out: string; finished: Promise<RunResult> }> {
    const out = join(dir, name);
    const finished = runClient('curl', ['-sS', '-o', out, `tftp://127.0.0.1:${server.address().port}/big.bin`]);
    await waitFor(() => sizeOf(out) > 0, 5000, `the first blocks of ${name}`, 10);
    expect(sizeOf(out)).toBeGreaterThan(0);
    return { out, finished };
  }

  it('keeps a lock-step transfer going while the main event loop is blocked', async () => {
    const server = await serve(2);
    expect(server.transferThreads()).toBe(2);
    const { out, finished } = await startDownload(server, 'threaded.bin');
    // Every round trip of this transfer happens while this thread is stuck in the loop below.
    const completedWhileBlocked = blockEventLoopUntil(() => sizeOf(out) === file.length, 20_000);
    expect(completedWhileBlocked).toBe(true);
    expect((await finished).code).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(file));
    await waitFor(() => server.stats().completed === 1 && server.stats().active === 0, 2000, 'the transfer to be counted', 10);
    expect(server.stats()).toMatchObject({ completed: 1, errors: 0, bytes: file.length });
  });

  it('with transferThreads 0, the same transfer stalls while the main event loop is blocked', async () => {
    const server = await serve(0);
    expect(server.transferThreads()).toBe(0);
    const { out, finished } = await startDownload(server, 'main-loop.bin');
    const before = sizeOf(out);
    blockEventLoopUntil(() => false, 300);
    expect(sizeOf(out)).toBe(before);
    expect((await finished).code).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(file));
  });

  it('serves many concurrent transfers spread over the threads', async () => {
    const server = await serve(2);
    // Count the transfers each thread is handed (the pool's workers, as the pool's own test reaches them).
    const workers = (server as unknown as { pool: { slots: { worker: { postMessage(m: { op: string }): void } }[] } }).pool.slots.map((s) => s.worker);
    const handed = workers.map(() => 0);
    workers.forEach((w, i) => {
      const post = w.postMessage.bind(w);
      w.postMessage = (m) => {
        if (m.op === 'start') handed[i]!++;
        post(m);
      };
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runClient('curl', ['-sS', '--tftp-blksize', '1468', '-o', join(dir, `c${i}.bin`), `tftp://127.0.0.1:${server.address().port}/big.bin`]),
      ),
    );
    expect(results.map((r) => r.code)).toEqual(Array(20).fill(0));
    for (let i = 0; i < 20; i++) expect(sha256(readFileSync(join(dir, `c${i}.bin`)))).toBe(sha256(file));
    await waitFor(() => server.stats().completed === 20 && server.stats().active === 0, 2000, 'the transfers to be counted', 10);
    expect(server.stats()).toMatchObject({ completed: 20, active: 0 });
    expect(handed.reduce((a, b) => a + b)).toBe(20);
    expect(Math.min(...handed)).toBeGreaterThanOrEqual(5);
  });
});
