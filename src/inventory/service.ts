import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { BmcEndpoint, BmcProtocol, HardwareInventory } from '../bmc/driver.js';
import { systemClock, type Clock } from '../clock.js';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { isUniqueViolation, json, toCount } from '../db/sql.js';
import { ConflictError, InputError, NotFoundError, type ErrorDetail } from '../errors.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { decodeCursor, toPage, type Page } from './cursor.js';
import { diffMachine, diffRack, diffSite, type MachineSpec, type NicSpec, type RackSpec } from './diff.js';
import { exportInventory } from './export.js';
import { importInventory, type ImportOptions, type ImportReport } from './import.js';
import { machineFromRow, nicColumns, rackFromRow, siteFromRow, tlsFromColumns, tlsToColumns } from './rows.js';
import {
  MachineCreate,
  MachineListQuery,
  MachinePatch,
  MaintenanceRequest,
  RackCreate,
  RackListQuery,
  RackPatch,
  SiteCreate,
  SiteListQuery,
  SitePatch,
  type MachineCreateInput,
  type MachineListQueryInput,
  type MachineOutput,
  type MachinePatchInput,
  type MaintenanceRequestInput,
  type RackCreateInput,
  type RackListQueryInput,
  type RackOutput,
  type RackPatchInput,
  type SiteCreateInput,
  type SiteListQueryInput,
  type SiteOutput,
  type SitePatchInput,
} from './schemas.js';
import { machineSpecFromInput, nicSpecFromInput, specFromMachine } from './spec.js';
import { validateInput } from './validate.js';
import { LIVE_ORDER_STATUSES } from '../orders/schemas.js';

export type { Page } from './cursor.js';
export type { ImportReport, ImportOptions } from './import.js';

type Db = Knex | Knex.Transaction;
type Row = Record<string, unknown>;

/**
 * States in which a machine is, or is about to be, in a customer's hands or being changed by a
 * workflow; deleting its inventory record then would orphan that work.
 */
export const UNDELETABLE_STATES: readonly string[] = ['allocated', 'deploying', 'active', 'releasing', 'wiping'];

/** whereIn parameter lists are chunked below both drivers' bind-parameter limits. */
const CHUNK = 500;

export interface InventoryServiceDeps {
  knex: Knex;
  /** Seals BMC passwords before they are stored and opens them for drivers and import diffs. */
  secrets: SecretBox;
  clock?: Clock;
}

/**
 * Sites, racks and machines (with their BMC and NICs): validation, uniqueness, audit and
 * import/export. Every mutation runs in one transaction together with its audit row.
 *
 * Errors: InputError (400, `details: [{field, message}]`) for invalid input or references to
 * sites/racks that do not exist; NotFoundError (404) for the addressed object; ConflictError
 * (409) for unique clashes (serial, asset tag, MAC, IPv4, rack unit) and for deletes that would
 * orphan something; UnprocessableError (422) from `importInventory`.
 *
 * BMC passwords are sealed with SecretBox before they reach the database and never appear in
 * outputs, errors or audit rows (outputs carry `password_set: true`).
 */
export class InventoryService {
  private readonly knex: Knex;
  private readonly secrets: SecretBox;
  private readonly clock: Clock;

  constructor(deps: InventoryServiceDeps) {
    this.knex = deps.knex;
    this.secrets = deps.secrets;
    this.clock = deps.clock ?? systemClock;
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  // ---------------------------------------------------------------- sites

  /** Sites ordered by code. */
  async listSites(q: SiteListQueryInput = {}): Promise<Page<SiteOutput>> {
    const query = validateInput(SiteListQuery, q, 'site list query');
    const builder = this.knex('sites').orderBy('code', 'asc').limit(query.limit + 1);
    if (query.cursor) builder.where('code', '>', decodeCursor(query.cursor, 1)[0]!);
    return toPage(await builder, query.limit, (r: Row) => [String(r.code)], siteFromRow);
  }

  async getSite(code: string): Promise<SiteOutput> {
    return siteFromRow(await this.siteRow(this.knex, code));
  }

  async createSite(input: SiteCreateInput, actor: Actor): Promise<SiteOutput> {
    const site = validateInput(SiteCreate, input, 'site');
    return this.knex.transaction(async (trx) => {
      if (await trx('sites').where({ code: site.code }).first()) throw conflict(`site ${site.code} already exists`, 'code');
      return this.insertSite(trx, site, actor);
    });
  }

  async updateSite(code: string, patch: SitePatchInput, actor: Actor): Promise<SiteOutput> {
    const changes = validateInput(SitePatch, patch, `site ${code}`);
    return this.knex.transaction(async (trx) => {
      const before = siteFromRow(await this.siteRow(trx, code));
      const desired = { ...before, ...stripUndefined(changes) };
      const fields = diffSite(before, desired);
      if (fields.length === 0) return before;
      return this.updateSiteRow(trx, before, desired, fields, actor);
    });
  }

  /** Refused (409) while racks or machines still reference the site. */
  async deleteSite(code: string, actor: Actor): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const row = await this.siteRow(trx, code);
      const racks = toCount((await trx('racks').where({ site_id: row.id }).count({ n: '*' }))[0]?.n);
      const machines = toCount((await trx('machines').where({ site_id: row.id }).count({ n: '*' }))[0]?.n);
      if (racks > 0 || machines > 0) {
        throw new ConflictError(`site ${code} still has ${racks} rack(s) and ${machines} machine(s); delete or move them first`, {
          details: { reason: 'in_use', racks, machines },
        });
      }
      await trx('sites').where({ id: row.id }).delete();
      await writeAudit(trx, actor, { action: 'site.delete', targetType: 'site', targetId: code, before: siteFromRow(row) }, this.now());
    });
  }

  // ---------------------------------------------------------------- racks

  /** Racks ordered by (created_at, id), optionally of one site. */
  async listRacks(q: RackListQueryInput = {}): Promise<Page<RackOutput>> {
    const query = validateInput(RackListQuery, q, 'rack list query');
    const builder = this.rackQuery(this.knex).limit(query.limit + 1);
    if (query.site) builder.where('s.code', query.site);
    if (query.cursor) whereAfter(builder, 'r', decodeCursor(query.cursor, 2));
    return toPage(await builder, query.limit, sortKey, rackFromRow);
  }

  async getRack(id: string): Promise<RackOutput> {
    const row = await this.rackQuery(this.knex).where('r.id', id).first();
    if (!row) throw new NotFoundError(`rack ${id} not found`);
    return rackFromRow(row);
  }

  async createRack(input: RackCreateInput, actor: Actor): Promise<RackOutput> {
    const rack = validateInput(RackCreate, input, 'rack');
    return this.knex.transaction(async (trx) => {
      const site = await trx('sites').where({ code: rack.site }).first();
      if (!site) throw invalid('site', `no site with code ${rack.site}`);
      if (await trx('racks').where({ site_id: site.id, name: rack.name }).first()) {
        throw conflict(`rack ${rack.name} already exists in site ${rack.site}`, 'name');
      }
      return this.insertRack(trx, String(site.id), { site: rack.site, name: rack.name, row: rack.row ?? null, height_u: rack.height_u }, actor);
    });
  }

  async updateRack(id: string, patch: RackPatchInput, actor: Actor): Promise<RackOutput> {
    const changes = validateInput(RackPatch, patch, `rack ${id}`);
    return this.knex.transaction(async (trx) => {
      const row = await this.rackQuery(trx).where('r.id', id).first();
      if (!row) throw new NotFoundError(`rack ${id} not found`);
      const before = rackFromRow(row);
      const desired = { ...before, ...stripUndefined(changes) };
      const fields = diffRack(before, desired);
      if (desired.name !== before.name) {
        fields.unshift('name');
        if (await trx('racks').where({ site_id: row.site_id, name: desired.name }).first()) {
          throw conflict(`rack ${desired.name} already exists in site ${before.site}`, 'name');
        }
      }
      if (fields.length === 0) return before;
      if (desired.height_u < before.height_u) {
        const above = await trx('machines').where({ rack_id: id }).where('rack_unit', '>', desired.height_u).first();
        if (above) throw conflict(`rack ${before.name}: machine ${above.serial} sits at U${above.rack_unit}, above the new height ${desired.height_u}`, 'height_u');
      }
      const after = await this.updateRackRow(trx, before, { ...desired, row: desired.row ?? null }, fields, actor);
      return after;
    });
  }

  /** Refused (409) while machines are in the rack. */
  async deleteRack(id: string, actor: Actor): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const row = await this.rackQuery(trx).where('r.id', id).first();
      if (!row) throw new NotFoundError(`rack ${id} not found`);
      const machines = toCount((await trx('machines').where({ rack_id: id }).count({ n: '*' }))[0]?.n);
      if (machines > 0) {
        throw new ConflictError(`rack ${row.name} in site ${row.site_code} still holds ${machines} machine(s)`, { details: { reason: 'in_use', machines } });
      }
      await trx('racks').where({ id }).delete();
      await writeAudit(trx, actor, { action: 'rack.delete', targetType: 'rack', targetId: id, before: rackFromRow(row) }, this.now());
    });
  }

  // ---------------------------------------------------------------- machines

  /**
   * Machines ordered by (created_at, id). Filters: `site` (code), `rack` (id or name),
   * `state` (provision state), `health`, `profile` (hardware profile), `maintenance`.
   * Loads a page in three queries (machines, their BMCs, their NICs).
   */
  async listMachines(q: MachineListQueryInput = {}): Promise<Page<MachineOutput>> {
    const query = validateInput(MachineListQuery, q, 'machine list query');
    const builder = this.machineQuery(this.knex).limit(query.limit + 1);
    if (query.site) builder.where('s.code', query.site);
    if (query.rack) {
      const rack = query.rack;
      builder.where((w) => w.where('r.id', rack).orWhere('r.name', rack));
    }
    if (query.state) builder.where('m.provision_state', query.state);
    if (query.health) builder.where('m.health', query.health);
    if (query.profile) builder.where('m.hardware_profile', query.profile);
    if (query.maintenance !== undefined) builder.where('m.maintenance', query.maintenance);
    if (query.cursor) whereAfter(builder, 'm', decodeCursor(query.cursor, 2));
    const rows: Row[] = await builder;
    const page = toPage(rows, query.limit, sortKey, (r) => r);
    return { items: await this.hydrate(this.knex, page.items), next_cursor: page.next_cursor };
  }

  /** By id, or by serial number. */
  async getMachine(idOrSerial: string): Promise<MachineOutput> {
    const row = await this.machineRow(this.knex, idOrSerial);
    return (await this.hydrate(this.knex, [row]))[0]!;
  }

  async createMachine(input: MachineCreateInput, actor: Actor): Promise<MachineOutput> {
    const m = validateInput(MachineCreate, input, 'machine');
    const spec = machineSpecFromInput(m);
    return this.knex.transaction(async (trx) => {
      const refs = await this.resolveRefs(trx, spec);
      await this.assertUnique(trx, spec, null);
      const id = await this.writeMachine(trx, null, spec, refs, this.now());
      const after = await this.machineById(trx, id);
      await writeAudit(trx, actor, { action: 'machine.create', targetType: 'machine', targetId: id, after }, this.now());
      return after;
    });
  }

  /**
   * Applies the given fields; `bmc` fields are merged into the stored BMC (an absent password
   * keeps the stored one); `nics`, when given, is the machine's complete NIC list.
   */
  async updateMachine(idOrSerial: string, patch: MachinePatchInput, actor: Actor): Promise<MachineOutput> {
    const p = validateInput(MachinePatch, patch, `machine ${idOrSerial}`);
    return this.knex.transaction(async (trx) => {
      const row = await this.machineRow(trx, idOrSerial);
      const id = String(row.id);
      const before = await this.machineById(trx, id);
      const current = await this.currentSpec(trx, before);
      const desired: MachineSpec = {
        ...current,
        ...pickDefined({ asset_tag: p.asset_tag, vendor: p.vendor, model: p.model, hardware_profile: p.hardware_profile, site: p.site, rack: p.rack, rack_unit: p.rack_unit }),
        bmc: { ...current.bmc, ...pickDefined(p.bmc ?? {}) } as MachineSpec['bmc'],
        nics: p.nics ? p.nics.map(nicSpecFromInput) : current.nics,
      };
      // Moving to another site without naming a rack leaves the old site's rack behind.
      if (p.site !== undefined && p.site !== current.site && p.rack === undefined) {
        desired.rack = null;
        desired.rack_unit = null;
      }
      if (desired.rack_unit != null && desired.rack == null) throw invalid('rack_unit', 'rack_unit needs a rack');
      const fields = diffMachine(current, desired);
      if (fields.length === 0) return before;
      const refs = await this.resolveRefs(trx, desired);
      await this.assertUnique(trx, desired, id);
      await this.writeMachine(trx, { id, nics: current.nics }, desired, refs, this.now());
      const after = await this.machineById(trx, id);
      await writeAudit(trx, actor, { action: 'machine.update', targetType: 'machine', targetId: id, before, after: { ...after, changed: fields } }, this.now());
      return after;
    });
  }

  /** Refused (409) while the machine is allocated, deploying, active, releasing or wiping. */
  async deleteMachine(idOrSerial: string, actor: Actor): Promise<void> {
    await this.knex.transaction(async (trx) => {
      const row = await this.machineRow(trx, idOrSerial);
      const state = String(row.provision_state);
      if (UNDELETABLE_STATES.includes(state)) {
        throw new ConflictError(`machine ${row.serial} is ${state}; release it before deleting it from inventory`, {
          details: { reason: 'in_use', provision_state: state },
        });
      }
      const before = (await this.hydrate(trx, [row]))[0]!;
      // Conditional on the state so a workflow that claims the machine meanwhile wins; BMC and
      // NIC rows go with it (ON DELETE CASCADE).
      const deleted = await trx('machines').where({ id: row.id }).whereNotIn('provision_state', UNDELETABLE_STATES).delete();
      if (deleted !== 1) throw new ConflictError(`machine ${row.serial} changed state while being deleted; try again`, { details: { reason: 'in_use' } });
      await writeAudit(trx, actor, { action: 'machine.delete', targetType: 'machine', targetId: String(row.id), before }, this.now());
    });
  }

  /** Turns maintenance on (a reason is required) or off; both are audited with the reason. */
  async setMaintenance(idOrSerial: string, req: MaintenanceRequestInput, actor: Actor): Promise<MachineOutput> {
    const r = validateInput(MaintenanceRequest, req, 'maintenance request');
    return this.knex.transaction(async (trx) => {
      const row = await this.machineRow(trx, idOrSerial);
      const id = String(row.id);
      const before = { maintenance: Boolean(row.maintenance), maintenance_reason: (row.maintenance_reason as string | null) ?? null };
      const reason = r.enabled ? r.reason! : null;
      await trx('machines').where({ id }).update({ maintenance: r.enabled, maintenance_reason: reason, updated_at: this.now() });
      await writeAudit(
        trx,
        actor,
        {
          action: r.enabled ? 'machine.maintenance_on' : 'machine.maintenance_off',
          targetType: 'machine',
          targetId: id,
          before,
          after: { maintenance: r.enabled, maintenance_reason: reason },
          reason: r.reason ?? null,
        },
        this.now(),
      );
      return this.machineById(trx, id);
    });
  }

  /**
   * Stores what inspection found (vendor/model/CPU/memory/disks/NICs) and which MACs differ
   * between the BMC's view and the inventory (`inventory_mismatch`). Audited as
   * `machine.inspect`.
   */
  async recordHardwareFacts(idOrSerial: string, facts: HardwareInventory, actor: Actor): Promise<MachineOutput> {
    return this.knex.transaction(async (trx) => {
      const row = await this.machineRow(trx, idOrSerial);
      const id = String(row.id);
      const known = new Set((await trx('nics').where({ machine_id: id }).pluck('mac')).map(String));
      const seen = new Set(facts.nics.map((n) => n.mac.toLowerCase()));
      const mismatch = {
        missing_from_inventory: [...seen].filter((m) => !known.has(m)).sort(),
        missing_from_bmc: [...known].filter((m) => !seen.has(m)).sort(),
      };
      // A BMC that reports no NICs at all (IPMI cannot list them) says nothing about them.
      const hasMismatch = facts.nics.length > 0 && (mismatch.missing_from_inventory.length > 0 || mismatch.missing_from_bmc.length > 0);
      const now = this.now();
      await trx('machines').where({ id }).update({
        hardware: json.write(facts),
        inventory_mismatch: hasMismatch ? json.write(mismatch) : null,
        inspected_at: now,
        updated_at: now,
      });
      await writeAudit(trx, actor, { action: 'machine.inspect', targetType: 'machine', targetId: id, after: { hardware: facts, inventory_mismatch: hasMismatch ? mismatch : null } }, now);
      return this.machineById(trx, id);
    });
  }

  /** What a BMC driver needs, with the password decrypted (in memory only; never log it). */
  async getBmcEndpoint(machineIdOrSerial: string): Promise<BmcEndpoint> {
    // Workflows ask by id before every BMC call: that is one indexed lookup; a serial costs a second.
    // An id wins over a serial, as in machineRow. (One query with `id = ? or serial = ?` over the
    // join cannot use either index: it scanned every machine.)
    const bmc = (await this.knex('machine_bmcs').where({ machine_id: machineIdOrSerial }).first())
      ?? (await this.knex('machine_bmcs as b').join('machines as m', 'm.id', 'b.machine_id').where('m.serial', machineIdOrSerial).first('b.*'));
    if (!bmc) {
      const row = await this.machineRow(this.knex, machineIdOrSerial);
      throw new NotFoundError(`machine ${row.serial} has no BMC record`);
    }
    return {
      protocol: String(bmc.protocol) as BmcProtocol,
      host: String(bmc.host),
      port: bmc.port === null || bmc.port === undefined ? null : Number(bmc.port),
      username: String(bmc.username),
      password: this.secrets.open(String(bmc.password_enc)),
      tls: tlsFromColumns(bmc.tls_mode, bmc.tls_fingerprint),
      systemId: (bmc.system_id as string | null) ?? null,
    };
  }

  // ---------------------------------------------------------------- import / export

  /**
   * Applies an inventory document (YAML text, or an already-parsed object such as a JSON
   * request body). See `import.ts` for the document shape and rules: the whole document is
   * validated first, nothing is written when any entry is wrong (UnprocessableError, 422, with
   * `details: [{file, line, field, message}]`), entries are matched by site code, (site, rack
   * name) and machine serial, and objects missing from the document are NOT deleted.
   */
  async importInventory(source: string | object, opts: ImportOptions): Promise<ImportReport> {
    return importInventory(this.importContext(), source, opts);
  }

  /** YAML that re-imports to the current state; BMC passwords only with `withSecrets`. */
  async exportInventory(opts: { withSecrets?: boolean } = {}): Promise<string> {
    return exportInventory(this.knex, this.secrets, { withSecrets: opts.withSecrets ?? false, now: this.now() });
  }

  /** @internal The pieces the importer shares with the CRUD paths. */
  importContext(): ImportContext {
    return {
      knex: this.knex,
      secrets: this.secrets,
      now: () => this.now(),
      insertSite: (db, site, actor, reason) => this.insertSite(db, site, actor, reason),
      updateSiteRow: (db, before, desired, fields, actor, reason) => this.updateSiteRow(db, before, desired, fields, actor, reason),
      insertRack: (db, siteId, rack, actor, reason) => this.insertRack(db, siteId, rack, actor, reason),
      updateRackRow: (db, before, desired, fields, actor, reason) => this.updateRackRow(db, before, desired, fields, actor, reason),
      writeMachine: (db, existing, spec, refs, now) => this.writeMachine(db, existing, spec, refs, now),
      hydrate: (db, rows) => this.hydrate(db, rows),
      machineQuery: (db) => this.machineQuery(db),
    };
  }

  // ---------------------------------------------------------------- internals

  private async siteRow(db: Db, code: string): Promise<Row> {
    const row = await db('sites').where({ code }).first();
    if (!row) throw new NotFoundError(`site ${code} not found`);
    return row;
  }

  private async insertSite(db: Db, site: SiteOutputLike, actor: Actor, reason?: string): Promise<SiteOutput> {
    const now = this.now();
    const row = {
      id: randomUUID(),
      code: site.code,
      name: site.name,
      country: site.country,
      city: site.city,
      timezone: site.timezone,
      delivery_window_hours: site.delivery_window_hours,
      created_at: now,
      updated_at: now,
    };
    await uniqueGuard(() => db('sites').insert(row), `site ${site.code} already exists`);
    const out = siteFromRow(row);
    await writeAudit(db, actor, { action: 'site.create', targetType: 'site', targetId: site.code, after: out, reason: reason ?? null }, now);
    return out;
  }

  private async updateSiteRow(db: Db, before: SiteOutput, desired: SiteOutputLike, fields: string[], actor: Actor, reason?: string): Promise<SiteOutput> {
    if (desired.country !== before.country) await this.refuseResidencyChange(db, before);
    const now = this.now();
    await db('sites').where({ id: before.id }).update({
      name: desired.name,
      country: desired.country,
      city: desired.city,
      timezone: desired.timezone,
      delivery_window_hours: desired.delivery_window_hours,
      updated_at: now,
    });
    const after = siteFromRow(await db('sites').where({ id: before.id }).first());
    await writeAudit(db, actor, { action: 'site.update', targetType: 'site', targetId: before.code, before, after: { ...after, changed: fields }, reason: reason ?? null }, now);
    return after;
  }

  /**
   * Customers chose the country their data lives in: a site that holds their servers, or orders
   * bound to it, keeps its country (a wrong one on an empty site is a typo to fix).
   */
  private async refuseResidencyChange(db: Db, site: SiteOutput): Promise<void> {
    const servers = toCount((await db('machines').where({ site_id: site.id }).whereNotNull('order_id').count({ n: '*' }))[0]?.n);
    const orders = toCount((await db('orders').where({ site_code: site.code }).whereIn('status', LIVE_ORDER_STATUSES).count({ n: '*' }))[0]?.n);
    if (servers > 0 || orders > 0) {
      throw new ConflictError(`site ${site.code} holds ${servers} customer server(s) and ${orders} order(s) that chose ${site.country}; its country cannot change while they are there`, {
        details: [{ field: 'country', message: `customers' data must stay in ${site.country}`, servers, orders }],
      });
    }
  }

  private rackQuery(db: Db): Knex.QueryBuilder {
    return db('racks as r').join('sites as s', 's.id', 'r.site_id').select('r.*', 's.code as site_code').orderBy([{ column: 'r.created_at' }, { column: 'r.id' }]);
  }

  private async insertRack(db: Db, siteId: string, rack: { site: string; name: string; row: string | null; height_u: number }, actor: Actor, reason?: string): Promise<RackOutput> {
    const now = this.now();
    const row = { id: randomUUID(), site_id: siteId, name: rack.name, row: rack.row, height_u: rack.height_u, created_at: now, updated_at: now };
    await uniqueGuard(() => db('racks').insert(row), `rack ${rack.name} already exists in site ${rack.site}`);
    const out = rackFromRow({ ...row, site_code: rack.site });
    await writeAudit(db, actor, { action: 'rack.create', targetType: 'rack', targetId: row.id, after: out, reason: reason ?? null }, now);
    return out;
  }

  private async updateRackRow(db: Db, before: RackOutput, desired: RackSpec, fields: string[], actor: Actor, reason?: string): Promise<RackOutput> {
    const now = this.now();
    await db('racks').where({ id: before.id }).update({ name: desired.name, row: desired.row, height_u: desired.height_u, updated_at: now });
    const after = rackFromRow(await this.rackQuery(db).where('r.id', before.id).first());
    await writeAudit(db, actor, { action: 'rack.update', targetType: 'rack', targetId: before.id, before, after: { ...after, changed: fields }, reason: reason ?? null }, now);
    return after;
  }

  private machineQuery(db: Db): Knex.QueryBuilder {
    return db('machines as m')
      .join('sites as s', 's.id', 'm.site_id')
      .leftJoin('racks as r', 'r.id', 'm.rack_id')
      .select('m.*', 's.code as site_code', 'r.name as rack_name')
      .orderBy([{ column: 'm.created_at' }, { column: 'm.id' }]);
  }

  private async machineRow(db: Db, idOrSerial: string): Promise<Row> {
    const byId = await this.machineQuery(db).where('m.id', idOrSerial).first();
    const row = byId ?? (await this.machineQuery(db).where('m.serial', idOrSerial).first());
    if (!row) throw new NotFoundError(`machine ${idOrSerial} not found`);
    return row;
  }

  private async machineById(db: Db, id: string): Promise<MachineOutput> {
    return (await this.hydrate(db, [await this.machineRow(db, id)]))[0]!;
  }

  /** Attaches BMCs and NICs to machine rows: two queries per page, whatever its size. */
  private async hydrate(db: Db, rows: Row[]): Promise<MachineOutput[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.id));
    const bmcs = new Map<string, Row>();
    const nics = new Map<string, Row[]>();
    for (const part of chunks(ids)) {
      for (const b of await db('machine_bmcs').whereIn('machine_id', part)) bmcs.set(String(b.machine_id), b);
      for (const n of await db('nics').whereIn('machine_id', part).orderBy([{ column: 'machine_id' }, { column: 'name' }, { column: 'mac' }])) {
        const list = nics.get(String(n.machine_id)) ?? [];
        list.push(n);
        nics.set(String(n.machine_id), list);
      }
    }
    return rows.map((r) => machineFromRow(r, bmcs.get(String(r.id)), nics.get(String(r.id)) ?? []));
  }

  /** The stored machine in comparable form, with the BMC password opened in memory. */
  private async currentSpec(db: Db, m: MachineOutput): Promise<MachineSpec> {
    const bmc = await db('machine_bmcs').where({ machine_id: m.id }).first('password_enc');
    return specFromMachine(m, bmc ? this.secrets.open(String(bmc.password_enc)) : undefined);
  }

  /** Site/rack ids for a spec; InputError naming the field when they do not exist. */
  private async resolveRefs(db: Db, spec: MachineSpec): Promise<MachineRefs> {
    const site = await db('sites').where({ code: spec.site }).first();
    if (!site) throw invalid('site', `no site with code ${spec.site}`);
    if (spec.rack == null) return { siteId: String(site.id), rackId: null };
    const rack = await db('racks').where({ site_id: site.id, name: spec.rack }).first();
    if (!rack) throw invalid('rack', `no rack named ${spec.rack} in site ${spec.site}`);
    if (spec.rack_unit != null && spec.rack_unit > Number(rack.height_u)) {
      throw invalid('rack_unit', `U${spec.rack_unit} is above the top of rack ${spec.rack} (${rack.height_u}U)`);
    }
    return { siteId: String(site.id), rackId: String(rack.id) };
  }

  /** ConflictError listing every unique key of `spec` another machine already holds. */
  private async assertUnique(db: Db, spec: MachineSpec, selfId: string | null): Promise<void> {
    const clashes: ErrorDetail[] = [];
    const others = (q: Knex.QueryBuilder) => (selfId ? q.whereNot('m.id', selfId) : q);
    const bySerial = await others(db('machines as m').where('m.serial', spec.serial)).first('m.serial');
    if (bySerial) clashes.push({ field: 'serial', message: `serial ${spec.serial} is already enrolled` });
    if (spec.asset_tag) {
      const hit = await others(db('machines as m').where('m.asset_tag', spec.asset_tag)).first('m.serial');
      if (hit) clashes.push({ field: 'asset_tag', message: `asset tag ${spec.asset_tag} belongs to machine ${hit.serial}` });
    }
    if (spec.rack != null && spec.rack_unit != null) {
      const hit = await others(
        db('machines as m').join('racks as r', 'r.id', 'm.rack_id').join('sites as s', 's.id', 'r.site_id').where({ 's.code': spec.site, 'r.name': spec.rack, 'm.rack_unit': spec.rack_unit }),
      ).first('m.serial');
      if (hit) clashes.push({ field: 'rack_unit', message: `U${spec.rack_unit} of rack ${spec.rack} is taken by machine ${hit.serial}` });
    }
    const macs = spec.nics.map((n) => n.mac);
    const ips = spec.nics.flatMap((n) => (n.ipv4 ? [n.ipv4.address] : []));
    const nicQuery = () => others(db('nics as n').join('machines as m', 'm.id', 'n.machine_id')).select('n.mac', 'n.ipv4_address', 'm.serial');
    if (macs.length > 0) {
      for (const hit of await nicQuery().whereIn('n.mac', macs)) {
        clashes.push({ field: `nics[${macs.indexOf(hit.mac)}].mac`, message: `MAC ${hit.mac} belongs to machine ${hit.serial}` });
      }
    }
    if (ips.length > 0) {
      for (const hit of await nicQuery().whereIn('n.ipv4_address', ips)) {
        const i = spec.nics.findIndex((n) => n.ipv4?.address === hit.ipv4_address);
        clashes.push({ field: `nics[${i}].ipv4.address`, message: `IPv4 ${hit.ipv4_address} is reserved for machine ${hit.serial}` });
      }
    }
    if (clashes.length > 0) {
      throw new ConflictError(`machine ${spec.serial}: ${clashes.map((c) => c.message).join('; ')}`, { details: clashes });
    }
  }

  /**
   * Writes a machine row, its BMC and NICs. For an existing machine, NICs are matched by MAC:
   * removed ones are deleted first and reassigned IPv4 addresses are cleared before being set,
   * so addresses can move between NICs of the same machine without tripping unique indexes.
   */
  private async writeMachine(db: Db, existing: { id: string; nics: NicSpec[] } | null, spec: MachineSpec, refs: MachineRefs, now: string): Promise<string> {
    const id = existing?.id ?? randomUUID();
    const columns = {
      serial: spec.serial,
      asset_tag: spec.asset_tag,
      vendor: spec.vendor,
      model: spec.model,
      hardware_profile: spec.hardware_profile,
      site_id: refs.siteId,
      rack_id: refs.rackId,
      rack_unit: spec.rack_unit,
      updated_at: now,
    };
    const bmc = {
      protocol: spec.bmc.protocol,
      host: spec.bmc.host,
      port: spec.bmc.port,
      username: spec.bmc.username,
      ...tlsToColumns(spec.bmc.tls),
      system_id: spec.bmc.system_id,
      updated_at: now,
    };
    await uniqueGuard(async () => {
      if (!existing) {
        if (spec.bmc.password === undefined) throw invalid('bmc.password', 'required for a new machine');
        await db('machines').insert({ id, ...columns, created_at: now });
        await db('machine_bmcs').insert({ machine_id: id, ...bmc, password_enc: this.secrets.seal(spec.bmc.password), created_at: now });
        if (spec.nics.length > 0) await db('nics').insert(spec.nics.map((n) => ({ id: randomUUID(), machine_id: id, ...nicColumns(n), created_at: now, updated_at: now })));
        return;
      }
      await db('machines').where({ id }).update(columns);
      const bmcUpdate = spec.bmc.password === undefined ? bmc : { ...bmc, password_enc: this.secrets.seal(spec.bmc.password) };
      const hasBmc = await db('machine_bmcs').where({ machine_id: id }).first('machine_id');
      if (hasBmc) await db('machine_bmcs').where({ machine_id: id }).update(bmcUpdate);
      else {
        if (spec.bmc.password === undefined) throw invalid('bmc.password', 'required: this machine has no stored BMC password');
        await db('machine_bmcs').insert({ machine_id: id, ...bmcUpdate, created_at: now });
      }
      const desiredMacs = new Set(spec.nics.map((n) => n.mac));
      const removed = existing.nics.filter((n) => !desiredMacs.has(n.mac)).map((n) => n.mac);
      if (removed.length > 0) await db('nics').where({ machine_id: id }).whereIn('mac', removed).delete();
      const currentByMac = new Map(existing.nics.map((n) => [n.mac, n]));
      const moved = spec.nics.filter((n) => currentByMac.has(n.mac) && currentByMac.get(n.mac)!.ipv4?.address !== n.ipv4?.address).map((n) => n.mac);
      if (moved.length > 0) await db('nics').where({ machine_id: id }).whereIn('mac', moved).update({ ipv4_address: null });
      for (const nic of spec.nics) {
        const was = currentByMac.get(nic.mac);
        if (!was) await db('nics').insert({ id: randomUUID(), machine_id: id, ...nicColumns(nic), created_at: now, updated_at: now });
        else if (JSON.stringify(was) !== JSON.stringify(nic)) await db('nics').where({ machine_id: id, mac: nic.mac }).update({ ...nicColumns(nic), updated_at: now });
      }
    }, `machine ${spec.serial}: a serial, asset tag, MAC, IPv4 address or rack unit is already taken`);
    return id;
  }
}

/** Site and rack ids a machine spec resolves to. */
export interface MachineRefs {
  siteId: string;
  rackId: string | null;
}

type SiteOutputLike = { code: string; name: string; country: string; city: string; timezone: string; delivery_window_hours: number };

/** @internal What `import.ts` borrows from the service so both paths write rows the same way. */
export interface ImportContext {
  knex: Knex;
  secrets: SecretBox;
  now(): string;
  insertSite(db: Db, site: SiteOutputLike, actor: Actor, reason?: string): Promise<SiteOutput>;
  updateSiteRow(db: Db, before: SiteOutput, desired: SiteOutputLike, fields: string[], actor: Actor, reason?: string): Promise<SiteOutput>;
  insertRack(db: Db, siteId: string, rack: RackSpec, actor: Actor, reason?: string): Promise<RackOutput>;
  updateRackRow(db: Db, before: RackOutput, desired: RackSpec, fields: string[], actor: Actor, reason?: string): Promise<RackOutput>;
  writeMachine(db: Db, existing: { id: string; nics: NicSpec[] } | null, spec: MachineSpec, refs: MachineRefs, now: string): Promise<string>;
  hydrate(db: Db, rows: Row[]): Promise<MachineOutput[]>;
  machineQuery(db: Db): Knex.QueryBuilder;
}

function sortKey(r: Row): string[] {
  return [toIsoKey(r.created_at), String(r.id)];
}

function toIsoKey(v: unknown): string {
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
}

/** `(created_at, id) > (cursor)` written out, since SQLite and PostgreSQL differ on row values. */
function whereAfter(builder: Knex.QueryBuilder, alias: string, [createdAt, id]: string[]): void {
  builder.where((w) =>
    w.where(`${alias}.created_at`, '>', createdAt!).orWhere((e) => e.where(`${alias}.created_at`, '=', createdAt!).andWhere(`${alias}.id`, '>', id!)),
  );
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Like stripUndefined, but turns explicit nulls into nulls (PATCH semantics: null clears). */
function pickDefined<T extends object>(o: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return stripUndefined(o) as Partial<{ [K in keyof T]: Exclude<T[K], undefined> }>;
}

function invalid(field: string, message: string): InputError {
  return new InputError(`${field}: ${message}`, { details: [{ field, message }] });
}

function conflict(message: string, field: string): ConflictError {
  return new ConflictError(message, { details: { reason: 'already_exists', field } });
}

/** A unique violation that slipped past the pre-checks (a concurrent writer) still becomes a 409. */
async function uniqueGuard<T>(fn: () => Promise<T>, message: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(message, { details: { reason: 'already_exists' }, cause: err });
    throw err;
  }
}

