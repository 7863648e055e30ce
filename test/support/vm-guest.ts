import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';

/**
 * The guest of the real-VM test: Debian's own kernel (not the host's, which may be anything) and a
 * busybox initramfs this module writes, small enough for iPXE under TCG to fetch in seconds.
 * The same initramfs is the "installer" (booted by iPXE with `ds=nocloud-net;s=<config URL>`, as
 * a cloud image would be) and the "installed system" (booted with `anvil.disk=1`): see GUEST_INIT.
 *
 *   const kernel = await debianKernel();            // apt-get download + extract, cached
 *   writeFileSync('initrd.img', guestInitramfs(kernel));
 *
 * Run as a script to fill the cache ahead of the tests (CI):
 *   node --import ./test/support/ts-register.mjs test/support/vm-guest.ts
 */

const run = promisify(execFile);

/** The guest's only modules: the NIC QEMU gives it (e1000) and the disk (virtio-blk, with its PCI transport). */
const GUEST_MODULES = ['e1000', 'virtio_blk', 'virtio_pci'];
/** Where the modules are in a Debian kernel package (bookworm ships them under /lib). */
const MODULE_DIRS = ['drivers/net/ethernet/intel/e1000', 'drivers/block', 'drivers/virtio'];
const BUSYBOX = '/bin/busybox';

export interface GuestKernel {
  /** Debian package it came from, e.g. `linux-image-6.1.0-56-amd64`. */
  package: string;
  vmlinuz: string;
  /** Module files to load, dependencies first. */
  modules: string[];
}

/** Why the guest cannot be built here (before any download), or null. */
export function guestUnavailableReason(): string | null {
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (package busybox-static)`;
  const file = readFileSync(BUSYBOX);
  // A dynamically linked busybox has a PT_INTERP program header naming the loader.
  if (file.includes(Buffer.from('/lib64/ld-linux'))) return `${BUSYBOX} is dynamically linked (install busybox-static)`;
  for (const tool of ['/usr/bin/apt-get', '/usr/bin/apt-cache', '/usr/bin/dpkg-deb']) if (!existsSync(tool)) return `${tool} is missing (the guest kernel comes from Debian's archive)`;
  return null;
}

/** Cache directory: ANVIL_TEST_CACHE, else /var/cache/anvil-test when writable, else under tmpdir. */
function testCacheDir(): string {
  if (process.env.ANVIL_TEST_CACHE) return process.env.ANVIL_TEST_CACHE;
  try {
    mkdirSync('/var/cache/anvil-test', { recursive: true });
    accessSync('/var/cache/anvil-test', constants.W_OK);
    return '/var/cache/anvil-test';
  } catch {
    return join(tmpdir(), 'anvil-test-cache');
  }
}

/**
 * The kernel package `linux-image-amd64` currently depends on, extracted once into the cache
 * (only vmlinuz and the modules under the guest's driver directories, about 11 MB). Downloads
 * with `apt-get download`; when the package lists are missing or stale (the archive dropped that
 * version), runs `apt-get update` once and tries again. Offline, a kernel cached earlier serves.
 */
export async function debianKernel(cacheDir = testCacheDir()): Promise<GuestKernel> {
  let dir: string;
  try {
    dir = await fetchCurrentKernel(cacheDir);
  } catch (err) {
    const cached = existsSync(cacheDir) ? readdirSync(cacheDir).filter((d) => d.startsWith('linux-image-') && existsSync(join(cacheDir, d, 'complete'))).sort() : [];
    if (cached.length === 0) throw err;
    dir = join(cacheDir, cached[cached.length - 1]!);
  }
  const pkg = basename(dir);
  const vmlinuz = readdirSync(join(dir, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new Error(`${dir}/boot has no vmlinuz-*`);
  return { package: pkg, vmlinuz: join(dir, 'boot', vmlinuz), modules: moduleLoadOrder(findModules(dir)) };
}

/** The cache directory of the current kernel package, fetched when missing. */
async function fetchCurrentKernel(cacheDir: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      const pkg = await kernelPackage();
      const dir = join(cacheDir, pkg);
      if (!existsSync(join(dir, 'complete'))) await fetchKernel(pkg, dir);
      return dir;
    } catch (err) {
      if (attempt > 1) throw err;
      await run('apt-get', ['update', '-qq']);
    }
  }
}

async function kernelPackage(): Promise<string> {
  const { stdout } = await run('apt-cache', ['depends', 'linux-image-amd64']);
  const pkg = /Depends:\s*(linux-image-[0-9][^\s]*-amd64)\b/.exec(stdout)?.[1];
  if (!pkg) throw new Error(`apt-cache depends linux-image-amd64 names no kernel package:\n${stdout}`);
  return pkg;
}

async function fetchKernel(pkg: string, dir: string): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'anvil-kernel-'));
  try {
    await run('apt-get', ['download', '-qq', pkg], { cwd: work });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${work}`);
    // Only what the guest needs: the full package unpacks to ~400 MB of modules.
    const staging = join(work, 'x');
    mkdirSync(staging);
    const wanted = ['./boot/vmlinuz-*', ...MODULE_DIRS.map((d) => `./lib/modules/*/kernel/${d}/*.ko*`)];
    await run('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards ${wanted.map((w) => `'${w}'`).join(' ')}`, 'sh', join(work, deb), staging]);
    writeFileSync(join(staging, 'complete'), `${deb}\n`);
    mkdirSync(join(dir, '..'), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    // Renamed into place whole, so a run killed halfway never leaves a cache that looks complete.
    renameSync(staging, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function findModules(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) found.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
    }
  };
  if (existsSync(join(dir, 'lib'))) walk(join(dir, 'lib'));
  return found;
}

/** `depends=` of a module's .modinfo section (what modinfo -F depends prints). */
function moduleDepends(file: string): string[] {
  const data = readFileSync(file);
  const at = data.indexOf(Buffer.from('\0depends='));
  if (at < 0) return [];
  const end = data.indexOf(0, at + 1);
  const value = data.subarray(at + '\0depends='.length, end).toString('latin1');
  return value ? value.split(',').map((m) => m.replace(/-/g, '_')) : [];
}

function moduleLoadOrder(available: Map<string, string>): string[] {
  const order: string[] = [];
  const visit = (name: string, chain: string[]): void => {
    const file = available.get(name);
    if (!file) throw new Error(`guest module ${name} (needed by ${chain.join(' → ') || 'the guest'}) is not in the kernel package`);
    if (order.includes(file)) return;
    for (const dep of moduleDepends(file)) visit(dep, [...chain, name]);
    order.push(file);
  };
  for (const m of GUEST_MODULES) visit(m, []);
  return order;
}

/**
 * /init of the guest. Installer mode does what a NoCloud cloud image's first boot does against
 * Anvil: fetch meta-data and user-data from the `s=` URL, take the callback URL from user-data,
 * report `started`, "install" (write the callback URL to the disk, the only state that survives a
 * power cycle), report `installed`. Disk mode (`anvil.disk=1`) is that installed system booting:
 * it finds the record on the disk and reports `first_boot`. Every line goes to the serial console.
 */
const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "anvil-guest: $*"; }
for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m" || say "insmod $m failed"; done
ip link set lo up
mode=none
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    ds=nocloud-net\\;s=*) config="\${arg#ds=nocloud-net;s=}"; mode=installer ;;
    anvil.disk=1) mode=disk ;;
  esac
done
say "mode $mode"
n=0
until [ -e /sys/class/net/eth0 ] || [ $n -ge 50 ]; do sleep 0.1; n=$((n + 1)); done
udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 10 -T 2 || say "no DHCP lease"
post() { wget -q -O - --post-data "event=$1" "$2" && echo && say "reported $1"; }
idle() { say "$1"; while true; do sleep 3600; done; }
case "$mode" in
  installer)
    wget -q -O /tmp/meta-data "\${config}meta-data" && say "fetched meta-data"
    wget -q -O /tmp/user-data "\${config}user-data" && say "fetched user-data"
    cb=$(grep -o "http[s]*://[^ '\\"]*/boot/callback/[A-Za-z0-9_-]*" /tmp/user-data | head -n 1)
    [ -n "$cb" ] || idle "user-data names no callback URL"
    post started "$cb"
    # Sector 0: the record, zero-padded, then the boot signature 55 AA that makes a disk bootable to a BIOS.
    printf 'anvil-installed %s\\n' "$cb" | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null
    printf '\\125\\252' | dd of=/dev/vda bs=1 seek=510 conv=fsync 2>/dev/null && say "wrote the disk"
    post installed "$cb"
    # A real installer would reboot now; the workflow power-cycles the machine into its disk instead.
    idle "installed; waiting for the power cycle"
    ;;
  disk)
    record=$(head -c 512 /dev/vda | head -n 1)
    case "$record" in
      "anvil-installed "*) post first_boot "\${record#anvil-installed }" ;;
      *) idle "no installed system on /dev/vda" ;;
    esac
    idle "installed system running"
    ;;
esac
idle "nothing to do"
`;

/** busybox udhcpc's event script: configure the lease (the default script lives in /etc/udhcpc, absent here). */
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "\${router%% *}" dev "$interface"
    echo "anvil-guest: lease $ip on $interface"
    ;;
esac
exit 0
`;

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
  /** Device number of a character device. */
  rdev?: [number, number];
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** A `newc` cpio archive (the format the kernel unpacks as initramfs). */
function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = 'data' in e && e.data ? e.data : Buffer.alloc(0);
    const rdev = 'rdev' in e && e.rdev ? e.rdev : [0, 0];
    const name = Buffer.from(`${e.name}\0`);
    const header = `070701${hex(e.name === 'TRAILER!!!' ? 0 : ino++)}${hex(e.mode)}${hex(0)}${hex(0)}${hex(1)}${hex(0)}${hex(data.length)}${hex(0)}${hex(0)}${hex(rdev[0]!)}${hex(rdev[1]!)}${hex(name.length)}${hex(0)}`;
    parts.push(Buffer.from(header, 'latin1'), name, pad4(110 + name.length), data, pad4(data.length));
  }
  return Buffer.concat(parts);
}

/** The gzip-compressed initramfs: busybox, the modules, /init and the DHCP script. */
export function guestInitramfs(kernel: GuestKernel): Buffer {
  const dir = (name: string): CpioEntry => ({ name, mode: S_IFDIR | 0o755 });
  const file = (name: string, data: Buffer | string, mode = 0o644): CpioEntry => ({ name, mode: S_IFREG | mode, data: Buffer.from(data) });
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'etc', 'lib', 'lib/modules', 'proc', 'sys', 'tmp'].map(dir),
    // The kernel opens /dev/console for init before /init can mount devtmpfs.
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
    file('bin/busybox', readFileSync(BUSYBOX), 0o755),
    file('init', GUEST_INIT, 0o755),
    file('etc/udhcpc.script', UDHCPC_SCRIPT, 0o755),
    file('etc/modules.order', kernel.modules.map((m) => basename(m)).join('\n') + '\n'),
    ...kernel.modules.map((m) => file(`lib/modules/${basename(m)}`, readFileSync(m))),
  ];
  return gzipSync(cpioNewc(entries), { level: 6 });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const reason = guestUnavailableReason();
  if (reason) {
    console.error(`vm-guest: ${reason}`);
    process.exit(1);
  }
  const k = await debianKernel();
  console.log(`vm-guest: ${k.package} in ${join(k.vmlinuz, '..', '..')}: ${basename(k.vmlinuz)}, modules ${k.modules.map((m) => basename(m)).join(' ')}`);
}
