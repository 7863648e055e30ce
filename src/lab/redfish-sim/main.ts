import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startRedfishSimFleet } from './fleet.js';

/**
 * Runs a simulated Redfish fleet from the command line and prints one JSON line per BMC
 * (`{index, host, port, serial, macs, tls}`), then serves until SIGINT/SIGTERM. For poking at the
 * simulator with curl or a real Redfish client:
 *
 *   node dist/src/lab/redfish-sim/main.js --count 4 --mockup public-localstorage --power-delay-ms 2000
 *   curl -k -u admin:password https://127.0.0.1:<port>/redfish/v1/Systems
 */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '1' },
      mockup: { type: 'string', default: 'public-rackmount1' },
      'mockups-dir': { type: 'string' },
      http: { type: 'boolean', default: false },
      username: { type: 'string', default: 'admin' },
      password: { type: 'string', default: 'password' },
      'power-delay-ms': { type: 'string', default: '0' },
      'async-reset': { type: 'boolean', default: false },
    },
  });
  const count = Number(values.count);
  const powerDelayMs = Number(values['power-delay-ms']);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer (got ${values.count})`);
  if (!Number.isFinite(powerDelayMs) || powerDelayMs < 0) throw new Error(`--power-delay-ms must be >= 0 (got ${values['power-delay-ms']})`);
  const fleet = await startRedfishSimFleet({
    count,
    mockup: values.mockup,
    ...(values['mockups-dir'] ? { mockupsDir: values['mockups-dir'] } : {}),
    https: !values.http,
    username: values.username,
    password: values.password,
    powerDelayMs,
    asyncReset: values['async-reset'],
  });
  for (const [i, inst] of fleet.instances.entries()) {
    console.log(JSON.stringify({ index: i, host: inst.host, port: inst.port, serial: inst.serial, macs: inst.macs, tls: fleet.endpoint(i).tls }));
  }
  const stop = (): void => {
    void fleet.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
