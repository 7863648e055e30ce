import { describe, expect, it } from '@jest/globals';
import type { BmcEndpoint } from './driver.js';
import { InputError } from '../errors.js';
import { createFakeDriver, FakeBmcDirectory } from './fake/driver.js';
import { BmcRegistry, validateEndpoint } from './registry.js';
import { BmcOperationQueue } from './serialize.js';

const redfish: BmcEndpoint = { protocol: 'redfish', host: '10.1.2.3', port: 443, username: 'root', password: 'calvin', tls: 'verify' };

function problem(endpoint: BmcEndpoint): { message: string; fields: string[] } {
  try {
    validateEndpoint(endpoint);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return { message: (err as Error).message, fields: ((err as InputError).details as { field: string }[]).map((d) => d.field) };
  }
  throw new Error('expected InputError');
}

describe('validateEndpoint', () => {
  it.each([
    redfish,
    { ...redfish, port: null },
    { ...redfish, host: 'bmc-r12-u07.example.net' },
    { ...redfish, host: 'fd00::10' },
    { ...redfish, tls: 'insecure' },
    { ...redfish, tls: `sha256:${'a'.repeat(64)}` },
    { ...redfish, tls: `sha256:${Array(32).fill('AB').join(':')}` },
    { ...redfish, systemId: 'System.Embedded.1' },
    { ...redfish, systemId: '/redfish/v1/Systems/1' },
    { ...redfish, protocol: 'ipmi', port: 623, tls: 'n/a' },
    { protocol: 'fake', host: 'lab-1', port: null, username: '', password: '', tls: '' },
  ] as BmcEndpoint[])('accepts %j', (endpoint) => {
    expect(() => validateEndpoint(endpoint)).not.toThrow();
  });

  it.each([
    [{ ...redfish, host: '' }, 'host'],
    [{ ...redfish, host: 'not a host!' }, 'host'],
    [{ ...redfish, port: 0 }, 'port'],
    [{ ...redfish, port: 70000 }, 'port'],
    [{ ...redfish, port: 44.3 }, 'port'],
    [{ ...redfish, username: '' }, 'username'],
    [{ ...redfish, password: '' }, 'password'],
    [{ ...redfish, tls: 'yes' }, 'tls'],
    [{ ...redfish, tls: 'sha256:abc' }, 'tls'],
    [{ ...redfish, systemId: '/redfish/v1/Chassis/1' }, 'systemId'],
    [{ ...redfish, protocol: 'snmp' }, 'protocol'],
    [{ ...redfish, timeoutMs: -1 }, 'timeoutMs'],
  ] as [BmcEndpoint, string][])('rejects %j naming %s', (endpoint, field) => {
    expect(problem(endpoint).fields).toEqual([field]);
  });

  it('lists every problem and never echoes the password', () => {
    const p = problem({ ...redfish, host: '', port: 0, password: '', tls: 'bad' });
    expect(p.fields).toEqual(['host', 'port', 'password', 'tls']);
    expect(p.message).not.toContain('calvin');
  });
});

describe('BmcRegistry', () => {
  const make = () => {
    const dir = new FakeBmcDirectory();
    let created = 0;
    const registry = new BmcRegistry({
      queue: new BmcOperationQueue(),
      factories: {
        redfish: (e) => {
          created += 1;
          return createFakeDriver(e, dir);
        },
      },
    });
    return { registry, dir, created: () => created };
  };

  it('caches one driver per BMC endpoint and replaces it when the credentials change', async () => {
    const { registry, created } = make();
    const a = registry.driverFor(redfish);
    expect(registry.driverFor({ ...redfish })).toBe(a);
    expect(created()).toBe(1);
    const b = registry.driverFor({ ...redfish, password: 'new' });
    expect(b).not.toBe(a);
    expect(registry.size).toBe(1);
    registry.driverFor({ ...redfish, host: '10.1.2.4' });
    expect(registry.size).toBe(2);
    await registry.closeAll();
    expect(registry.size).toBe(0);
  });

  it('closes the least recently used driver beyond maxDrivers, keeping recently used ones', async () => {
    const closed: string[] = [];
    const registry = new BmcRegistry({
      queue: new BmcOperationQueue(),
      maxDrivers: 256,
      factories: {
        redfish: (e) => {
          const d = createFakeDriver(e, new FakeBmcDirectory());
          const close = d.close.bind(d);
          d.close = async () => { closed.push(e.host); await close(); };
          return d;
        },
      },
    });
    const host = (i: number) => `10.9.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const first = registry.driverFor({ ...redfish, host: host(0) });
    for (let i = 1; i < 256; i++) registry.driverFor({ ...redfish, host: host(i) });
    expect(registry.driverFor({ ...redfish, host: host(0) })).toBe(first); // a hit refreshes it
    registry.driverFor({ ...redfish, host: host(256) });
    expect(registry.size).toBe(256);
    expect(closed).toEqual([host(1)]);
    expect(registry.driverFor({ ...redfish, host: host(0) })).toBe(first);
    await registry.closeAll();
  });

  it('returns serialised drivers that work, and validates first', async () => {
    const { registry, dir } = make();
    const d = registry.driverFor(redfish);
    await d.setPower('on');
    expect(dir.get('10.1.2.3', 443).power).toBe('on');
    expect(() => registry.driverFor({ ...redfish, tls: 'maybe' })).toThrow(InputError);
  });

  it('builds the fake driver for protocol fake without overrides', async () => {
    const registry = new BmcRegistry({ queue: new BmcOperationQueue() });
    const d = registry.driverFor({ protocol: 'fake', host: 'registry-test', port: 1, username: 'admin', password: 'password', tls: 'verify' });
    expect(d.protocol).toBe('fake');
    expect(await d.powerState()).toBe('off');
    await registry.closeAll();
  });
});
