import { describe, expect, it } from '@jest/globals';
import type { BootDeviceRequest } from '../../driver.js';
import { dellAdapter, detectVendor, genericAdapter, hpeAdapter, lenovoAdapter, supermicroAdapter, type VendorAdapter } from './index.js';

const pxeOnce: BootDeviceRequest = { device: 'pxe', persistent: false, mode: 'uefi' };
const systemWithMode = { Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideMode: 'UEFI' } };
const systemWithoutMode = { Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled' } };
const input = (system: Record<string, unknown>, headerEtag: string | null = null, bodyEtag: string | null = null) => ({ req: pxeOnce, system, systemPath: '/redfish/v1/Systems/1', headerEtag, bodyEtag });

describe('vendor detection', () => {
  it.each([
    [{ Vendor: 'Dell' }, 'dell'],
    [{ Vendor: 'HPE' }, 'hpe'],
    [{ Oem: { Hpe: {} } }, 'hpe'],
    [{ Oem: { Hp: {} } }, 'hpe'],
    [{ Oem: { Dell: {} } }, 'dell'],
    [{ Vendor: 'Supermicro' }, 'supermicro'],
    [{ Oem: { Supermicro: {} } }, 'supermicro'],
    [{ Vendor: 'Lenovo' }, 'lenovo'],
    [{ Vendor: 'Contoso' }, 'generic'],
    [{}, 'generic'],
  ])('%j → %s', (root, name) => {
    expect(detectVendor(root).name).toBe(name);
  });

  it('falls back to the system Manufacturer', () => {
    expect(detectVendor({}, { Manufacturer: 'Dell Inc.' }).name).toBe('dell');
    expect(detectVendor({}, { Manufacturer: 'Lenovo' }).name).toBe('lenovo');
  });
});

describe('boot override PATCH per vendor', () => {
  it('generic: sends the mode only when it must change, with If-Match from the header', () => {
    expect(genericAdapter.bootPatch(input(systemWithMode, '"e1"'))).toEqual({
      path: '/redfish/v1/Systems/1',
      body: { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } },
      ifMatch: '"e1"',
    });
    const legacy = genericAdapter.bootPatch({ ...input(systemWithMode), req: { device: 'disk', persistent: true, mode: 'legacy' } });
    expect(legacy.body).toEqual({ Boot: { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Continuous', BootSourceOverrideMode: 'Legacy' } });
  });

  it('Supermicro: always sends the full Boot object, but no mode where the BMC has none', () => {
    expect(supermicroAdapter.bootPatch(input(systemWithMode)).body).toEqual({ Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } });
    expect(supermicroAdapter.bootPatch(input(systemWithoutMode)).body).toEqual({ Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } });
  });

  it('Dell: always sends the mode and PATCHes the @Redfish.Settings object when advertised', () => {
    const patch = dellAdapter.bootPatch(input({ ...systemWithMode, '@Redfish.Settings': { SettingsObject: { '@odata.id': '/redfish/v1/Systems/System.Embedded.1/Settings' } } }, '"x"'));
    expect(patch.path).toBe('/redfish/v1/Systems/System.Embedded.1/Settings');
    expect(patch.body).toEqual({ Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' } });
    expect(dellAdapter.bootPatch(input(systemWithMode)).path).toBe('/redfish/v1/Systems/1');
  });

  it('HPE: drops If-Match for a weak ETag, keeps a strong one', () => {
    expect(hpeAdapter.bootPatch(input(systemWithMode, 'W/"7F2A"')).ifMatch).toBeNull();
    expect(hpeAdapter.bootPatch(input(systemWithMode, '"7F2A"')).ifMatch).toBe('"7F2A"');
  });

  it('Lenovo: prefers the body @odata.etag over the header ETag', () => {
    expect(lenovoAdapter.bootPatch(input(systemWithMode, '"header"', '"body"')).ifMatch).toBe('"body"');
    expect(lenovoAdapter.bootPatch(input(systemWithMode, '"header"', null)).ifMatch).toBe('"header"');
  });
});

describe('reset types per vendor', () => {
  const first = (a: VendorAdapter, action: Parameters<VendorAdapter['resetTypes']>[0], allowed: string[]) => a.resetTypes(action).find((t) => allowed.includes(t));
  const ilo = ['On', 'ForceOff', 'ForceRestart', 'Nmi', 'PushPowerButton'];
  it('HPE soft-off uses PushPowerButton where GracefulShutdown is missing (iLO 4)', () => {
    expect(first(hpeAdapter, 'soft-off', ilo)).toBe('PushPowerButton');
    expect(first(genericAdapter, 'soft-off', ilo)).toBeUndefined();
  });
  it('cycle prefers PowerCycle on Dell, ForceRestart on HPE and Lenovo', () => {
    const all = dellAdapter.assumedResetTypes as string[];
    expect(first(dellAdapter, 'cycle', all)).toBe('PowerCycle');
    expect(first(hpeAdapter, 'cycle', [...all])).toBe('ForceRestart');
    expect(first(lenovoAdapter, 'cycle', [...all])).toBe('ForceRestart');
  });
});

describe('OEM health', () => {
  it('Dell rollups from Oem.Dell.DellSystem', () => {
    const c = dellAdapter.oemHealth({ Oem: { Dell: { DellSystem: { CPURollupStatus: 'OK', StorageRollupStatus: 'Critical', Name: 'x' } } } });
    expect(c.map((x) => [x.component, x.status])).toEqual([
      ['oem:dell:CPURollupStatus', 'ok'],
      ['oem:dell:StorageRollupStatus', 'critical'],
    ]);
  });
  it('HPE AggregateHealthStatus', () => {
    const c = hpeAdapter.oemHealth({ Oem: { Hpe: { AggregateHealthStatus: { Fans: { Status: { Health: 'OK' } }, PowerSupplies: { Status: { Health: 'Warning' } }, FanRedundancy: 'Redundant' } } } });
    expect(c.map((x) => [x.component, x.status])).toEqual([
      ['oem:hpe:Fans', 'ok'],
      ['oem:hpe:PowerSupplies', 'warning'],
    ]);
  });
  it('nothing for generic, Supermicro, Lenovo', () => {
    expect(genericAdapter.oemHealth({ Oem: { Dell: {} } })).toEqual([]);
  });
});
