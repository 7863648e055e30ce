import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { QemuMachine } from './qemu-machine.js';
import type { SimPowerChange } from './redfish-sim/index.js';

/** A QEMU process stand-in: exits only when killed, and only when the test lets it. */
class FakeQemu extends EventEmitter {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  killedWith: string | null = null;
  constructor(readonly pid: number, readonly args: string[]) {
    super();
  }
  kill(signal: string): boolean {
    this.killedWith = signal;
    return true;
  }
  exit(): void {
    this.signalCode = 'SIGKILL';
    this.emit('exit', null, 'SIGKILL');
  }
}

function rig(bootable = false) {
  let listener: ((c: SimPowerChange) => void) | null = null;
  const started: FakeQemu[] = [];
  const vm = new QemuMachine({
    bmc: { onPowerChange: (l) => ((listener = l), () => (listener = null)) },
    mac: '52:54:00:AA:00:01',
    tap: 'tap0',
    disk: '/vm/disk.raw',
    diskBoot: { kernel: '/k/vmlinuz', initrd: '/k/initrd.img', append: 'anvil.disk=1' },
    diskBootable: () => bootable,
    spawn: (_cmd, args) => {
      const p = new FakeQemu(1000 + started.length, args);
      started.push(p);
      return p as unknown as ChildProcess;
    },
  });
  const power = (power: 'On' | 'Off', cause: string, target = 'None', enabled = 'Disabled'): void =>
    listener!({ systemId: '1', power, cause, boot: { BootSourceOverrideTarget: target, BootSourceOverrideEnabled: enabled } });
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { vm, started, power, settle, subscribed: () => listener !== null };
}

describe('a QEMU VM behind a simulated BMC', () => {
  it('network-boots through the NIC ROM on power-on with a one-time PXE override', async () => {
    const { vm, started, power, settle } = rig(true);
    power('On', 'On', 'Pxe', 'Once');
    await settle();
    expect(started).toHaveLength(1);
    expect(started[0]!.args).toEqual(expect.arrayContaining(['-boot', 'n', '-accel', 'tcg']));
    expect(started[0]!.args.join(' ')).toContain('e1000,netdev=n0,mac=52:54:00:aa:00:01,romfile=');
    expect(started[0]!.args).not.toContain('-kernel');
    expect(vm.runs.map((r) => r.mode)).toEqual(['network']);
  });

  it('falls through to the network when nothing on the disk is bootable, as a BIOS does', async () => {
    const { started, power, settle } = rig(false);
    power('On', 'On', 'Hdd', 'Continuous');
    await settle();
    expect(started[0]!.args).toContain('-boot');
  });

  it('power-cycles into the disk: the old process is killed and has exited before the new one starts', async () => {
    const { vm, started, power, settle } = rig(true);
    power('On', 'On', 'Pxe', 'Once');
    await settle();
    power('On', 'PowerCycle', 'Hdd', 'Continuous');
    await settle();
    expect(started[0]!.killedWith).toBe('SIGKILL');
    // The tap takes one process at a time: nothing starts while the old QEMU still holds it.
    expect(started).toHaveLength(1);
    started[0]!.exit();
    await settle();
    expect(started).toHaveLength(2);
    expect(started[1]!.args).toEqual(expect.arrayContaining(['-kernel', '/k/vmlinuz', '-initrd', '/k/initrd.img', '-append', 'anvil.disk=1']));
    expect(started[1]!.args).not.toContain('-boot');
    expect(vm.runs.map((r) => [r.mode, r.cause])).toEqual([['network', 'On'], ['disk', 'PowerCycle']]);
  });

  it('powers off by killing the process, and stop() detaches from the BMC', async () => {
    const { vm, started, power, settle, subscribed } = rig(true);
    power('On', 'On');
    await settle();
    expect(vm.running).toBe(true);
    power('Off', 'ForceOff');
    await settle();
    expect(started[0]!.killedWith).toBe('SIGKILL');
    started[0]!.exit();
    await settle();
    expect(vm.running).toBe(false);
    await vm.stop();
    expect(subscribed()).toBe(false);
  });
});
