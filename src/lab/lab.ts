import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse, stringify } from 'yaml';
import { createApp } from '../api/app.js';
import { BmcRegistry } from '../bmc/registry.js';
import { bootPorts, createBootService, type BootService } from '../boot/service.js';
import { buildRuntime, buildWorker, type Runtime, type WorkerParts } from '../cli/runtime.js';
import { openCliContext, type CliContext } from '../cli/context.js';
import { loadConfig } from '../config/load.js';
import { configureHealth, sweeperRoleService } from '../health/role.js';
import { createLogger } from '../log.js';
import { packageRoot } from '../paths.js';
import { TokenService } from '../tokens/service.js';
import type { DeployTimeouts } from '../provisioning/workflows/deploy.js';
import { ipmiSimAvailable, startIpmiSim, type IpmiSim, type SimSensor } from './ipmi-sim.js';
import { startRedfishSimFleet, type RedfishSimFleet } from './redfish-sim/index.js';
import { LabDhcpSegment, SimulatedMachine, type MachineEvent } from './pxe-machine.js';

/**
 * `anvil lab`: the whole lifecycle on one machine. A temporary data directory with embedded
 * SQLite; simulated Redfish BMCs with simulated servers behind them that network-boot from
 * Anvil's real DHCP, TFTP and HTTP boot services on loopback; the api, worker, boot and sweeper
 * roles in this process; orders placed through the HTTP API like the order pipeline would.
 */

export interface LabOptions {
  /** Orders placed by `runScenario` (alternately Morocco and Canada). */
  orders?: number;
  /** Time compression: install time and deploy timeouts are divided by it. */
  speed?: number;
  /** Inventory template; default `<package>/inventory.example.yaml`. */
  inventoryFile?: string;
  /** Seconds the simulated installer takes at speed 1. Default 6. */
  installSeconds?: number;
  /** Every lab happening, for the live view or a test. */
  onEvent?: (e: LabEvent) => void;
  /** Anvil's own log level (to `<dataDir>/anvil.log`). Default info. */
  logLevel?: string;
  /**
   * IPMI machines behind real `ipmi_sim` BMCs (OpenIPMI). Default: when `ipmi_sim` is installed;
   * without it those machines are imported but stay enrolled.
   */
  ipmi?: boolean;
  /** Redfish mockups folder, or "builtin"; default ANVIL_REDFISH_MOCKUPS, ../shared/redfish-mockups, else built in. */
  mockupsDir?: string;
}

export interface LabEvent {
  at: Date;
  source: string;
  message: string;
}

/** One machine of the lab inventory, after ports and addresses were rewritten. */
export interface LabMachine {
  serial: string;
  site: string;
  country: string;
  protocol: 'redfish' | 'ipmi';
  profile: string;
  pxeMac: string;
  /** Index in the Redfish fleet, when simulated. */
  simIndex: number | null;
  /** The ipmi_sim behind an IPMI machine, when simulated. */
  ipmiSim: IpmiSim | null;
  sim: SimulatedMachine | null;
  id?: string;
}

export interface LabOrder {
  id: string;
  externalId: string;
  country: string;
  tier: string;
}

export interface LabReport {
  orders: Record<string, unknown>[];
  delivery: Record<string, unknown>;
  incidents: Record<string, unknown>[];
  sweeps: Record<string, unknown>[];
  faultMachine: string | null;
  faultDrive: string | null;
}

export interface Lab {
  dataDir: string;
  apiUrl: string;
  adminToken: string;
  pipelineToken: string;
  machines: LabMachine[];
  fleet: RedfishSimFleet;
  ctx: CliContext;
  runtime: Runtime;
  boot: BootService;
  /** Webhook deliveries the simulated order pipeline received (event names). */
  webhooks: { event: string; body: Record<string, unknown> }[];
  notes: string[];
  /** Authenticated JSON call to the API. */
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, opts?: { token?: string; headers?: Record<string, string>; raw?: string }): Promise<{ status: number; body: T }>;
  placeOrders(n: number): Promise<LabOrder[]>;
  waitForOrders(ids: string[], want: (o: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>[]>;
  sweep(): Promise<Record<string, unknown>>;
  /** A predictive drive failure on the machine's simulated BMC; returns the machine and the drive. */
  injectDriveFault(machineId: string): { serial: string; drive: string };
  runScenario(): Promise<LabReport>;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

const WEBHOOK_SECRET = 'lab-webhook-secret-0123456789';
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k lab@anvil';

/** Deploy timeouts of the lab: short, and shorter with --speed. */
export function labTimeouts(speed: number, installMs: number): Partial<DeployTimeouts> & { wipeMs: number } {
  return {
    pxeMs: Math.max(3000, 20_000 / speed),
    installMs: Math.max(5000, installMs * 4),
    firstBootMs: Math.max(5000, 20_000 / speed),
    wipeMs: Math.max(5000, installMs * 4),
    pollMs: 100,
  };
}

interface InventoryDoc {
  sites: { code: string; country: string }[];
  machines: {
    serial: string;
    site: string;
    hardware_profile: string;
    bmc: Record<string, unknown>;
    nics: { mac: string; pxe?: boolean; ipv4?: { address: string; prefix?: number; gateway?: string } }[];
  }[];
}

/** 10.40.0.10 → 127.40.0.10: every simulated NIC gets a loopback address the host really has. */
function loopbackAddress(a: string): string {
  const [, b, c, d] = a.split('.');
  return `127.${b}.${c}.${d}`;
}

export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const speed = options.speed && options.speed > 0 ? options.speed : 1;
  const installMs = Math.round(((options.installSeconds ?? 6) * 1000) / speed);
  const notes: string[] = [];
  const emit = (source: string, message: string): void => options.onEvent?.({ at: new Date(), source, message });
  const dataDir = mkdtempSync(join(tmpdir(), 'anvil-lab-'));
  const cleanups: (() => Promise<void> | void)[] = [];
  const stopAll = async (keepData = false): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {
        /* best effort: the rest still stops */
      }
    }
    if (!keepData) rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    // Inventory: the example file, with BMCs pointed at the simulators and NICs on loopback.
    const doc = parse(readFileSync(options.inventoryFile ?? join(packageRoot, 'inventory.example.yaml'), 'utf8')) as InventoryDoc;
    const countryOf = new Map(doc.sites.map((s) => [s.code, s.country]));
    const redfish = doc.machines.filter((m) => m.bmc.protocol === 'redfish');
    const useIpmi = options.ipmi ?? ipmiSimAvailable();
    const fleet = await startRedfishSimFleet({
      count: redfish.length,
      initialPower: 'Off',
      username: 'root',
      password: 'lab-calvin',
      macsFor: (i) => redfish[i]!.nics.map((n) => n.mac.toLowerCase()),
      serialPrefix: 'LAB',
      ...(options.mockupsDir !== undefined ? { mockupsDir: options.mockupsDir } : {}),
    });
    cleanups.push(() => fleet.stop());
    notes.push(`Redfish BMCs simulated from ${fleet.mockup.builtin ? `Anvil's built-in copy of the DMTF mockup (${fleet.mockup.name})` : `the DMTF mockup at ${fleet.mockup.dir}`}`);
    // The mockup ships with a degraded drive and power supply; the lab starts from a healthy fleet
    // so the injected fault is the one the sweep finds.
    for (const inst of fleet.instances) {
      for (const drive of inst.driveNames()) inst.setHealth({ kind: 'drive', drive, state: 'ok' });
      for (let psu = 0; psu < 4; psu++) inst.setHealth({ kind: 'psu', index: psu, state: 'ok' });
    }
    const machines: LabMachine[] = [];
    for (const m of doc.machines) {
      const simIndex = m.bmc.protocol === 'redfish' ? redfish.indexOf(m) : null;
      if (simIndex !== null) {
        const ep = fleet.endpoint(simIndex);
        m.bmc = { protocol: 'redfish', host: ep.host, port: ep.port, username: ep.username, password: ep.password, tls: ep.tls };
      }
      for (const nic of m.nics) {
        if (nic.ipv4) nic.ipv4 = { address: loopbackAddress(nic.ipv4.address), prefix: 8, ...(nic.ipv4.gateway ? { gateway: loopbackAddress(nic.ipv4.gateway) } : {}) };
      }
      const pxe = m.nics.find((n) => n.pxe) ?? m.nics[0]!;
      let ipmiSim: IpmiSim | null = null;
      if (m.bmc.protocol === 'ipmi' && useIpmi) {
        const password = `lab-${randomBytes(6).toString('hex')}`;
        const sim = await startIpmiSim({ user: 'ADMIN', password, sensors: LAB_IPMI_SENSORS, fru: { board: { manufacturer: 'Supermicro', product: 'X12SPM-LN4F', serial: `B${m.serial}` }, product: { manufacturer: 'Supermicro', name: 'SYS-510P-M', serial: m.serial } } });
        cleanups.push(() => sim.stop());
        m.bmc = { protocol: 'ipmi', host: sim.host, port: sim.port, username: 'ADMIN', password };
        ipmiSim = sim;
      }
      machines.push({ serial: m.serial, site: m.site, country: countryOf.get(m.site) ?? '??', protocol: m.bmc.protocol as 'redfish' | 'ipmi', profile: m.hardware_profile, pxeMac: pxe.mac.toLowerCase(), simIndex, ipmiSim, sim: null });
    }
    const ipmiCount = machines.filter((m) => m.protocol === 'ipmi').length;
    if (ipmiCount > 0 && !useIpmi) {
      notes.push(`${ipmiCount} IPMI machines are imported but not simulated: ${options.ipmi === false ? 'IPMI simulation is off' : 'ipmi_sim (Debian package openipmi) is not installed'}; they stay enrolled`);
    } else if (ipmiCount > 0) {
      notes.push(`${ipmiCount} IPMI machines run behind real ipmi_sim BMCs (IPMI v2.0 lanplus on loopback)`);
    }
    const inventoryYaml = stringify(doc);
    writeFileSync(join(dataDir, 'inventory.yaml'), inventoryYaml);

    // The simulated order pipeline: receives Anvil's signed webhooks and acknowledges them.
    const webhooks: Lab['webhooks'] = [];
    const pipeline = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          webhooks.push({ event: String(body.event ?? req.headers['x-anvil-event'] ?? ''), body });
          emit('pipeline', `webhook ${String(body.event ?? '')}`);
        } catch {
          /* still acknowledged: the lab is not testing the pipeline */
        }
        res.writeHead(200).end('ok');
      });
    });
    const pipelinePort = await listenLoopback(pipeline);
    cleanups.push(() => closeServer(pipeline));

    // The machines' broadcast domain, bound first so the DHCP server knows where replies go.
    const segment = new LabDhcpSegment();
    const clientPort = await segment.open(0);
    cleanups.push(() => segment.close());

    const configFile = join(dataDir, 'anvil.yaml');
    writeFileSync(
      configFile,
      stringify({
        notifications: { webhook: { url: `http://127.0.0.1:${pipelinePort}/anvil/webhook`, secret: WEBHOOK_SECRET } },
        boot: {
          interface: 'lo',
          address: '127.0.0.1',
          subnets: doc.sites.map((s) => ({ site: s.code, network: '127.0.0.0/8', domain: `${s.code.toLowerCase()}.lab.anvil` })),
          http: { port: 0 },
          dhcp: { mode: 'authoritative', port: 0, client_port: clientPort },
          tftp: { port: 0, root_dir: join(dataDir, 'tftp') },
          os_images: [
            { name: 'debian-12', family: 'debian', kernel_url: 'http://mirror.lab.anvil/debian/linux', initrd_url: 'http://mirror.lab.anvil/debian/initrd.gz', repo_url: 'http://mirror.lab.anvil/debian/' },
            { name: 'rocky-9', family: 'rhel', kernel_url: 'http://mirror.lab.anvil/rocky/vmlinuz', initrd_url: 'http://mirror.lab.anvil/rocky/initrd.img', repo_url: 'http://mirror.lab.anvil/rocky/' },
            { name: 'wipe', family: 'cloud', kernel_url: 'http://mirror.lab.anvil/wipe/vmlinuz', initrd_url: 'http://mirror.lab.anvil/wipe/initrd.img', repo_url: 'http://mirror.lab.anvil/wipe/' },
          ],
          lookup_poll_ms: 300,
        },
      }),
    );
    const config = loadConfig({ flags: { config: configFile, dataDir, databaseUrl: `sqlite:${join(dataDir, 'anvil.sqlite')}`, listen: '127.0.0.1:0', logLevel: options.logLevel ?? 'info' }, env: {} });
    // Synchronous writes: the log survives a crash, and nothing is left to flush at stop.
    const logDestination = pino.destination({ dest: join(dataDir, 'anvil.log'), sync: true });
    cleanups.push(() => logDestination.destroy());
    const logger = createLogger({ level: config.logLevel, destination: logDestination });
    const ctx = await openCliContext(config, { logger, io: { stdout: () => undefined, stderr: () => undefined, env: {} } });
    cleanups.push(() => ctx.close());

    const registry = new BmcRegistry({});
    const runtime = buildRuntime(ctx, { registry });
    const stop = new AbortController();
    cleanups.push(() => stop.abort());
    const running: Promise<unknown>[] = [];
    cleanups.push(async () => {
      stop.abort();
      await Promise.allSettled(running);
    });

    // api role, on a free loopback port.
    const health = configureHealth({ knex: ctx.knex, secrets: ctx.secrets, logger, notifier: runtime.notifier, drivers: registry, settings: { intervalMinutes: 24 * 60, autoResolveAfter: 2 } });
    const app = createApp({ knex: ctx.knex, secrets: ctx.secrets, logger: logger.child({ role: 'api' }), services: { inventory: runtime.inventory, orders: runtime.orders, lifecycle: runtime.lifecycle, machines: runtime.machines, health: health.health } });
    const apiServer = createServer(app);
    const apiPort = await listenLoopback(apiServer);
    cleanups.push(() => closeServer(apiServer));
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    // boot role: DHCP, TFTP and HTTP on loopback.
    const boot = createBootService({ config: { boot: config.boot, dataDir }, knex: ctx.knex, logger, onActivity: runtime.wakeups.machineActivity });
    await boot.start(stop.signal);
    cleanups.push(() => boot.stop());
    const endpoints = { serverAddress: '127.0.0.1', ...bootPorts(boot) };

    // worker role, with the lab's short timeouts.
    const worker: WorkerParts = buildWorker(runtime, logger.child({ role: 'worker' }), labTimeouts(speed, installMs));
    running.push(worker.provisioner.run(stop.signal, 100), worker.dispatcher.run(stop.signal));
    cleanups.push(() => worker.dispatcher.close());
    // sweeper role: the incident deadline tick; the lab asks for its sweeps itself.
    running.push(sweeperRoleService(health, null).start(stop.signal));

    // The simulated servers behind the simulated BMCs.
    const onMachine = (e: MachineEvent): void => emit(e.serial, `${e.event}${e.detail ? ` ${e.detail}` : ''}`);
    for (const m of machines) {
      const bmc = m.simIndex !== null ? fleet.instances[m.simIndex]! : m.ipmiSim;
      if (!bmc) continue;
      m.sim = new SimulatedMachine({ serial: m.serial, mac: m.pxeMac, bmc, segment, boot: () => endpoints, installMs, onEvent: onMachine });
      const sim = m.sim;
      cleanups.push(() => sim.detach());
    }

    const tokens = new TokenService({ knex: ctx.knex });
    const actor = { name: 'lab' };
    const adminToken = (await tokens.create({ name: 'lab-admin', role: 'admin' }, actor)).token;
    const pipelineToken = (await tokens.create({ name: 'lab-pipeline', role: 'pipeline' }, actor)).token;

    const api: Lab['api'] = async (method, path, body, opts = {}) => {
      const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? adminToken}`, accept: 'application/json', ...(opts.headers ?? {}) };
      let payload: string | undefined;
      if (opts.raw !== undefined) payload = opts.raw;
      else if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['content-type'] = 'application/json';
      }
      const res = await fetch(`${apiUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* CSV or text */
      }
      return { status: res.status, body: parsed as never };
    };
    const must = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown, opts?: Parameters<Lab['api']>[3]): Promise<T> => {
      const r = await api<T>(method, path, body, opts);
      if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
      return r.body;
    };

    // Import through the API, then verify the machines whose BMCs are simulated.
    const imported = await must<{ created: unknown[] }>('POST', '/api/v1/inventory/import', undefined, { raw: inventoryYaml, headers: { 'content-type': 'application/yaml' } });
    emit('lab', `inventory imported: ${imported.created.length} sites, racks and machines`);
    const listed = await must<{ items: { id: string; serial: string }[] }>('GET', '/api/v1/machines?limit=200');
    for (const m of machines) m.id = listed.items.find((x) => x.serial === m.serial)?.id;
    await Promise.all(
      machines.filter((m) => m.sim && m.id).map(async (m) => {
        const r = await api<{ provision_state: string; last_error: string | null }>('POST', `/api/v1/machines/${m.id}/verify`);
        emit(m.serial, `verified: ${r.status === 200 ? r.body.provision_state : `HTTP ${r.status}`}${r.body.last_error ? ` (${r.body.last_error})` : ''}`);
      }),
    );

    let orderSeq = 0;
    const runId = randomBytes(4).toString('hex');
    const lab: Lab = {
      dataDir,
      apiUrl,
      adminToken,
      pipelineToken,
      machines,
      fleet,
      ctx,
      runtime,
      boot,
      webhooks,
      notes,
      api,
      async placeOrders(n) {
        const placed: LabOrder[] = [];
        const tiers = ['managed', 'fully_managed', 'unmanaged'];
        // Every third order asks for the IPMI-managed profile when those machines are simulated.
        const ipmiProfile = machines.find((m) => m.ipmiSim)?.profile ?? null;
        for (let i = 0; i < n; i++) {
          const seq = ++orderSeq;
          const country = seq % 2 === 1 ? 'MA' : 'CA';
          const tier = tiers[(seq - 1) % tiers.length]!;
          const body = {
            external_id: `LAB-${String(seq).padStart(4, '0')}`,
            customer_id: `cust-${seq}`,
            contact_email: `customer${seq}@example.com`,
            hardware_profile: ipmiProfile && seq % 3 === 0 ? ipmiProfile : 'dell-r650-128g',
            country,
            os_image: 'debian-12',
            hostname: `srv${seq}`,
            ...(seq % 2 === 0 ? { root_password: true } : { ssh_keys: [SSH_KEY] }),
            support_tier: tier,
            paid_at: new Date().toISOString(),
          };
          const o = await must<{ id: string }>('POST', '/api/v1/orders', body, { token: pipelineToken, headers: { 'idempotency-key': `lab-${runId}-${seq}` } });
          placed.push({ id: o.id, externalId: body.external_id, country, tier });
          emit('pipeline', `order ${body.external_id} placed (${country}, ${tier})`);
        }
        return placed;
      },
      async waitForOrders(ids, want, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const orders = await Promise.all(ids.map((id) => must<Record<string, unknown>>('GET', `/api/v1/orders/${id}`, undefined, { token: pipelineToken })));
          if (orders.every(want)) return orders;
          if (Date.now() > deadline) {
            throw new Error(`orders not done after ${Math.round(timeoutMs / 1000)} s: ${orders.filter((o) => !want(o)).map((o) => `${String(o.external_id)}=${String(o.status)}`).join(', ')}`);
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      },
      async sweep() {
        for (let attempt = 0; ; attempt++) {
          const r = await api<{ id: string }>('POST', '/api/v1/sweeps', {});
          if (r.status === 409 && attempt < 50) {
            await new Promise((res) => setTimeout(res, 200));
            continue;
          }
          if (r.status !== 202) throw new Error(`POST /api/v1/sweeps: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
          for (;;) {
            const s = await must<Record<string, unknown>>('GET', `/api/v1/sweeps/${r.body.id}`);
            if (s.finished_at) {
              emit('sweeper', `sweep done: ${String(s.done ?? '?')}/${String(s.total ?? '?')} machines, ${String(s.errors ?? 0)} errors`);
              return s;
            }
            await new Promise((res) => setTimeout(res, 150));
          }
        }
      },
      injectDriveFault(machineId) {
        const m = machines.find((x) => x.id === machineId);
        if (!m || m.simIndex === null) throw new Error(`machine ${machineId} is not simulated`);
        const inst = fleet.instances[m.simIndex]!;
        const drive = inst.driveNames()[0]!;
        inst.setHealth({ kind: 'drive', drive, state: 'predictive' });
        emit(m.serial, `fault injected: predictive failure of drive ${drive}`);
        return { serial: m.serial, drive };
      },
      async runScenario() {
        const n = options.orders ?? 5;
        const placed = await lab.placeOrders(n);
        const timeout = 60_000 + n * (installMs * 3 + 5000);
        const delivered = await lab.waitForOrders(placed.map((o) => o.id), (o) => o.status === 'delivered', timeout);
        emit('lab', `all ${n} orders delivered`);
        const sweeps = [await lab.sweep()];
        // The drive fault is a Redfish simulator fault: pick a delivered server behind one.
        const victim = delivered.find((o) => machines.some((m) => m.id === o.machine_id && m.simIndex !== null))?.machine_id as string | undefined;
        let faultMachine: string | null = null;
        let faultDrive: string | null = null;
        if (victim) {
          ({ serial: faultMachine, drive: faultDrive } = lab.injectDriveFault(victim));
          sweeps.push(await lab.sweep());
        }
        const incidents = await must<{ items: Record<string, unknown>[] }>('GET', '/api/v1/incidents?status=open');
        const from = new Date(Date.now() - 86_400_000).toISOString();
        const to = new Date(Date.now() + 60_000).toISOString();
        const delivery = await must<Record<string, unknown>>('GET', `/api/v1/reports/delivery?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
        return { orders: delivered, delivery, incidents: incidents.items, sweeps, faultMachine, faultDrive };
      },
      stop: ({ keepData } = {}) => stopAll(keepData ?? false),
    };
    return lab;
  } catch (err) {
    await stopAll(false);
    throw err;
  }
}

/** The sensors of the lab's IPMI servers: healthy readings well inside their thresholds. */
const LAB_IPMI_SENSORS: SimSensor[] = [
  { number: 0x01, name: 'CPU1 Temp', type: 'temperature', thresholds: { unc: 85, uc: 95, unr: 105 }, value: 48 },
  { number: 0x02, name: 'Inlet Temp', type: 'temperature', thresholds: { unc: 40, uc: 45, unr: 50 }, value: 23 },
  { number: 0x03, name: 'FAN1', type: 'fan', m: 50, thresholds: { lnc: 20, lc: 10 }, value: 140 },
  { number: 0x04, name: '12V', type: 'voltage', m: 6, rExp: -2, thresholds: { lc: 180, uc: 220 }, value: 200 },
];

function listenLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
