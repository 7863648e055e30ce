import type {
  BmcCallContext,
  BmcDriver,
  BmcEndpoint,
  BootDeviceRequest,
  BootDeviceState,
  ComponentHealth,
  HardwareInventory,
  HealthReport,
  PowerAction,
  PowerState,
} from '../driver.js';
import { BmcAuthError, BmcError, BmcUnreachableError } from '../../errors.js';
import { abortableSleep } from '../serialize.js';

/**
 * An in-memory BMC and a driver that talks to it. It is a real implementation of the contract
 * (state persists, `cycle` on an off machine powers it on, credentials are checked, failures are
 * typed), used by unit tests and by `anvil lab`. State lives in a {@link FakeBmc}, looked up by
 * `host:port` in a {@link FakeBmcDirectory}, so a test or the lab can change a machine's health
 * while the orchestration code holds a driver for it.
 */

export type FakeOperation = 'verify' | 'powerState' | 'setPower' | 'setBootDevice' | 'getBootDevice' | 'inspect' | 'health';

/** A failure the fake BMC will produce. */
export interface FakeFailure {
  kind: 'unreachable' | 'auth' | 'error';
  /** Only these operations fail; all when omitted. */
  operations?: FakeOperation[];
  /** Fails this many calls, then clears itself; forever when omitted. */
  times?: number;
  message?: string;
}

export interface FakeLogEntry {
  id: string;
  at: string;
  severity: 'ok' | 'warning' | 'critical';
  message: string;
}

export interface FakeBmcOptions {
  username?: string;
  password?: string;
  power?: 'on' | 'off';
  inventory?: Partial<HardwareInventory>;
  /** Simulated latency of every operation (abortable). */
  latencyMs?: number;
}

const DEFAULT_INVENTORY: HardwareInventory = {
  vendor: 'Anvil',
  model: 'Fake Server 1U',
  serial: null,
  biosVersion: '1.0.0',
  bmcFirmwareVersion: 'fake-1.0',
  cpus: { model: 'Fake CPU 16-core', count: 2, coresTotal: 32 },
  memoryGiB: 128,
  disks: [
    { name: 'disk0', sizeGiB: 480, model: 'Fake SSD', serial: null, mediaType: 'ssd' },
    { name: 'disk1', sizeGiB: 480, model: 'Fake SSD', serial: null, mediaType: 'ssd' },
  ],
  nics: [],
};

/** The state of one simulated BMC and the machine behind it. */
export class FakeBmc {
  power: 'on' | 'off';
  boot: BootDeviceState = { device: 'none', persistent: false, mode: 'uefi' };
  inventory: HardwareInventory;
  components = new Map<string, ComponentHealth>();
  logEntries: FakeLogEntry[] = [];
  latencyMs: number;
  username: string;
  password: string;
  /** Every operation performed, in order (for assertions and the lab's event view). */
  readonly history: { operation: FakeOperation; detail?: string }[] = [];
  private failures: FakeFailure[] = [];
  private nextLogId = 1;

  constructor(
    readonly key: string,
    opts: FakeBmcOptions = {},
  ) {
    this.power = opts.power ?? 'off';
    this.latencyMs = opts.latencyMs ?? 0;
    this.username = opts.username ?? 'admin';
    this.password = opts.password ?? 'password';
    const serial = `FAKE-${key.replace(/[^A-Za-z0-9]/g, '')}`;
    this.inventory = {
      ...DEFAULT_INVENTORY,
      serial,
      nics: [{ name: 'eth0', mac: fakeMac(key, 0), speedMbps: 10_000, linkUp: true }],
      ...opts.inventory,
    };
  }

  /** Makes the next matching operations fail. */
  injectFailure(failure: FakeFailure): void {
    this.failures.push({ ...failure });
  }

  clearFailures(): void {
    this.failures = [];
  }

  /** Sets (or replaces) one component's health; `status: 'ok'` with no message clears a fault. */
  setComponent(component: ComponentHealth): void {
    this.components.set(component.component, component);
  }

  addLogEntry(severity: FakeLogEntry['severity'], message: string, at: Date = new Date()): FakeLogEntry {
    const entry = { id: String(this.nextLogId++), at: at.toISOString(), severity, message };
    this.logEntries.push(entry);
    return entry;
  }

  /** Throws the first injected failure that matches `operation`, consuming one of its `times`. */
  checkFailure(operation: FakeOperation): void {
    const index = this.failures.findIndex((f) => !f.operations || f.operations.includes(operation));
    if (index < 0) return;
    const failure = this.failures[index]!;
    if (failure.times !== undefined) {
      failure.times -= 1;
      if (failure.times <= 0) this.failures.splice(index, 1);
    }
    const message = failure.message ?? `fake BMC ${this.key}: injected ${failure.kind} failure on ${operation}`;
    if (failure.kind === 'unreachable') throw new BmcUnreachableError(message);
    if (failure.kind === 'auth') throw new BmcAuthError(message);
    throw new BmcError(message, { details: { httpStatus: 500 } });
  }
}

/** A stable, locally administered MAC derived from the BMC key. */
function fakeMac(key: string, index: number): string {
  let hash = 2166136261;
  for (const ch of key) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619) >>> 0;
  const bytes = [0x02, 0xfa, (hash >>> 24) & 0xff, (hash >>> 16) & 0xff, (hash >>> 8) & 0xff, (hash + index) & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * Fake BMCs by `host:port`. A BMC created on first use takes the credentials of the endpoint that
 * first reached it (admin/password when none are given), so later wrong credentials still fail.
 */
export class FakeBmcDirectory {
  private readonly bmcs = new Map<string, FakeBmc>();

  get(host: string, port: number | null, opts?: FakeBmcOptions): FakeBmc {
    const key = `${host}:${port ?? 0}`;
    let bmc = this.bmcs.get(key);
    if (!bmc) {
      bmc = new FakeBmc(key, opts);
      this.bmcs.set(key, bmc);
    }
    return bmc;
  }

  all(): FakeBmc[] {
    return [...this.bmcs.values()];
  }

  clear(): void {
    this.bmcs.clear();
  }
}

/** The directory the registry uses for `protocol: 'fake'` endpoints. */
export const fakeBmcs = new FakeBmcDirectory();

function sleep(ms: number, signal: AbortSignal | undefined, key: string): Promise<void> {
  if (ms <= 0 && !signal?.aborted) return Promise.resolve();
  return abortableSleep(ms, signal).catch((reason: unknown) => {
    throw new BmcUnreachableError(`fake BMC ${key}: operation aborted`, { cause: reason });
  });
}

export class FakeBmcDriver implements BmcDriver {
  readonly protocol = 'fake' as const;
  private closed = false;

  constructor(
    readonly bmc: FakeBmc,
    private readonly credentials: { username: string; password: string },
  ) {}

  private async begin(operation: FakeOperation, ctx: BmcCallContext | undefined, detail?: string): Promise<void> {
    if (this.closed) throw new BmcError(`fake BMC ${this.bmc.key}: driver is closed`);
    await sleep(this.bmc.latencyMs, ctx?.signal, this.bmc.key);
    if (this.credentials.username !== this.bmc.username || this.credentials.password !== this.bmc.password) {
      throw new BmcAuthError(`fake BMC ${this.bmc.key}: credentials rejected for user ${this.credentials.username}`);
    }
    this.bmc.checkFailure(operation);
    this.bmc.history.push(detail === undefined ? { operation } : { operation, detail });
  }

  async verify(ctx?: BmcCallContext): Promise<void> {
    await this.begin('verify', ctx);
  }

  async powerState(ctx?: BmcCallContext): Promise<PowerState> {
    await this.begin('powerState', ctx);
    return this.bmc.power;
  }

  async setPower(action: PowerAction, ctx?: BmcCallContext): Promise<void> {
    await this.begin('setPower', ctx, action);
    switch (action) {
      case 'on':
      case 'cycle':
      case 'reset':
        this.bmc.power = 'on';
        if (this.bmc.boot.device !== 'none' && !this.bmc.boot.persistent && action !== 'on') this.consumeOneTimeBoot();
        break;
      case 'off':
      case 'soft-off':
        this.bmc.power = 'off';
        break;
    }
  }

  /** A one-time override is used by the next boot, then the BMC forgets it (as real firmware does). */
  private consumeOneTimeBoot(): void {
    this.bmc.boot = { device: 'none', persistent: false, mode: this.bmc.boot.mode };
  }

  async setBootDevice(req: BootDeviceRequest, ctx?: BmcCallContext): Promise<void> {
    await this.begin('setBootDevice', ctx, `${req.device}${req.persistent ? ' persistent' : ''} ${req.mode}`);
    this.bmc.boot = { device: req.device, persistent: req.persistent, mode: req.mode };
  }

  async getBootDevice(ctx?: BmcCallContext): Promise<BootDeviceState> {
    await this.begin('getBootDevice', ctx);
    return { ...this.bmc.boot };
  }

  async inspect(ctx?: BmcCallContext): Promise<HardwareInventory> {
    await this.begin('inspect', ctx);
    return structuredClone(this.bmc.inventory);
  }

  async health(opts?: { since?: string | null }, ctx?: BmcCallContext): Promise<HealthReport> {
    await this.begin('health', ctx);
    const sinceMs = opts?.since ? Date.parse(opts.since) : Number.NEGATIVE_INFINITY;
    const entries = this.bmc.logEntries.filter((e) => Date.parse(e.at) > sinceMs);
    const components: ComponentHealth[] = [
      { component: 'system', kind: 'system', status: 'ok', reading: null, message: 'fake system' },
      ...[...this.bmc.components.values()].map((c) => ({ ...c })),
      ...entries
        .filter((e) => e.severity !== 'ok')
        .map((e): ComponentHealth => ({ component: `log:${e.id}`, kind: 'log', status: e.severity, reading: null, message: e.message })),
    ];
    return { components, logEntries: entries.map((e) => ({ ...e })) };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Builds a fake driver for an endpoint, backed by the BMC in `directory` at its host:port. */
export function createFakeDriver(endpoint: BmcEndpoint, directory: FakeBmcDirectory = fakeBmcs): FakeBmcDriver {
  const bmc = directory.get(endpoint.host, endpoint.port, endpoint.username ? { username: endpoint.username, password: endpoint.password } : {});
  return new FakeBmcDriver(bmc, { username: endpoint.username, password: endpoint.password });
}
