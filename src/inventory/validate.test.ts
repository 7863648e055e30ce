import { InputError } from '../errors.js';
import { MachineCreate, SiteCreate } from './schemas.js';
import { formatPath, validateInput } from './validate.js';

describe('formatPath', () => {
  it.each([
    [['machines', 3, 'nics', 0, 'mac'], 'machines[3].nics[0].mac'],
    [['serial'], 'serial'],
    [[2, 'name'], '[2].name'],
    [[], ''],
  ])('%j → %s', (path, text) => {
    expect(formatPath(path)).toBe(text);
  });
});

describe('validateInput', () => {
  it('returns parsed data with defaults and normalised values', () => {
    const site = validateInput(SiteCreate, { code: 'CA-MTL1', name: 'M', country: 'CA', city: 'Montréal', timezone: 'America/Toronto' }, 'site');
    expect(site.delivery_window_hours).toBe(24);
  });

  it('throws one InputError listing every problem: missing, unknown, wrong type, bad format', () => {
    let caught: unknown;
    try {
      validateInput(MachineCreate, { serial: 123, site: 'MA-NOU1', colour: 'red', bmc: { protocol: 'snmp', host: 'h', username: 'u', password: 'p' }, nics: [{ name: 'a', mac: 'x' }] }, 'machine');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InputError);
    const details = (caught as InputError).details as { field: string; message: string }[];
    expect(details).toEqual(
      expect.arrayContaining([
        { field: 'serial', message: 'must be text: put the value in quotes' },
        { field: 'hardware_profile', message: 'required' },
        { field: 'colour', message: 'unknown field' },
        { field: 'bmc.protocol', message: expect.stringContaining('redfish') },
        { field: 'nics[0].mac', message: 'not a MAC address' },
      ]),
    );
    expect(details).toHaveLength(5);
    expect((caught as Error).message).toMatch(/^machine: .+ \(and 4 more\)$/);
  });

  it('requires a reason only when maintenance is being enabled', async () => {
    const { MaintenanceRequest } = await import('./schemas.js');
    expect(() => validateInput(MaintenanceRequest, { enabled: true }, 'm')).toThrow('reason: a reason is required when enabling maintenance');
    expect(validateInput(MaintenanceRequest, { enabled: false }, 'm')).toEqual({ enabled: false });
  });
});
