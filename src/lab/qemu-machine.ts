import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import type { SimPowerChange } from './redfish-sim/index.js';
import type { SimulatedBmc } from './pxe-machine.js';

/**
 * A real virtual machine behind a simulated Redfish BMC: the BMC's power actions start and stop a
 * `qemu-system-x86_64` process. Powered on with a PXE boot override (or with nothing bootable on
 * its disk), the VM network-boots through the iPXE option ROM of its e1000 NIC; otherwise it boots
 * "from its disk". Off kills the process; PowerCycle/ForceRestart kill it and start it again.
 *
 * QEMU runs under TCG, never KVM: on the hosts this was built on, KVM resets the guest.
 *
 * The disk boot is QEMU's direct kernel boot (`-kernel/-initrd/-append`) with the disk attached:
 * it stands for the boot loader an installer would write to the disk. Putting a real one there
 * (GRUB, a kernel and a root file system inside the image) would need a partitioning, file-system
 * and boot-loader installer inside the guest, for no gain in what Anvil sees: the machine comes
 * back from a power cycle, not from the network, and runs the installed system, whose state lives
 * on the disk. Like a BIOS, the backend treats the disk as bootable only when sector 0 ends with
 * the boot signature 55 AA, which the guest's installer writes.
 */

export interface QemuDiskBoot {
  kernel: string;
  initrd: string;
  /** Kernel command line of the "installed system". */
  append: string;
}

export interface QemuMachineOptions {
  /** The BMC whose settled power changes drive the VM. */
  bmc: Pick<SimulatedBmc, 'onPowerChange'>;
  /** MAC of the e1000 NIC (the machine's PXE NIC in inventory). */
  mac: string;
  /** Tap device the NIC is attached to (on the boot network's bridge). */
  tap: string;
  /** Raw disk image; it persists across power cycles, as a disk does. */
  disk: string;
  diskBoot: QemuDiskBoot;
  /** Starts a process where the tap lives (e.g. `ip netns exec NS …`); the caller may also reap it. */
  spawn: (cmd: string, args: string[]) => ChildProcess;
  qemuBinary?: string;
  /** iPXE option ROM for the e1000 (package ipxe-qemu). */
  pxeRom?: string;
  memoryMb?: number;
  /** How the firmware decides the disk is bootable. Default: sector 0 ends with the signature 55 AA. */
  diskBootable?: (disk: string) => boolean;
  /** Serial console characters kept for diagnostics. Default 64 KiB. */
  serialLimit?: number;
  onEvent?: (e: QemuMachineEvent) => void;
}

export interface QemuMachineEvent {
  at: Date;
  event: 'power_on' | 'power_off' | 'started' | 'exited' | 'error';
  detail: string;
}

/** One QEMU process: a power-on until the next power change. */
export interface QemuRun {
  mode: 'network' | 'disk';
  cause: string;
  pid: number | null;
  startedAt: Date;
  exitedAt: Date | null;
}

export const QEMU_SYSTEM_X86_64 = '/usr/bin/qemu-system-x86_64';
export const IPXE_E1000_ROM = '/usr/lib/ipxe/qemu/pxe-e1000.rom';

export class QemuMachine {
  readonly mac: string;
  readonly runs: QemuRun[] = [];
  private serialText = '';
  private child: ChildProcess | null = null;
  /** Power changes are applied one at a time: a restart waits for the old process to exit (the tap is single-user). */
  private queue: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;
  private detached = false;

  private readonly serialLimit: number;

  constructor(private readonly opts: QemuMachineOptions) {
    this.mac = opts.mac.toLowerCase();
    this.serialLimit = opts.serialLimit ?? 64 * 1024;
    this.unsubscribe = opts.bmc.onPowerChange((c) => this.onPower(c));
  }

  /** The serial console of every run so far (the last `serialLimit` characters). */
  get serial(): string {
    return this.serialText;
  }

  /** Whether a QEMU process is running now. */
  get running(): boolean {
    return this.child !== null;
  }

  /** Stops following the BMC and kills the VM; resolves when the process has exited. */
  async stop(): Promise<void> {
    this.detached = true;
    this.unsubscribe();
    await this.enqueue(() => this.kill());
  }

  private emit(event: QemuMachineEvent['event'], detail: string): void {
    this.opts.onEvent?.({ at: new Date(), event, detail });
  }

  private onPower(change: SimPowerChange): void {
    if (change.power !== 'On') {
      this.emit('power_off', change.cause);
      void this.enqueue(() => this.kill());
      return;
    }
    const pxe = change.boot.BootSourceOverrideEnabled !== 'Disabled' && change.boot.BootSourceOverrideTarget === 'Pxe';
    this.emit('power_on', `${change.cause}, boot override ${String(change.boot.BootSourceOverrideTarget ?? 'None')}/${String(change.boot.BootSourceOverrideEnabled ?? 'Disabled')}`);
    void this.enqueue(async () => {
      await this.kill();
      if (this.detached) return;
      // No override to the network: the firmware boots the disk if it is bootable, else falls through to PXE.
      const bootable = (this.opts.diskBootable ?? hasBootSignature)(this.opts.disk);
      this.start(pxe || !bootable ? 'network' : 'disk', change.cause);
    });
  }

  private enqueue(task: () => Promise<void> | void): Promise<void> {
    this.queue = this.queue.then(task).catch((err: unknown) => this.emit('error', err instanceof Error ? err.message : String(err)));
    return this.queue;
  }

  private start(mode: QemuRun['mode'], cause: string): void {
    const o = this.opts;
    const args = [
      ...qemuTapNicArgs({ tap: o.tap, mac: this.mac, ...(o.pxeRom ? { rom: o.pxeRom } : {}), ...(o.memoryMb ? { memoryMb: o.memoryMb } : {}) }),
      '-nographic', '-no-user-config', '-nodefaults', '-serial', 'stdio',
      // A guest reboot ends the process; what happens next is the BMC's (Anvil's) decision.
      '-no-reboot',
      '-drive', `file=${o.disk},format=raw,if=virtio`,
      ...(mode === 'network' ? ['-boot', 'n'] : ['-kernel', o.diskBoot.kernel, '-initrd', o.diskBoot.initrd, '-append', o.diskBoot.append]),
    ];
    const child = o.spawn(o.qemuBinary ?? QEMU_SYSTEM_X86_64, args);
    const run: QemuRun = { mode, cause, pid: child.pid ?? null, startedAt: new Date(), exitedAt: null };
    this.runs.push(run);
    this.child = child;
    this.append(`\n--- anvil: ${mode} boot (${cause}) ---\n`);
    const keep = (b: Buffer): void => this.append(b.toString('latin1'));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) => this.emit('error', `qemu: ${err.message}`));
    child.once('exit', (code, signal) => {
      run.exitedAt = new Date();
      if (this.child === child) this.child = null;
      this.emit('exited', `${mode} boot, pid ${run.pid ?? '?'}: ${signal ?? `exit code ${code}`}`);
    });
    this.emit('started', `${mode} boot, pid ${run.pid ?? '?'}`);
  }

  private append(text: string): void {
    this.serialText = (this.serialText + text).slice(-this.serialLimit);
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.child = null;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Pulling the power: nothing in the guest gets to react.
    if (!child.kill('SIGKILL')) return;
    await exited;
  }
}

/**
 * What every VM Anvil starts shares: TCG (under this host's nested KVM, iPXE hangs at "starting
 * execution"), its memory, and an e1000 with an iPXE option ROM on a tap device.
 */
export function qemuTapNicArgs(o: { tap: string; mac: string; rom?: string; memoryMb?: number }): string[] {
  return [
    '-accel', 'tcg', '-m', String(o.memoryMb ?? 256),
    '-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`,
    '-device', `e1000,netdev=n0,mac=${o.mac},romfile=${o.rom ?? IPXE_E1000_ROM}`,
  ];
}

/** A BIOS's test for a bootable disk: the first sector ends with 55 AA. */
export function hasBootSignature(disk: string): boolean {
  const sector = Buffer.alloc(512);
  let fd: number | null = null;
  try {
    fd = openSync(disk, 'r');
    return readSync(fd, sector, 0, 512, 0) === 512 && sector[510] === 0x55 && sector[511] === 0xaa;
  } catch {
    return false;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
