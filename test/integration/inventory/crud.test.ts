import { listAudit } from '../../../src/db/repositories/audit.js';
import { ConflictError, InputError, NotFoundError } from '../../../src/errors.js';
import type { InventoryService } from '../../../src/inventory/service.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { actor, machineInput, newService } from './helpers.js';

describe.each(testDatabases())('inventory CRUD on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  let service: InventoryService;

  beforeAll(async () => {
    service = newService(t.knex).service;
    await service.createSite({ code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca' }, actor);
    await service.createSite({ code: 'CA-MTL1', name: 'Montréal 1', country: 'CA', city: 'Montréal', timezone: 'America/Toronto', delivery_window_hours: 48 }, actor);
    await service.createRack({ site: 'MA-NOU1', name: 'A01', row: 'A', height_u: 42 }, actor);
    await service.createRack({ site: 'MA-NOU1', name: 'A02', height_u: 42 }, actor);
    await service.createRack({ site: 'CA-MTL1', name: 'A01', height_u: 48 }, actor);
  });

  it('creates a site with defaults and refuses a second with the same code', async () => {
    const site = await service.getSite('MA-NOU1');
    expect(site).toMatchObject({ code: 'MA-NOU1', country: 'MA', timezone: 'Africa/Casablanca', delivery_window_hours: 24 });
    await expect(service.createSite({ code: 'MA-NOU1', name: 'x', country: 'MA', city: 'x', timezone: 'UTC' }, actor)).rejects.toBeInstanceOf(ConflictError);
  });

  it('refuses invalid site input with InputError naming each field', async () => {
    const err = await service
      .createSite({ code: 'ma nou', name: '', country: 'Morocco', city: 'x', timezone: 'Mars/Olympus', extra: 1 } as never, actor)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    const fields = ((err as InputError).details as { field: string }[]).map((d) => d.field).sort();
    expect(fields).toEqual(['code', 'country', 'extra', 'name', 'timezone']);
  });

  it('updates a site and audits the changed fields', async () => {
    const updated = await service.updateSite('CA-MTL1', { delivery_window_hours: 36 }, actor);
    expect(updated.delivery_window_hours).toBe(36);
    const audit = await listAudit(t.knex, { targetType: 'site', targetId: 'CA-MTL1', action: 'site.update' });
    expect(audit).toHaveLength(1);
    expect(audit[0]!.after).toMatchObject({ delivery_window_hours: 36, changed: ['delivery_window_hours'] });
    expect(audit[0]!.actor).toBe('cli:test');
  });

  it('lists racks of a site and refuses deleting a site that still has racks', async () => {
    const racks = await service.listRacks({ site: 'MA-NOU1' });
    expect(racks.items.map((r) => r.name).sort()).toEqual(['A01', 'A02']);
    await expect(service.deleteSite('MA-NOU1', actor)).rejects.toBeInstanceOf(ConflictError);
    await expect(service.createRack({ site: 'XX-NONE', name: 'A01' }, actor)).rejects.toBeInstanceOf(InputError);
  });

  it('creates a machine with normalised MACs, a sealed password and audit', async () => {
    const m = await service.createMachine(machineInput(1), actor);
    expect(m).toMatchObject({
      serial: 'SER-0001', site: 'MA-NOU1', rack: 'A01', rack_unit: 1, provision_state: 'enrolled', maintenance: false,
      bmc: { protocol: 'ipmi', host: '127.0.0.1', port: 18001, username: 'admin', password_set: true, tls: 'insecure', system_id: null },
    });
    expect(m.nics.map((n) => n.mac)).toEqual(['aa:bb:cc:00:00:01', 'aa:bb:cc:01:00:01']);
    expect(m.nics[0]!.ipv4).toEqual({ address: '10.20.0.1', prefix: 24, gateway: '10.20.0.1' });
    expect(JSON.stringify(m)).not.toContain('pw-secret-1');
    const stored = await t.knex('machine_bmcs').where({ machine_id: m.id }).first();
    expect(stored.password_enc).toMatch(/^v1:/);
    expect(stored.password_enc).not.toContain('pw-secret-1');
    expect((await service.getBmcEndpoint(m.id)).password).toBe('pw-secret-1');
    const audit = await listAudit(t.knex, { targetType: 'machine', targetId: m.id });
    expect(audit.map((a) => a.action)).toEqual(['machine.create']);
    expect(JSON.stringify(audit)).not.toContain('pw-secret-1');
    expect(await service.getMachine('SER-0001')).toEqual(m);
  });

  it('refuses a machine whose serial, MAC, IPv4 or rack unit is taken, naming each', async () => {
    const clash = machineInput(2, { serial: 'SER-0001', rack_unit: 1 });
    clash.nics = [{ name: 'eno1', mac: 'aa:bb:cc:00:00:01', ipv4: { address: '10.20.0.1', prefix: 24 } }];
    const err = await service.createMachine(clash, actor).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    const fields = ((err as ConflictError).details as { field: string }[]).map((d) => d.field);
    expect(fields).toEqual(['serial', 'rack_unit', 'nics[0].mac', 'nics[0].ipv4.address']);
    expect((err as Error).message).not.toContain('pw-secret');
  });

  it('refuses bad MACs and unknown racks as InputError', async () => {
    const badMac = machineInput(3);
    badMac.nics = [{ name: 'eno1', mac: 'zz:bb:cc:dd:ee:ff' }];
    const err = await service.createMachine(badMac, actor).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).details).toEqual([{ field: 'nics[0].mac', message: 'not a MAC address' }]);
    await expect(service.createMachine(machineInput(3, { rack: 'Z99' }), actor)).rejects.toThrow(/no rack named Z99 in site MA-NOU1/);
    await expect(service.createMachine(machineInput(3, { rack_unit: 43 }), actor)).rejects.toThrow(/above the top of rack A01/);
  });

  it('updates a machine: fields, BMC (password kept unless given) and NICs matched by MAC', async () => {
    const before = await service.getMachine('SER-0001');
    const after = await service.updateMachine(
      'SER-0001',
      {
        vendor: 'Supermicro',
        bmc: { port: 623, tls: 'sha256:' + 'AB:'.repeat(31) + 'AB' },
        nics: [
          { name: 'eno1', mac: 'aa:bb:cc:00:00:01', pxe: false, ipv4: { address: '10.20.0.201', prefix: 24 } },
          { name: 'eno3', mac: 'aa:bb:cc:02:00:01' },
        ],
      },
      actor,
    );
    expect(after.vendor).toBe('Supermicro');
    expect(after.bmc).toMatchObject({ port: 623, tls: 'sha256:' + 'ab'.repeat(32) });
    expect(after.nics.map((n) => [n.name, n.mac, n.pxe, n.ipv4?.address ?? null])).toEqual([
      ['eno1', 'aa:bb:cc:00:00:01', false, '10.20.0.201'],
      ['eno3', 'aa:bb:cc:02:00:01', false, null],
    ]);
    expect((await service.getBmcEndpoint(after.id)).password).toBe('pw-secret-1');
    const audit = await listAudit(t.knex, { targetType: 'machine', targetId: before.id, action: 'machine.update' });
    expect((audit[0]!.after as { changed: string[] }).changed).toEqual([
      'vendor', 'bmc.port', 'bmc.tls',
      'nics[aa:bb:cc:00:00:01].pxe', 'nics[aa:bb:cc:00:00:01].ipv4',
      'nics[aa:bb:cc:02:00:01] (added)', 'nics[aa:bb:cc:01:00:01] (removed)',
    ]);
    await service.updateMachine('SER-0001', { bmc: { password: 'pw-secret-rotated' } }, actor);
    expect((await service.getBmcEndpoint(after.id)).password).toBe('pw-secret-rotated');
    const rows = await t.knex('audit_log').select('before', 'after');
    expect(JSON.stringify(rows)).not.toMatch(/pw-secret/);
    // An identical patch changes nothing and writes no audit row.
    const n = (await listAudit(t.knex, { targetId: before.id })).length;
    await service.updateMachine('SER-0001', { vendor: 'Supermicro' }, actor);
    expect(await listAudit(t.knex, { targetId: before.id })).toHaveLength(n);
  });

  it('toggles maintenance with a required reason, audited', async () => {
    await expect(service.setMaintenance('SER-0001', { enabled: true }, actor)).rejects.toBeInstanceOf(InputError);
    const on = await service.setMaintenance('SER-0001', { enabled: true, reason: 'PSU swap, ticket OPS-12' }, actor);
    expect(on).toMatchObject({ maintenance: true, maintenance_reason: 'PSU swap, ticket OPS-12' });
    const off = await service.setMaintenance('SER-0001', { enabled: false }, actor);
    expect(off).toMatchObject({ maintenance: false, maintenance_reason: null });
    const audit = await listAudit(t.knex, { targetId: on.id });
    expect(audit.slice(-2).map((a) => [a.action, a.reason])).toEqual([
      ['machine.maintenance_on', 'PSU swap, ticket OPS-12'],
      ['machine.maintenance_off', null],
    ]);
  });

  it('filters machines and pages through all of them with a stable cursor', async () => {
    for (let i = 10; i < 31; i++) {
      await service.createMachine(machineInput(i, { site: i >= 25 ? 'CA-MTL1' : 'MA-NOU1', rack: i % 3 === 0 ? 'A01' : i >= 25 ? null : 'A02', rack_unit: i % 3 === 0 || i < 25 ? i : null }), actor);
    }
    await service.setMaintenance('SER-0011', { enabled: true, reason: 'burn-in' }, actor);
    await t.knex('machines').where({ serial: 'SER-0012' }).update({ provision_state: 'available', health: 'ok' });

    const all: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    const queries: string[] = [];
    const onQuery = (q: { sql: string }) => queries.push(q.sql);
    t.knex.on('query', onQuery);
    do {
      const page = await service.listMachines({ limit: 5, ...(cursor ? { cursor } : {}) });
      all.push(...page.items.map((m) => m.serial));
      expect(page.items.every((m) => m.bmc?.password_set === true && m.nics.length >= 1)).toBe(true);
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor);
    t.knex.off('query', onQuery);
    expect(all).toHaveLength(22);
    expect(new Set(all).size).toBe(22);
    expect(pages).toBe(5);
    // Three queries per page (machines, BMCs, NICs), never one per machine.
    expect(queries.length).toBe(pages * 3);

    const serials = async (q: Parameters<InventoryService['listMachines']>[0]) => (await service.listMachines({ limit: 500, ...q })).items.map((m) => m.serial).sort();
    expect(await serials({ site: 'CA-MTL1' })).toEqual(['SER-0025', 'SER-0026', 'SER-0027', 'SER-0028', 'SER-0029', 'SER-0030']);
    expect(await serials({ site: 'CA-MTL1', rack: 'A01' })).toEqual(['SER-0027', 'SER-0030']);
    const a02 = (await service.listRacks({ site: 'MA-NOU1' })).items.find((r) => r.name === 'A02')!;
    expect(await serials({ rack: a02.id })).toEqual(['SER-0010', 'SER-0011', 'SER-0013', 'SER-0014', 'SER-0016', 'SER-0017', 'SER-0019', 'SER-0020', 'SER-0022', 'SER-0023']);
    expect(await serials({ maintenance: 'true' as never })).toEqual(['SER-0011']);
    expect(await serials({ maintenance: true, site: 'CA-MTL1' })).toEqual([]);
    expect(await serials({ state: 'available', health: 'ok' })).toEqual(['SER-0012']);
    expect((await serials({ profile: 'smc-x12-64g' })).length).toBe(11);
    await expect(service.listMachines({ cursor: 'garbage!' })).rejects.toBeInstanceOf(InputError);
    await expect(service.listMachines({ limit: 501 })).rejects.toBeInstanceOf(InputError);
  });

  it('pages sites and racks', async () => {
    const first = await service.listSites({ limit: 1 });
    expect(first.items.map((s) => s.code)).toEqual(['CA-MTL1']);
    const second = await service.listSites({ limit: 1, cursor: first.next_cursor! });
    expect(second).toEqual({ items: [expect.objectContaining({ code: 'MA-NOU1' })], next_cursor: null });
    const r1 = await service.listRacks({ limit: 2 });
    const r2 = await service.listRacks({ limit: 2, cursor: r1.next_cursor! });
    expect([...r1.items, ...r2.items].map((r) => `${r.site}/${r.name}`)).toEqual(['MA-NOU1/A01', 'MA-NOU1/A02', 'CA-MTL1/A01']);
    expect(r2.next_cursor).toBeNull();
  });

  it('records inspected hardware facts and the MACs that differ from inventory, audited', async () => {
    const facts = {
      vendor: 'Supermicro', model: 'SYS-510P-M', serial: 'SER-0014', biosVersion: '2.1', bmcFirmwareVersion: '1.3',
      cpus: { model: 'Xeon 4314', count: 1, coresTotal: 16 }, memoryGiB: 64,
      disks: [{ name: 'nvme0n1', sizeGiB: 960, mediaType: 'nvme' as const }],
      nics: [{ name: 'eno1', mac: 'AA:BB:CC:00:00:0E' }, { name: 'eno9', mac: '02:00:00:00:99:01' }],
    };
    const m = await service.recordHardwareFacts('SER-0014', facts, actor);
    expect(m.hardware).toEqual(facts);
    expect(m.inspected_at).not.toBeNull();
    const row = await t.knex('machines').where({ serial: 'SER-0014' }).first();
    expect(JSON.parse(row.inventory_mismatch)).toEqual({ missing_from_inventory: ['02:00:00:00:99:01'], missing_from_bmc: ['aa:bb:cc:01:00:0e'] });
    expect(await listAudit(t.knex, { targetId: m.id, action: 'machine.inspect' })).toHaveLength(1);
  });

  it.each(['allocated', 'deploying', 'active', 'releasing', 'wiping'])('refuses to delete a machine while it is %s', async (state) => {
    await t.knex('machines').where({ serial: 'SER-0013' }).update({ provision_state: state });
    const err = await service.deleteMachine('SER-0013', actor).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain(`is ${state}`);
    expect(await t.knex('machines').where({ serial: 'SER-0013' }).first()).toBeTruthy();
  });

  it('deletes an idle machine with its BMC and NICs, audited; then the rack and site can go', async () => {
    await t.knex('machines').where({ serial: 'SER-0013' }).update({ provision_state: 'available' });
    const m = await service.getMachine('SER-0013');
    await service.deleteMachine('SER-0013', actor);
    await expect(service.getMachine('SER-0013')).rejects.toBeInstanceOf(NotFoundError);
    expect(await t.knex('nics').where({ machine_id: m.id })).toHaveLength(0);
    expect(await t.knex('machine_bmcs').where({ machine_id: m.id })).toHaveLength(0);
    expect((await listAudit(t.knex, { targetId: m.id, action: 'machine.delete' }))).toHaveLength(1);

    const rack = await service.createRack({ site: 'CA-MTL1', name: 'B07', height_u: 42 }, actor);
    await service.createMachine(machineInput(40, { site: 'CA-MTL1', rack: 'B07', rack_unit: 3 }), actor);
    await expect(service.deleteRack(rack.id, actor)).rejects.toBeInstanceOf(ConflictError);
    await expect(service.updateRack(rack.id, { height_u: 2 }, actor)).rejects.toThrow(/SER-0040 sits at U3/);
    await service.deleteMachine('SER-0040', actor);
    await service.updateRack(rack.id, { name: 'B08' }, actor);
    expect((await service.getRack(rack.id)).name).toBe('B08');
    await service.deleteRack(rack.id, actor);
    await expect(service.getRack(rack.id)).rejects.toBeInstanceOf(NotFoundError);

    await service.createSite({ code: 'XX-TMP1', name: 'tmp', country: 'FR', city: 'Paris', timezone: 'Europe/Paris' }, actor);
    await service.deleteSite('XX-TMP1', actor);
    await expect(service.getSite('XX-TMP1')).rejects.toBeInstanceOf(NotFoundError);
    const actions = (await listAudit(t.knex, { limit: 1000 })).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['rack.create', 'rack.update', 'rack.delete', 'site.create', 'site.delete']));
  });
});
