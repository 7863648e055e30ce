import { describe, expect, it } from '@jest/globals';
import { allowableResetTypes, bootStateFromSystem, chooseResetType, mapPowerState, normaliseMac } from './driver.js';
import { genericAdapter, hpeAdapter } from './vendors/index.js';

const system = (allowed?: string[]) => ({ Actions: { '#ComputerSystem.Reset': { target: '/x', ...(allowed ? { 'ResetType@Redfish.AllowableValues': allowed } : {}) } } });

describe('Redfish driver decisions', () => {
  it.each([
    ['12:44:6A:3B:04:11', '12:44:6a:3b:04:11'],
    ['12-44-6a-3b-04-11', '12:44:6a:3b:04:11'],
    ['12446A3B0411', '12:44:6a:3b:04:11'],
    ['00:00:00:00:00:00', null],
    ['', null],
    [undefined, null],
    ['12:44:6A:3B:04', null],
  ])('normaliseMac(%p) → %p', (input, expected) => {
    expect(normaliseMac(input)).toBe(expected);
  });

  it.each([
    ['On', 'on'],
    ['PoweringOn', 'on'],
    ['Off', 'off'],
    ['PoweringOff', 'off'],
    ['Paused', 'unknown'],
    [undefined, 'unknown'],
  ])('PowerState %p → %s', (value, expected) => {
    expect(mapPowerState(value)).toBe(expected);
  });

  it('chooses the preferred ResetType the BMC allows', () => {
    const mockup = system(['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn', 'PushPowerButton']);
    expect(chooseResetType(genericAdapter, 'on', mockup)).toBe('On');
    expect(chooseResetType(genericAdapter, 'cycle', mockup)).toBe('ForceRestart');
    expect(chooseResetType(genericAdapter, 'cycle', system(['On', 'PowerCycle', 'ForceRestart']))).toBe('PowerCycle');
    expect(chooseResetType(genericAdapter, 'soft-off', system(['On', 'ForceOff']))).toBeNull();
    expect(chooseResetType(genericAdapter, 'on', system(['ForceOn']))).toBe('ForceOn');
  });

  it("uses the adapter's assumed types when the BMC publishes none", () => {
    expect(allowableResetTypes(system())).toBeNull();
    expect(chooseResetType(genericAdapter, 'off', system())).toBe('ForceOff');
    expect(chooseResetType(hpeAdapter, 'cycle', system())).toBe('ForceRestart');
  });

  it.each([
    [{ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' }, { device: 'pxe', persistent: false, mode: 'uefi' }],
    [{ BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Continuous', BootSourceOverrideMode: 'Legacy' }, { device: 'disk', persistent: true, mode: 'legacy' }],
    [{ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Disabled' }, { device: 'none', persistent: false, mode: 'unknown' }],
    [{ BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once' }, { device: 'other', persistent: false, mode: 'unknown' }],
    [{ BootSourceOverrideTarget: 'BiosSetup', BootSourceOverrideEnabled: 'Once' }, { device: 'bios', persistent: false, mode: 'unknown' }],
  ])('boot state %j', (boot, expected) => {
    expect(bootStateFromSystem({ Boot: boot })).toEqual(expected);
  });
});
