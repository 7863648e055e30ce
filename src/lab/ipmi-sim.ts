import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { SimPowerChange } from './redfish-sim/index.js';

/**
 * Starts and stops real OpenIPMI `ipmi_sim` BMC simulators for the lab, integration tests and
 * benchmarks. Each instance gets its own temp dir with a lan.conf (one admin user, RMCP+ on a loopback
 * UDP port), an emulator command file (MC, SEL, SDR sensors, FRU) and a `chassis_control` script that
 * keeps power and boot device in files, so tests can read and flip them behind the BMC's back.
 *
 *   const sim = await startIpmiSim({ user: 'admin', password: 'secret', sensors: [...] });
 *   ... ipmitool -I lanplus -C 3 -H 127.0.0.1 -p sim.port -U admin -P secret chassis power status
 *   await sim.stop();
 *
 * ipmi_sim quirks this hides: it needs `mc_setbmc`, it answers only cipher suites 0-3 (ipmitool
 * needs `-C 3`; it never answers Get Channel Cipher Suites), and it runs the chassis_control program
 * for every power/boot read and write.
 */

export type SimSensorType = 'temperature' | 'voltage' | 'current' | 'fan';

/** A threshold sensor with a full SDR. All values are raw bytes; see `m`/`b`/`rExp`/`bExp`. */
export interface SimSensor {
  number: number;
  /** At most 16 characters. */
  name: string;
  type: SimSensorType;
  /** Linear conversion value = (m * raw + b * 10^bExp) * 10^rExp. Defaults: m 1, b 0, exponents 0. */
  m?: number;
  b?: number;
  bExp?: number;
  rExp?: number;
  /** Raw threshold bytes; omitted ones are not readable. */
  thresholds?: { lnc?: number; lc?: number; lnr?: number; unc?: number; uc?: number; unr?: number };
  /** Initial raw reading. */
  value: number;
}

export interface SimFru {
  board?: { manufacturer?: string; product?: string; serial?: string; partNumber?: string };
  product?: { manufacturer?: string; name?: string; partNumber?: string; version?: string; serial?: string; assetTag?: string };
}

export interface StartIpmiSimOptions {
  /** Default: a free loopback UDP port. */
  port?: number;
  user: string;
  password: string;
  sensors?: SimSensor[];
  fru?: SimFru;
  /** Initial chassis power. Default 'off'. */
  power?: 'on' | 'off';
  /** Raw emulator commands appended to the command file (see ipmi_sim_cmd(5)). */
  extraCommands?: string[];
  /**
   * Default true: power and boot go through the chassis_control script (which ipmi_sim forks for every
   * power/boot read, a few ms each). false leaves power to ipmi_sim itself: power status always reads
   * "off" and power control is refused; benchmarks use it to measure clients rather than forks.
   */
  powerControl?: boolean;
}

export interface IpmiSim {
  host: '127.0.0.1';
  port: number;
  pid: number;
  dir: string;
  /** Power as the chassis_control script last recorded it ('off' when `powerControl` is false). */
  power(): 'on' | 'off';
  /** Flips power behind the BMC's back (what a person at the machine would do). */
  setPower(state: 'on' | 'off'): void;
  /** Boot device as last set through IPMI ('default' until someone sets one). */
  bootDevice(): string;
  /** Sets a sensor's raw reading; `event` also logs a SEL event when a threshold is crossed. */
  setSensor(sensorNumber: number, raw: number, opts?: { event?: boolean }): Promise<void>;
  /** Adds a SEL record: record type then the 13 bytes after the timestamp... see `sel_add`. */
  addSelEntry(recordType: number, bytes: number[]): Promise<void>;
  /** Runs one emulator command on the simulator console and returns its output. */
  command(line: string): Promise<string>;
  /**
   * Calls `listener` for every power change made through the BMC (on, off, cycle, reset), with the
   * boot device in force, in the shape the Redfish simulator reports them, so the lab's simulated
   * servers boot behind either kind of BMC. Returns the function that removes the listener.
   */
  onPowerChange(listener: (change: SimPowerChange) => void): () => void;
  /** Always false: faults on an ipmi_sim are injected through sensors and the SEL, not by refusing requests. */
  readonly hasFaults: boolean;
  /** Kills the simulator (by PID) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

const SENSOR_TYPE: Record<SimSensorType, { code: number; unit: number; entity: number }> = {
  temperature: { code: 0x01, unit: 1, entity: 0x03 },
  voltage: { code: 0x02, unit: 4, entity: 0x07 },
  current: { code: 0x03, unit: 5, entity: 0x0a },
  fan: { code: 0x04, unit: 18, entity: 0x1d },
};

const hex = (n: number): string => `0x${(n & 0xff).toString(16).padStart(2, '0')}`;

/** Builds an SDR type 01h (full sensor record) the way a BMC's SDR repository would hold it. */
export function fullSensorRecord(sensor: SimSensor, recordId: number): number[] {
  const t = SENSOR_TYPE[sensor.type];
  const th = sensor.thresholds ?? {};
  const mask = (th.lnc !== undefined ? 0x01 : 0) | (th.lc !== undefined ? 0x02 : 0) | (th.lnr !== undefined ? 0x04 : 0)
    | (th.unc !== undefined ? 0x08 : 0) | (th.uc !== undefined ? 0x10 : 0) | (th.unr !== undefined ? 0x20 : 0);
  const m = sensor.m ?? 1;
  const b = sensor.b ?? 0;
  const name = Buffer.from(sensor.name.slice(0, 16), 'latin1');
  const body = [
    0x20, 0x00, sensor.number, // owner, LUN, number
    t.entity, 0x01, // entity id, instance
    0x7f, // initialization: scanning, events, thresholds, hysteresis, type; events+scanning enabled
    0x58, // capabilities: auto re-arm, hysteresis readable, thresholds readable+settable, per-threshold events
    t.code, 0x01, // sensor type, threshold reading type
    0x95, 0x0a, 0x95, 0x0a, // assertion / deassertion event masks
    mask, mask, // readable / settable thresholds
    0x00, t.unit, 0x00, // unsigned analog, base unit, no modifier
    0x00, // linear
    m & 0xff, ((m >> 8) & 0x03) << 6,
    b & 0xff, ((b >> 8) & 0x03) << 6,
    0x00,
    (((sensor.rExp ?? 0) & 0x0f) << 4) | ((sensor.bExp ?? 0) & 0x0f),
    0x00, 0x00, 0x00, 0x00, 0xff, 0x00, // analog flags, nominal, normal max/min, sensor max/min
    th.unr ?? 0, th.uc ?? 0, th.unc ?? 0, th.lnr ?? 0, th.lc ?? 0, th.lnc ?? 0,
    0x00, 0x00, 0x00, 0x00, 0x00, // hysteresis +/-, reserved x2, OEM
    0xc0 | name.length, ...name,
  ];
  return [recordId & 0xff, recordId >> 8, 0x51, 0x01, body.length, ...body];
}

function fruField(text: string | undefined): number[] {
  const bytes = Buffer.from((text ?? '').slice(0, 63), 'latin1');
  return [0xc0 | bytes.length, ...bytes];
}

function fruArea(content: number[]): number[] {
  // content + end marker, padded so that content + checksum is a multiple of 8
  const area = [...content, 0xc1];
  while ((area.length + 1) % 8 !== 0) area.push(0);
  area[1] = (area.length + 1) / 8;
  const sum = area.reduce((a, v) => (a + v) & 0xff, 0);
  area.push((0x100 - sum) & 0xff);
  return area;
}

/** Encodes FRU data (common header, board and product info areas) with 8-bit ASCII fields. */
export function encodeFru(fru: SimFru): number[] {
  const board = fru.board
    ? fruArea([0x01, 0, 0x00, 0x10, 0x0e, 0x0c, // version, length, English, manufactured 2020ish
      ...fruField(fru.board.manufacturer), ...fruField(fru.board.product), ...fruField(fru.board.serial),
      ...fruField(fru.board.partNumber), ...fruField('')])
    : [];
  const product = fru.product
    ? fruArea([0x01, 0, 0x00,
      ...fruField(fru.product.manufacturer), ...fruField(fru.product.name), ...fruField(fru.product.partNumber),
      ...fruField(fru.product.version), ...fruField(fru.product.serial), ...fruField(fru.product.assetTag), ...fruField('')])
    : [];
  const boardOffset = board.length ? 1 : 0;
  const productOffset = product.length ? 1 + board.length / 8 : 0;
  const header = [0x01, 0, 0, boardOffset, productOffset, 0, 0];
  header.push((0x100 - header.reduce((a, v) => (a + v) & 0xff, 0)) & 0xff);
  return [...header, ...board, ...product];
}

/** Whether OpenIPMI's `ipmi_sim` is on the PATH. */
export function ipmiSimAvailable(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'ipmi_sim')));
}

/** A UDP port on 127.0.0.1 that was free a moment ago. */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Sends a pre-session Get Channel Authentication Capabilities and waits for any answer. */
async function probe(port: number, timeoutMs: number): Promise<boolean> {
  const msg = [0x20, 0x18, 0xc8, 0x81, 0x04, 0x38, 0x8e, 0x04];
  msg.push((0x100 - msg.slice(3).reduce((a, v) => (a + v) & 0xff, 0)) & 0xff);
  const packet = Buffer.from([0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, msg.length, ...msg]);
  const socket = createSocket('udp4');
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      socket.on('message', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      socket.send(packet, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

const CHASSIS_CONTROL = (dir: string): string => `#!/bin/sh
# chassis_control for ipmi_sim: <mc> get <parm>... | <mc> set <parm> <value>...
dir='${dir}'
echo "$*" >> "$dir/chassis.log"
shift
op="$1"; shift
case "$op" in
get)
  for p in "$@"; do
    case "$p" in
      power) printf 'power:%s\\n' "$(cat "$dir/power")" ;;
      boot) printf 'boot:%s\\n' "$(cat "$dir/boot")" ;;
    esac
  done ;;
set)
  while [ $# -ge 2 ]; do
    case "$1" in
      power) printf '%s\\n' "$2" > "$dir/power" ;;
      boot) printf '%s\\n' "$2" > "$dir/boot" ;;
      shutdown) [ "$2" = 1 ] && printf '0\\n' > "$dir/power" ;;  # an OS that obeys ACPI at once
    esac
    shift 2
  done ;;
esac
exit 0
`;

export async function startIpmiSim(opts: StartIpmiSimOptions): Promise<IpmiSim> {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-ipmi-sim-'));
  mkdirSync(join(dir, 'state'));
  writeFileSync(join(dir, 'power'), opts.power === 'on' ? '1\n' : '0\n');
  writeFileSync(join(dir, 'boot'), 'default\n');
  writeFileSync(join(dir, 'chassis_control'), CHASSIS_CONTROL(dir));
  chmodSync(join(dir, 'chassis_control'), 0o700);
  const commands = ['mc_setbmc 0x20', 'mc_add 0x20 0 has-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02', 'sel_enable 0x20 1000 0x0a'];
  (opts.sensors ?? []).forEach((s, i) => {
    const th = s.thresholds ?? {};
    const enabled = [th.unr, th.uc, th.unc, th.lnr, th.lc, th.lnc].map((v) => (v === undefined ? '0' : '1')).join('');
    const values = [th.unr, th.uc, th.unc, th.lnr, th.lc, th.lnc].map((v) => hex(v ?? 0)).join(' ');
    commands.push(`main_sdr_add 0x20 ${fullSensorRecord(s, i + 1).map(hex).join(' ')}`);
    commands.push(`sensor_add 0x20 0 ${hex(s.number)} ${hex(SENSOR_TYPE[s.type].code)} 0x01`);
    commands.push(`sensor_set_threshold 0x20 0 ${hex(s.number)} settable ${enabled} ${values}`);
    commands.push(`sensor_set_event_support 0x20 0 ${hex(s.number)} enable scanning per-state 000111111111111 000111111111111 000111111111111 000111111111111`);
    commands.push(`sensor_set_value 0x20 0 ${hex(s.number)} ${hex(s.value)} 0`);
  });
  if (opts.fru) {
    const data = encodeFru(opts.fru);
    commands.push(`mc_add_fru_data 0x20 0 ${data.length} data ${data.map(hex).join(' ')}`);
  }
  commands.push(...(opts.extraCommands ?? []), 'mc_enable 0x20');
  writeFileSync(join(dir, 'sim.emu'), `${commands.join('\n')}\n`);

  const quote = (s: string): string => `"${s.replace(/["\\]/g, '\\$&')}"`;
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? (await freeUdpPort());
    writeFileSync(join(dir, 'lan.conf'), [
      'name "anvil"',
      'set_working_mc 0x20',
      'startlan 1',
      `  addr 127.0.0.1 ${port}`,
      '  priv_limit admin',
      '  allowed_auths_callback none md2 md5 straight',
      '  allowed_auths_user none md2 md5 straight',
      '  allowed_auths_operator none md2 md5 straight',
      '  allowed_auths_admin none md2 md5 straight',
      '  guid a123456789abcdefa123456789abcdef',
      'endlan',
      ...(opts.powerControl === false ? [] : [`chassis_control "${join(dir, 'chassis_control')} 0x20"`]),
      `user 2 true ${quote(opts.user)} ${quote(opts.password)} admin 10 none md2 md5 straight`,
      '',
    ].join('\n'));
    // Console on stdin (no -n): setSensor and friends type emulator commands there.
    const child = spawn('ipmi_sim', ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-s', join(dir, 'state')], {
      cwd: dir,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const sim = await attach(child, dir, port, opts.powerControl !== false);
    for (let i = 0; i < 50 && child.exitCode === null; i++) {
      if (await probe(port, 100)) return sim;
    }
    lastError = sim.output();
    await sim.stop(false);
    if (opts.port !== undefined) break;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`ipmi_sim did not start: ${lastError.slice(-500)}`);
}

async function attach(child: ChildProcess, dir: string, port: number, powerControl: boolean): Promise<IpmiSim & { output(): string; stop(removeDir?: boolean): Promise<void> }> {
  let output = '';
  let waiters: (() => void)[] = [];
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('latin1');
    if (output.length > 200_000) output = output.slice(-100_000);
    const current = waiters;
    waiters = [];
    current.forEach((w) => w());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.stdin!.on('error', () => {});
  child.on('error', (err) => onData(Buffer.from(`spawn failed: ${err.message}\n`)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let queue: Promise<unknown> = Promise.resolve();
  let stopped = false;

  const command = (line: string): Promise<string> => {
    const run = async (): Promise<string> => {
      if (stopped || child.exitCode !== null) throw new Error('ipmi_sim is not running');
      const start = output.length;
      child.stdin!.write(`${line}\n`);
      const deadline = Date.now() + 5000;
      // The console prints "> " when it is ready for the next command.
      while (!output.slice(start).includes('> ')) {
        if (Date.now() > deadline) throw new Error(`ipmi_sim did not finish "${line}"`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return output.slice(start);
    };
    const result = queue.then(run, run);
    queue = result.catch(() => {});
    return result;
  };

  const read = (name: string): string => readFileSync(join(dir, name), 'utf8').trim();
  const watcher = powerWatcher(dir, () => (powerControl ? read('boot') : 'default'));
  return {
    host: '127.0.0.1',
    port,
    pid: child.pid!,
    dir,
    output: () => output,
    power: () => (powerControl && read('power') === '1' ? 'on' : 'off'),
    setPower: (state) => writeFileSync(join(dir, 'power'), state === 'on' ? '1\n' : '0\n'),
    bootDevice: () => read('boot'),
    async setSensor(sensorNumber, raw, o = {}) {
      await command(`sensor_set_value 0x20 0 ${hex(sensorNumber)} ${hex(raw)} ${o.event ? 1 : 0}`);
    },
    async addSelEntry(recordType, bytes) {
      await command(`sel_add 0x20 ${hex(recordType)} ${bytes.map(hex).join(' ')}`);
    },
    command,
    onPowerChange: (listener) => watcher.add(listener),
    hasFaults: false,
    async stop(removeDir = true) {
      if (!stopped) {
        stopped = true;
        watcher.close();
        if (child.exitCode === null && child.signalCode === null) {
          process.kill(child.pid!, 'SIGTERM');
          const killTimer = setTimeout(() => {
            if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
          }, 2000);
          await exited;
          clearTimeout(killTimer);
        }
      }
      if (removeDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Follows chassis.log, where the chassis_control script records every call ipmi_sim makes, and turns
 * the writes into power changes. ipmi_sim runs a power cycle as "set power 0" and, about a second
 * later, "set power 1"; a hard reset as "set reset 1" with the power left on.
 */
function powerWatcher(dir: string, bootDevice: () => string): { add(listener: (c: SimPowerChange) => void): () => void; close(): void } {
  const listeners = new Set<(c: SimPowerChange) => void>();
  let timer: NodeJS.Timeout | null = null;
  let offset = 0;
  let partial = '';
  const chunk = Buffer.alloc(16 * 1024);
  // Replayed from the log rather than read at poll time, so each change sees the device set before it.
  let device = 'default';
  const boot = (): Record<string, unknown> => {
    const target = device === 'pxe' ? 'Pxe' : device === 'default' || device === 'disk' ? 'Hdd' : device === 'bios' ? 'BiosSetup' : 'None';
    // ipmi_sim keeps only the device, not the persistent bit: the device stays in force.
    return { BootSourceOverrideTarget: target, BootSourceOverrideEnabled: target === 'None' ? 'Disabled' : 'Continuous' };
  };
  const poll = (): void => {
    let fd: number;
    try {
      fd = openSync(join(dir, 'chassis.log'), 'r');
    } catch {
      return; // nothing logged yet
    }
    try {
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, offset);
        if (n <= 0) break;
        offset += n;
        partial += chunk.subarray(0, n).toString('latin1');
      }
    } finally {
      closeSync(fd);
    }
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const [, op, ...args] = line.trim().split(/\s+/);
      if (op !== 'set') continue;
      for (let i = 0; i + 1 < args.length; i += 2) {
        const [parm, value] = [args[i], args[i + 1]];
        if (parm === 'boot' && value) device = value;
        const change: SimPowerChange | null =
          parm === 'power' ? { systemId: '1', power: value === '1' ? 'On' : 'Off', cause: value === '1' ? 'On' : 'ForceOff', boot: boot() }
          : parm === 'reset' && value === '1' ? { systemId: '1', power: 'On', cause: 'ForceRestart', boot: boot() }
          : parm === 'shutdown' && value === '1' ? { systemId: '1', power: 'Off', cause: 'GracefulShutdown', boot: boot() }
          : null;
        if (change) for (const l of listeners) l(change);
      }
    }
  };
  return {
    add(listener) {
      if (listeners.size === 0) {
        // Only changes from now on: skip what is already in the log.
        try {
          offset = readFileSync(join(dir, 'chassis.log')).length;
        } catch {
          offset = 0;
        }
        partial = '';
        device = bootDevice();
        timer = setInterval(poll, 50);
        timer.unref();
      }
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && timer) {
          clearInterval(timer);
          timer = null;
        }
      };
    },
    close() {
      listeners.clear();
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
