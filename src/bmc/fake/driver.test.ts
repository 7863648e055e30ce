import { describe, expect, it } from '@jest/globals';
import { BmcAuthError, BmcError, BmcUnreachableError } from '../../errors.js';
import { createFakeDriver, FakeBmcDirectory } from './driver.js';

const endpoint = { protocol: 'fake' as const, host: 'lab-1', port: 623, username: 'admin', password: 'password', tls: 'verify' };

describe('fake BMC driver', () => {
  it('keeps power and boot state per BMC across driver instances', async () => {
    const dir = new FakeBmcDirectory();
    const a = createFakeDriver(endpoint, dir);
    await a.setPower('on');
    await a.setBootDevice({ device: 'pxe', persistent: false, mode: 'uefi' });
    const b = createFakeDriver(endpoint, dir);
    expect(await b.powerState()).toBe('on');
    expect(await b.getBootDevice()).toEqual({ device: 'pxe', persistent: false, mode: 'uefi' });
    expect(await createFakeDriver({ ...endpoint, host: 'lab-2' }, dir).powerState()).toBe('off');
  });

  it('consumes a one-time boot override on the next reboot but keeps a persistent one', async () => {
    const d = createFakeDriver(endpoint, new FakeBmcDirectory());
    await d.setBootDevice({ device: 'pxe', persistent: false, mode: 'uefi' });
    await d.setPower('cycle');
    expect((await d.getBootDevice()).device).toBe('none');
    await d.setBootDevice({ device: 'disk', persistent: true, mode: 'uefi' });
    await d.setPower('reset');
    expect((await d.getBootDevice()).device).toBe('disk');
  });

  it('checks credentials and produces injected failures of each type, a limited number of times', async () => {
    const dir = new FakeBmcDirectory();
    const d = createFakeDriver(endpoint, dir);
    await expect(createFakeDriver({ ...endpoint, password: 'x' }, dir).powerState()).rejects.toBeInstanceOf(BmcAuthError);
    d.bmc.injectFailure({ kind: 'unreachable', operations: ['inspect'], times: 1 });
    d.bmc.injectFailure({ kind: 'error', operations: ['health'] });
    await expect(d.inspect()).rejects.toBeInstanceOf(BmcUnreachableError);
    await expect(d.inspect()).resolves.toMatchObject({ vendor: 'Anvil' });
    await expect(d.health()).rejects.toBeInstanceOf(BmcError);
    d.bmc.clearFailures();
    await expect(d.health()).resolves.toBeDefined();
  });

  it('reports configured component health and only log entries newer than since', async () => {
    const d = createFakeDriver(endpoint, new FakeBmcDirectory());
    d.bmc.setComponent({ component: 'drive:disk0', kind: 'drive', status: 'critical', reading: null, message: 'disk0 failed' });
    d.bmc.addLogEntry('warning', 'old', new Date('2026-01-01T00:00:00Z'));
    d.bmc.addLogEntry('critical', 'new', new Date('2026-01-02T00:00:00Z'));
    const report = await d.health({ since: '2026-01-01T12:00:00Z' });
    expect(report.components.find((c) => c.component === 'drive:disk0')?.status).toBe('critical');
    expect(report.logEntries!.map((e) => e.message)).toEqual(['new']);
  });

  it('gives each BMC a distinct serial and MAC', async () => {
    const dir = new FakeBmcDirectory();
    const one = await createFakeDriver(endpoint, dir).inspect();
    const two = await createFakeDriver({ ...endpoint, host: 'lab-2' }, dir).inspect();
    expect(one.serial).not.toBe(two.serial);
    expect(one.nics[0]!.mac).not.toBe(two.nics[0]!.mac);
    expect(one.nics[0]!.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  });

  it('refuses calls after close', async () => {
    const d = createFakeDriver(endpoint, new FakeBmcDirectory());
    await d.close();
    await expect(d.powerState()).rejects.toThrow(/closed/);
  });
});
