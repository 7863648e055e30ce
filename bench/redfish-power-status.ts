/**
 * Redfish power-status operations per second against the Redfish simulator (public-rackmount1
 * over HTTPS, pinned certificate, session auth; run in a child process so it does not share the
 * client's event loop), side by side with two peers
 * doing the same GET /redfish/v1/Systems/<id> with the same session token:
 *   - raw undici `request` on an equivalent Agent (the floor: HTTP + JSON parse, no driver), and
 *   - curl (one process fetching N URLs over one kept-alive connection).
 * Cases: sequential on one BMC, and 16 BMCs concurrently (one loop per BMC).
 *
 * Build and run (about 40 s; ROUNDS (default 3) interleaved rounds of DURATION_MS (default 1000) per case):
 *   npx tsc bench/redfish-power-status.ts --rootDir . --outDir dist --module nodenext \
 *     --moduleResolution nodenext --target es2022 --skipLibCheck --types node
 *   node dist/bench/redfish-power-status.js
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import type { BmcDriver } from '../src/bmc/driver.js';
import { createRedfishDriver } from '../src/bmc/redfish/driver.js';
import { BmcRegistry } from '../src/bmc/registry.js';
import { startRedfishSimFleet } from '../src/lab/redfish-sim/index.js';
import type { BmcEndpoint } from '../src/bmc/driver.js';

/** What the benchmark needs of the fleet running in the child process. */
interface RemoteFleet {
  ports: number[];
  fingerprint256: string;
  endpoint(i: number): BmcEndpoint;
}

const run = promisify(execFile);
const DURATION_MS = Number(process.env.DURATION_MS ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONCURRENT = 16;
const SYSTEM = '/redfish/v1/Systems/437XR1138R2';

async function loop(fn: () => Promise<unknown>, untilMs: number): Promise<number> {
  let n = 0;
  while (Date.now() < untilMs) {
    await fn();
    n += 1;
  }
  return n;
}

/** Runs one loop per function for DURATION_MS; returns total operations per second. */
async function measure(fns: (() => Promise<unknown>)[]): Promise<number> {
  for (const fn of fns) await fn(); // warm up: connections, sessions, discovery
  const started = Date.now();
  const until = started + DURATION_MS;
  const counts = await Promise.all(fns.map((fn) => loop(fn, until)));
  const elapsed = (Date.now() - started) / 1000;
  return counts.reduce((a, b) => a + b, 0) / elapsed;
}

async function sessionToken(fleet: RemoteFleet, i: number, agent: Agent): Promise<string> {
  const res = await request(`https://127.0.0.1:${fleet.ports[i]!}/redfish/v1/SessionService/Sessions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ UserName: 'admin', Password: 'password' }),
  });
  await res.body.text();
  return String(res.headers['x-auth-token']);
}

function rawGetter(fleet: RemoteFleet, i: number, agent: Agent, token: string): () => Promise<unknown> {
  const url = `https://127.0.0.1:${fleet.ports[i]!}${SYSTEM}`;
  return async () => {
    const res = await request(url, { dispatcher: agent, headers: { 'x-auth-token': token, accept: 'application/json' }, signal: AbortSignal.timeout(15_000) });
    const body = (await res.body.json()) as { PowerState?: string };
    if (res.statusCode !== 200 || !body.PowerState) throw new Error(`raw GET failed: ${res.statusCode}`);
  };
}

async function curlRate(fleet: RemoteFleet, i: number, token: string, count: number): Promise<number> {
  const url = `https://127.0.0.1:${fleet.ports[i]!}${SYSTEM}`;
  const args = ['-s', '-k', '-o', '/dev/null', '-H', `X-Auth-Token: ${token}`, ...Array.from({ length: count }, () => url)];
  const started = Date.now();
  await run('curl', args, { maxBuffer: 1 << 26 });
  return count / ((Date.now() - started) / 1000);
}

/** Child mode: serve the fleet and print its ports and certificate fingerprint as one JSON line. */
async function serve(): Promise<void> {
  const fleet = await startRedfishSimFleet({ count: CONCURRENT });
  console.log(JSON.stringify({ ports: fleet.instances.map((i) => i.port), fingerprint256: fleet.certificate!.fingerprint256 }));
  process.stdin.resume();
  process.stdin.on('end', () => void fleet.stop().then(() => process.exit(0)));
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const info = JSON.parse(line) as { ports: number[]; fingerprint256: string };
  const fleet: RemoteFleet = {
    ...info,
    endpoint: (i) => ({ protocol: 'redfish', host: '127.0.0.1', port: info.ports[i]!, username: 'admin', password: 'password', tls: `sha256:${info.fingerprint256}` }),
  };
  const drivers: BmcDriver[] = [];
  const agents: Agent[] = [];
  const registry = new BmcRegistry();
  try {
    const driver = (i: number): BmcDriver => {
      const d = createRedfishDriver(fleet.endpoint(i));
      drivers.push(d);
      return d;
    };
    const rawAgent = new Agent({ connections: 2, connect: { rejectUnauthorized: false } });
    agents.push(rawAgent);
    const single = driver(0);
    const viaRegistry = registry.driverFor(fleet.endpoint(1));
    const rawSingle = rawGetter(fleet, 2, rawAgent, await sessionToken(fleet, 2, rawAgent));
    const curlToken = await sessionToken(fleet, 3, rawAgent);
    const many = Array.from({ length: CONCURRENT }, (_, i) => {
      const d = driver(i);
      return () => d.powerState();
    });
    const manyRegistry = Array.from({ length: CONCURRENT }, (_, i) => {
      const d = registry.driverFor(fleet.endpoint(i));
      return () => d.powerState();
    });
    const manyRaw = await Promise.all(
      Array.from({ length: CONCURRENT }, async (_, i) => {
        const agent = new Agent({ connections: 2, connect: { rejectUnauthorized: false } });
        agents.push(agent);
        return rawGetter(fleet, i, agent, await sessionToken(fleet, i, agent));
      }),
    );
    const tokens = await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => sessionToken(fleet, i, rawAgent)));
    const curlMany = async (): Promise<number> => {
      const started = Date.now();
      await Promise.all(tokens.map((token, i) => curlRate(fleet, i, token, 100)));
      return (100 * CONCURRENT) / ((Date.now() - started) / 1000);
    };

    const cases: [string, string, () => Promise<number>][] = [
      ['Anvil RedfishDriver.powerState()', 'sequential, 1 BMC', () => measure([() => single.powerState()])],
      ['Anvil registry driverFor().powerState() (serialised)', 'sequential, 1 BMC', () => measure([() => viaRegistry.powerState()])],
      ['raw undici GET (same token)', 'sequential, 1 BMC', () => measure([rawSingle])],
      ['curl, 300 URLs on one connection', 'sequential, 1 BMC', () => curlRate(fleet, 3, curlToken, 300)],
      ['Anvil RedfishDriver.powerState()', `${CONCURRENT} BMCs concurrently`, () => measure(many)],
      ['Anvil registry driverFor().powerState() (serialised)', `${CONCURRENT} BMCs concurrently`, () => measure(manyRegistry)],
      ['raw undici GET (same token)', `${CONCURRENT} BMCs concurrently`, () => measure(manyRaw)],
      [`curl, 100 URLs each, ${CONCURRENT} processes`, `${CONCURRENT} BMCs concurrently`, curlMany],
    ];
    // Rounds interleave the clients so background load hits them alike; the median is reported.
    const results = cases.map(() => [] as number[]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [, , fn]] of cases.entries()) results[i]!.push(await fn());
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

    console.log(`node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${ROUNDS} rounds of ${DURATION_MS} ms per case, median reported`);
    console.log('simulator: public-rackmount1 in a child process, HTTPS (P-256 self-signed, pinned), session auth\n');
    console.log('| client | case | power-status ops/s (median) | min–max |');
    console.log('|---|---|---|---|');
    for (const [i, [client, kase]] of cases.entries()) {
      const xs = results[i]!;
      console.log(`| ${client} | ${kase} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} |`);
    }
  } finally {
    await registry.closeAll();
    await Promise.all(drivers.map((d) => d.close()));
    await Promise.all(agents.map((a) => a.close()));
    child.stdin!.end();
    await once(child, 'exit');
  }
}

(process.argv.includes('--serve') ? serve() : main()).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
