/**
 * The native IPMI v2.0 lanplus BmcDriver: one UDP socket and one RMCP+ session per driver instance,
 * kept open and reused across operations (re-established when it expires or stops answering).
 */
import { AnvilError, BmcError, InputError } from '../../errors.js';
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
import { getBootFlags, setBootFlags } from './commands/boot-options.js';
import { ChassisControl, chassisControl, getChassisStatus } from './commands/chassis.js';
import { getDeviceId, vendorName } from './commands/device-id.js';
import { parseFru, readFruData, type FruInfo } from './commands/fru.js';
import type { IpmiRequester } from './commands/requester.js';
import { parseSensorRecord, readSdrRepository, type RawThresholds, type SensorRecord } from './commands/sdr.js';
import { getSensorReading, getSensorThresholds, type SensorReading } from './commands/sensor.js';
import { getSelInfo, readSel } from './commands/sel.js';
import { IpmiCompletionCodeError } from './completion-codes.js';
import type { CipherSuiteId } from './crypto.js';
import { chassisComponents, selComponent, selLogEntries, sensorComponent, type SensorObservation } from './health.js';
import { IpmiSession, NetFn } from './session.js';
import { udpTransportFactory, type TransportFactory } from './transport.js';

export const DEFAULT_IPMI_PORT = 623;
export const DEFAULT_IPMI_TIMEOUT_MS = 5000;

/** Tuning knobs; the defaults suit real BMCs. Tests shorten them or inject a transport. */
export interface IpmiDriverOptions {
  /** Preference order; a suite the BMC refuses in Open Session falls through to the next. Default [17, 3]. */
  cipherSuites?: CipherSuiteId[];
  /** First retransmission delay (doubles up to 2 s). Default 500 ms. */
  retryIntervalMs?: number;
  /** How long setPower waits for the BMC to report the new state. Default 30 s. */
  powerSettleTimeoutMs?: number;
  powerPollIntervalMs?: number;
  transportFactory?: TransportFactory;
}

/**
 * Creates the driver. Nothing is sent until the first operation.
 *
 * What IPMI can and cannot tell:
 * - `inspect()` fills vendor/model/serial from FRU 0 (product area, then board area, then chassis
 *   serial; vendor falls back to the IANA manufacturer id of Get Device ID) and `bmcFirmwareVersion`
 *   from Get Device ID. `biosVersion`, CPUs, memory, disks and NICs are not available over standard
 *   IPMI: they come back as null / count 0 / empty lists.
 * - `health()` reports a `bmc` component, chassis fault bits (`chassis:*`), one `sensor:<name>`
 *   component per threshold sensor and power-supply state sensor in the SDR repository, and a
 *   `log:sel` component. SEL records are returned as `logEntries` when `opts.since` is given (null for
 *   all); `since` may be an ISO time or a SEL record id.
 * - `setPower('soft-off')` returns once the BMC accepted the ACPI shutdown request: the OS may take
 *   minutes, so callers poll `powerState()`. It never falls back to a hard power off.
 * - `setPower('reset')` returns once the BMC accepted the reset (the power state does not change).
 */
export function createIpmiDriver(endpoint: BmcEndpoint, options: IpmiDriverOptions = {}): BmcDriver {
  return new IpmiDriver(endpoint, options);
}

class IpmiDriver implements BmcDriver {
  readonly protocol = 'ipmi' as const;
  private readonly target: string;
  private readonly session: IpmiSession;
  private readonly powerSettleTimeoutMs: number;
  private readonly powerPollIntervalMs: number;
  /** SDR records survive between sweeps; re-read when the repository's change timestamps move. */
  private sdrCache: { stamp: string; records: SensorRecord[] } | null = null;

  constructor(endpoint: BmcEndpoint, options: IpmiDriverOptions) {
    if (!endpoint.host) throw new InputError('IPMI endpoint has no host');
    const port = endpoint.port ?? DEFAULT_IPMI_PORT;
    this.target = port === DEFAULT_IPMI_PORT ? endpoint.host : `${endpoint.host}:${port}`;
    this.powerSettleTimeoutMs = options.powerSettleTimeoutMs ?? 30_000;
    this.powerPollIntervalMs = options.powerPollIntervalMs ?? 250;
    this.session = new IpmiSession({
      target: this.target,
      username: endpoint.username,
      password: endpoint.password,
      timeoutMs: endpoint.timeoutMs ?? DEFAULT_IPMI_TIMEOUT_MS,
      ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
      ...(options.cipherSuites ? { cipherSuites: options.cipherSuites } : {}),
      transportFactory: options.transportFactory ?? udpTransportFactory(endpoint.host, port),
    });
  }

  verify(ctx?: BmcCallContext): Promise<void> {
    return this.guard('verify', async () => {
      await getDeviceId(this.requester(ctx));
    });
  }

  powerState(ctx?: BmcCallContext): Promise<PowerState> {
    return this.guard('read power state', async () => ((await getChassisStatus(this.requester(ctx))).powerOn ? 'on' : 'off'));
  }

  setPower(action: PowerAction, ctx?: BmcCallContext): Promise<void> {
    return this.guard(`power ${action}`, async () => {
      const request = this.requester(ctx);
      const isOn = (await getChassisStatus(request)).powerOn;
      switch (action) {
        case 'on':
          if (isOn) return;
          await chassisControl(request, ChassisControl.powerUp);
          return this.waitForPower(true, action, ctx);
        case 'off':
          if (!isOn) return;
          await chassisControl(request, ChassisControl.powerDown);
          return this.waitForPower(false, action, ctx);
        case 'soft-off':
          if (!isOn) return;
          await chassisControl(request, ChassisControl.softShutdown);
          return;
        case 'cycle':
          // Power cycle is refused (or meaningless) on a machine that is off: power it on instead.
          await chassisControl(request, isOn ? ChassisControl.powerCycle : ChassisControl.powerUp);
          return this.waitForPower(true, action, ctx);
        case 'reset':
          await chassisControl(request, ChassisControl.hardReset);
          return;
        default:
          throw new InputError(`unknown power action ${String(action)}`);
      }
    });
  }

  setBootDevice(req: BootDeviceRequest, ctx?: BmcCallContext): Promise<void> {
    return this.guard(`set boot device ${req.device}`, async () => {
      await setBootFlags(this.requester(ctx), req);
    });
  }

  getBootDevice(ctx?: BmcCallContext): Promise<BootDeviceState> {
    return this.guard('read boot device', async () => getBootFlags(this.requester(ctx)));
  }

  inspect(ctx?: BmcCallContext): Promise<HardwareInventory> {
    return this.guard('inspect', async () => {
      const request = this.requester(ctx);
      const device = await getDeviceId(request);
      let fru: FruInfo = { chassis: null, board: null, product: null };
      try {
        fru = parseFru(await readFruData(request, 0));
      } catch (err) {
        // No FRU 0 (0xCB) or no FRU support (0xC1): inventory without it, not a failure.
        if (!(err instanceof IpmiCompletionCodeError)) throw err;
      }
      return {
        vendor: fru.product?.manufacturer ?? fru.board?.manufacturer ?? vendorName(device.manufacturerId),
        model: fru.product?.name ?? fru.board?.product ?? null,
        serial: fru.product?.serial ?? fru.board?.serial ?? fru.chassis?.serial ?? null,
        biosVersion: null,
        bmcFirmwareVersion: device.firmwareVersion,
        cpus: { model: null, count: 0, coresTotal: null },
        memoryGiB: null,
        disks: [],
        nics: [],
      };
    });
  }

  health(opts?: { since?: string | null }, ctx?: BmcCallContext): Promise<HealthReport> {
    return this.guard('health', async () => {
      const request = this.requester(ctx);
      const device = await getDeviceId(request);
      const components: ComponentHealth[] = [
        {
          component: 'bmc',
          kind: 'bmc',
          status: device.deviceAvailable ? 'ok' : 'warning',
          reading: null,
          message: device.deviceAvailable
            ? `IPMI ${device.ipmiVersion} BMC firmware ${device.firmwareVersion}, cipher suite ${this.session.cipherSuite}`
            : `BMC firmware ${device.firmwareVersion} reports an update or initialization in progress`,
        },
      ];
      components.push(...chassisComponents(await getChassisStatus(request)));
      const records = await this.sensorRecords(request);
      for (const record of records) {
        const component = sensorComponent(await this.observe(request, record));
        if (component) components.push(component);
      }
      const report: HealthReport = { components };
      try {
        const info = await getSelInfo(request);
        components.push(selComponent(info));
        if (opts && 'since' in opts) {
          const names = new Map(records.map((r) => [r.sensorNumber, r.name] as const));
          report.logEntries = info.entries === 0 ? [] : selLogEntries(await readSel(request), names, opts.since);
        }
      } catch (err) {
        if (!(err instanceof IpmiCompletionCodeError)) throw err;
        components.push({ component: 'log:sel', kind: 'log', status: 'unknown', reading: null, message: err.message });
      }
      return report;
    });
  }

  close(): Promise<void> {
    this.sdrCache = null;
    return this.session.close();
  }

  // ---- helpers --------------------------------------------------------------------------

  private requester(ctx?: BmcCallContext): IpmiRequester {
    return (netFn, cmd, data, name) => this.session.request(netFn, cmd, data, name, { signal: ctx?.signal });
  }

  private async waitForPower(on: boolean, action: PowerAction, ctx?: BmcCallContext): Promise<void> {
    const deadline = Date.now() + this.powerSettleTimeoutMs;
    for (;;) {
      if ((await getChassisStatus(this.requester(ctx))).powerOn === on) return;
      if (Date.now() >= deadline) {
        throw new BmcError(`BMC ${this.target} accepted power ${action} but still reports power ${on ? 'off' : 'on'} after ${this.powerSettleTimeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, this.powerPollIntervalMs));
    }
  }

  private async sensorRecords(request: IpmiRequester): Promise<SensorRecord[]> {
    let stamp = '';
    try {
      // Get SDR Repository Info: bytes 5-12 are the last addition and erase timestamps.
      stamp = (await request(NetFn.storage, 0x20, new Uint8Array(0), 'Get SDR Repository Info')).subarray(0, 13).toString('hex');
    } catch (err) {
      if (!(err instanceof IpmiCompletionCodeError)) throw err;
    }
    if (this.sdrCache && stamp !== '' && this.sdrCache.stamp === stamp) return this.sdrCache.records;
    let raw: Buffer[];
    try {
      raw = await readSdrRepository(request);
    } catch (err) {
      // A BMC without an SDR repository still has chassis status and SEL to report.
      if (err instanceof IpmiCompletionCodeError) return [];
      throw err;
    }
    const records = raw.map(parseSensorRecord).filter((r): r is SensorRecord => r !== null);
    this.sdrCache = stamp === '' ? null : { stamp, records };
    return records;
  }

  private async observe(request: IpmiRequester, record: SensorRecord): Promise<SensorObservation> {
    if (record.ownerId !== 0x20 || record.ownerLun !== 0) {
      // Sensors behind satellite controllers need IPMB bridging, which this driver does not do.
      return { record, reading: null, thresholds: {}, error: `owned by controller 0x${record.ownerId.toString(16)} LUN ${record.ownerLun}; not read` };
    }
    let reading: SensorReading;
    try {
      reading = await getSensorReading(request, record.sensorNumber);
    } catch (err) {
      if (err instanceof IpmiCompletionCodeError) return { record, reading: null, thresholds: {}, error: err.message };
      throw err;
    }
    let thresholds: RawThresholds = record.sdrThresholds;
    if (record.readingType === 0x01 && (record.thresholdAccess === 1 || record.thresholdAccess === 2)) {
      try {
        thresholds = await getSensorThresholds(request, record.sensorNumber);
      } catch (err) {
        if (!(err instanceof IpmiCompletionCodeError)) throw err;
      }
    }
    return { record, reading, thresholds };
  }

  /** Every failure leaves as a BmcError subclass (or InputError); parsers' RangeErrors become BmcError. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AnvilError) throw err;
      throw new BmcError(`IPMI ${what} on BMC ${this.target} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}
