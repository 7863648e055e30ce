import type { Knex } from 'knex';
import type { Logger } from '../../log.js';
import { BatchWriter } from '../lookup.js';

/** A lease state change the DHCP server reports. */
export interface LeaseRecord {
  mac: string;
  machineId: string | null;
  ip: string;
  expiresAt: Date;
  state: 'offered' | 'bound' | 'released' | 'declined';
}

/** An unknown MAC seen on the boot network while discovery is on. */
export interface DiscoveredMac {
  mac: string;
  vendorClass: string | null;
  clientArch: number | null;
  relayAddress: string | null;
  siteCode: string | null;
}

/**
 * Persistence the DHCP server needs. Both methods return at once; writes happen in the
 * background so the packet path never waits on the database.
 */
export interface DhcpStore {
  recordLease(lease: LeaseRecord): void;
  recordDiscovered(seen: DiscoveredMac): void;
  /** Writes what is queued; called on stop. */
  flush(): Promise<void>;
}

export const nullDhcpStore: DhcpStore = { recordLease() {}, recordDiscovered() {}, flush: async () => {} };

/** Writes `dhcp_leases` (one row per MAC, last state wins) and `discovered_macs`. */
export class DbDhcpStore implements DhcpStore {
  private readonly leases: BatchWriter<LeaseRecord>;
  private readonly discovered: BatchWriter<DiscoveredMac & { at: string }>;

  constructor(private readonly knex: Knex, opts: { logger?: Logger; flushMs?: number } = {}) {
    this.leases = new BatchWriter((items) => this.writeLeases(items), { name: 'dhcp_leases', ...opts });
    this.discovered = new BatchWriter((items) => this.writeDiscovered(items), { name: 'discovered_macs', ...opts });
  }

  recordLease(lease: LeaseRecord): void {
    this.leases.push(lease);
  }

  recordDiscovered(seen: DiscoveredMac): void {
    this.discovered.push({ ...seen, at: new Date().toISOString() });
  }

  async flush(): Promise<void> {
    await Promise.all([this.leases.flush(), this.discovered.flush()]);
  }

  private async writeLeases(items: LeaseRecord[]): Promise<void> {
    // Coalesce: a burst of DISCOVER/REQUEST from one MAC becomes one upsert.
    const last = new Map<string, LeaseRecord>();
    for (const l of items) last.set(l.mac, l);
    const now = new Date().toISOString();
    const rows = [...last.values()].map((l) => ({
      mac: l.mac,
      machine_id: l.machineId,
      ip: l.ip,
      expires_at: l.expiresAt.toISOString(),
      state: l.state,
      updated_at: now,
    }));
    for (let i = 0; i < rows.length; i += 200) {
      await this.knex('dhcp_leases').insert(rows.slice(i, i + 200)).onConflict('mac').merge(['machine_id', 'ip', 'expires_at', 'state', 'updated_at']);
    }
  }

  private async writeDiscovered(items: Array<DiscoveredMac & { at: string }>): Promise<void> {
    const byMac = new Map<string, { seen: DiscoveredMac & { at: string }; count: number; first: string }>();
    for (const s of items) {
      const prev = byMac.get(s.mac);
      byMac.set(s.mac, { seen: s, count: (prev?.count ?? 0) + 1, first: prev?.first ?? s.at });
    }
    for (const { seen, count, first } of byMac.values()) {
      await this.knex('discovered_macs')
        .insert({
          mac: seen.mac,
          first_seen_at: first,
          last_seen_at: seen.at,
          seen_count: count,
          vendor_class: seen.vendorClass?.slice(0, 255) ?? null,
          client_arch: seen.clientArch,
          relay_address: seen.relayAddress,
          site_code: seen.siteCode,
        })
        .onConflict('mac')
        .merge({
          last_seen_at: seen.at,
          seen_count: this.knex.raw('discovered_macs.seen_count + ?', [count]),
          vendor_class: seen.vendorClass?.slice(0, 255) ?? null,
          client_arch: seen.clientArch,
          relay_address: seen.relayAddress,
          site_code: seen.siteCode,
        });
    }
  }
}
