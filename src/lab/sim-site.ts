import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { bootPorts, createBootService, type BootService, type BootServiceOptions } from '../boot/service.js';
import type { DatabaseTarget } from '../db/connect.js';
import type { BootActivityListener } from '../boot/lookup.js';
import { InventoryService } from '../inventory/service.js';
import { defaultBmcRegistry } from '../bmc/registry.js';
import { MachineOperations } from '../provisioning/machine-operations.js';
import { databaseWakeups } from '../provisioning/wakeups.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { RedfishSimFleet } from './redfish-sim/index.js';
import type { MachineEvent, SimulatedMachine } from './pxe-machine.js';
import { startSimHardware, startSimHardwareThread } from './sim-hardware.js';
import { startSimBootThread } from './sim-boot.js';

/**
 * A site of simulated servers attached to a database, for tests and benchmarks that drive Anvil
 * without the lab's HTTP scaffolding: `count` Redfish BMCs with a simulated server each, enrolled
 * through the inventory import, and the boot role (DHCP, TFTP, HTTP) on loopback. Workers may run
 * anywhere on the same database (this process or child processes).
 */

export interface SimSiteOptions {
  knex: Knex;
  secrets: SecretBox;
  logger: Logger;
  count: number;
  /** Site code (default `MA-SIM1`) and its country (default `MA`). */
  site?: string;
  country?: string;
  hardwareProfile?: string;
  /** Simulated install time. */
  installMs: number;
  /** TFTP block size of the simulated ROMs (see SimulatedMachineOptions). */
  tftpBlksize?: number;
  /**
   * The boot role's `tftp.max_blksize` (default: the product default, 1468, for a 1500-byte MTU).
   * Loopback has no such limit; set it with `tftpBlksize` to model a jumbo-frame boot network.
   */
  tftpMaxBlksize?: number;
  /**
   * The boot role's activity (createBootService `onActivity`); pass the worker's
   * `rt.wakeups.machineActivity` when it runs in this process. By default the wake-ups go through
   * the database only, as from a boot-only process, for workers in other processes.
   */
  onBootActivity?: BootActivityListener;
  onEvent?: (e: MachineEvent) => void;
  /**
   * Run the simulated BMCs and servers in a worker thread (benchmarks: their CPU is then not
   * Anvil's). `fleet` and `machines` are then not available here.
   */
  hardwareThread?: boolean;
  /**
   * Run the boot role in a worker thread with its own database connection, as a boot-only process
   * would run (benchmarks of the split topology): it reaches workers only through the database and
   * its change signals. `onBootActivity` is then unused.
   */
  bootThread?: { target: DatabaseTarget };
}

/** The boot role's configuration for a simulated site on loopback. */
function simBootConfig(site: string, clientPort: number, tftpMaxBlksize?: number): BootServiceOptions['config'] {
  return {
    boot: {
      interface: 'lo',
      address: '127.0.0.1',
      subnets: [{ site, network: '127.0.0.0/8' }],
      http: { port: 0 },
      dhcp: { mode: 'authoritative', port: 0, client_port: clientPort },
      tftp: { port: 0, root_dir: join(tmpdir(), 'anvil-sim-tftp'), ...(tftpMaxBlksize ? { max_blksize: tftpMaxBlksize } : {}) },
      os_images: SIM_OS_IMAGES,
      lookup_poll_ms: 300,
    },
  };
}

export interface SimSite {
  /** The BMC simulators; null with `hardwareThread`. */
  fleet: RedfishSimFleet | null;
  /** The boot role; null with `bootThread`. */
  boot: BootService | null;
  /** The simulated servers; empty with `hardwareThread`. */
  machines: SimulatedMachine[];
  /** Machine ids by serial. */
  ids: Map<string, string>;
  stop(): Promise<void>;
}

/** The OS images a simulated site's boot service knows. */
export const SIM_OS_IMAGES = [
  { name: 'debian-12', family: 'debian', kernel_url: 'http://mirror.lab.anvil/debian/linux', initrd_url: 'http://mirror.lab.anvil/debian/initrd.gz', repo_url: 'http://mirror.lab.anvil/debian/' },
  { name: 'wipe', family: 'cloud', kernel_url: 'http://mirror.lab.anvil/wipe/vmlinuz', initrd_url: 'http://mirror.lab.anvil/wipe/initrd.img', repo_url: 'http://mirror.lab.anvil/wipe/' },
];

export async function startSimSite(opts: SimSiteOptions): Promise<SimSite> {
  const site = opts.site ?? 'MA-SIM1';
  const country = opts.country ?? 'MA';
  const profile = opts.hardwareProfile ?? 'sim-64g';
  const cleanups: (() => Promise<void> | void)[] = [];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {
        /* keep stopping the rest */
      }
    }
  };
  try {
    const hwOptions = { count: opts.count, site, installMs: opts.installMs, ...(opts.tftpBlksize ? { tftpBlksize: opts.tftpBlksize } : {}) };
    const hardware = opts.hardwareThread ? await startSimHardwareThread(hwOptions, opts.onEvent) : await startSimHardware(hwOptions, opts.onEvent);
    cleanups.push(() => hardware.stop());
    const inventory = {
      sites: [{ code: site, name: `Simulated ${site}`, country, city: 'Loopback', timezone: 'UTC' }],
      machines: hardware.machines.map(({ serial, bmc: ep, macs }, i) => {
        // 127.x.y.z: loopback addresses the host really has, one per machine.
        const ip = `127.${100 + Math.floor(i / 250)}.0.${(i % 250) + 1}`;
        return {
          serial,
          hardware_profile: profile,
          site,
          bmc: { protocol: 'redfish', host: ep.host, port: ep.port, username: ep.username, password: ep.password, tls: ep.tls },
          nics: [
            { name: 'eno1', mac: macs[0], pxe: true, ipv4: { address: ip, prefix: 8 } },
            { name: 'eno2', mac: macs[1], pxe: false },
          ],
        };
      }),
    };
    const inv = new InventoryService({ knex: opts.knex, secrets: opts.secrets });
    await inv.importInventory(inventory, { actor: { name: 'sim-site' }, fileName: 'sim-site' });

    const bootConfig = simBootConfig(site, hardware.clientPort, opts.tftpMaxBlksize);
    let ports: { dhcpPort: number; tftpPort: number };
    let boot: BootService | null = null;
    if (opts.bootThread) {
      const thread = await startSimBootThread({ target: opts.bootThread.target, config: bootConfig });
      cleanups.push(() => thread.stop());
      ports = thread.ports;
    } else {
      const onActivity = opts.onBootActivity ?? databaseWakeups(opts.knex, { logger: opts.logger }).machineActivity;
      const started = createBootService({ config: bootConfig, knex: opts.knex, logger: opts.logger, onActivity });
      boot = started;
      await started.start();
      cleanups.push(() => started.stop());
      ports = bootPorts(started);
    }
    await hardware.attach({ serverAddress: '127.0.0.1', ...ports });
    const rows = (await opts.knex('machines').where({ site_id: opts.knex('sites').where({ code: site }).select('id') }).select('id', 'serial')) as { id: string; serial: string }[];
    const ids = new Map(rows.map((r) => [r.serial, r.id]));
    // Verification through the BMCs makes them `available`, as an operator's `machine verify` would.
    const ops = new MachineOperations({ knex: opts.knex, inventory: inv, registry: defaultBmcRegistry });
    const verified = await ops.verifyAll({ name: 'sim-site' }, 32);
    const bad = verified.filter((v) => v.provision_state !== 'available');
    if (bad.length > 0) throw new Error(`simulated machines failed verification: ${bad.map((b) => `${b.serial}: ${b.last_error}`).slice(0, 3).join('; ')}`);
    return { fleet: hardware.fleet, boot, machines: hardware.servers, ids, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
