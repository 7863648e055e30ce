/**
 * Runs Anvil's whole boot role (createBootService: DHCP + TFTP + HTTP boot) as its own process, so
 * a test can put it inside a network namespace (started through test/support/ts-child.ts).
 * argv[2]: a JSON file `{ databaseUrl, config: { boot: {...}, dataDir }, logLevel? }`.
 * Prints `{"ready":true,"baseUrl":…}` once every service listens; on SIGTERM stops and exits 0.
 */
import { readFileSync } from 'node:fs';
import { connect, parseDatabaseUrl } from '../../src/db/connect.js';
import { createLogger } from '../../src/log.js';
import { createBootService } from '../../src/boot/service.js';

interface ChildInput {
  databaseUrl: string;
  config: { boot: Record<string, unknown>; dataDir?: string };
  logLevel?: 'debug' | 'info' | 'warn' | 'silent';
}

const input = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ChildInput;
const logger = createLogger({ level: input.logLevel ?? 'info', base: { role: 'boot-child' } });
const knex = connect(parseDatabaseUrl(input.databaseUrl));
const service = createBootService({ config: input.config, knex, logger });
try {
  await service.start();
} catch (err) {
  process.stdout.write(JSON.stringify({ ready: false, error: (err as Error).message }) + '\n');
  await knex.destroy();
  process.exit(1);
}
process.stdout.write(JSON.stringify({ ready: true, baseUrl: service.baseUrl }) + '\n');
process.on('SIGTERM', () => {
  void (async () => {
    await service.stop();
    await knex.destroy();
    process.exit(0);
  })();
});
