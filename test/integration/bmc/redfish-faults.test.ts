import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import type { BmcEndpoint } from '../../../src/bmc/driver.js';
import { createRedfishDriver, type RedfishDriver, type RedfishDriverOptions } from '../../../src/bmc/redfish/driver.js';
import { BmcOperationQueue, serializeDriver } from '../../../src/bmc/serialize.js';
import { BmcAuthError, BmcError, BmcUnreachableError } from '../../../src/errors.js';
import { startRedfishSimFleet, type RedfishSimFleet } from '../../../src/lab/redfish-sim/index.js';

// Failure modes of the Redfish driver, each against a live simulated BMC on loopback.
const FAST: RedfishDriverOptions = { pollIntervalMs: 20, powerSettleMs: 3000, softOffTimeoutMs: 300, requestTimeoutMs: 1500, taskPollMs: 20 };

describe('Redfish driver failure modes, TLS and sessions', () => {
  let fleet: RedfishSimFleet;
  const drivers: RedfishDriver[] = [];
  const driver = (i: number, overrides: Partial<BmcEndpoint> = {}, opts: RedfishDriverOptions = {}): RedfishDriver => {
    const d = createRedfishDriver(fleet.endpoint(i, overrides), { ...FAST, ...opts });
    drivers.push(d);
    return d;
  };

  beforeAll(async () => {
    fleet = await startRedfishSimFleet({ count: 12 });
  });
  afterAll(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await fleet.stop();
  });

  it('a refused connection is BmcUnreachableError "connection refused"', async () => {
    const port = await freePort();
    const d = driver(0, { port });
    const err = await d.powerState().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BmcUnreachableError);
    expect((err as Error).message).toMatch(/connection refused/);
  });

  it('wrong credentials are BmcAuthError naming the user, not the password', async () => {
    const d = driver(0, { username: 'admin', password: 'wrong-secret' });
    const err = await d.powerState().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BmcAuthError);
    expect((err as Error).message).toMatch(/user 'admin'/);
    expect((err as Error).message).not.toContain('wrong-secret');
  });

  it('a 5xx is BmcError carrying the BMC extended message', async () => {
    fleet.instances[1]!.injectFault({ kind: 'http-error', status: 500 }, { path: '/Systems/' });
    const d = driver(1);
    const err = await d.powerState().catch((e: unknown) => e);
    fleet.instances[1]!.clearFaults();
    expect(err).toBeInstanceOf(BmcError);
    expect(err).not.toBeInstanceOf(BmcUnreachableError);
    expect((err as Error).message).toMatch(/HTTP 500: The request failed due to an internal service error.*\(InternalError\)/);
  });

  it('a garbage body is BmcError "malformed JSON"', async () => {
    fleet.instances[2]!.injectFault({ kind: 'malformed-json' }, { path: '/Systems' });
    const d = driver(2);
    const err = await d.powerState().catch((e: unknown) => e);
    fleet.instances[2]!.clearFaults();
    expect(err).toBeInstanceOf(BmcError);
    expect((err as Error).message).toMatch(/malformed JSON/);
  });

  it('a hung BMC times out as BmcUnreachableError within the deadline while another BMC answers', async () => {
    fleet.instances[3]!.injectFault({ kind: 'hang' }, { path: '/Systems/' });
    const hung = driver(3);
    const healthy = driver(4);
    const started = Date.now();
    const hungCall = hung.powerState().then(
      () => 'answered',
      (e: unknown) => e,
    );
    expect(await healthy.powerState()).toBe('on');
    const healthyMs = Date.now() - started;
    const err = await hungCall;
    const hungMs = Date.now() - started;
    fleet.instances[3]!.clearFaults();
    expect(err).toBeInstanceOf(BmcUnreachableError);
    expect((err as Error).message).toMatch(/timed out/);
    // Generous margins for a loaded 2-core machine: the healthy BMC is never held by the hung one.
    expect(healthyMs).toBeLessThan(1500);
    expect(hungMs).toBeLessThan(1500 * 2 + 1000);
  });

  it('a BMC that accepts TCP but never completes the TLS handshake is BmcUnreachableError (timeout)', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const d = driver(0, { port }, { requestTimeoutMs: 400 });
      const err = await d.powerState().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BmcUnreachableError);
      expect((err as Error).message).toMatch(/timed out/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('added latency is tolerated below the timeout', async () => {
    fleet.instances[5]!.injectFault({ kind: 'latency', ms: 150 }, { times: 3 });
    expect(await driver(5).powerState()).toBe('on');
  });

  it('an auth failure injected mid-session: re-creates the session once, then BmcAuthError', async () => {
    const sim = fleet.instances[6]!;
    const d = driver(6);
    await d.powerState();
    expect(sim.stats.sessionsCreated).toBe(1);
    sim.injectFault({ kind: 'auth' });
    const err = await d.powerState().catch((e: unknown) => e);
    sim.clearFaults();
    expect(err).toBeInstanceOf(BmcAuthError);
  });

  it('reuses one session across calls, re-creates it after expiry, and DELETEs it on close', async () => {
    const sim = fleet.instances[7]!;
    const d = createRedfishDriver(fleet.endpoint(7), FAST);
    await d.powerState();
    await d.getBootDevice();
    await d.inspect();
    expect(sim.stats.sessionsCreated).toBe(1);
    expect(sim.sessionCount).toBe(1);
    sim.expireSessions();
    expect(await d.powerState()).toBe('on');
    expect(sim.stats.sessionsCreated).toBe(2);
    await d.close();
    await d.close(); // idempotent
    expect(sim.stats.sessionsDeleted).toBe(1);
    expect(sim.sessionCount).toBe(0);
  });

  it('falls back to Basic auth when the BMC has no session service', async () => {
    const basic = await startRedfishSimFleet({ count: 1, sessions: false, certificate: fleet.certificate! });
    try {
      const d = createRedfishDriver(basic.endpoint(0), FAST);
      expect(await d.powerState()).toBe('on');
      expect(d.client.authentication).toBe('basic');
      expect(basic.instances[0]!.stats.sessionsCreated).toBe(0);
      await d.close();
    } finally {
      await basic.stop();
    }
  });

  it('follows 202 Accepted task monitors for resets', async () => {
    const tasks = await startRedfishSimFleet({ count: 1, asyncReset: true, powerDelayMs: 60, certificate: fleet.certificate! });
    try {
      const d = createRedfishDriver(tasks.endpoint(0), FAST);
      await d.setPower('off');
      expect(tasks.instances[0]!.powerState()).toBe('Off');
      await d.close();
    } finally {
      await tasks.stop();
    }
  });

  describe('TLS', () => {
    it('verify: rejects the self-signed certificate, accepts it with the CA supplied', async () => {
      const err = await driver(8, { tls: 'verify' }).powerState().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BmcUnreachableError);
      expect((err as Error).message).toMatch(/TLS verification failed/);
      expect(await driver(8, { tls: 'verify' }, { ca: fleet.certificate!.cert }).powerState()).toBe('on');
    });

    it('insecure: accepts any certificate', async () => {
      expect(await driver(9, { tls: 'insecure' }).powerState()).toBe('on');
    });

    it('pinned: accepts the matching fingerprint in any case and separator form', async () => {
      const hex = fleet.certificate!.fingerprint256.replace(/:/g, '').toLowerCase();
      expect(await driver(10, { tls: `sha256:${hex}` }).powerState()).toBe('on');
    });

    it('pinned: a different fingerprint is BmcUnreachableError "fingerprint mismatch" and sends no credentials', async () => {
      const sim = fleet.instances[11]!;
      const before = sim.stats.requests;
      const err = await driver(11, { tls: `sha256:${'ab'.repeat(32)}` }).powerState().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BmcUnreachableError);
      expect((err as Error).message).toMatch(/fingerprint mismatch/);
      expect(sim.stats.requests).toBe(before);
    });
  });

  it('serialised: concurrent callers for one BMC never overlap on the wire and run in call order', async () => {
    const sim = fleet.instances[4]!;
    const queue = new BmcOperationQueue();
    const raw = createRedfishDriver(fleet.endpoint(4), FAST);
    drivers.push(raw);
    const d = serializeDriver('127.0.0.1:x', raw, { queue, timeoutMs: 5000 });
    await d.powerState();
    sim.stats.maxConcurrent = 0;
    sim.injectFault({ kind: 'latency', ms: 30 }, { times: 8 });
    const order: number[] = [];
    await Promise.all(Array.from({ length: 8 }, (_, i) => d.powerState().then(() => order.push(i))));
    expect(sim.stats.maxConcurrent).toBe(1);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('serialised: a hung BMC times out through the wrapper without delaying another BMC', async () => {
    const queue = new BmcOperationQueue();
    fleet.instances[3]!.injectFault({ kind: 'hang' });
    const hung = serializeDriver('hung', driver(3, {}, { requestTimeoutMs: 10_000 }), { queue, timeoutMs: 800, readRetries: 0 });
    const ok = serializeDriver('ok', driver(5), { queue, timeoutMs: 800 });
    const started = Date.now();
    const hungCall = hung.powerState().catch((e: unknown) => e);
    const okState = await ok.powerState();
    const okMs = Date.now() - started;
    const err = await hungCall;
    fleet.instances[3]!.clearFaults();
    expect(okState).toBe('on');
    expect(okMs).toBeLessThan(800);
    expect(err).toBeInstanceOf(BmcUnreachableError);
    expect((err as Error).message).toMatch(/timed out after 800 ms/);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
