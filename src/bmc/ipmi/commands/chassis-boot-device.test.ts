import { encodeBootFlags, parseBootFlags } from './boot-options.js';
import { parseChassisStatus } from './chassis.js';
import { parseDeviceId, vendorName } from './device-id.js';

describe('System Boot Options boot flags', () => {
  it.each([
    [{ device: 'pxe', persistent: false, mode: 'legacy' }, '8004000000'],
    [{ device: 'pxe', persistent: false, mode: 'uefi' }, 'a004000000'],
    [{ device: 'disk', persistent: true, mode: 'uefi' }, 'e008000000'],
    [{ device: 'bios', persistent: true, mode: 'legacy' }, 'c018000000'],
  ] as const)('encodes %j as %s', (req, hex) => {
    expect(encodeBootFlags(req).toString('hex')).toBe(hex);
    expect(parseBootFlags(Buffer.from(`0105${hex}`, 'hex'))).toEqual(req);
  });

  it('decodes "no override", flags without the valid bit and unknown selectors', () => {
    expect(parseBootFlags(Buffer.from('01050000000000', 'hex')).device).toBe('none');
    expect(parseBootFlags(Buffer.from('01050004000000', 'hex')).device).toBe('none'); // PXE selector, not valid
    expect(parseBootFlags(Buffer.from('01058014000000', 'hex')).device).toBe('other'); // CD/DVD
  });

  it('rejects a response for another parameter', () => {
    expect(() => parseBootFlags(Buffer.from('01040000000000', 'hex'))).toThrow(/malformed/);
  });
});

describe('Get Chassis Status', () => {
  it('decodes power and fault bits', () => {
    expect(parseChassisStatus(Buffer.from([0x19, 0x00, 0x0d]))).toEqual({
      powerOn: true, powerOverload: false, powerInterlock: false, mainPowerFault: true, powerControlFault: true,
      chassisIntrusion: true, frontPanelLockout: false, driveFault: true, coolingFault: true,
    });
    expect(() => parseChassisStatus(Buffer.from([0x01]))).toThrow();
  });
});

describe('Get Device ID', () => {
  it('decodes the firmware revision as ipmitool prints it and the manufacturer', () => {
    // ipmi_sim: device 0, rev 3, fw 9.08, IPMI 2.0, MontaVista (4753), product 0x0f02
    const d = parseDeviceId(Buffer.from([0x00, 0x03, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f]));
    expect(d).toMatchObject({ firmwareVersion: '9.08', ipmiVersion: '2.0', manufacturerId: 4753, productId: 0x0f02, deviceAvailable: true });
    expect(vendorName(d.manufacturerId)).toBe('MontaVista');
    expect(vendorName(674)).toBe('Dell');
    expect(vendorName(1)).toBeNull();
  });
});
