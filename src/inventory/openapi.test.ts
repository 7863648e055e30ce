import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import * as schemas from './schemas.js';

describe('inventory schemas in OpenAPI', () => {
  it('produce a valid component for every exported schema, with patterns and no regex flags', () => {
    const registry = new OpenAPIRegistry();
    const names = ['SiteCreate', 'SitePatch', 'Site', 'RackCreate', 'RackPatch', 'Rack', 'BmcInput', 'Bmc', 'NicInput', 'Nic', 'MachineCreate', 'MachinePatch', 'Machine', 'MachineListQuery', 'SiteListQuery', 'RackListQuery', 'MaintenanceRequest', 'MachinePage', 'InventoryDocument', 'ImportReportSchema'] as const;
    for (const n of names) registry.register(n, schemas[n]);
    const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({ openapi: '3.1.0', info: { title: 't', version: '1' } });
    const components = doc.components!.schemas!;
    expect(Object.keys(components)).toEqual(expect.arrayContaining(['SiteCreate', 'Machine', 'MachineCreate', 'InventoryDocument']));
    const text = JSON.stringify(components);
    expect(text).not.toMatch(/\$\/[a-z]+"/);
    const patterns = [...text.matchAll(/"pattern":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    expect(patterns.length).toBeGreaterThan(5);
    for (const pattern of patterns) expect(() => new RegExp(pattern)).not.toThrow();
  });

  it('parses a machine body idempotently (the API and the service both validate)', () => {
    const body = {
      serial: 'S1', hardware_profile: 'p', site: 'MA-NOU1',
      bmc: { protocol: 'redfish', host: '127.0.0.1', username: 'u', password: 'p', tls: 'sha256:' + 'AB:'.repeat(31) + 'AB' },
      nics: [{ name: 'eno1', mac: 'AABB.CCDD.EEFF' }],
    };
    const once = schemas.MachineCreate.parse(body);
    expect(once.nics[0]!.mac).toBe('aa:bb:cc:dd:ee:ff');
    expect(once.bmc.tls).toBe('sha256:' + 'ab'.repeat(32));
    expect(schemas.MachineCreate.parse(once)).toEqual(once);
    expect(schemas.MachineListQuery.parse({ maintenance: 'false', limit: '20' })).toMatchObject({ maintenance: false, limit: 20 });
    expect(schemas.MachineListQuery.parse({})).toEqual({ limit: 50 });
  });
});
