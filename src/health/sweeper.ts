import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BmcDriver, BmcEndpoint, ComponentHealth, ComponentStatus, HealthReport, PowerState } from '../bmc/driver.js';
import { pause, systemClock, type Clock } from '../clock.js';
import { DEFAULT_HEALTH_CONCURRENCY } from '../config/defaults.js';
import { releaseLease, renewLease, tryClaimLease } from '../db/leases.js';
import { writeAudit } from '../db/repositories/audit.js';
import { dbNow, dbNowPlus, toIso } from '../db/sql.js';
import { BmcAuthError, BmcError, BmcUnreachableError, InputError, LockedError, NotFoundError } from '../errors.js';
import type { IncidentService } from './incidents.js';
import { listSweepTargets, loadMachineContext, type MachineContext } from './machine-context.js';
import { activeWindows, isUnderMaintenance } from './maintenance.js';
import { jitteredDelayMs, rollupHealth, severityFor, type MachineHealth } from './rules.js';
import type { MaintenanceWindowScope } from './rules.js';

/**
 * The sweeper: checks every machine's hardware through its BMC driver's `health()` on a schedule
 * (per site, every `intervalMinutes` with jitter) or on demand. Exactly one sweep runs per site at
 * a time across all processes (a lease on the site's `sweep_ticks` row); a scheduled sweep runs
 * once per interval cluster-wide (a conditional UPDATE of `last_tick_at`). Each machine gets a
 * time budget: a hung, slow or failing BMC costs only that, and what could not be checked is
 * recorded as `unknown`, never as healthy.
 */

export interface SweepRecord {
  id: string;
  site_code: string | null;
  machine_id: string | null;
  trigger: 'schedule' | 'demand';
  status: 'running' | 'done' | 'failed';
  total: number;
  done: number;
  errors: number;
  error: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  requested_by: string;
}

export interface SweepProgress {
  sweepId: string;
  total: number;
  done: number;
  errors: number;
}

export interface SweepRequest {
  /** Site code; omitted with no machine = every site. */
  site?: string | null;
  /** Machine id or serial: sweep just this machine. */
  machine?: string | null;
  trigger?: 'schedule' | 'demand';
  requestedBy: string;
  onProgress?: (p: SweepProgress) => void;
}

/** The drivers a sweep talks through (the BmcRegistry in production). */
export interface DriverSource {
  driverFor(endpoint: BmcEndpoint): BmcDriver;
}

export interface SweeperOptions {
  knex: Knex;
  incidents: IncidentService;
  /** The BMC endpoint of a machine (InventoryService.getBmcEndpoint). */
  endpointFor(machineId: string): Promise<BmcEndpoint>;
  drivers: DriverSource;
  /** This process's identity for leases. */
  owner: string;
  clock?: Clock;
  logger?: Logger;
  /** Minutes between scheduled sweeps of a site. Default 15. */
  intervalMinutes?: number;
  /** ± fraction of the interval added at random, so processes and sites spread out. Default 0.1. */
  jitterFraction?: number;
  /** Machines checked at once. Default DEFAULT_HEALTH_CONCURRENCY. */
  concurrency?: number;
  /** Time budget of one machine (power state + health). Default 30 s. */
  machineBudgetMs?: number;
  /** Days of health_results history kept. Default 30. */
  retentionDays?: number;
  /** Consecutive healthy sweeps before an auto incident resolves. Default 2. */
  autoResolveAfter?: number;
  /** Site lease length; renewed every third. Default 60 s. */
  leaseSeconds?: number;
  /** Called when a sweep finishes (metrics). */
  onSweepFinished?: (sweep: SweepRecord) => void;
}

const LOG_COMPONENT = 'log:new-entries';

export class Sweeper {
  private readonly knex: Knex;
  private readonly clock: Clock;
  private readonly concurrency: number;
  private readonly budgetMs: number;
  private readonly intervalMs: number;
  private readonly jitter: number;
  private readonly retentionDays: number;
  private readonly autoResolveAfter: number;
  private readonly leaseSeconds: number;
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly opts: SweeperOptions) {
    this.knex = opts.knex;
    this.clock = opts.clock ?? systemClock;
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_HEALTH_CONCURRENCY);
    this.budgetMs = opts.machineBudgetMs ?? 30_000;
    this.intervalMs = (opts.intervalMinutes ?? 15) * 60_000;
    this.jitter = opts.jitterFraction ?? 0.1;
    this.retentionDays = opts.retentionDays ?? 30;
    this.autoResolveAfter = opts.autoResolveAfter ?? 2;
    this.leaseSeconds = opts.leaseSeconds ?? 60;
    if (this.intervalMs <= 0) throw new InputError(`sweep interval must be positive (got ${opts.intervalMinutes} minutes)`);
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  /**
   * Starts a sweep and returns once it is recorded (and its site leases are held); `finished`
   * settles when every machine has been checked. Throws LockedError when a sweep of one of the
   * sites is already running anywhere, NotFoundError for an unknown site or machine.
   */
  async start(req: SweepRequest): Promise<{ sweep: SweepRecord; finished: Promise<SweepRecord> }> {
    let site = req.site ?? null;
    let targets: MachineContext[];
    if (req.machine) {
      const machine = await loadMachineContext(this.knex, req.machine);
      if (site && machine.siteCode !== site) throw new InputError(`machine ${machine.serial} is in site ${machine.siteCode}, not ${site}`);
      targets = await listSweepTargets(this.knex, { machineId: machine.id });
      if (targets.length === 0) throw new NotFoundError(`machine ${machine.serial} has no BMC record to sweep`);
      site = null;
    } else {
      if (site && !(await this.knex('sites').where('code', site).first('id'))) throw new NotFoundError(`site ${site} not found`);
      targets = await listSweepTargets(this.knex, { siteCode: site });
    }
    const id = randomUUID();
    const owner = `${this.opts.owner}/${id}`;
    // A whole-site sweep holds the site's lease; a one-machine sweep holds none (it is short, and
    // the per-BMC queue already keeps its calls from overlapping in this process).
    const leased: string[] = [];
    if (!req.machine) {
      const sites = site ? [site] : ((await this.knex('sites').orderBy('code').pluck('code')) as string[]);
      for (const code of sites) {
        const target = { table: 'sweep_ticks', id: `site:${code}` };
        await this.ensureTickRow(target.id);
        if (!(await tryClaimLease(this.knex, target, owner, 'sweep', this.leaseSeconds))) {
          for (const l of leased) await releaseLease(this.knex, { table: 'sweep_ticks', id: l }, owner).catch(() => undefined);
          const holder = await this.knex('sweep_ticks').where('id', target.id).first('lease_owner', 'lease_expires_at');
          throw new LockedError(`a sweep of site ${code} is already running (${String(holder?.lease_owner ?? 'another process')})`, {
            details: { site: code, holder: holder?.lease_owner ?? null, until: toIso(holder?.lease_expires_at) },
          });
        }
        leased.push(target.id);
      }
    }
    const startedAt = this.now();
    const row = {
      id,
      site_code: site,
      machine_id: req.machine ? (targets[0]?.id ?? null) : null,
      trigger: req.trigger ?? 'demand',
      status: 'running' as const,
      total: targets.length,
      done: 0,
      errors: 0,
      error: null,
      started_at: startedAt,
      finished_at: null,
      duration_ms: null,
      requested_by: req.requestedBy,
    };
    try {
      await this.knex.transaction(async (trx) => {
        // Holding the site lease proves no live sweep of these sites exists: a `running` row left
        // by a process that died is closed here rather than shown as running forever.
        if (leased.length > 0) {
          await trx('sweeps')
            .where('status', 'running')
            .whereIn('site_code', leased.map((l) => l.slice('site:'.length)))
            .update({ status: 'failed', error: 'abandoned: the process running it stopped', finished_at: startedAt });
        }
        // The row's own lease is renewed while it runs, so readers can tell a dead sweep.
        await trx('sweeps').insert({ ...row, lease_owner: owner, lease_purpose: 'sweep', lease_expires_at: dbNowPlus(trx as unknown as Knex, this.leaseSeconds) });
      });
    } catch (err) {
      for (const l of leased) await releaseLease(this.knex, { table: 'sweep_ticks', id: l }, owner).catch(() => undefined);
      throw err;
    }
    this.opts.logger?.info({ sweep: id, site, machines: targets.length, trigger: row.trigger }, 'sweep started');
    const finished = this.execute(row, targets, leased, owner, req.onProgress);
    const tracked = finished.catch(() => undefined);
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
    return { sweep: row, finished };
  }

  /** Starts a sweep and waits for it. */
  async sweep(req: SweepRequest): Promise<SweepRecord> {
    return (await this.start(req)).finished;
  }

  async getSweep(id: string): Promise<SweepRecord> {
    const row = await this.knex('sweeps').where({ id }).first();
    if (!row) throw new NotFoundError(`sweep ${id} not found`);
    return mapSweep(row);
  }

  async listSweeps(limit = 20): Promise<SweepRecord[]> {
    return (await this.knex('sweeps').orderBy('started_at', 'desc').limit(limit)).map((r: Record<string, unknown>) => mapSweep(r));
  }

  /** Waits for sweeps started by this instance (shutdown, tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.running]);
  }

  /**
   * The scheduled sweep of one site, if it is due: one conditional UPDATE of the site's
   * `last_tick_at` decides which process runs it (pg-boss's trySetTimestamp), so every process
   * may call this. Returns the finished sweep, or null when it was not due or another sweep of
   * the site is running.
   */
  async tick(siteCode: string): Promise<SweepRecord | null> {
    const id = `site:${siteCode}`;
    await this.ensureTickRow(id);
    const delaySeconds = jitteredDelayMs(this.intervalMs, this.jitter) / 1000;
    const won = await this.knex('sweep_ticks')
      .where('id', id)
      .andWhere((q) => q.whereNull('last_tick_at').orWhere('last_tick_at', '<', dbNowPlus(this.knex, -delaySeconds)))
      .update({ last_tick_at: dbNow(this.knex) });
    if (won !== 1) return null;
    try {
      return await this.sweep({ site: siteCode, trigger: 'schedule', requestedBy: 'system:sweeper' });
    } catch (err) {
      if (err instanceof LockedError) return null;
      throw err;
    }
  }

  /**
   * The sweeper role: until `signal` aborts, ticks every site (or just `site`) and refreshes the
   * incidents' deadline statuses, checking every `pollMs` (default: a minute, or the interval if shorter).
   */
  async run(signal: AbortSignal, opts: { site?: string | null; pollMs?: number } = {}): Promise<void> {
    const pollMs = opts.pollMs ?? Math.min(60_000, this.intervalMs);
    while (!signal.aborted) {
      try {
        const sites = opts.site ? [opts.site] : ((await this.knex('sites').orderBy('code').pluck('code')) as string[]);
        const results = await Promise.allSettled(sites.map((code) => this.tick(code)));
        for (const r of results) if (r.status === 'rejected') this.opts.logger?.error({ err: (r.reason as Error)?.message }, 'scheduled sweep failed');
        await this.opts.incidents.refreshDeadlines();
      } catch (err) {
        this.opts.logger?.error({ err: (err as Error).message }, 'sweeper tick failed');
      }
      await pause(pollMs, signal);
    }
    await this.idle();
  }

  private async ensureTickRow(id: string): Promise<void> {
    await this.knex('sweep_ticks').insert({ id }).onConflict('id').ignore();
  }

  // ------------------------------------------------------------------ one sweep

  private async execute(row: SweepRecord, targets: MachineContext[], leased: string[], owner: string, onProgress?: (p: SweepProgress) => void): Promise<SweepRecord> {
    const stop = new AbortController();
    // Every machine in flight listens for the sweep being stopped.
    setMaxListeners(this.concurrency + 16, stop.signal);
    const renew = setInterval(() => {
      void renewLease(this.knex, { table: 'sweeps', id: row.id }, owner, this.leaseSeconds).catch(() => undefined);
      for (const id of leased) {
        renewLease(this.knex, { table: 'sweep_ticks', id }, owner, this.leaseSeconds)
          .then((ok) => {
            if (!ok) stop.abort(new LockedError(`lost the sweep lease on ${id}`));
          })
          .catch(() => undefined);
      }
    }, Math.max(1000, (this.leaseSeconds * 1000) / 3));
    renew.unref();
    const started = Date.now();
    let done = 0;
    let errors = 0;
    let failure: string | null = null;
    let lastFlush = 0;
    const flush = async (force: boolean): Promise<void> => {
      if (!force && Date.now() - lastFlush < 1000) return;
      lastFlush = Date.now();
      await this.knex('sweeps').where({ id: row.id }).update({ done, errors }).catch(() => undefined);
    };
    try {
      const windows = await activeWindows(this.knex, this.clock.now());
      const markers = await this.loadMarkers(targets.map((t) => t.id));
      let next = 0;
      const worker = async (): Promise<void> => {
        while (!stop.signal.aborted) {
          const i = next++;
          if (i >= targets.length) return;
          const machine = targets[i]!;
          let ok = false;
          try {
            ok = await this.checkMachine(row.id, machine, markers.get(machine.id) ?? null, windows, stop.signal);
          } catch (err) {
            // Only the database can land here (the BMC side never throws); keep sweeping the rest.
            this.opts.logger?.error({ sweep: row.id, machine: machine.serial, err: (err as Error).message }, 'could not record health');
          }
          done += 1;
          if (!ok) errors += 1;
          onProgress?.({ sweepId: row.id, total: targets.length, done, errors });
          await flush(false);
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, targets.length) }, worker));
      if (stop.signal.aborted) failure = (stop.signal.reason as Error)?.message ?? 'aborted';
      await this.prune();
    } catch (err) {
      failure = (err as Error).message;
    } finally {
      clearInterval(renew);
    }
    const finishedAt = this.now();
    const final: SweepRecord = {
      ...row,
      status: failure ? 'failed' : 'done',
      done,
      errors,
      error: failure,
      finished_at: finishedAt,
      duration_ms: Date.now() - started,
    };
    await this.knex('sweeps')
      .where({ id: row.id })
      .update({ status: final.status, done, errors, error: failure, finished_at: finishedAt, duration_ms: final.duration_ms, lease_owner: null, lease_purpose: null, lease_expires_at: null });
    for (const id of leased) await releaseLease(this.knex, { table: 'sweep_ticks', id }, owner).catch(() => undefined);
    this.opts.logger?.info({ sweep: row.id, site: row.site_code, total: row.total, done, errors, durationMs: final.duration_ms, status: final.status }, 'sweep finished');
    this.opts.onSweepFinished?.(final);
    return final;
  }

  private async loadMarkers(ids: string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.knex('machine_health').whereIn('machine_id', ids.slice(i, i + 500)).select('machine_id', 'log_marker');
      for (const r of rows) out.set(String(r.machine_id), (r.log_marker as string | null) ?? null);
    }
    return out;
  }

  private async prune(): Promise<void> {
    const cutoff = new Date(this.clock.now().getTime() - this.retentionDays * 86_400_000).toISOString();
    await this.knex('health_results').where('at', '<', cutoff).delete();
  }

  /**
   * Checks one machine within its budget and records the outcome. Returns false when the BMC
   * could not be fully checked (the sweep's `errors`). Never throws for BMC trouble.
   */
  private async checkMachine(sweepId: string, machine: MachineContext, marker: string | null, windows: MaintenanceWindowScope[], sweepSignal: AbortSignal): Promise<boolean> {
    // One controller per machine, unhooked from the sweep's signal afterwards, so a 10,000-machine
    // sweep does not pile listeners onto one signal; the driver fans out requests on this one.
    const budget = new AbortController();
    setMaxListeners(100, budget.signal);
    const timer = setTimeout(() => budget.abort(new BmcUnreachableError(`machine ${machine.serial}: time budget of ${this.budgetMs} ms exceeded`)), this.budgetMs);
    const onStop = (): void => budget.abort(sweepSignal.reason);
    if (sweepSignal.aborted) onStop();
    else sweepSignal.addEventListener('abort', onStop, { once: true });
    try {
      return await this.checkWithin(sweepId, machine, marker, windows, budget.signal);
    } finally {
      clearTimeout(timer);
      sweepSignal.removeEventListener('abort', onStop);
    }
  }

  private async checkWithin(sweepId: string, machine: MachineContext, marker: string | null, windows: MaintenanceWindowScope[], signal: AbortSignal): Promise<boolean> {
    const components: ComponentHealth[] = [];
    let complete = false;
    let power: PowerState | null = null;
    let newMarker = marker;
    try {
      const endpoint = await this.opts.endpointFor(machine.id);
      const driver = this.opts.drivers.driverFor(endpoint);
      power = await driver.powerState({ signal });
      components.push(powerComponent(machine, power));
      const report = await driver.health({ since: marker }, { signal });
      const log = logFindings(report, marker, endpoint.protocol);
      // With an empty log there is no entry to anchor on: SEL ids start above 0; for Redfish, our
      // clock stands in (a BMC clock far behind ours could hide entries until it catches up).
      newMarker = log.marker ?? newMarker ?? (endpoint.protocol === 'ipmi' ? '0' : this.now());
      if (!report.components.some((c) => c.kind === 'bmc')) {
        components.push({ component: 'bmc', kind: 'bmc', status: 'ok', reading: null, message: 'BMC reachable, credentials accepted' });
      }
      components.push(...log.components, log.summary);
      complete = true;
    } catch (err) {
      components.push(bmcFailure(err, this.budgetMs, signal));
      if (power === null) components.push({ component: 'power', kind: 'power', status: 'unknown', reading: null, message: 'power state not read' });
    }
    await this.record(sweepId, machine, components, complete, power, newMarker, windows);
    return complete;
  }

  private async record(
    sweepId: string,
    machine: MachineContext,
    components: ComponentHealth[],
    complete: boolean,
    power: PowerState | null,
    marker: string | null,
    windows: MaintenanceWindowScope[],
  ): Promise<void> {
    const now = this.now();
    await this.knex.transaction(async (trx) => {
      const history = components.map((c) => ({
        machine_id: machine.id,
        sweep_id: sweepId,
        component: c.component.slice(0, 200),
        kind: c.kind,
        status: c.status,
        reading_value: c.reading?.value ?? null,
        reading_unit: c.reading?.unit ?? null,
        message: c.message,
        at: now,
      }));
      for (let i = 0; i < history.length; i += 200) await trx('health_results').insert(history.slice(i, i + 200));

      const existing = new Map<string, Record<string, unknown>>();
      for (const r of await trx('machine_components').where({ machine_id: machine.id })) existing.set(String(r.component), r);
      const reported = new Map<string, ComponentStatus>();
      const current = components.map((c) => {
        const prev = existing.get(c.component);
        reported.set(c.component, c.status);
        return {
          machine_id: machine.id,
          component: c.component.slice(0, 200),
          kind: c.kind,
          status: c.status,
          consecutive_ok: c.status === 'ok' ? Number(prev?.consecutive_ok ?? 0) + 1 : 0,
          reading_value: c.reading?.value ?? null,
          reading_unit: c.reading?.unit ?? null,
          message: c.message,
          last_seen_at: now,
          changed_at: prev && prev.status === c.status ? toIso(prev.changed_at)! : now,
        };
      });
      for (let i = 0; i < current.length; i += 100) {
        await trx('machine_components').insert(current.slice(i, i + 100)).onConflict(['machine_id', 'component']).merge();
      }
      // Parts the BMC no longer reports (a removed drive) leave the current state; when the BMC
      // could not be asked, the last known parts stay and keep counting in the roll-up.
      const stale = complete ? [...existing.keys()].filter((k) => !reported.has(k)) : [];
      for (let i = 0; i < stale.length; i += 200) await trx('machine_components').where({ machine_id: machine.id }).whereIn('component', stale.slice(i, i + 200)).delete();
      const statuses = (await trx('machine_components').where({ machine_id: machine.id }).pluck('status')) as ComponentStatus[];
      const health: MachineHealth = rollupHealth(statuses);

      const machineUpdate: Record<string, unknown> = { health };
      if (power !== null && power !== 'unknown') Object.assign(machineUpdate, { power_state: power, power_state_at: now });
      await trx('machines').where({ id: machine.id }).update(machineUpdate);
      if (health !== machine.health) {
        await writeAudit(trx, { name: 'system:sweeper' }, { action: 'machine.health_changed', targetType: 'machine', targetId: machine.id, before: { health: machine.health }, after: { health }, reason: `sweep ${sweepId}` }, now);
      }
      await trx('machine_health')
        .insert({ machine_id: machine.id, log_marker: marker, last_sweep_id: sweepId, last_checked_at: now })
        .onConflict('machine_id')
        .merge();

      await this.opts.incidents.countHealthySweeps(
        trx,
        machine.id,
        (component) => reported.get(component) ?? (complete ? 'absent' : undefined),
        this.autoResolveAfter,
      );
      if (isUnderMaintenance(machine, windows, this.clock.now())) return;
      const faults = components.filter((c) => severityFor(c.status) !== null);
      const partFaults = faults.filter((c) => c.kind !== 'log');
      for (const c of faults) {
        // A new Critical log line about a part that is itself reported failed adds nothing: the
        // part's incident covers it. Log findings open an incident only when nothing else does.
        if (c.kind === 'log' && partFaults.length > 0) continue;
        await this.opts.incidents.openFromFinding(trx, machine, { component: c.component, status: c.status, message: c.message }, severityFor(c.status)!);
      }
    });
  }
}

/** Power vs expectation: a delivered, active customer server found off is a machine down. */
export function powerComponent(machine: Pick<MachineContext, 'customer' | 'provisionState'>, power: PowerState): ComponentHealth {
  const expectedOn = machine.customer !== null && machine.provisionState === 'active';
  if (power === 'unknown') return { component: 'power', kind: 'power', status: 'unknown', reading: null, message: 'BMC did not report a power state' };
  if (expectedOn && power === 'off') {
    return { component: 'power', kind: 'power', status: 'critical', reading: null, message: 'customer server is powered off (expected on)' };
  }
  return { component: 'power', kind: 'power', status: 'ok', reading: null, message: `power ${power}${expectedOn ? ' (serving a customer)' : ''}` };
}

/** What a BMC failure means for the `bmc` component: rejected credentials are a fault, the rest is unknown. */
export function bmcFailure(err: unknown, budgetMs: number, signal: AbortSignal): ComponentHealth {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof BmcAuthError) return { component: 'bmc', kind: 'bmc', status: 'critical', reading: null, message: `BMC rejected the credentials: ${message}` };
  if (signal.aborted && !(err instanceof BmcAuthError)) {
    return { component: 'bmc', kind: 'bmc', status: 'unknown', reading: null, message: `BMC did not answer within the ${budgetMs} ms budget: ${message}` };
  }
  if (err instanceof BmcUnreachableError) return { component: 'bmc', kind: 'bmc', status: 'unknown', reading: null, message: `BMC unreachable: ${message}` };
  if (err instanceof BmcError) return { component: 'bmc', kind: 'bmc', status: 'unknown', reading: null, message: `BMC failed: ${message}` };
  if (err instanceof NotFoundError || err instanceof InputError) return { component: 'bmc', kind: 'bmc', status: 'unknown', reading: null, message: `cannot reach the BMC: ${message}` };
  return { component: 'bmc', kind: 'bmc', status: 'unknown', reading: null, message: `health check failed: ${message}` };
}

/**
 * Splits the driver's log findings out of its components: per-entry `log:<id>` components are
 * replaced by one `log:new-entries` component judging the entries newer than `marker` (on the
 * first sweep there is no marker: the existing log is the baseline, not news). Returns the new
 * marker: the newest entry's time (Redfish) or SEL record id (IPMI).
 */
export function logFindings(report: HealthReport, marker: string | null, protocol: string): { components: ComponentHealth[]; summary: ComponentHealth; marker: string | null } {
  const entries = report.logEntries ?? [];
  const entryIds = new Set(entries.map((e) => `log:${e.id}`));
  const components = report.components.filter((c) => !(c.kind === 'log' && entryIds.has(c.component)));
  let newest: string | null = null;
  for (const e of entries) {
    if (protocol === 'ipmi') {
      if (/^\d+$/.test(e.id) && (newest === null || Number(e.id) > Number(newest))) newest = e.id;
    } else if (e.at && (newest === null || Date.parse(e.at) > Date.parse(newest))) newest = e.at;
  }
  if (marker === null) {
    return { components, marker: newest, summary: { component: LOG_COMPONENT, kind: 'log', status: 'ok', reading: { value: entries.length, unit: 'entries' }, message: `first sweep: ${entries.length} existing log entries taken as baseline` } };
  }
  const critical = entries.filter((e) => e.severity === 'critical');
  const warning = entries.filter((e) => e.severity === 'warning');
  const status: ComponentStatus = critical.length > 0 ? 'critical' : warning.length > 0 ? 'warning' : 'ok';
  const shown = [...critical, ...warning].slice(0, 3).map((e) => e.message);
  const message =
    status === 'ok'
      ? `${entries.length} new log entries, none Warning or Critical`
      : `${critical.length} Critical and ${warning.length} Warning new log entries: ${shown.join('; ')}${critical.length + warning.length > 3 ? '; ...' : ''}`;
  return { components, marker: newest, summary: { component: LOG_COMPONENT, kind: 'log', status, reading: { value: entries.length, unit: 'entries' }, message } };
}

export function mapSweep(r: Record<string, unknown>, now: Date = new Date()): SweepRecord {
  const expires = toIso(r.lease_expires_at);
  const abandoned = r.status === 'running' && expires !== null && Date.parse(expires) < now.getTime();
  return {
    id: String(r.id),
    site_code: (r.site_code as string | null) ?? null,
    machine_id: (r.machine_id as string | null) ?? null,
    trigger: r.trigger as SweepRecord['trigger'],
    status: abandoned ? 'failed' : (r.status as SweepRecord['status']),
    total: Number(r.total),
    done: Number(r.done),
    errors: Number(r.errors),
    error: abandoned ? 'abandoned: the process running it stopped (its lease expired)' : ((r.error as string | null) ?? null),
    started_at: toIso(r.started_at)!,
    finished_at: toIso(r.finished_at),
    duration_ms: r.duration_ms === null || r.duration_ms === undefined ? null : Number(r.duration_ms),
    requested_by: String(r.requested_by),
  };
}

