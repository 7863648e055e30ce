/**
 * Runs Anvil's DHCP server as its own process, for tests and benchmarks that put it inside a
 * network namespace (started through test/support/ts-child.ts). Input: the path of a JSON file
 * `{ config: DhcpConfig, reservations?: Reservation[], databaseUrl?: string }` as argv[2]. With
 * `databaseUrl` the inventory comes from the database (createDbBootLookup) and leases, events and
 * discovered MACs are written there; otherwise `reservations` are served from memory.
 * Output: one JSON line `{"ready":true}` once listening; `{"stats":…}` on SIGUSR1 and on SIGTERM
 * (then it exits 0).
 */
import { readFileSync } from 'node:fs';
import { connect, parseDatabaseUrl } from '../../../src/db/connect.js';
import { createLogger } from '../../../src/log.js';
import { DbBootEventSink, InMemoryBootLookup, createDbBootLookup, type BootLookup, type Reservation } from '../../../src/boot/lookup.js';
import type { DhcpConfig } from '../../../src/boot/dhcp/config.js';
import { DhcpServer } from '../../../src/boot/dhcp/server.js';
import { DbDhcpStore } from '../../../src/boot/dhcp/store.js';

interface ChildInput {
  config: DhcpConfig;
  reservations?: Reservation[];
  databaseUrl?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'silent';
}

const input = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ChildInput;
const logger = createLogger({ level: input.logLevel ?? 'warn', base: { role: 'boot-dhcp-child' } });
const knex = input.databaseUrl ? connect(parseDatabaseUrl(input.databaseUrl)) : null;
let lookup: BootLookup;
let stopLookup = () => {};
const events = knex ? new DbBootEventSink(knex, { logger, flushMs: 50 }) : undefined;
const store = knex ? new DbDhcpStore(knex, { logger, flushMs: 50 }) : undefined;
if (knex) {
  const db = createDbBootLookup(knex, { subnets: input.config.subnets, pollMs: 500, logger });
  await db.start();
  lookup = db;
  stopLookup = () => db.stop();
} else {
  lookup = new InMemoryBootLookup(input.reservations ?? []);
}
const server = new DhcpServer(input.config, { lookup, logger, ...(events ? { events } : {}), ...(store ? { store } : {}) });
await server.start();
process.stdout.write(JSON.stringify({ ready: true, ports: server.ports() }) + '\n');

process.on('SIGUSR1', () => process.stdout.write(JSON.stringify({ stats: server.stats() }) + '\n'));
process.on('SIGTERM', () => {
  void (async () => {
    await server.stop();
    stopLookup();
    await events?.close();
    await knex?.destroy();
    process.stdout.write(JSON.stringify({ stats: server.stats() }) + '\n');
    process.exit(0);
  })();
});
