import type { Knex } from 'knex';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { observeBmcCalls, type BmcCallMetadata } from '../bmc/serialize.js';
import { toCount } from '../db/sql.js';

/**
 * Anvil's Prometheus metrics. Fleet gauges (machines by state and health, open incidents by
 * deadline status, orders by clock status, the last sweep per site) are computed at scrape time
 * from the database with a few grouped counts, so every replica reports the same numbers and
 * nothing is kept in memory that matters. Process-local series (sweep durations observed here,
 * BMC call latency, DHCP/TFTP counters) describe this process.
 */

/** Cumulative counters a boot service exposes through `stats()`. */
export type StatsSource = () => object;

export interface AnvilMetricsOptions {
  knex: Knex;
  /** Node process metrics (CPU, memory, event loop lag). Default true. */
  processMetrics?: boolean;
}

export class AnvilMetrics {
  readonly registry = new Registry();
  private readonly dhcp = new Map<string, StatsSource>();
  private readonly tftp = new Map<string, StatsSource>();
  private readonly unobserve: () => void;
  private readonly sweepDuration: Histogram<'site'>;
  private readonly sweepMachineErrors: Counter<'site'>;
  private readonly sweeps: Counter<'site' | 'status'>;
  private readonly bmcLatency: Histogram<'protocol' | 'operation' | 'outcome'>;

  constructor(private readonly opts: AnvilMetricsOptions) {
    const registers = [this.registry];
    const knex = opts.knex;
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'anvil_' });

    this.sweepDuration = new Histogram({
      name: 'anvil_sweep_duration_seconds',
      help: 'Wall time of health sweeps finished by this process',
      labelNames: ['site'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200],
      registers,
    });
    this.sweepMachineErrors = new Counter({ name: 'anvil_sweep_machine_errors_total', help: 'Machines a sweep in this process could not check (reported unknown)', labelNames: ['site'], registers });
    this.sweeps = new Counter({ name: 'anvil_sweeps_total', help: 'Sweeps finished by this process', labelNames: ['site', 'status'], registers });
    this.bmcLatency = new Histogram({
      name: 'anvil_bmc_operation_duration_seconds',
      help: 'BMC operation latency (all attempts, excluding queueing) by driver and operation',
      labelNames: ['protocol', 'operation', 'outcome'],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.unobserve = observeBmcCalls((m: BmcCallMetadata) => {
      this.bmcLatency.observe({ protocol: m.protocol, operation: m.operation, outcome: m.ok ? 'ok' : 'error' }, m.durationMs / 1000);
    });

    new Gauge({
      name: 'anvil_sweep_last_duration_seconds',
      help: 'Duration of the last finished sweep of each site (any process)',
      labelNames: ['site'],
      registers,
      async collect() {
        this.reset();
        for (const r of await lastSweeps(knex)) this.set({ site: r.site }, r.durationMs / 1000);
      },
    });
    new Gauge({
      name: 'anvil_sweep_last_errors',
      help: 'Machines the last finished sweep of each site could not check',
      labelNames: ['site'],
      registers,
      async collect() {
        this.reset();
        for (const r of await lastSweeps(knex)) this.set({ site: r.site }, r.errors);
      },
    });
    new Gauge({
      name: 'anvil_machines',
      help: 'Machines by provision state',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        for (const r of (await knex('machines').groupBy('provision_state').select('provision_state').count({ n: '*' })) as Record<string, unknown>[]) this.set({ state: String(r.provision_state) }, toCount(r.n));
      },
    });
    new Gauge({
      name: 'anvil_machines_health',
      help: 'Machines by health (ok, degraded, failed, unknown)',
      labelNames: ['health'],
      registers,
      async collect() {
        this.reset();
        for (const h of ['ok', 'degraded', 'failed', 'unknown']) this.set({ health: h }, 0);
        for (const r of (await knex('machines').groupBy('health').select('health').count({ n: '*' })) as Record<string, unknown>[]) this.set({ health: String(r.health) }, toCount(r.n));
      },
    });
    new Gauge({
      name: 'anvil_incidents_open',
      help: 'Unresolved incidents by deadline status (none = no customer clock) and severity',
      labelNames: ['deadline_status', 'severity'],
      registers,
      async collect() {
        this.reset();
        const rows = (await knex('incidents').whereNot('status', 'resolved').groupBy('deadline_status', 'severity').select('deadline_status', 'severity').count({ n: '*' })) as Record<string, unknown>[];
        for (const r of rows) this.set({ deadline_status: String(r.deadline_status ?? 'none'), severity: String(r.severity) }, toCount(r.n));
      },
    });
    new Gauge({
      name: 'anvil_orders',
      help: 'Orders by status and delivery clock status',
      labelNames: ['status', 'clock_status'],
      registers,
      async collect() {
        this.reset();
        const rows = (await knex('orders').groupBy('status', 'clock_status').select('status', 'clock_status').count({ n: '*' })) as Record<string, unknown>[];
        for (const r of rows) this.set({ status: String(r.status), clock_status: String(r.clock_status) }, toCount(r.n));
      },
    });
    const dhcp = this.dhcp;
    const tftp = this.tftp;
    new Counter({
      name: 'anvil_dhcp_packets_total',
      help: 'DHCP server counters by outcome (from the boot role in this process)',
      labelNames: ['server', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [server, stats] of dhcp) for (const [k, v] of numericEntries(stats())) this.inc({ server, outcome: k }, v);
      },
    });
    new Counter({
      name: 'anvil_tftp_events_total',
      help: 'TFTP server counters (requests, completed, errors, refused, malformed, bytes, retransmits)',
      labelNames: ['server', 'counter'],
      registers,
      collect() {
        this.reset();
        for (const [server, stats] of tftp) for (const [k, v] of numericEntries(stats())) this.inc({ server, counter: k }, v);
      },
    });
  }

  /** Records a finished sweep (the Sweeper's `onSweepFinished`). */
  observeSweep(sweep: { site_code: string | null; status: string; duration_ms: number | null; errors: number }): void {
    const site = sweep.site_code ?? 'all';
    if (sweep.duration_ms !== null) this.sweepDuration.observe({ site }, sweep.duration_ms / 1000);
    if (sweep.errors > 0) this.sweepMachineErrors.inc({ site }, sweep.errors);
    this.sweeps.inc({ site, status: sweep.status });
  }

  /** Exposes a DHCP server's `stats()` (the boot role calls this when it starts one). */
  addDhcpSource(name: string, stats: StatsSource): void {
    this.dhcp.set(name, stats);
  }

  addTftpSource(name: string, stats: StatsSource): void {
    this.tftp.set(name, stats);
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  close(): void {
    this.unobserve();
    this.registry.clear();
  }
}

function numericEntries(stats: object): [string, number][] {
  return Object.entries(stats).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]) && e[1] >= 0);
}

async function lastSweeps(knex: Knex): Promise<{ site: string; durationMs: number; errors: number }[]> {
  const latest = knex('sweeps').whereNotNull('site_code').whereNotNull('finished_at').groupBy('site_code').select('site_code').max({ finished_at: 'finished_at' }).as('l');
  const rows = await knex('sweeps as s')
    .join(latest, (j) => j.on('l.site_code', '=', 's.site_code').andOn('l.finished_at', '=', 's.finished_at'))
    .select('s.site_code', 's.duration_ms', 's.errors');
  return rows.map((r: Record<string, unknown>) => ({ site: String(r.site_code), durationMs: toCount(r.duration_ms), errors: toCount(r.errors) }));
}
