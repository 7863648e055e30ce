import { InputError, UnprocessableError } from '../../../src/errors.js';
import type { InventoryService } from '../../../src/inventory/service.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { actor, failure, newService, problemsOf, tableCounts } from './helpers.js';

const SITE = `sites:
  - code: PT-TEST1
    name: Lisboa 1
    country: PT
    city: Lisboa
    timezone: Europe/Lisbon
    racks:
      - {name: R01, height_u: 42}
`;

describe.each(testDatabases())('inventory import input checks on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  let service: InventoryService;

  beforeAll(() => {
    service = newService(t.knex).service;
  });

  it('reports a new machine without a password together with the entry\'s other problems', async () => {
    const text = `${SITE}machines:
  - serial: NOPW-1
    hardware_profile: p
    site: PT-TEST1
    rack: R01
    rack_unit: 99
    bmc: {protocol: ipmi, host: 127.0.0.1, username: ADMIN}
    nics:
      - {name: eno1, mac: "02:00:00:00:zz:01"}
`;
    expect(await problemsOf(service.importInventory(text, { actor, fileName: 'nopw.yaml' }))).toEqual([
      'nopw.yaml:14 machines[0].rack_unit: Too big: expected number to be <=64',
      'nopw.yaml:15 machines[0].bmc.password: required for a new machine',
      'nopw.yaml:17 machines[0].nics[0].mac: not a MAC address',
    ]);
  });

  it('does not call a present but malformed password missing', async () => {
    const text = `${SITE}machines:
  - serial: NOPW-2
    hardware_profile: p
    site: PT-TEST1
    bmc: {protocol: ipmi, host: 127.0.0.1, username: ADMIN, password: 12345}
`;
    const problems = await problemsOf(service.importInventory(text, { actor, fileName: 'pw.yaml' }));
    expect(problems).toEqual(['pw.yaml:13 machines[0].bmc.password: must be text: put the value in quotes']);
  });

  it('refuses a NUL character in a YAML value with its line, before touching the database', async () => {
    const before = await tableCounts(t.knex);
    const text = SITE.replace('city: Lisboa', 'city: "Lis\\0boa"').replace('name: R01', '"R\\0": 1, name: R01');
    expect(await problemsOf(service.importInventory(text, { actor, fileName: 'nul.yaml' }))).toEqual([
      'nul.yaml:5 sites[0].city: must not contain a NUL character (\\u0000)',
      'nul.yaml:8 sites[0].racks[0].R\\0: must not contain a NUL character (\\u0000)',
    ]);
    expect(await tableCounts(t.knex)).toEqual(before);
  });

  it.each([
    ['an empty file', ''],
    ['only comments and blank lines', '# nothing yet\n\n'],
    ['an explicit null', '~\n'],
  ])('refuses %s as an empty document', async (_what, text) => {
    const err = await failure(service.importInventory(text, { actor, fileName: 'empty.yaml' }));
    expect(err).toBeInstanceOf(InputError);
    expect(err).not.toBeInstanceOf(UnprocessableError);
    expect(err.message).toBe('empty.yaml: empty inventory document');
  });

  it('refuses an alias bomb as a problem naming the file', async () => {
    const bomb = 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nsites: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
    expect(await problemsOf(service.importInventory(bomb, { actor, fileName: 'bomb.yaml' }))).toEqual([
      expect.stringMatching(/^bomb\.yaml:undefined \(yaml\): cannot expand the document: Excessive alias count/),
    ]);
  });

  it('lets concurrent imports of the same new file all succeed: the losers find it unchanged', async () => {
    const text = SITE.replace(/PT-TEST1/g, 'PT-RACE1') + `machines:
  - serial: RACE-1
    hardware_profile: p
    site: PT-RACE1
    rack: R01
    rack_unit: 1
    bmc: {protocol: ipmi, host: 127.0.0.1, username: ADMIN, password: secret-race}
    nics:
      - {name: eno1, mac: "02:00:00:00:99:01"}
`;
    const reports = await Promise.all([1, 2, 3, 4].map(() => service.importInventory(text, { actor, fileName: 'race.yaml' })));
    const created = reports.filter((r) => r.created.length > 0);
    expect(created).toHaveLength(1);
    expect(created[0]!.created).toHaveLength(3);
    for (const r of reports.filter((x) => x.created.length === 0)) expect(r).toMatchObject({ updated: [], unchanged: 3 });
  });
});
