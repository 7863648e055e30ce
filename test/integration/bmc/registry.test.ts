import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BmcRegistry } from '../../../src/bmc/registry.js';
import { BmcOperationQueue, type BmcCallMetadata } from '../../../src/bmc/serialize.js';
import { BmcUnreachableError } from '../../../src/errors.js';
import { startRedfishSimFleet, type RedfishSimFleet } from '../../../src/lab/redfish-sim/index.js';

// The registry end to end: endpoint record → validated, cached, serialised Redfish driver → simulator.
describe('BMC registry with real Redfish drivers', () => {
  let fleet: RedfishSimFleet;
  let bladed: RedfishSimFleet;
  const calls: BmcCallMetadata[] = [];
  let registry: BmcRegistry;

  beforeAll(async () => {
    fleet = await startRedfishSimFleet({ count: 3 });
    bladed = await startRedfishSimFleet({ count: 1, mockup: 'public-bladed', certificate: fleet.certificate! });
    registry = new BmcRegistry({ queue: new BmcOperationQueue(), timeoutMs: 1500, readRetries: 1, backoffMs: 10, onCall: (m) => calls.push(m) });
  });
  afterAll(async () => {
    await registry.closeAll();
    await fleet.stop();
    await bladed.stop();
  });

  it('drives a machine through power and boot changes and records per-call metadata', async () => {
    const d = registry.driverFor(fleet.endpoint(0, { timeoutMs: 1000 }));
    expect(registry.driverFor(fleet.endpoint(0, { timeoutMs: 1000 }))).toBe(d);
    await d.setBootDevice({ device: 'pxe', persistent: false, mode: 'uefi' });
    await d.setPower('off');
    expect(await d.powerState()).toBe('off');
    expect(fleet.instances[0]!.powerState()).toBe('Off');
    const bmc = `127.0.0.1:${fleet.instances[0]!.port}`;
    expect(calls.filter((c) => c.bmc === bmc).map((c) => [c.operation, c.ok, c.attempts])).toEqual([
      ['setBootDevice', true, 1],
      ['setPower', true, 1],
      ['powerState', true, 1],
    ]);
  });

  it('retries a read after a transient 503 but reports the BMC message when it persists', async () => {
    const sim = fleet.instances[1]!;
    const d = registry.driverFor(fleet.endpoint(1));
    await d.verify();
    sim.injectFault({ kind: 'http-error', status: 503 }, { path: '/Systems/', times: 1 });
    expect(await d.powerState()).toBe('on');
    expect(calls.at(-1)).toMatchObject({ operation: 'powerState', attempts: 2, ok: true });
    sim.injectFault({ kind: 'http-error', status: 503, message: 'BMC busy' }, { path: '/Systems/' });
    await expect(d.powerState()).rejects.toThrow(/HTTP 503: BMC busy/);
    sim.clearFaults();
  });

  it('two systems behind one BMC share its queue: never two operations on the wire at once', async () => {
    const sim = bladed.instances[0]!;
    const a = registry.driverFor(bladed.endpoint(0, { systemId: '529QB9450R6' }));
    const b = registry.driverFor(bladed.endpoint(0, { systemId: '529QB9451R6' }));
    expect(a).not.toBe(b);
    await Promise.all([a.verify(), b.verify()]);
    sim.stats.maxConcurrent = 0;
    sim.injectFault({ kind: 'latency', ms: 20 }, { times: 10 });
    await Promise.all([a.powerState(), b.powerState(), a.powerState(), b.powerState(), a.getBootDevice(), b.getBootDevice()]);
    expect(sim.stats.maxConcurrent).toBe(1);
  });

  it('a hung BMC fails with BmcUnreachableError at the deadline and does not hold up another BMC', async () => {
    const hungSim = fleet.instances[2]!;
    const hung = registry.driverFor(fleet.endpoint(2, { timeoutMs: 5000 }));
    const other = registry.driverFor(fleet.endpoint(1));
    hungSim.injectFault({ kind: 'hang' });
    const started = Date.now();
    const pending = hung.powerState().catch((e: unknown) => e);
    expect(await other.powerState()).toBe('on');
    expect(Date.now() - started).toBeLessThan(1500);
    const err = await pending;
    hungSim.clearFaults();
    expect(err).toBeInstanceOf(BmcUnreachableError);
  });

  it('closeAll deletes the Redfish sessions', async () => {
    const created = fleet.instances.reduce((n, s) => n + s.sessionCount, 0);
    expect(created).toBeGreaterThan(0);
    await registry.closeAll();
    expect(fleet.instances.reduce((n, s) => n + s.sessionCount, 0)).toBe(0);
  });
});
