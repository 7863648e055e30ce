import type { Knex } from 'knex';
import type { Logger } from '../log.js';
import { json, toBool, toCount, toIso } from '../db/sql.js';
import { DEFAULT_LEASE_SECONDS, type DhcpSubnetConfig, type ResolvedSubnet } from './dhcp/config.js';
import { inNetwork, parseCidr } from './dhcp/net.js';

/**
 * The only view of inventory that boot services (DHCP, TFTP, iPXE HTTP) use. Lookups are
 * synchronous and served from memory: a DHCP packet never waits on the database.
 */

/** What boot services know about one NIC that may be answered. */
export interface Reservation {
  machineId: string;
  /** Lower-case, colon-separated. */
  mac: string;
  hostname: string;
  siteCode: string;
  ipv4: string;
  prefixLength: number;
  gateway: string | null;
  dnsServers: string[];
  domain: string | null;
  leaseSeconds: number;
  /** True when the NIC is marked for network boot; false NICs get an address but no boot file. */
  pxe: boolean;
}

/**
 * Inventory lookups for boot services. An unknown MAC or address is `null` (DHCP stays silent,
 * HTTP answers 404), never an exception.
 */
export interface BootLookup {
  byMac(mac: string): Reservation | null;
  byIp(ip: string): Reservation | null;
}

/** Lower-cases and colon-separates a MAC written with `-`, `:` or `.` (Cisco) separators. */
export function normalizeMac(mac: string): string {
  const hex = mac.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length !== 12) return mac.toLowerCase();
  return hex.match(/../g)!.join(':');
}

/** A lookup over a fixed snapshot; `replace` swaps the whole snapshot atomically. */
export class InMemoryBootLookup implements BootLookup {
  private macs = new Map<string, Reservation>();
  private ips = new Map<string, Reservation>();

  constructor(reservations: Iterable<Reservation> = []) {
    this.replace(reservations);
  }

  replace(reservations: Iterable<Reservation>): void {
    const macs = new Map<string, Reservation>();
    const ips = new Map<string, Reservation>();
    for (const r of reservations) {
      const frozen = Object.freeze({ ...r, mac: normalizeMac(r.mac), dnsServers: [...r.dnsServers] });
      macs.set(frozen.mac, frozen);
      ips.set(frozen.ipv4, frozen);
    }
    this.macs = macs;
    this.ips = ips;
  }

  byMac(mac: string): Reservation | null {
    return this.macs.get(normalizeMac(mac)) ?? null;
  }

  byIp(ip: string): Reservation | null {
    return this.ips.get(ip) ?? null;
  }

  get size(): number {
    return this.macs.size;
  }

  all(): Reservation[] {
    return [...this.macs.values()];
  }
}

export interface DbBootLookupOptions {
  /** Site networks; a NIC's DNS, domain, lease time and (if the NIC has none) prefix and gateway come from the subnet holding its address. */
  subnets: DhcpSubnetConfig[];
  /** How often to check the change marker; default 3000 ms. */
  pollMs?: number;
  /** Reload regardless of the marker this often (default 60 000 ms): the marker misses an update
   *  whose `updated_at` is older than the newest row, as written by a process with a slow clock. */
  fullReloadMs?: number;
  /** Only this site's machines (`anvil serve --site`): a boot role answers for its own network's machines. */
  site?: string | null;
  logger?: Logger;
}

/** A lookup loaded from the database and kept fresh by polling a cheap change marker. */
export interface DbBootLookup extends BootLookup {
  /** Loads the first snapshot and starts polling. */
  start(): Promise<void>;
  /** Stops polling; resolves once a refresh in progress has ended (so the database can close). */
  stop(): Promise<void>;
  /** Reloads now if the inventory changed (or always, with `force`). Resolves to true when reloaded. */
  refresh(force?: boolean): Promise<boolean>;
  /** NICs with an address that no configured subnet covers and that lack a prefix length. */
  readonly skipped: number;
  readonly size: number;
}

export function createDbBootLookup(knex: Knex, options: DbBootLookupOptions): DbBootLookup {
  const subnets: ResolvedSubnet[] = options.subnets.map((s) => ({
    site: s.site,
    network: parseCidr(s.network),
    gateway: s.gateway ?? null,
    dns: s.dns ?? [],
    domain: s.domain ?? null,
    leaseSeconds: s.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
  }));
  const memory = new InMemoryBootLookup();
  const pollMs = options.pollMs ?? 3000;
  let marker: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  let skipped = 0;
  let hasHostname: boolean | null = null;
  let inflight: Promise<boolean> | null = null;
  let loadedAt = 0;
  const fullReloadMs = options.fullReloadMs ?? 60_000;

  // max(updated_at) alone misses deletions; the counts catch those. Sites are included because
  // a site code change alters reservations too.
  async function changeMarker(): Promise<string> {
    const parts: string[] = [];
    for (const table of ['nics', 'machines', 'sites']) {
      const row = (await knex(table).max({ m: 'updated_at' }).count({ n: '*' }).first()) as { m: unknown; n: unknown } | undefined;
      parts.push(`${toIso(row?.m) ?? '-'}/${toCount(row?.n)}`);
    }
    return parts.join('|');
  }

  async function load(): Promise<void> {
    if (hasHostname === null) hasHostname = await knex.schema.hasColumn('machines', 'hostname');
    const cols = [
      'n.machine_id', 'n.mac', 'n.pxe', 'n.ipv4_address', 'n.ipv4_prefix', 'n.ipv4_gateway',
      'm.serial', 's.code as site_code',
      ...(hasHostname ? ['m.hostname'] : []),
    ];
    const rows = (await knex('nics as n')
      .join('machines as m', 'm.id', 'n.machine_id')
      .join('sites as s', 's.id', 'm.site_id')
      .whereNotNull('n.ipv4_address')
      .modify((q) => {
        if (options.site) q.where('s.code', options.site);
      })
      .select(cols)) as Array<Record<string, unknown>>;
    const out: Reservation[] = [];
    let skip = 0;
    for (const r of rows) {
      const ipv4 = String(r.ipv4_address);
      const siteCode = String(r.site_code);
      const subnet = subnets.find((s) => s.site === siteCode && inNetwork(ipv4, s.network)) ?? subnets.find((s) => inNetwork(ipv4, s.network));
      const prefixLength = r.ipv4_prefix !== null && r.ipv4_prefix !== undefined ? Number(r.ipv4_prefix) : subnet?.network.prefixLength;
      if (prefixLength === undefined) {
        skip++;
        continue;
      }
      const hostname = hasHostname && r.hostname ? String(r.hostname) : hostnameFromSerial(String(r.serial));
      out.push({
        machineId: String(r.machine_id),
        mac: normalizeMac(String(r.mac)),
        hostname,
        siteCode,
        ipv4,
        prefixLength,
        gateway: (r.ipv4_gateway as string | null) ?? subnet?.gateway ?? null,
        dnsServers: subnet?.dns ?? [],
        domain: subnet?.domain ?? null,
        leaseSeconds: subnet?.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
        pxe: toBool(r.pxe),
      });
    }
    memory.replace(out);
    skipped = skip;
    if (skip > 0) options.logger?.warn({ skipped: skip }, 'boot lookup: NICs with an address outside every configured subnet and no prefix length are not served');
  }

  async function refresh(force = false): Promise<boolean> {
    if (inflight) return inflight;
    inflight = (async () => {
      const m = await changeMarker();
      if (!force && m === marker) return false;
      await load();
      marker = m;
      loadedAt = Date.now();
      options.logger?.debug({ reservations: memory.size }, 'boot lookup reloaded');
      return true;
    })().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  function schedule(): void {
    timer = setTimeout(() => {
      refresh(Date.now() - loadedAt >= fullReloadMs)
        .catch((err: unknown) => options.logger?.error({ err }, 'boot lookup refresh failed; serving the previous snapshot'))
        .finally(() => {
          if (timer) schedule();
        });
    }, pollMs);
    timer.unref();
  }

  return {
    byMac: (mac) => memory.byMac(mac),
    byIp: (ip) => memory.byIp(ip),
    async start() {
      await refresh(true);
      if (!timer) schedule();
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await inflight?.catch(() => undefined);
    },
    refresh,
    get skipped() {
      return skipped;
    },
    get size() {
      return memory.size;
    },
  };
}

/** A DNS label from a serial number: lower case, letters, digits and hyphens. */
export function hostnameFromSerial(serial: string): string {
  const h = serial.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return h || 'machine';
}

// ---------------------------------------------------------------------------------------------
// Boot events

export type BootEventType =
  | 'pxe_seen'
  | 'dhcp_offer'
  | 'dhcp_ack'
  | 'dhcp_nak'
  | 'dhcp_decline'
  | 'dhcp_release'
  | 'tftp_served'
  | 'script_served'
  | 'config_fetched'
  | 'install_started'
  | 'install_finished'
  | 'install_failed';

/**
 * Where boot services report what a machine did (workflows wait on these). `record` never
 * throws and never blocks: implementations queue and write in the background.
 */
export interface BootEventSink {
  record(machineId: string, event: BootEventType, detail?: Record<string, unknown>): void;
}

export const nullEventSink: BootEventSink = { record() {} };

/**
 * Told what the boot role recorded, once it is committed: boot events after their batch is
 * written, and `callback:<event>` after an installer callback (workflows waiting for them wake
 * up). Must not throw or block.
 */
export type BootActivityListener = (events: readonly { machineId: string; event: BootEventType | `callback:${string}` }[]) => void;

export interface BatchWriterOptions {
  /** Flush after this many ms; default 200. */
  flushMs?: number;
  /** Flush as soon as this many items wait; default 200. */
  batchSize?: number;
  /** Drop the oldest items beyond this backlog (the DB is down or slow); default 10000. */
  maxBacklog?: number;
  logger?: Logger;
  name: string;
}

/**
 * Queues items and writes them in batches off the caller's path. Used by the packet path, which
 * must answer the client whether or not the database keeps up.
 */
export class BatchWriter<T> {
  private queue: T[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  dropped = 0;
  failed = 0;
  written = 0;

  constructor(private readonly write: (items: T[]) => Promise<void>, private readonly opts: BatchWriterOptions) {}

  push(item: T): void {
    if (this.closed) return;
    this.queue.push(item);
    const max = this.opts.maxBacklog ?? 10_000;
    if (this.queue.length > max) {
      this.dropped += this.queue.length - max;
      this.queue.splice(0, this.queue.length - max);
    }
    if (this.queue.length >= (this.opts.batchSize ?? 200)) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.opts.flushMs ?? 200);
      this.timer.unref();
    }
  }

  /** Writes everything queued so far; resolves when done (errors are logged, not thrown). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.running) await this.running;
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.queue = [];
    this.running = this.write(items)
      .then(() => {
        this.written += items.length;
      })
      .catch((err: unknown) => {
        this.failed += items.length;
        this.opts.logger?.error({ err, count: items.length }, `${this.opts.name}: batch write failed; items dropped`);
      })
      .finally(() => {
        this.running = null;
      });
    await this.running;
    if (this.queue.length) await this.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}

/** Writes boot events to `machine_events`. */
export class DbBootEventSink implements BootEventSink {
  private readonly writer: BatchWriter<Record<string, unknown>>;

  constructor(knex: Knex, opts: Omit<BatchWriterOptions, 'name'> & { now?: () => Date; onWritten?: BootActivityListener } = {}) {
    this.writer = new BatchWriter(async (rows) => {
      try {
        await knex.batchInsert('machine_events', rows, 200);
      } catch (err) {
        // One row for a machine deleted meanwhile (foreign key) must not cost the whole batch.
        let lost = 0;
        for (const row of rows) await knex('machine_events').insert(row).catch(() => lost++);
        if (lost) opts.logger?.warn({ err, lost }, 'machine_events: rows dropped (machine deleted?)');
      }
      opts.onWritten?.(rows.map((r) => ({ machineId: String(r.machine_id), event: r.event as BootEventType })));
    }, { ...opts, name: 'machine_events' });
    this.now = opts.now ?? (() => new Date());
  }

  private readonly now: () => Date;

  record(machineId: string, event: BootEventType, detail?: Record<string, unknown>): void {
    this.writer.push({ machine_id: machineId, event, detail: json.write(detail ?? null), at: this.now().toISOString() });
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  get stats(): { written: number; failed: number; dropped: number } {
    return { written: this.writer.written, failed: this.writer.failed, dropped: this.writer.dropped };
  }
}
