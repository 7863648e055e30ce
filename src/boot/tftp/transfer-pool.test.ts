import { createSocket, type Socket } from 'node:dgram';
import { fstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { encodeAck, Opcode, parsePacket } from './packet.js';
import { FileSource } from './source.js';
import { TransferThreadPool, type ThreadTransferJob } from './transfer-pool.js';
import type { TransferEnd } from './transfer-runner.js';
import { waitFor } from '../../../test/support/wait.js';

// The pool with real threads and a real UDP client on loopback: what the server relies on when a
// thread finishes, dies, or is stopped.

const silent = { warn() {} };

function clientSocket(): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => resolve(socket));
  });
}

function job(client: Socket, source: FileSource): ThreadTransferJob {
  return {
    client: { address: '127.0.0.1', port: client.address().port },
    family: 'udp4',
    listenAddress: '127.0.0.1',
    source: source.handoff(),
    settings: { blksize: 512, windowsize: 1, retries: 2, oack: null },
    timeoutMs: 5000,
  };
}

function ended(): { onEnd: (end: TransferEnd, setupFailed: boolean) => void; result: Promise<{ end: TransferEnd; setupFailed: boolean }> } {
  let resolve!: (v: { end: TransferEnd; setupFailed: boolean }) => void;
  const result = new Promise<{ end: TransferEnd; setupFailed: boolean }>((r) => (resolve = r));
  return { onEnd: (end, setupFailed) => resolve({ end, setupFailed }), result };
}

/** The pool's threads, for killing one the way a crash would. */
function threadsOf(pool: TransferThreadPool): Worker[] {
  return (pool as unknown as { slots: { worker: Worker }[] }).slots.map((s) => s.worker);
}

describe('TransferThreadPool', () => {
  let dir: string;
  let path: string;
  const content = Buffer.alloc(5000, 7);
  let pool: TransferThreadPool;
  const sockets: Socket[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-tftp-pool-'));
    path = join(dir, 'file.bin');
    writeFileSync(path, content);
  });
  afterEach(async () => {
    await pool?.stop();
    sockets.splice(0).forEach((s) => s.close());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a transfer in a thread, reports its end, and leaves the descriptor to its owner', async () => {
    pool = new TransferThreadPool(2, silent);
    await pool.start();
    expect(pool.liveThreads).toBe(2);
    const client = await clientSocket();
    sockets.push(client);
    const received: Buffer[] = [];
    client.on('message', (msg, rinfo) => {
      const p = parsePacket(msg);
      if (p.opcode !== Opcode.DATA) return;
      received.push(p.payload);
      client.send(encodeAck(p.block), rinfo.port, rinfo.address);
    });
    const source = FileSource.openSync(path);
    const { onEnd, result } = ended();
    pool.run(job(client, source), onEnd);
    const { end, setupFailed } = await result;
    expect(setupFailed).toBe(false);
    expect(end).toMatchObject({ ok: true, retransmits: 0 });
    expect(end).not.toHaveProperty('reason');
    expect(Buffer.concat(received)).toEqual(content);
    // Borrowed, not closed by the thread: the owner still holds it.
    expect(fstatSync((source.handoff() as { fd: number }).fd).size).toBe(content.length);
    await source.close();
  });

  it('fails the transfers of a thread that dies and replaces the thread', async () => {
    pool = new TransferThreadPool(1, silent);
    await pool.start();
    const silentClient = await clientSocket(); // never acknowledges
    sockets.push(silentClient);
    const firstData = new Promise((r) => silentClient.once('message', r));
    const source = FileSource.openSync(path);
    const { onEnd, result } = ended();
    pool.run(job(silentClient, source), onEnd);
    await firstData;
    const [thread] = threadsOf(pool);
    await thread!.terminate();
    const { end } = await result;
    expect(end.ok).toBe(false);
    expect(end).toMatchObject({ reason: expect.stringMatching(/transfer thread exited/) });
    await waitFor(() => pool.liveThreads === 1, 2000, 'the replacement thread', 10);
    expect(pool.liveThreads).toBe(1);
    expect(threadsOf(pool)[0]).not.toBe(thread);

    // The replacement serves the next transfer.
    const client = await clientSocket();
    sockets.push(client);
    client.on('message', (msg, rinfo) => {
      const p = parsePacket(msg);
      if (p.opcode === Opcode.DATA) client.send(encodeAck(p.block), rinfo.port, rinfo.address);
    });
    const next = ended();
    pool.run(job(client, source), next.onEnd);
    expect((await next.result).end.ok).toBe(true);
    await source.close();
  });

  it('abort ends a running transfer with an ERROR to the client', async () => {
    pool = new TransferThreadPool(1, silent);
    await pool.start();
    const client = await clientSocket();
    sockets.push(client);
    const packets: Buffer[] = [];
    const gotError = new Promise<void>((resolve) =>
      client.on('message', (msg) => {
        packets.push(msg);
        if (msg.readUInt16BE(0) === Opcode.ERROR) resolve();
      }),
    );
    const source = FileSource.openSync(path);
    const { onEnd, result } = ended();
    const handle = pool.run(job(client, source), onEnd);
    await waitFor(() => packets.length > 0, 2000, 'the first packet', 5);
    await handle.abort('server shutting down');
    expect((await result).end).toMatchObject({ ok: false, reason: 'server shutting down' });
    await gotError;
    const error = parsePacket(packets.at(-1)!);
    expect(error).toMatchObject({ opcode: Opcode.ERROR, message: 'server shutting down' });
    await source.close();
  });

  it('reports a socket that cannot be set up as a setup failure', async () => {
    pool = new TransferThreadPool(1, silent);
    await pool.start();
    const source = FileSource.openSync(path);
    const { onEnd, result } = ended();
    // 192.0.2.1 (TEST-NET-1) is not an address of this host: bind fails with EADDRNOTAVAIL.
    pool.run({ ...job(await clientSocket().then((s) => (sockets.push(s), s)), source), listenAddress: '192.0.2.1' }, onEnd);
    const { end, setupFailed } = await result;
    expect(setupFailed).toBe(true);
    expect(end).toMatchObject({ ok: false, reason: expect.stringMatching(/EADDRNOTAVAIL/) });
    await source.close();
  });
});
