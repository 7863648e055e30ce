import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { IPXE_E1000_ROM, QEMU_SYSTEM_X86_64 } from '../../src/lab/qemu-machine.js';
import { startRouterAdvertiser } from './ipv6-router.js';
import { stopProcess } from './netns.js';

const run = promisify(execFile);

/**
 * A boot network for a real firmware: one network namespace holding a bridge (the boot
 * interface, with an address) and a tap device enslaved to it for QEMU. Nothing leaves the
 * namespace. `destroy` kills what `spawn` started (by PID) and deletes the namespace.
 */
export interface TapSegment {
  readonly ns: string;
  readonly bridge: string;
  readonly tap: string;
  spawn(cmd: string, args: string[]): ChildProcess;
  destroy(): Promise<void>;
}

/** Why a QEMU PXE test cannot run here, or null. */
export function qemuUnavailableReason(): string | null {
  if (!existsSync(QEMU_SYSTEM_X86_64)) return 'qemu-system-x86_64 is not installed';
  if (!existsSync(IPXE_E1000_ROM)) return `${IPXE_E1000_ROM} is missing (package ipxe-qemu)`;
  return null;
}

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${(err as { stderr?: string }).stderr?.trim() ?? String(err)}`);
  }
}

export async function createTapSegment(prefix: string, cidr: string): Promise<TapSegment> {
  const ns = `anvil-${prefix}-${process.pid}`;
  // Holds the far end of the veth that keeps the bridge's carrier up (see below).
  const holdNs = `${ns}-hold`;
  const bridge = 'boot0';
  const tap = 'tap0';
  const children: ChildProcess[] = [];
  let created = false;
  let holdCreated = false;
  const segment: TapSegment = {
    ns,
    bridge,
    tap,
    spawn(cmd, args) {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    async destroy() {
      for (const c of children) await stopProcess(c);
      if (created) spawnSync('ip', ['netns', 'del', ns]);
      if (holdCreated) spawnSync('ip', ['netns', 'del', holdNs]);
    },
  };
  try {
    await ip(['netns', 'add', ns]);
    created = true;
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', ns, 'link', 'add', bridge, 'type', 'bridge']);
    await ip(['-n', ns, 'link', 'set', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await ip(['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await ip(['-n', ns, 'link', 'set', tap, 'master', bridge]);
    await ip(['-n', ns, 'link', 'set', tap, 'up']);
    // Node (libuv) lists only running interfaces, and a bridge has no carrier until a port has
    // one; QEMU attaches to the tap later, so a veth pair holds the bridge up meanwhile. Its far
    // end lives in a namespace of its own: left beside the bridge, it would hand every broadcast
    // to this namespace's stack a second time, and the DHCP server would answer each twice.
    // (This kernel has no dummy interfaces, which would hold the carrier more simply.)
    await ip(['netns', 'add', holdNs]);
    holdCreated = true;
    await ip(['-n', ns, 'link', 'add', 'hold0', 'type', 'veth', 'peer', 'name', 'hold1', 'netns', holdNs]);
    await ip(['-n', ns, 'link', 'set', 'hold0', 'master', bridge]);
    await ip(['-n', ns, 'link', 'set', 'hold0', 'up']);
    await ip(['-n', holdNs, 'link', 'set', 'hold1', 'up']);
    await ip(['-n', ns, 'addr', 'add', cidr, 'dev', bridge]);
    await ip(['-n', ns, 'link', 'set', bridge, 'up']);
    // Carrier comes up asynchronously; services look the interface up right after this returns.
    const until = Date.now() + 5000;
    for (;;) {
      const { stdout } = await run('ip', ['-n', ns, 'link', 'show', bridge]);
      if (stdout.includes('LOWER_UP') && !stdout.includes('NO-CARRIER')) break;
      if (Date.now() > until) throw new Error(`bridge ${bridge} in ${ns} did not come up: ${stdout.trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await startRouterAdvertiser((cmd, args) => segment.spawn(cmd, args), bridge);
  } catch (err) {
    await segment.destroy();
    throw err;
  }
  return segment;
}

