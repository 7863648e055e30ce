import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

/**
 * Network namespace helpers for integration tests and benchmarks that need real peers on an L2
 * segment (DHCP clients, PXE, TFTP). Everything stays inside namespaces the test creates; nothing
 * touches the host's interfaces.
 *
 *   const lan = await createLan('dhcp', [{ name: 'srv', ip: '10.20.0.2/24' }, { name: 'cli', mac: '52:54:00:aa:00:01' }]);
 *   const p = lan.spawn('srv', 'node', [...]);
 *   await lan.exec('cli', 'udhcpc', [...]);
 *   await lan.destroy();   // kills what lan.spawn started (by PID) and deletes the namespaces
 *
 * A LAN is one namespace per member plus a hub namespace holding a bridge; each member has one
 * veth (`eth0` inside its namespace). Names carry the test's PID so parallel runs don't collide.
 */

const run = promisify(execFile);

export interface LanMember {
  /** Short name (letters/digits, up to 6 characters); the namespace is named after it. */
  name: string;
  /** Address with prefix, e.g. `10.20.0.2/24`; none for a DHCP client. */
  ip?: string;
  /** MAC for the member's interface. */
  mac?: string;
  /** Default route via this gateway address. */
  gateway?: string;
}

export interface Lan {
  /** Namespace name of each member, and `hub` for the namespace holding the bridge. */
  readonly ns: Record<string, string>;
  /** Interface name inside every member namespace. */
  readonly ifname: string;
  /** Runs a command inside a member's namespace and waits for it. Never rejects on non-zero exit. */
  exec(member: string, cmd: string, args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<ExecResult>;
  /** Starts a long-running command inside a member's namespace; `destroy` kills it by PID. */
  spawn(member: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Adds an address to a member's interface (e.g. a relay address for perfdhcp). */
  addAddress(member: string, cidr: string): Promise<void>;
  /**
   * Adds a tap device on the bridge, for a VM (QEMU `-netdev tap,ifname=NAME,script=no`). The tap
   * lives in the hub namespace, so run the VM with `spawn('hub', …)`.
   */
  addTap(name: string): Promise<void>;
  destroy(): Promise<void>;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Why namespace tests cannot run here, or null when they can. */
export function netnsUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  const probe = `anvil-probe-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `ip netns add failed: ${(add.stderr || add.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    const e = err as { stderr?: string };
    throw new Error(`ip ${args.join(' ')}: ${e.stderr?.trim() ?? String(err)}`);
  }
}

export async function createLan(prefix: string, members: LanMember[]): Promise<Lan> {
  const tag = `${prefix}-${process.pid}`;
  const hub = `anvil-${tag}-hub`;
  const ns: Record<string, string> = {};
  const created: string[] = [];
  const children: ChildProcess[] = [];
  const ifname = 'eth0';
  const lan: Lan = {
    ns,
    ifname,
    async exec(member, cmd, args, opts = {}) {
      return new Promise<ExecResult>((resolve) => {
        const child = spawn('ip', ['netns', 'exec', nsOf(member), cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
        child.on('error', (err) => {
          stderr += String(err);
        });
        child.on('close', (code) => {
          if (timer) clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
        child.stdin!.end(opts.input ?? '');
      });
    },
    spawn(member, cmd, args, opts = {}) {
      const child = spawn('ip', ['netns', 'exec', nsOf(member), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
      children.push(child);
      return child;
    },
    async addAddress(member, cidr) {
      await ip(['-n', nsOf(member), 'addr', 'add', cidr, 'dev', ifname]);
    },
    async addTap(name) {
      await ip(['-n', hub, 'tuntap', 'add', 'dev', name, 'mode', 'tap']);
      await ip(['-n', hub, 'link', 'set', name, 'master', 'br0']);
      await ip(['-n', hub, 'link', 'set', name, 'up']);
    },
    async destroy() {
      // `ip netns exec` execs the command in place, so the child's PID is the command's PID.
      await Promise.all(children.map((c) => stopProcess(c)));
      for (const n of created.reverse()) spawnSync('ip', ['netns', 'del', n]);
    },
  };
  function nsOf(member: string): string {
    const n = ns[member];
    if (!n) throw new Error(`no LAN member "${member}"`);
    return n;
  }
  try {
    if (members.some((m) => m.name === 'hub')) throw new Error('"hub" is reserved for the bridge namespace');
    await ip(['netns', 'add', hub]);
    created.push(hub);
    ns.hub = hub;
    await ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    // No STP and no forwarding delay: the segment must pass traffic the moment it is up.
    await ip(['-n', hub, 'link', 'set', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await ip(['-n', hub, 'link', 'set', 'br0', 'up']);
    for (const [i, m] of members.entries()) {
      const name = `anvil-${tag}-${m.name}`;
      await ip(['netns', 'add', name]);
      created.push(name);
      ns[m.name] = name;
      const peer = `p${i}`;
      await ip(['-n', hub, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', ifname, 'netns', name]);
      await ip(['-n', hub, 'link', 'set', peer, 'master', 'br0']);
      await ip(['-n', hub, 'link', 'set', peer, 'up']);
      if (m.mac) await ip(['-n', name, 'link', 'set', ifname, 'address', m.mac]);
      await ip(['-n', name, 'link', 'set', 'lo', 'up']);
      await ip(['-n', name, 'link', 'set', ifname, 'up']);
      if (m.ip) await ip(['-n', name, 'addr', 'add', m.ip, 'dev', ifname]);
      if (m.gateway) await ip(['-n', name, 'route', 'add', 'default', 'via', m.gateway]);
      // veth computes no checksums with offload on; raw-socket clients (udhcpc, dhclient) then
      // drop our replies as corrupt.
      await run('ip', ['netns', 'exec', name, 'ethtool', '-K', ifname, 'tx', 'off']).catch(() => undefined);
      await run('ip', ['netns', 'exec', hub, 'ethtool', '-K', peer, 'tx', 'off']).catch(() => undefined);
    }
  } catch (err) {
    await lan.destroy();
    throw err;
  }
  return lan;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}
