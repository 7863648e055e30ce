import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLan, netnsUnavailableReason, stopProcess } from '../../support/netns.js';
import type { Lan } from '../../support/netns.js';
import { tsNodeArgs } from '../../support/ts-child.js';
import { packageRoot } from '../../../src/paths.js';

/**
 * Anvil's TFTP server as its own process inside one network namespace, real clients in another, joined
 * by veths on a bridge: proves the per-transfer sockets, source addresses and windowing work across a
 * real interface, also when the link drops packets.
 */

const unavailable = netnsUnavailableReason();
if (unavailable) console.warn(`skipping TFTP netns tests: ${unavailable}`);
const describeNetns = unavailable ? describe.skip : describe;

const SERVER_IP = '10.73.0.1';
const PORT = '69';

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

describeNetns('TFTP server across a veth in a network namespace', () => {
  let lan: Lan;
  let dir: string;
  let server: ChildProcess;
  let serverOutput = '';
  const image = randomBytes(2 * 1024 * 1024 + 77);
  // Lock-step TFTP pays a whole retransmission timeout (300 ms here) per lost packet: keep it small.
  const lossy = randomBytes(400_000);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-tftp-netns-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'root'));
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'root', 'image.bin'), image);
    writeFileSync(join(dir, 'root', 'lossy.bin'), lossy);
    lan = await createLan('tftp', [
      { name: 'srv', ip: `${SERVER_IP}/24` },
      { name: 'cli', ip: '10.73.0.2/24' },
    ]);
    server = lan.spawn('srv', process.execPath, tsNodeArgs('bench/tftp-server.ts', [join(dir, 'root'), SERVER_IP, PORT, '1468', '16', '300']));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`TFTP child not ready: ${serverOutput}`)), 20_000);
      server.stdout!.on('data', (d: Buffer) => {
        serverOutput += d.toString();
        if (serverOutput.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.stderr!.on('data', (d: Buffer) => (serverOutput += d.toString()));
      server.once('exit', (code) => reject(new Error(`TFTP child exited with ${code}: ${serverOutput}`)));
    });
  }, 60_000);

  afterAll(async () => {
    if (server) await stopProcess(server);
    await lan?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('atftp in another namespace downloads with blksize 1468 and windowsize 16', async () => {
    const target = join(dir, 'out', 'atftp.bin');
    const r = await lan.exec('cli', 'atftp', [
      '-g', '-r', 'image.bin', '-l', target, '--option', 'blksize 1468', '--option', 'windowsize 16', SERVER_IP, PORT,
    ], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(sha256(readFileSync(target))).toBe(sha256(image));
  });

  it('curl and tftp-hpa in another namespace download byte-identical', async () => {
    const a = join(dir, 'out', 'curl.bin');
    const c = await lan.exec('cli', 'curl', ['-sS', '--tftp-blksize', '1468', '-o', a, `tftp://${SERVER_IP}/image.bin`], { timeoutMs: 30_000 });
    expect(c).toMatchObject({ code: 0, stderr: '' });
    expect(sha256(readFileSync(a))).toBe(sha256(image));
    const b = join(dir, 'out', 'hpa.bin');
    const h = await lan.exec('cli', 'tftp', ['-m', 'binary', SERVER_IP, '-c', 'get', 'image.bin', b], { timeoutMs: 60_000 });
    expect(h.stderr).toBe('');
    expect(sha256(readFileSync(b))).toBe(sha256(image));
  });

  it('recovers from 3% loss on the path (retransmission and window rollback) with atftp', async () => {
    // This kernel has no sch_netem, so loss comes from a user-space relay: a TUN link between the two
    // namespaces dropping 3% of packets each way (seeded), with a host route sending the server's
    // address over it.
    const relay = lan.spawn('srv', 'python3', [
      join(packageRoot, 'bench', 'tftp-delay-relay.py'), lan.ns.srv!, '10.74.0.1', lan.ns.cli!, '10.74.0.2', '0', '3', '7',
    ]);
    let relayOutput = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay not ready: ${relayOutput}`)), 10_000);
      relay.stdout!.on('data', (d: Buffer) => {
        relayOutput += d.toString();
        if (relayOutput.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      relay.stderr!.on('data', (d: Buffer) => (relayOutput += d.toString()));
    });
    try {
      const route = await lan.exec('cli', 'ip', ['route', 'add', `${SERVER_IP}/32`, 'via', '10.74.0.1']);
      expect(route).toMatchObject({ code: 0, stderr: '' });
      for (const window of ['1', '16']) {
        const target = join(dir, 'out', `lossy-${window}.bin`);
        const r = await lan.exec('cli', 'atftp', [
          '-g', '-r', 'lossy.bin', '-l', target, '--option', 'blksize 1468', '--option', `windowsize ${window}`,
          // atftp re-ACKs a duplicate block only once, then ignores duplicates until its own timeout
          // (default 5 s) passes in silence. When that one extra ACK is lost too, only the server's
          // backoff (300, 600, 1200 ms ... here) opening a gap longer than the client's timeout gets the
          // transfer going again; 1 s keeps that inside this test's retry budget.
          '--tftp-timeout', '1',
          SERVER_IP, PORT,
        ], { timeoutMs: 60_000 });
        // The client's own account (last lines) makes a failure here diagnosable.
        expect({ window, code: r.code, tail: r.code === 0 ? '' : (r.stdout + r.stderr).split('\n').slice(-8).join('\n') })
          .toEqual({ window, code: 0, tail: '' });
        expect(sha256(readFileSync(target))).toBe(sha256(lossy));
      }
    } finally {
      await stopProcess(relay);
    }
    expect(relayOutput).toMatch(/dropped [1-9]/);
  }, 130_000);
});
