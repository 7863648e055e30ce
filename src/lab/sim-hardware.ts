import type { BmcEndpoint } from '../bmc/driver.js';
import { startRedfishSimFleet, type RedfishSimFleet } from './redfish-sim/index.js';
import { LabDhcpSegment, SimulatedMachine, type LabBootEndpoints, type MachineEvent } from './pxe-machine.js';
import { openLabThread } from './thread-calls.js';

/**
 * The simulated hardware of a site: `count` Redfish BMCs (HTTPS) with a simulated server behind
 * each, which really does DHCP, TFTP and HTTP against the boot role once that is attached. Runs in
 * this thread, or in a worker thread of its own (`startSimHardwareThread`) so that 200 simulated
 * servers do not share Anvil's event loop and their CPU is not counted as Anvil's.
 */

export interface SimHardwareOptions {
  count: number;
  /** Site code: serial numbers are `<site without dashes>-NNNN`. */
  site: string;
  installMs: number;
  tftpBlksize?: number;
}

/** What the inventory needs to know about each simulated machine. */
export interface SimMachineInfo {
  serial: string;
  bmc: BmcEndpoint;
  /** The network-booting NIC first, then a second NIC. */
  macs: [string, string];
}

export interface SimHardware {
  machines: SimMachineInfo[];
  /** The simulated servers' DHCP client port (the boot role's `dhcp.client_port`). */
  clientPort: number;
  /** Powers the servers' boot path: from now on they boot against these boot services. */
  attach(boot: LabBootEndpoints): Promise<void>;
  /** The simulated servers (empty when they run in another thread). */
  servers: SimulatedMachine[];
  /** The BMC simulators (null when they run in another thread). */
  fleet: RedfishSimFleet | null;
  stop(): Promise<void>;
}

function simMac(i: number, nic: number): string {
  return `52:54:${(0xa0 + nic).toString(16)}:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

/** Starts the simulated hardware in this thread. */
export async function startSimHardware(opts: SimHardwareOptions, onEvent?: (e: MachineEvent) => void): Promise<SimHardware> {
  const fleet = await startRedfishSimFleet({ count: opts.count, initialPower: 'Off', username: 'root', password: 'sim-calvin', macsFor: (i) => [simMac(i, 0), simMac(i, 1)], serialPrefix: `${opts.site.replace(/-/g, '')}-` });
  const segment = new LabDhcpSegment();
  let clientPort: number;
  try {
    clientPort = await segment.open(0);
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  const servers: SimulatedMachine[] = [];
  return {
    machines: fleet.instances.map((inst, i) => ({ serial: inst.serial, bmc: fleet.endpoint(i), macs: [simMac(i, 0), simMac(i, 1)] })),
    clientPort,
    servers,
    fleet,
    async attach(boot) {
      servers.push(...fleet.instances.map((inst, i) => new SimulatedMachine({
        serial: inst.serial, mac: simMac(i, 0), bmc: inst, segment, boot: () => boot, installMs: opts.installMs,
        ...(opts.tftpBlksize ? { tftpBlksize: opts.tftpBlksize } : {}), ...(onEvent ? { onEvent } : {}),
      })));
    },
    async stop() {
      servers.forEach((m) => m.detach());
      await segment.close();
      await fleet.stop();
    },
  };
}

/**
 * Starts the simulated hardware in a worker thread (thread-calls.ts; it runs from dist/ or, with the
 * TypeScript hooks, from the sources, Jest included).
 */
export async function startSimHardwareThread(opts: SimHardwareOptions, onEvent?: (e: MachineEvent) => void): Promise<SimHardware> {
  const thread = await openLabThread<{ machines: SimMachineInfo[]; clientPort: number }>(import.meta.url, 'sim-hardware-thread', opts, (e) => {
    const event = e as Omit<MachineEvent, 'at'> & { at: number };
    onEvent?.({ ...event, at: new Date(event.at) });
  });
  return {
    ...thread.started,
    servers: [],
    fleet: null,
    async attach(boot) {
      await thread.call('attach', boot);
    },
    stop: () => thread.stop(),
  };
}
