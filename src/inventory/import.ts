import type { Knex } from 'knex';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { ConflictError, InputError, UnprocessableError, type ErrorDetail } from '../errors.js';
import { diffMachine, diffRack, diffSite, type MachineSpec, type RackSpec, type SiteSpec } from './diff.js';
import { z } from 'zod';
import { normaliseMac } from './mac.js';
import { InventoryMachine, InventorySite, type InventoryDocumentOutput, type MachineOutput, type SiteOutput, type RackOutput } from './schemas.js';
import { rackFromRow, siteFromRow } from './rows.js';
import type { ImportContext } from './service.js';
import { auditSummary, machineSpecFromInput, specFromMachine } from './spec.js';
import { parseInventorySource, type InventorySource } from './source.js';
import { formatPath, issueDetails, nulPaths } from './validate.js';

/**
 * Inventory import: the file describes sites (with racks) and machines; the database is
 * brought in line with it.
 *
 * - Matching: sites by `code`, racks by (site, name), machines by `serial`. A re-import of the
 *   same file changes nothing and reports everything as unchanged.
 * - Fields: the file is the desired state of every entry it lists, so an optional field left
 *   out (vendor, rack, switch...) is cleared. The exception is a machine's BMC password: left
 *   out, the stored one is kept (exports without secrets re-import cleanly); a new machine
 *   must have one.
 * - NICs: the file lists a machine's complete set, matched by MAC; NICs not listed are removed.
 * - Nothing is deleted: sites, racks and machines missing from the file are left as they are.
 * - All or nothing: the whole document is validated first (syntax, shapes, references,
 *   duplicates within the file and against other machines in the database) and every problem
 *   is reported; if there is any, nothing is written. Otherwise all writes happen in one
 *   transaction, each with its audit row.
 * - A MAC, IPv4 address or asset tag that another machine holds in the database is a problem
 *   even if the file also changes that other machine: move such things in two imports.
 */

export interface ImportOptions {
  /** Validate and report what would change, without writing. */
  dryRun?: boolean;
  actor: Actor;
  /** Shown in problems and audit rows; defaults to `inventory.yaml` for text and `request` for objects. */
  fileName?: string;
}

export type ImportKind = 'site' | 'rack' | 'machine';

/** What an import did (or, with `dryRun`, would do). Keys: site code, `SITE/RACK`, machine serial. */
export interface ImportReport {
  created: { kind: ImportKind; key: string }[];
  updated: { kind: ImportKind; key: string; fields: string[] }[];
  unchanged: number;
  dryRun: boolean;
}

/** One problem in an inventory document; `line` is absent for object (JSON) sources. */
export interface ImportProblem extends ErrorDetail {
  file: string;
  line?: number;
  field: string;
  message: string;
}

type Db = Knex | Knex.Transaction;
type Path = (string | number)[];
type Doc = InventoryDocumentOutput;

const CHUNK = 500;

export async function importInventory(ctx: ImportContext, source: string | object, opts: ImportOptions): Promise<ImportReport> {
  const file = opts.fileName ?? (typeof source === 'string' ? 'inventory.yaml' : 'request');
  const parsed = parseInventorySource(source);
  const problems = new Problems(file, parsed);
  for (const p of parsed.syntaxProblems) problems.list.push({ file, ...(p.line === undefined ? {} : { line: p.line }), field: '(yaml)', message: p.message });
  problems.throwIfAny();
  if (parsed.data === null || parsed.data === undefined) {
    // Same answer as the API gives an empty body: importing nothing is almost always the wrong file.
    throw new InputError(`${file}: empty inventory document`, { details: [{ file, field: '(document)', message: 'empty inventory document' }] });
  }

  // Refused before anything is looked up: PostgreSQL cannot even compare such text.
  for (const path of nulPaths(parsed.data)) problems.add(path, 'must not contain a NUL character (\\u0000)');
  problems.throwIfAny();

  const { view, doc } = validateEntries(parsed.data, problems);
  checkWithinFile(view, problems);
  const fileProblems = problems.list.length;
  // Problems so far need no database; the rest are checked against it inside the transaction
  // that also writes, so the checks and the writes see the same rows.
  const attempt = () =>
    ctx.knex.transaction(async (trx) => {
      problems.list.length = fileProblems;
      const state = await loadState(trx, ctx, view);
      checkAgainstDatabase(view, state, problems);
      problems.throwIfAny();
      const plan = makePlan(ctx, doc!, state);
      if (!opts.dryRun) await apply(trx, ctx, plan, opts.actor, file);
      return plan.report(opts.dryRun ?? false);
    });
  try {
    return await attempt();
  } catch (err) {
    // A concurrent import created the same rows after this one loaded its state (PostgreSQL runs
    // imports side by side; SQLite serialises them). One fresh attempt sees the winner's rows and
    // reports them unchanged, or reports a real clash as a problem.
    if (err instanceof ConflictError && err.code === 'conflict') return attempt();
    throw err;
  }
}


/** Collects problems with their lines; throws them all at once, sorted by line. */
class Problems {
  readonly list: ImportProblem[] = [];
  constructor(
    private readonly file: string,
    private readonly source: InventorySource,
  ) {}

  add(path: Path, message: string): void {
    const line = this.source.lineOf(path);
    this.list.push({ file: this.file, ...(line === undefined ? {} : { line }), field: formatPath(path) || '(document)', message });
  }

  lineOf(path: Path): number | undefined {
    return this.source.lineOf(path);
  }

  throwIfAny(): void {
    if (this.list.length === 0) return;
    const sorted = this.list
      .map((p, i) => ({ p, i }))
      .sort((a, b) => (a.p.line ?? 0) - (b.p.line ?? 0) || a.i - b.i)
      .map(({ p }) => p);
    const n = sorted.length;
    throw new UnprocessableError(`${this.file}: ${n} problem${n === 1 ? '' : 's'}`, { details: sorted });
  }
}

/** Renders a problem the way the CLI prints it: `inventory.yaml:42 machines[3].nics[0].mac: not a MAC address`. */
export function formatProblem(p: { file?: string; line?: number; field?: string; message: string }): string {
  return `${p.file ?? ''}${p.line === undefined ? '' : `:${p.line}`} ${p.field ?? ''}: ${p.message}`.trim();
}

function where(problems: Problems, path: Path): string {
  const line = problems.lineOf(path);
  return line === undefined ? formatPath(path) : `line ${line}`;
}

/**
 * What the cross-entry checks look at. Valid entries are their parsed form; an entry with
 * problems still contributes whichever keys are usable (serial, site, MACs...), so one broken
 * entry does not hide a duplicate or a bad reference in another.
 */
interface SiteView {
  code?: string;
  racks: { name?: string; height_u?: number }[];
}
interface MachineView {
  valid: boolean;
  serial?: string;
  asset_tag?: string | null;
  site?: string;
  rack?: string | null;
  rack_unit?: number | null;
  /** For an entry with problems, `password` is the raw value (anything but undefined counts as given). */
  bmc?: { password?: unknown };
  nics: { mac?: string; ipv4?: { address?: string } | null }[];
}
interface View {
  sites: SiteView[];
  machines: MachineView[];
}

const TopLevel = z.object({ sites: z.array(z.unknown()).default([]), machines: z.array(z.unknown()).default([]) }).strict();

function validateEntries(data: unknown, problems: Problems): { view: View; doc: Doc | null } {
  const top = TopLevel.safeParse(data);
  if (!top.success) {
    for (const d of issueDetails(top.error.issues)) problems.add(d.path as Path, d.message);
    problems.throwIfAny();
  }
  const { sites: rawSites, machines: rawMachines } = top.data!;
  const doc: Doc = { sites: [], machines: [] };
  const view: View = { sites: [], machines: [] };
  let ok = true;
  rawSites.forEach((raw, i) => {
    const r = InventorySite.safeParse(raw);
    if (r.success) {
      doc.sites.push(r.data);
      view.sites.push(r.data);
      return;
    }
    ok = false;
    for (const d of issueDetails(r.error.issues, ['sites', i])) problems.add(d.path as Path, d.message);
    const o = asRecord(raw);
    view.sites.push({
      ...opt('code', text(o.code)),
      racks: asArray(o.racks).map((rk) => ({ ...opt('name', text(asRecord(rk).name)), ...opt('height_u', int(asRecord(rk).height_u)) })),
    });
  });
  rawMachines.forEach((raw, i) => {
    const r = InventoryMachine.safeParse(raw);
    if (r.success) {
      doc.machines.push(r.data);
      view.machines.push({ valid: true, ...r.data });
      return;
    }
    ok = false;
    const issues = issueDetails(r.error.issues, ['machines', i]);
    for (const d of issues) problems.add(d.path as Path, d.message);
    // A field the schema refused is reported once: not checked again against the file or database.
    const refused = new Set(issues.filter((d) => d.path.length === 3).map((d) => d.path[2]));
    const o = asRecord(raw);
    const usable = (key: string): unknown => (refused.has(key) ? undefined : o[key]);
    view.machines.push({
      valid: false,
      ...opt('serial', text(usable('serial'))),
      ...opt('asset_tag', text(usable('asset_tag'))),
      ...opt('site', text(usable('site'))),
      ...opt('rack', text(usable('rack'))),
      ...opt('rack_unit', int(usable('rack_unit'))),
      // Kept so a new machine's missing password is reported with the entry's other problems;
      // a password that is there but malformed is the schema's problem, not a missing one.
      ...(isRecord(o.bmc) ? { bmc: { password: o.bmc.password } } : {}),
      nics: asArray(o.nics).map((n) => {
        const nic = asRecord(n);
        const mac = typeof nic.mac === 'string' ? normaliseMac(nic.mac) : null;
        const address = text(asRecord(nic.ipv4).address);
        return { ...opt('mac', mac ?? undefined), ...(address ? { ipv4: { address } } : {}) };
      }),
    });
  });
  return { view, doc: ok ? doc : null };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
function asRecord(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}
function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
function int(v: unknown): number | undefined {
  return Number.isInteger(v) ? (v as number) : undefined;
}
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Duplicates and references that can be checked from the file alone. */
function checkWithinFile(doc: View, problems: Problems): void {
  const firstSeen = <K>(map: Map<K, Path>, key: K, path: Path, message: (other: string) => string): void => {
    const other = map.get(key);
    if (other) problems.add(path, message(where(problems, other)));
    else map.set(key, path);
  };

  const sites = new Map<string, Path>();
  doc.sites.forEach((site, i) => {
    if (site.code !== undefined) firstSeen(sites, site.code, ['sites', i, 'code'], (o) => `duplicate site code ${site.code} (also at ${o})`);
    const racks = new Map<string, Path>();
    site.racks.forEach((rack, j) => {
      if (rack.name !== undefined) {
        firstSeen(racks, rack.name, ['sites', i, 'racks', j, 'name'], (o) => `duplicate rack ${rack.name} in site ${site.code} (also at ${o})`);
      }
    });
  });

  const serials = new Map<string, Path>();
  const tags = new Map<string, Path>();
  const macs = new Map<string, Path>();
  const ips = new Map<string, Path>();
  const units = new Map<string, Path>();
  doc.machines.forEach((m, i) => {
    if (m.serial !== undefined) firstSeen(serials, m.serial, ['machines', i, 'serial'], (o) => `duplicate serial ${m.serial} (also at ${o})`);
    if (m.asset_tag) firstSeen(tags, m.asset_tag, ['machines', i, 'asset_tag'], (o) => `duplicate asset tag ${m.asset_tag} (also at ${o})`);
    if (m.site && m.rack && m.rack_unit != null) {
      firstSeen(units, `${m.site}\u0000${m.rack}\u0000${m.rack_unit}`, ['machines', i, 'rack_unit'], (o) => `U${m.rack_unit} of rack ${m.rack} is also given at ${o}`);
    }
    m.nics.forEach((nic, k) => {
      if (nic.mac !== undefined) {
        // Duplicates inside one machine are already reported by the NIC list schema.
        const other = macs.get(nic.mac);
        if (other && other[1] !== i) problems.add(['machines', i, 'nics', k, 'mac'], `duplicate MAC ${nic.mac} (also at ${where(problems, other)})`);
        else if (!other) macs.set(nic.mac, ['machines', i, 'nics', k, 'mac']);
      }
      const address = nic.ipv4?.address;
      if (address) firstSeen(ips, address, ['machines', i, 'nics', k, 'ipv4', 'address'], (o) => `duplicate IPv4 address ${address} (also at ${o})`);
    });
  });
}

/** The database rows the document touches, loaded in a bounded number of queries. */
interface DbState {
  sites: Map<string, SiteOutput>;
  /** key `SITE/RACK` */
  racks: Map<string, RackOutput>;
  /** machines named in the file, by serial */
  machines: Map<string, MachineOutput>;
  /** their sealed BMC passwords, by machine id */
  sealedPasswords: Map<string, string>;
  /** MAC → serial of the machine holding it, for MACs in the file */
  macOwner: Map<string, string>;
  ipOwner: Map<string, string>;
  tagOwner: Map<string, string>;
  /** `SITE/RACK/U` → serial, for every occupied unit of racks named in the file */
  unitOwner: Map<string, string>;
  /** occupants of the racks named in the file */
  rackMachines: Map<string, { serial: string; unit: number }[]>;
}

const defined = <T>(v: T | undefined | null): v is T => v !== undefined && v !== null;

async function loadState(db: Db, ctx: ImportContext, doc: View): Promise<DbState> {
  const sites = new Map<string, SiteOutput>();
  for (const r of await db('sites').select('*')) sites.set(String(r.code), siteFromRow(r));
  const racks = new Map<string, RackOutput>();
  for (const r of await db('racks as r').join('sites as s', 's.id', 'r.site_id').select('r.*', 's.code as site_code')) {
    racks.set(`${r.site_code}/${r.name}`, rackFromRow(r));
  }

  const machines = new Map<string, MachineOutput>();
  const sealedPasswords = new Map<string, string>();
  for (const part of chunks(doc.machines.map((m) => m.serial).filter(defined))) {
    const found = await ctx.hydrate(db, await ctx.machineQuery(db).whereIn('m.serial', part));
    for (const m of found) machines.set(m.serial, m);
    const ids = found.map((m) => m.id);
    if (ids.length > 0) {
      for (const b of await db('machine_bmcs').whereIn('machine_id', ids).select('machine_id', 'password_enc')) sealedPasswords.set(String(b.machine_id), String(b.password_enc));
    }
  }

  const macOwner = new Map<string, string>();
  const ipOwner = new Map<string, string>();
  const macs = doc.machines.flatMap((m) => m.nics.map((n) => n.mac)).filter(defined);
  const ips = doc.machines.flatMap((m) => m.nics.map((n) => n.ipv4?.address)).filter(defined);
  const nicOwners = (column: string, values: string[]) =>
    db('nics as n').join('machines as m', 'm.id', 'n.machine_id').whereIn(`n.${column}`, values).select(`n.${column} as value`, 'm.serial');
  for (const part of chunks(macs)) for (const r of await nicOwners('mac', part)) macOwner.set(String(r.value), String(r.serial));
  for (const part of chunks(ips)) for (const r of await nicOwners('ipv4_address', part)) ipOwner.set(String(r.value), String(r.serial));

  const tagOwner = new Map<string, string>();
  for (const part of chunks(doc.machines.map((m) => m.asset_tag).filter(defined))) {
    for (const r of await db('machines').whereIn('asset_tag', part).select('asset_tag', 'serial')) tagOwner.set(String(r.asset_tag), String(r.serial));
  }

  const unitOwner = new Map<string, string>();
  const rackMachines = new Map<string, { serial: string; unit: number }[]>();
  const rackKeys = new Set([
    ...doc.machines.flatMap((m) => (m.site && m.rack ? [`${m.site}/${m.rack}`] : [])),
    ...doc.sites.flatMap((s) => s.racks.map((r) => `${s.code}/${r.name}`)),
  ]);
  const rackIds = [...rackKeys].flatMap((k) => (racks.has(k) ? [racks.get(k)!.id] : []));
  for (const part of chunks(rackIds)) {
    const rows = await db('machines as m')
      .join('racks as r', 'r.id', 'm.rack_id')
      .join('sites as s', 's.id', 'r.site_id')
      .whereIn('m.rack_id', part)
      .whereNotNull('m.rack_unit')
      .select('m.serial', 'm.rack_unit', 'r.name as rack', 's.code as site');
    for (const r of rows) {
      const key = `${r.site}/${r.rack}`;
      unitOwner.set(`${key}/${r.rack_unit}`, String(r.serial));
      const list = rackMachines.get(key) ?? [];
      list.push({ serial: String(r.serial), unit: Number(r.rack_unit) });
      rackMachines.set(key, list);
    }
  }
  return { sites, racks, machines, sealedPasswords, macOwner, ipOwner, tagOwner, unitOwner, rackMachines };
}

/** References and clashes that need the database. */
function checkAgainstDatabase(doc: View, state: DbState, problems: Problems): void {
  const fileSites = new Map(doc.sites.filter((s) => s.code !== undefined).map((s) => [s.code!, s]));
  const fileMachines = new Map(doc.machines.filter((m) => m.serial !== undefined).map((m) => [m.serial!, m]));
  // A rack in the file with an unusable height still exists for reference purposes (Infinity).
  const rackHeight = (site: string, rack: string): number | undefined => {
    const inFile = fileSites.get(site)?.racks.find((r) => r.name === rack);
    if (inFile) return inFile.height_u ?? state.racks.get(`${site}/${rack}`)?.height_u ?? 42;
    return state.racks.get(`${site}/${rack}`)?.height_u;
  };

  doc.sites.forEach((site, i) => {
    site.racks.forEach((rack, j) => {
      if (site.code === undefined || rack.name === undefined || rack.height_u === undefined) return;
      // Shrinking a rack must not leave machines the file does not move above its top.
      for (const occupant of state.rackMachines.get(`${site.code}/${rack.name}`) ?? []) {
        const entry = fileMachines.get(occupant.serial);
        const stays = !entry || (entry.site === site.code && entry.rack === rack.name && entry.rack_unit === occupant.unit);
        if (stays && occupant.unit > rack.height_u) {
          problems.add(['sites', i, 'racks', j, 'height_u'], `machine ${occupant.serial} sits at U${occupant.unit}, above a height of ${rack.height_u}U`);
        }
      }
    });
  });

  doc.machines.forEach((m, i) => {
    const at = (...rest: Path): Path => ['machines', i, ...rest];
    if (m.site !== undefined) {
      if (!fileSites.has(m.site) && !state.sites.has(m.site)) {
        problems.add(at('site'), `unknown site ${m.site} (not in this file or the database)`);
      } else if (m.rack) {
        const height = rackHeight(m.site, m.rack);
        if (height === undefined) problems.add(at('rack'), `unknown rack ${m.rack} in site ${m.site} (not in this file or the database)`);
        else if (m.rack_unit != null && m.rack_unit > height) problems.add(at('rack_unit'), `U${m.rack_unit} is above the top of rack ${m.rack} (${height}U)`);
      }
      if (m.rack && m.rack_unit != null) {
        const owner = state.unitOwner.get(`${m.site}/${m.rack}/${m.rack_unit}`);
        // An occupant the file also lists either moves away or is reported by the within-file check.
        if (owner && owner !== m.serial && !fileMachines.has(owner)) problems.add(at('rack_unit'), `U${m.rack_unit} of rack ${m.rack} is taken by machine ${owner} in the database`);
      }
    }
    if (m.asset_tag) {
      const owner = state.tagOwner.get(m.asset_tag);
      if (owner && owner !== m.serial) problems.add(at('asset_tag'), `asset tag ${m.asset_tag} belongs to machine ${owner} in the database`);
    }
    m.nics.forEach((nic, k) => {
      const macOwner = nic.mac === undefined ? undefined : state.macOwner.get(nic.mac);
      if (macOwner && macOwner !== m.serial) problems.add(at('nics', k, 'mac'), `MAC ${nic.mac} belongs to machine ${macOwner} in the database`);
      const address = nic.ipv4?.address;
      const ipOwner = address === undefined ? undefined : state.ipOwner.get(address);
      if (ipOwner && ipOwner !== m.serial) problems.add(at('nics', k, 'ipv4', 'address'), `IPv4 ${address} is reserved for machine ${ipOwner} in the database`);
    });
    if (m.serial !== undefined && m.bmc !== undefined && !state.machines.has(m.serial) && m.bmc.password === undefined) {
      problems.add(at('bmc', 'password'), 'required for a new machine');
    }
  });
}

interface Plan {
  sites: { spec: SiteSpec; before: SiteOutput | null; fields: string[] }[];
  racks: { spec: RackSpec; before: RackOutput | null; fields: string[] }[];
  machines: { spec: MachineSpec; before: MachineOutput | null; current: MachineSpec | null; fields: string[] }[];
  report(dryRun: boolean): ImportReport;
}

function makePlan(ctx: ImportContext, doc: Doc, state: DbState): Plan {
  const sites: Plan['sites'] = [];
  const racks: Plan['racks'] = [];
  const machines: Plan['machines'] = [];
  for (const s of doc.sites) {
    const spec: SiteSpec = { code: s.code, name: s.name, country: s.country, city: s.city, timezone: s.timezone, delivery_window_hours: s.delivery_window_hours };
    const before = state.sites.get(s.code) ?? null;
    sites.push({ spec, before, fields: before ? diffSite(before, spec) : [] });
    for (const r of s.racks) {
      const rspec: RackSpec = { site: s.code, name: r.name, row: r.row ?? null, height_u: r.height_u };
      const rbefore = state.racks.get(`${s.code}/${r.name}`) ?? null;
      racks.push({ spec: rspec, before: rbefore, fields: rbefore ? diffRack(rbefore, rspec) : [] });
    }
  }
  for (const m of doc.machines) {
    const spec = machineSpecFromInput(m);
    const before = state.machines.get(m.serial) ?? null;
    const sealed = before ? state.sealedPasswords.get(before.id) : undefined;
    const current = before ? specFromMachine(before, sealed === undefined ? undefined : ctx.secrets.open(sealed)) : null;
    machines.push({ spec, before, current, fields: current ? diffMachine(current, spec) : [] });
  }
  return {
    sites,
    racks,
    machines,
    report(dryRun) {
      const report: ImportReport = { created: [], updated: [], unchanged: 0, dryRun };
      const add = (kind: ImportKind, key: string, isNew: boolean, fields: string[]) => {
        if (isNew) report.created.push({ kind, key });
        else if (fields.length > 0) report.updated.push({ kind, key, fields });
        else report.unchanged++;
      };
      for (const s of sites) add('site', s.spec.code, !s.before, s.fields);
      for (const r of racks) add('rack', `${r.spec.site}/${r.spec.name}`, !r.before, r.fields);
      for (const m of machines) add('machine', m.spec.serial, !m.before, m.fields);
      return report;
    },
  };
}

async function apply(db: Db, ctx: ImportContext, plan: Plan, actor: Actor, file: string): Promise<void> {
  const reason = `import ${file}`;
  const siteIds = new Map<string, string>();
  for (const s of plan.sites) {
    if (!s.before) siteIds.set(s.spec.code, (await ctx.insertSite(db, s.spec, actor, reason)).id);
    else {
      siteIds.set(s.spec.code, s.before.id);
      if (s.fields.length > 0) await ctx.updateSiteRow(db, s.before, s.spec, s.fields, actor, reason);
    }
  }
  const siteId = async (code: string): Promise<string> => {
    if (!siteIds.has(code)) siteIds.set(code, String((await db('sites').where({ code }).first('id')).id));
    return siteIds.get(code)!;
  };
  for (const r of plan.racks) {
    if (!r.before) await ctx.insertRack(db, await siteId(r.spec.site), r.spec, actor, reason);
    else if (r.fields.length > 0) await ctx.updateRackRow(db, r.before, r.spec, r.fields, actor, reason);
  }

  const changing = plan.machines.filter((m) => !m.before || m.fields.length > 0);
  // Machines swapping rack units: free every unit that changes hands before taking new ones,
  // so the (rack, unit) unique index never sees two machines in one slot mid-import.
  const moving = changing.filter((m) => m.before && m.fields.some((f) => f === 'site' || f === 'rack' || f === 'rack_unit')).map((m) => m.before!.id);
  for (const part of chunks(moving)) await db('machines').whereIn('id', part).update({ rack_unit: null });

  const rackIds = new Map<string, string>();
  const rackId = async (site: string, rack: string | null): Promise<string | null> => {
    if (rack === null) return null;
    const key = `${site}/${rack}`;
    if (!rackIds.has(key)) {
      const row = await db('racks').where({ site_id: await siteId(site), name: rack }).first('id');
      rackIds.set(key, String(row.id));
    }
    return rackIds.get(key)!;
  };
  const now = ctx.now();
  for (const m of changing) {
    const refs = { siteId: await siteId(m.spec.site), rackId: await rackId(m.spec.site, m.spec.rack) };
    const id = await ctx.writeMachine(db, m.before ? { id: m.before.id, nics: m.current!.nics } : null, m.spec, refs, now);
    // The summary comes from the spec just written rather than a re-read: three queries fewer per machine.
    const after = auditSummary(id, m.spec);
    await writeAudit(
      db,
      actor,
      m.before
        ? { action: 'machine.update', targetType: 'machine', targetId: id, before: auditSummary(id, m.current!), after: { ...after, changed: m.fields }, reason }
        : { action: 'machine.create', targetType: 'machine', targetId: id, after, reason },
      now,
    );
  }
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}
