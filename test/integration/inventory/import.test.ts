import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { listAudit } from '../../../src/db/repositories/audit.js';
import { UnprocessableError } from '../../../src/errors.js';
import type { InventoryService } from '../../../src/inventory/service.js';
import { packageRoot } from '../../../src/paths.js';
import { createTestDatabase, testDatabases, useTestDatabase } from '../../support/databases.js';
import { actor, newService, problemsOf, tableCounts } from './helpers.js';

const example = readFileSync(join(packageRoot, 'inventory.example.yaml'), 'utf8');

const BROKEN = `sites:
  - code: MA-NOU1
    name: Nouacer 1
    country: MA
    city: Nouacer
    timezone: Africa/Casablanca
    racks:
      - name: A01
        height_u: 42
machines:
  - serial: BRK-1
    hardware_profile: p1
    site: MA-NOU1
    rack: A01
    rack_unit: 1
    bmc: {protocol: redfish, host: 127.0.0.1, username: root, password: secret-brk}
    nics:
      - name: eno1
        mac: 00:11:22:33:44:zz
  - serial: BRK-1
    hardware_profile: p1
    site: XX-NOPE1
    bmc: {protocol: ipmi, host: 127.0.0.1, username: root, password: secret-brk}
  - serial: BRK-3
    site: MA-NOU1
    bmc: {protocol: ipmi, host: 127.0.0.1, username: root, password: secret-brk}
`;

describe.each(testDatabases())('inventory import/export on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  let service: InventoryService;

  beforeAll(() => {
    service = newService(t.knex).service;
  });

  it('refuses a broken file, reporting every problem on its line, and writes nothing', async () => {
    const before = await tableCounts(t.knex);
    const problems = await problemsOf(service.importInventory(BROKEN, { actor, fileName: 'broken.yaml' }));
    expect(problems).toEqual([
      'broken.yaml:19 machines[0].nics[0].mac: not a MAC address',
      'broken.yaml:20 machines[1].serial: duplicate serial BRK-1 (also at line 11)',
      'broken.yaml:22 machines[1].site: unknown site XX-NOPE1 (not in this file or the database)',
      'broken.yaml:24 machines[2].hardware_profile: required',
    ]);
    await expect(service.importInventory(BROKEN, { actor, fileName: 'broken.yaml' })).rejects.toThrow('broken.yaml: 4 problems');
    expect(await tableCounts(t.knex)).toEqual(before);
  });

  it('refuses a YAML syntax error with its line and writes nothing', async () => {
    const before = await tableCounts(t.knex);
    const text = 'sites: []\nmachines:\n  - serial: A\n    bmc: {protocol: redfish\n  - serial: B\n';
    const problems = await problemsOf(service.importInventory(text, { actor, fileName: 'syntax.yaml' }));
    // The parser notices the unclosed flow map where the next entry starts.
    expect(problems).toEqual(['syntax.yaml:5 (yaml): Flow map in block collection must be sufficiently indented and end with a }']);
    expect(await tableCounts(t.knex)).toEqual(before);
  });

  it('reports unknown fields and values YAML read as numbers on their lines', async () => {
    const text = 'sites:\n  - code: MA-X1\n    name: x\n    country: MA\n    city: x\n    timezone: UTC\n    racks:\n      - name: 12\n        colour: red\nextra: 1\n';
    const problems = await problemsOf(service.importInventory(text, { actor }));
    expect(problems).toEqual(['inventory.yaml:10 extra: unknown field']);
    const fixed = text.replace('extra: 1\n', '');
    expect(await problemsOf(service.importInventory(fixed, { actor }))).toEqual([
      'inventory.yaml:8 sites[0].racks[0].name: must be text: put the value in quotes',
      'inventory.yaml:9 sites[0].racks[0].colour: unknown field',
    ]);
  });

  it('dry-runs the example: reports what it would create and writes nothing', async () => {
    const before = await tableCounts(t.knex);
    const report = await service.importInventory(example, { actor, dryRun: true, fileName: 'inventory.example.yaml' });
    expect(report.dryRun).toBe(true);
    expect(report.created.filter((c) => c.kind === 'site').map((c) => c.key)).toEqual(['MA-NOU1', 'CA-MTL1']);
    expect(report.created.filter((c) => c.kind === 'machine')).toHaveLength(9);
    expect(await tableCounts(t.knex)).toEqual(before);
  });

  it('imports inventory.example.yaml: creates every site, rack and machine, audited, passwords sealed', async () => {
    const report = await service.importInventory(example, { actor, fileName: 'inventory.example.yaml' });
    expect(report.updated).toEqual([]);
    expect(report.unchanged).toBe(0);
    expect(report.created.map((c) => `${c.kind}:${c.key}`)).toEqual([
      'site:MA-NOU1', 'site:CA-MTL1', 'rack:MA-NOU1/A01', 'rack:MA-NOU1/A02', 'rack:CA-MTL1/R01',
      'machine:DL7Q4N3', 'machine:DL7Q4N4', 'machine:DL7Q4N5', 'machine:S41298071', 'machine:S41298072',
      'machine:DL8M2K1', 'machine:DL8M2K2', 'machine:S41300117', 'machine:S41300118',
    ]);
    const counts = await tableCounts(t.knex);
    expect(counts).toMatchObject({ sites: 2, racks: 3, machines: 9, machine_bmcs: 9, nics: 18 });
    const audit = await listAudit(t.knex, { limit: 1000 });
    expect(audit.filter((a) => a.reason === 'import inventory.example.yaml')).toHaveLength(14);

    const m = await service.getMachine('S41298071');
    expect(m).toMatchObject({ site: 'MA-NOU1', rack: 'A02', rack_unit: 20, hardware_profile: 'smc-x12-64g', bmc: { protocol: 'ipmi', port: 16231, password_set: true } });
    expect(m.nics.find((n) => n.pxe)!.ipv4).toEqual({ address: '10.40.0.13', prefix: 24, gateway: '10.40.0.1' });
    expect((await service.getBmcEndpoint('DL7Q4N3')).password).toBe('calvin-example-1');
    expect(JSON.stringify(await t.knex('machine_bmcs').select('*'))).not.toMatch(/calvin-example|admin-example/);
    expect(JSON.stringify(await t.knex('audit_log').select('*'))).not.toMatch(/calvin-example|admin-example/);
  });

  it('re-importing the same file changes nothing and writes no audit rows', async () => {
    const before = await tableCounts(t.knex);
    const report = await service.importInventory(example, { actor, fileName: 'inventory.example.yaml' });
    expect(report).toEqual({ created: [], updated: [], unchanged: 14, dryRun: false });
    expect(await tableCounts(t.knex)).toEqual(before);
  });

  it('updates changed fields and reports their names (the password by name only)', async () => {
    const changed = example
      .replace('rack_unit: 14', 'rack_unit: 16')
      .replace('password: admin-example-2', 'password: admin-rotated-2')
      .replace('delivery_window_hours: 48', 'delivery_window_hours: 36')
      .replace(/(mac: b0:7b:25:05:a0:01\n\s+)pxe: true/, '$1pxe: false');
    const dry = await service.importInventory(changed, { actor, dryRun: true });
    const report = await service.importInventory(changed, { actor, fileName: 'v2.yaml' });
    expect(dry.updated).toEqual(report.updated);
    expect(report.created).toEqual([]);
    expect(report.updated).toEqual([
      { kind: 'site', key: 'CA-MTL1', fields: ['delivery_window_hours'] },
      { kind: 'machine', key: 'DL7Q4N5', fields: ['rack_unit'] },
      { kind: 'machine', key: 'S41298072', fields: ['bmc.password'] },
      { kind: 'machine', key: 'DL8M2K1', fields: ['nics[b0:7b:25:05:a0:01].pxe'] },
    ]);
    expect(report.unchanged).toBe(10);
    expect(JSON.stringify(report)).not.toContain('admin-rotated-2');
    expect((await service.getBmcEndpoint('S41298072')).password).toBe('admin-rotated-2');
    expect((await service.getMachine('DL7Q4N5')).rack_unit).toBe(16);
    const audit = await listAudit(t.knex, { action: 'machine.update', limit: 1000 });
    expect(audit.filter((a) => a.reason === 'import v2.yaml')).toHaveLength(3);
    expect(JSON.stringify(await t.knex('audit_log').select('*'))).not.toMatch(/admin-rotated|admin-example|calvin-example/);
    // Back to the example for the following tests.
    expect((await service.importInventory(example, { actor })).updated).toHaveLength(4);
  });

  it('refuses MACs, IPv4 addresses and asset tags that another machine holds in the database', async () => {
    const before = await tableCounts(t.knex);
    const text = `machines:
  - serial: NEW-1
    asset_tag: NOU-0001
    hardware_profile: smc-x12-64g
    site: MA-NOU1
    rack: A02
    rack_unit: 20
    bmc: {protocol: ipmi, host: 127.0.0.1, username: ADMIN, password: pw-new}
    nics:
      - name: eno1
        mac: B0-7B-25-00-A0-01
        ipv4: {address: 10.40.0.11, prefix: 24}
`;
    expect(await problemsOf(service.importInventory(text, { actor, fileName: 'dup.yaml' }))).toEqual([
      'dup.yaml:3 machines[0].asset_tag: asset tag NOU-0001 belongs to machine DL7Q4N3 in the database',
      'dup.yaml:7 machines[0].rack_unit: U20 of rack A02 is taken by machine S41298071 in the database',
      'dup.yaml:11 machines[0].nics[0].mac: MAC b0:7b:25:00:a0:01 belongs to machine DL7Q4N3 in the database',
      'dup.yaml:12 machines[0].nics[0].ipv4.address: IPv4 10.40.0.11 is reserved for machine DL7Q4N4 in the database',
    ]);
    expect(await tableCounts(t.knex)).toEqual(before);
  });

  it('reports duplicates within the file and a new machine without a password', async () => {
    const text = `machines:
  - serial: NEW-1
    hardware_profile: p
    site: MA-NOU1
    bmc: {protocol: ipmi, host: 127.0.0.1, username: ADMIN}
    nics:
      - {name: eno1, mac: "02:00:00:00:00:01", ipv4: {address: 10.99.0.1, prefix: 24}}
  - serial: NEW-2
    hardware_profile: p
    site: MA-NOU1
    bmc: {protocol: ipmi, host: 127.0.0.1, username: ADMIN, password: x}
    nics:
      - {name: eno1, mac: "0200.0000.0001", ipv4: {address: 10.99.0.1, prefix: 24}}
      - {name: eno2, mac: "02:00:00:00:00:02"}
      - {name: eno3, mac: "02-00-00-00-00-02"}
`;
    expect(await problemsOf(service.importInventory(text, { actor, fileName: 'dup.yaml' }))).toEqual([
      'dup.yaml:5 machines[0].bmc.password: required for a new machine',
      'dup.yaml:13 machines[1].nics[0].mac: duplicate MAC 02:00:00:00:00:01 (also at line 7)',
      'dup.yaml:13 machines[1].nics[0].ipv4.address: duplicate IPv4 address 10.99.0.1 (also at line 7)',
      'dup.yaml:15 machines[1].nics[2].mac: duplicate MAC 02:00:00:00:00:02 (also nics[1])',
    ]);
  });

  it('exports YAML that re-imports unchanged; passwords only with secrets; restores a fresh database', async () => {
    const plain = await service.exportInventory();
    expect(plain).not.toMatch(/password:|calvin-example|admin-example/);
    const doc = parse(plain) as { sites: unknown[]; machines: { serial: string; bmc: Record<string, unknown> }[] };
    expect(doc.sites).toHaveLength(2);
    expect(doc.machines).toHaveLength(9);
    expect(await service.importInventory(plain, { actor, fileName: 'export.yaml' })).toEqual({ created: [], updated: [], unchanged: 14, dryRun: false });
    // An export without secrets cannot create machines elsewhere: the importer says which.
    const fresh = await createTestDatabase(dialect);
    try {
      const other = newService(fresh.knex).service;
      const problems = await problemsOf(other.importInventory(plain, { actor, fileName: 'export.yaml' }));
      expect(problems).toHaveLength(9);
      expect(problems.every((p) => p.includes('.bmc.password: required for a new machine'))).toBe(true);

      const secret = await service.exportInventory({ withSecrets: true });
      expect(secret).toContain('password: calvin-example-1');
      const restored = await other.importInventory(secret, { actor, fileName: 'export.yaml' });
      expect(restored.created).toHaveLength(14);
      expect(await other.exportInventory()).toEqual(expect.stringContaining(plain.split('\n').slice(1).join('\n')));
      expect((await other.getBmcEndpoint('S41300118')).password).toBe('admin-example-4');
      expect(await other.importInventory(example, { actor })).toMatchObject({ created: [], updated: [], unchanged: 14 });
    } finally {
      await fresh.destroy();
    }
  });

  it('accepts an already-parsed object (a JSON body) and reports problems without lines', async () => {
    const obj = parse(example) as { machines: { nics: { mac: string }[] }[] };
    expect(await service.importInventory(obj, { actor })).toMatchObject({ created: [], updated: [], unchanged: 14 });
    obj.machines[3]!.nics[0]!.mac = 'nope';
    const err = await service.importInventory(obj, { actor }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnprocessableError);
    expect((err as UnprocessableError).details).toEqual([{ file: 'request', field: 'machines[3].nics[0].mac', message: 'not a MAC address' }]);
  });

  it('moves machines between rack units in one import, including a swap', async () => {
    const swapped = example.replace('rack_unit: 20', 'rack_unit: 99').replace('rack_unit: 21', 'rack_unit: 20').replace('rack_unit: 99', 'rack_unit: 21');
    const report = await service.importInventory(swapped, { actor });
    expect(report.updated.map((u) => [u.key, u.fields])).toEqual([
      ['S41298071', ['rack_unit']],
      ['S41298072', ['rack_unit']],
    ]);
    expect((await service.getMachine('S41298071')).rack_unit).toBe(21);
    expect((await service.getMachine('S41298072')).rack_unit).toBe(20);
  });

  it('does not delete what the file leaves out', async () => {
    const before = await tableCounts(t.knex);
    const report = await service.importInventory('machines: []\n', { actor });
    expect(report).toEqual({ created: [], updated: [], unchanged: 0, dryRun: false });
    expect(await tableCounts(t.knex)).toEqual(before);
  });
});
