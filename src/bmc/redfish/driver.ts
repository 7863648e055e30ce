import type {
  BmcCallContext,
  BmcDriver,
  BmcEndpoint,
  BootDeviceRequest,
  BootDeviceState,
  ComponentHealth,
  DiskFact,
  HardwareInventory,
  HealthReport,
  NicFact,
  PowerAction,
  PowerState,
} from '../driver.js';
import { BmcAuthError, BmcError, BmcUnreachableError, InputError, UnsupportedOperationError } from '../../errors.js';
import { RedfishClient, type RedfishClientOptions } from './client.js';
import {
  driveHealth,
  fanHealth,
  isNewLogEntry,
  isPresent,
  logSeverity,
  partHealth,
  psuHealth,
  redundancyHealth,
  sensorHealth,
  systemHealth,
  temperatureHealth,
  voltageHealth,
} from './health.js';
import { BOOT_MODES, BOOT_TARGETS, bootObject, type RedfishDoc, type VendorAdapter } from './vendors/adapter.js';
import { detectVendor } from './vendors/index.js';
import { abortableSleep } from '../serialize.js';

/**
 * The Redfish implementation of BmcDriver. One instance per BMC; discovery (service root, the
 * ComputerSystem, the vendor adapter) happens on first use and is cached for the driver's life.
 */

export interface RedfishDriverOptions {
  /** `http` only for simulators; real BMCs are HTTPS. */
  scheme?: 'https' | 'http';
  /** Extra trusted CA (PEM) for `tls: verify`. */
  ca?: string;
  /** Deadline of one HTTP exchange. Default: endpoint.timeoutMs or 15 s. */
  requestTimeoutMs?: number;
  /** Interval between PowerState polls after a reset. Default 2 s. */
  pollIntervalMs?: number;
  /** How long to wait for PowerState to settle after a reset. Default 120 s. */
  powerSettleMs?: number;
  /** How long `soft-off` waits for the OS before forcing power off. Default 120 s. */
  softOffTimeoutMs?: number;
  /** Interval between task monitor polls. Default 1 s. */
  taskPollMs?: number;
  auth?: 'session' | 'basic';
}

interface Discovery {
  root: RedfishDoc;
  adapter: VendorAdapter;
  systemPath: string;
}

const sleep = abortableSleep;

function odataId(link: unknown): string | null {
  if (typeof link === 'object' && link !== null) {
    const id = (link as Record<string, unknown>)['@odata.id'];
    if (typeof id === 'string' && id) return id.split('#')[0]!;
  }
  return null;
}

function links(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map(odataId).filter((v): v is string => v !== null);
}

function stripSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** `12-44-6A-3B-04-11`, `12446a3b0411`, `12:44:6A:3B:04:11` → `12:44:6a:3b:04:11`; null if not a MAC. */
export function normaliseMac(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const hex = value.replace(/[^0-9a-f]/gi, '').toLowerCase();
  if (hex.length !== 12 || /^0+$/.test(hex)) return null;
  return hex.match(/../g)!.join(':');
}

/** Allowed ResetType values of the system's Reset action, or null when not published. */
export function allowableResetTypes(system: RedfishDoc): string[] | null {
  const action = (system.Actions as RedfishDoc | undefined)?.['#ComputerSystem.Reset'] as RedfishDoc | undefined;
  const values = action?.['ResetType@Redfish.AllowableValues'];
  return Array.isArray(values) ? values.filter((v): v is string => typeof v === 'string') : null;
}

/** The first ResetType the adapter prefers for `action` that this BMC allows, or null. */
export function chooseResetType(adapter: VendorAdapter, action: PowerAction, system: RedfishDoc): string | null {
  const allowed = allowableResetTypes(system) ?? adapter.assumedResetTypes;
  return adapter.resetTypes(action).find((t) => allowed.includes(t)) ?? null;
}

export function bootStateFromSystem(system: RedfishDoc): BootDeviceState {
  const boot = bootObject(system);
  const enabled = boot.BootSourceOverrideEnabled;
  const target = boot.BootSourceOverrideTarget;
  const mode = boot.BootSourceOverrideMode === 'UEFI' ? 'uefi' : boot.BootSourceOverrideMode === 'Legacy' ? 'legacy' : 'unknown';
  if (enabled === 'Disabled' || target === 'None' || target === undefined) return { device: 'none', persistent: false, mode };
  const device = target === 'Pxe' ? 'pxe' : target === 'Hdd' ? 'disk' : target === 'BiosSetup' ? 'bios' : 'other';
  return { device, persistent: enabled === 'Continuous', mode };
}

/**
 * Redfish PowerState → ours. Transitional states report where the machine is going, as Ironic's
 * redfish power interface does (PoweringOn → on, PoweringOff → off).
 */
export function mapPowerState(value: unknown): PowerState {
  if (value === 'On' || value === 'PoweringOn') return 'on';
  if (value === 'Off' || value === 'PoweringOff') return 'off';
  return 'unknown';
}

export class RedfishDriver implements BmcDriver {
  readonly protocol = 'redfish' as const;
  readonly client: RedfishClient;
  private discovery: Discovery | null = null;
  private readonly pollIntervalMs: number;
  private readonly powerSettleMs: number;
  private readonly softOffTimeoutMs: number;

  constructor(
    private readonly endpoint: BmcEndpoint,
    opts: RedfishDriverOptions = {},
  ) {
    const clientOpts: RedfishClientOptions = {
      host: endpoint.host,
      port: endpoint.port,
      username: endpoint.username,
      password: endpoint.password,
      tls: endpoint.tls,
      requestTimeoutMs: opts.requestTimeoutMs ?? endpoint.timeoutMs ?? 15_000,
    };
    if (opts.scheme) clientOpts.scheme = opts.scheme;
    if (opts.ca) clientOpts.ca = opts.ca;
    if (opts.auth) clientOpts.auth = opts.auth;
    if (opts.taskPollMs !== undefined) clientOpts.taskPollMs = opts.taskPollMs;
    this.client = new RedfishClient(clientOpts);
    this.pollIntervalMs = opts.pollIntervalMs ?? 2000;
    this.powerSettleMs = opts.powerSettleMs ?? 120_000;
    this.softOffTimeoutMs = opts.softOffTimeoutMs ?? 120_000;
  }

  /** The vendor adapter in use (after the first call). */
  get vendor(): string | null {
    return this.discovery?.adapter.name ?? null;
  }

  private async get(path: string, signal: AbortSignal | undefined): Promise<RedfishDoc> {
    const res = await this.client.get<RedfishDoc>(path, { signal });
    if (typeof res.body !== 'object' || res.body === null || Array.isArray(res.body)) {
      throw new BmcError(`${this.client.label}: GET ${path} returned no JSON object`, { details: { retryable: true } });
    }
    return res.body;
  }

  /** GET that tolerates a missing or broken sub-resource (but not an unreachable BMC or bad credentials). */
  private async tryGet(path: string, signal: AbortSignal | undefined): Promise<RedfishDoc | null> {
    try {
      return await this.get(path, signal);
    } catch (err) {
      if (err instanceof BmcUnreachableError || err instanceof BmcAuthError) throw err;
      return null;
    }
  }

  /** Members of a collection, following `@odata.nextLink` pages and fetching non-expanded members. */
  private async members(path: string, signal: AbortSignal | undefined): Promise<RedfishDoc[]> {
    const ids: string[] = [];
    const expanded = new Map<string, RedfishDoc>();
    let next: string | null = path;
    const seen = new Set<string>();
    for (let page = 0; next && page < 20 && !seen.has(next); page++) {
      seen.add(next);
      const collection = await this.tryGet(next, signal);
      if (!collection) break;
      for (const m of Array.isArray(collection.Members) ? collection.Members : []) {
        const id = odataId(m);
        if (!id || ids.includes(id)) continue;
        ids.push(id);
        if (Object.keys(m as object).length > 2) expanded.set(id, m as RedfishDoc);
      }
      next = typeof collection['@odata.nextLink'] === 'string' ? collection['@odata.nextLink'] : null;
    }
    const docs = await Promise.all(ids.map((id) => expanded.get(id) ?? this.tryGet(id, signal)));
    return docs.filter((d): d is RedfishDoc => d !== null);
  }

  private async discover(signal: AbortSignal | undefined): Promise<Discovery> {
    if (this.discovery) return this.discovery;
    let root: RedfishDoc;
    try {
      root = (await this.client.get<RedfishDoc>('/redfish/v1/', { signal, anonymous: true })).body;
    } catch (err) {
      // The service root must be readable anonymously (DSP0266 §13.3.1), but some BMCs insist.
      if (!(err instanceof BmcAuthError)) throw err;
      root = await this.get('/redfish/v1/', signal);
    }
    if (typeof root !== 'object' || root === null) throw new BmcError(`${this.client.label}: the Redfish service root is not a JSON object`);
    const systemsPath = odataId(root.Systems) ?? '/redfish/v1/Systems';
    const wanted = this.endpoint.systemId?.trim();
    let systemPath: string;
    if (wanted) {
      systemPath = stripSlash(wanted.startsWith('/') ? wanted : `${stripSlash(systemsPath)}/${wanted}`);
    } else {
      const collection = await this.get(systemsPath, signal);
      const systems = links(collection.Members);
      if (systems.length === 0) throw new BmcError(`${this.client.label}: the BMC exposes no ComputerSystem in ${systemsPath}`);
      if (systems.length > 1) {
        const ids = systems.map((s) => s.split('/').pop()).join(', ');
        throw new InputError(`${this.client.label} manages ${systems.length} systems (${ids}); set the BMC's systemId to one of them`, {
          details: [{ field: 'systemId', message: 'required when the BMC manages several systems', systems: systems }],
        });
      }
      systemPath = stripSlash(systems[0]!);
    }
    const system = await this.getSystem(systemPath, signal);
    this.discovery = { root, adapter: detectVendor(root, system), systemPath };
    return this.discovery;
  }

  private async getSystem(path: string, signal: AbortSignal | undefined): Promise<RedfishDoc> {
    try {
      return await this.get(path, signal);
    } catch (err) {
      if (err instanceof BmcError && (err.details as { httpStatus?: number } | undefined)?.httpStatus === 404) {
        throw new InputError(`${this.client.label}: ComputerSystem ${path} does not exist (check the BMC's systemId)`, {
          details: [{ field: 'systemId', message: `${path} not found on the BMC` }],
        });
      }
      throw err;
    }
  }

  private async system(signal: AbortSignal | undefined): Promise<{ d: Discovery; system: RedfishDoc; etag: string | null }> {
    const d = await this.discover(signal);
    const res = await this.client.get<RedfishDoc>(d.systemPath, { signal });
    if (typeof res.body !== 'object' || res.body === null) throw new BmcError(`${this.client.label}: GET ${d.systemPath} returned no JSON object`);
    return { d, system: res.body, etag: res.etag };
  }

  async verify(ctx?: BmcCallContext): Promise<void> {
    await this.system(ctx?.signal);
  }

  async powerState(ctx?: BmcCallContext): Promise<PowerState> {
    const { system } = await this.system(ctx?.signal);
    return mapPowerState(system.PowerState);
  }

  private async reset(d: Discovery, system: RedfishDoc, resetType: string, signal: AbortSignal | undefined): Promise<void> {
    const action = (system.Actions as RedfishDoc | undefined)?.['#ComputerSystem.Reset'] as RedfishDoc | undefined;
    const target = typeof action?.target === 'string' ? action.target : `${d.systemPath}/Actions/ComputerSystem.Reset`;
    await this.client.post(target, { ResetType: resetType }, { signal });
  }

  /** Polls PowerState until it equals `target`; BmcError when it does not settle within `limitMs`. */
  private async waitFor(target: 'On' | 'Off', limitMs: number, signal: AbortSignal | undefined): Promise<boolean> {
    const deadline = Date.now() + limitMs;
    let last: unknown = undefined;
    for (;;) {
      const { system } = await this.system(signal);
      last = system.PowerState;
      if (last === target) return true;
      if (Date.now() + this.pollIntervalMs > deadline) return false;
      await sleep(this.pollIntervalMs, signal).catch((reason: unknown) => {
        throw reason instanceof BmcError ? reason : new BmcUnreachableError(`${this.client.label}: aborted while waiting for power ${target}`, { cause: reason });
      });
    }
  }

  private async settle(target: 'On' | 'Off', limitMs: number, resetType: string, signal: AbortSignal | undefined): Promise<void> {
    if (!(await this.waitFor(target, limitMs, signal))) {
      throw new BmcError(`${this.client.label}: power did not reach ${target} within ${limitMs} ms after ${resetType}`);
    }
  }

  private unsupported(action: PowerAction, system: RedfishDoc): never {
    const allowed = allowableResetTypes(system);
    throw new UnsupportedOperationError(`${this.client.label}: cannot '${action}': the BMC allows ResetType ${allowed ? allowed.join(', ') : '(not published)'}`);
  }

  async setPower(action: PowerAction, ctx?: BmcCallContext): Promise<void> {
    const signal = ctx?.signal;
    const { d, system } = await this.system(signal);
    const state = system.PowerState;
    const pick = (a: PowerAction): string | null => chooseResetType(d.adapter, a, system);
    const powerOn = async (): Promise<void> => {
      const type = pick('on') ?? this.unsupported('on', system);
      await this.reset(d, system, type, signal);
      await this.settle('On', this.powerSettleMs, type, signal);
    };
    const forceOff = async (): Promise<void> => {
      const type = pick('off') ?? this.unsupported('off', system);
      await this.reset(d, system, type, signal);
      await this.settle('Off', this.powerSettleMs, type, signal);
    };
    switch (action) {
      case 'on':
        if (state === 'On') return;
        if (state === 'PoweringOn') return this.settle('On', this.powerSettleMs, 'an earlier power-on', signal);
        return powerOn();
      case 'off':
        if (state === 'Off') return;
        return forceOff();
      case 'soft-off': {
        if (state === 'Off') return;
        if (state === 'PoweringOff' && (await this.waitFor('Off', this.softOffTimeoutMs, signal))) return;
        const type = pick('soft-off');
        if (type) {
          await this.reset(d, system, type, signal);
          if (await this.waitFor('Off', this.softOffTimeoutMs, signal)) return;
        }
        // Documented fallback: an OS that ignores ACPI (or no graceful type) gets a hard off.
        return forceOff();
      }
      case 'cycle':
      case 'reset': {
        if (state === 'Off') return powerOn();
        const type = pick(action);
        if (type) {
          await this.reset(d, system, type, signal);
          return this.settle('On', this.powerSettleMs, type, signal);
        }
        if (action === 'reset') this.unsupported(action, system);
        await forceOff();
        return powerOn();
      }
    }
  }

  async setBootDevice(req: BootDeviceRequest, ctx?: BmcCallContext): Promise<void> {
    const signal = ctx?.signal;
    for (let attempt = 1; ; attempt++) {
      const { d, system, etag } = await this.system(signal);
      const boot = bootObject(system);
      const targets = boot['BootSourceOverrideTarget@Redfish.AllowableValues'];
      if (Array.isArray(targets) && !targets.includes(BOOT_TARGETS[req.device])) {
        throw new UnsupportedOperationError(`${this.client.label}: boot target ${BOOT_TARGETS[req.device]} not supported (BMC allows ${targets.join(', ')})`);
      }
      const modes = boot['BootSourceOverrideMode@Redfish.AllowableValues'];
      if (Array.isArray(modes) && !modes.includes(BOOT_MODES[req.mode])) {
        throw new UnsupportedOperationError(`${this.client.label}: boot mode ${BOOT_MODES[req.mode]} not supported (BMC allows ${modes.join(', ')})`);
      }
      const bodyEtag = typeof system['@odata.etag'] === 'string' ? system['@odata.etag'] : null;
      const patch = d.adapter.bootPatch({ req, system, systemPath: d.systemPath, headerEtag: etag, bodyEtag });
      try {
        await this.client.patch(patch.path, patch.body, { signal, ...(patch.ifMatch ? { headers: { 'if-match': patch.ifMatch } } : {}) });
        return;
      } catch (err) {
        const status = err instanceof BmcError ? (err.details as { httpStatus?: number } | undefined)?.httpStatus : undefined;
        // 412: someone changed the system between our GET and PATCH; read it again once.
        if (status === 412 && attempt === 1) continue;
        throw err;
      }
    }
  }

  async getBootDevice(ctx?: BmcCallContext): Promise<BootDeviceState> {
    const { system } = await this.system(ctx?.signal);
    return bootStateFromSystem(system);
  }

  async inspect(ctx?: BmcCallContext): Promise<HardwareInventory> {
    const signal = ctx?.signal;
    const { system } = await this.system(signal);
    const manager = await this.manager(system, signal);
    const [processors, memory, disks, nics] = await Promise.all([
      this.processorDocs(system, signal),
      this.memoryDocs(system, signal),
      this.disks(system, signal),
      this.nics(system, manager, signal),
    ]);
    const bmcFirmwareVersion = typeof manager?.FirmwareVersion === 'string' ? manager.FirmwareVersion : null;
    const cpus = processors.filter((p) => (p.ProcessorType === undefined || p.ProcessorType === 'CPU') && isPresent(p));
    const summary = (system.ProcessorSummary ?? {}) as RedfishDoc;
    const memSummary = (system.MemorySummary ?? {}) as RedfishDoc;
    const dimmMiB = memory.filter(isPresent).reduce((sum, m) => sum + (typeof m.CapacityMiB === 'number' ? m.CapacityMiB : 0), 0);
    const coresTotal = cpus.reduce((sum, p) => sum + (typeof p.TotalCores === 'number' ? p.TotalCores : 0), 0);
    const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v.trim() : null);
    return {
      vendor: str(system.Manufacturer),
      model: str(system.Model),
      serial: str(system.SerialNumber),
      biosVersion: str(system.BiosVersion),
      bmcFirmwareVersion,
      cpus: {
        model: str(cpus[0]?.Model) ?? str(summary.Model),
        count: cpus.length || (typeof summary.Count === 'number' ? summary.Count : 0),
        coresTotal: coresTotal || (typeof summary.CoreCount === 'number' ? summary.CoreCount : null),
      },
      memoryGiB: typeof memSummary.TotalSystemMemoryGiB === 'number' ? memSummary.TotalSystemMemoryGiB : dimmMiB ? dimmMiB / 1024 : null,
      disks,
      nics,
    };
  }

  private async processorDocs(system: RedfishDoc, signal: AbortSignal | undefined): Promise<RedfishDoc[]> {
    const path = odataId(system.Processors);
    return path ? this.members(path, signal) : [];
  }

  private async memoryDocs(system: RedfishDoc, signal: AbortSignal | undefined): Promise<RedfishDoc[]> {
    const path = odataId(system.Memory);
    return path ? this.members(path, signal) : [];
  }

  /** Drive documents from Storage (Drives links) and device entries from SimpleStorage. */
  private async driveDocs(system: RedfishDoc, signal: AbortSignal | undefined): Promise<RedfishDoc[]> {
    const out: RedfishDoc[] = [];
    const storagePath = odataId(system.Storage);
    if (storagePath) {
      for (const storage of await this.members(storagePath, signal)) {
        const drives = await Promise.all(links(storage.Drives).map((p) => this.tryGet(p, signal)));
        out.push(...drives.filter((x): x is RedfishDoc => x !== null));
      }
    }
    const simplePath = odataId(system.SimpleStorage);
    if (simplePath && out.length === 0) {
      for (const controller of await this.members(simplePath, signal)) {
        const devices = Array.isArray(controller.Devices) ? (controller.Devices as RedfishDoc[]) : [];
        devices.forEach((dev, i) => out.push({ ...dev, Id: dev.Id ?? dev.Name ?? `${String(controller.Id ?? 'simple')}-${i}` }));
      }
    }
    return out;
  }

  private async disks(system: RedfishDoc, signal: AbortSignal | undefined): Promise<DiskFact[]> {
    const docs = await this.driveDocs(system, signal);
    return docs.filter(isPresent).map((d): DiskFact => {
      const media = d.Protocol === 'NVMe' ? 'nvme' : d.MediaType === 'SSD' ? 'ssd' : d.MediaType === 'HDD' ? 'hdd' : 'unknown';
      return {
        name: String(d.Name ?? d.Id ?? 'disk'),
        sizeGiB: typeof d.CapacityBytes === 'number' ? Math.round((d.CapacityBytes / 2 ** 30) * 10) / 10 : null,
        model: typeof d.Model === 'string' ? d.Model : null,
        serial: typeof d.SerialNumber === 'string' ? d.SerialNumber : null,
        mediaType: media,
      };
    });
  }

  /**
   * The machine's NICs: physical interfaces with a MAC, without VLAN/virtual interfaces (they
   * repeat their parent's MAC) and without the Redfish host interface, the USB/virtual NIC that
   * links the host to its own BMC (DSP0270) and never carries provisioning traffic.
   */
  private async nics(system: RedfishDoc, manager: RedfishDoc | null, signal: AbortSignal | undefined): Promise<NicFact[]> {
    const path = odataId(system.EthernetInterfaces);
    if (!path) return [];
    const hostInterfaces = new Set<string>();
    const hostInterfacesPath = odataId(manager?.HostInterfaces);
    if (hostInterfacesPath) {
      for (const hi of await this.members(hostInterfacesPath, signal)) {
        const list = odataId(hi.HostEthernetInterfaces);
        if (!list) continue;
        const collection = await this.tryGet(list, signal);
        for (const member of links(collection?.Members)) hostInterfaces.add(stripSlash(member));
      }
    }
    const seen = new Set<string>();
    const out: NicFact[] = [];
    for (const nic of await this.members(path, signal)) {
      const id = typeof nic['@odata.id'] === 'string' ? stripSlash(nic['@odata.id']) : '';
      if (nic.EthernetInterfaceType === 'Virtual' || hostInterfaces.has(id)) continue;
      const mac = normaliseMac(nic.PermanentMACAddress) ?? normaliseMac(nic.MACAddress);
      if (!mac || seen.has(mac)) continue;
      seen.add(mac);
      out.push({
        name: String(nic.Id ?? nic.Name ?? mac),
        mac,
        speedMbps: typeof nic.SpeedMbps === 'number' ? nic.SpeedMbps : null,
        linkUp: nic.LinkStatus === undefined ? null : nic.LinkStatus === 'LinkUp',
      });
    }
    return out;
  }

  private async manager(system: RedfishDoc, signal: AbortSignal | undefined): Promise<RedfishDoc | null> {
    const manager = links((system.Links as RedfishDoc | undefined)?.ManagedBy)[0];
    return manager ? this.tryGet(manager, signal) : null;
  }

  async health(opts?: { since?: string | null }, ctx?: BmcCallContext): Promise<HealthReport> {
    const signal = ctx?.signal;
    const { d, system } = await this.system(signal);
    const components: ComponentHealth[] = [systemHealth(system)];
    const [processors, memory, drives, chassis, logs] = await Promise.all([
      this.processorDocs(system, signal),
      this.memoryDocs(system, signal),
      this.driveDocs(system, signal),
      this.chassisHealth(system, signal),
      this.logEntries(system, opts?.since ?? null, signal),
    ]);
    for (const p of processors) {
      const c = partHealth(p, 'cpu', 'cpu');
      if (c) components.push(c);
    }
    for (const m of memory) {
      const c = partHealth(m, 'memory', 'memory');
      if (c) components.push(c);
    }
    drives.forEach((drive, i) => {
      const c = driveHealth(drive, `drive${i}`);
      if (c) components.push(c);
    });
    components.push(...chassis, ...d.adapter.oemHealth(system));
    for (const e of logs) {
      if (e.severity === 'ok') continue;
      components.push({ component: `log:${e.id}`, kind: 'log', status: e.severity, reading: null, message: e.message });
    }
    return { components, logEntries: logs };
  }

  private async chassisHealth(system: RedfishDoc, signal: AbortSignal | undefined): Promise<ComponentHealth[]> {
    const out: ComponentHealth[] = [];
    for (const path of links((system.Links as RedfishDoc | undefined)?.Chassis)) {
      const chassis = await this.tryGet(path, signal);
      if (!chassis) continue;
      const id = String(chassis.Id ?? path.split('/').pop());
      const [thermal, power] = await Promise.all([
        odataId(chassis.Thermal) ? this.tryGet(odataId(chassis.Thermal)!, signal) : null,
        odataId(chassis.Power) ? this.tryGet(odataId(chassis.Power)!, signal) : null,
      ]);
      const list = (doc: RedfishDoc | null, key: string): RedfishDoc[] => (Array.isArray(doc?.[key]) ? (doc![key] as RedfishDoc[]) : []);
      const push = (c: ComponentHealth | null): void => {
        if (c) out.push(c);
      };
      list(thermal, 'Temperatures').forEach((t) => push(temperatureHealth(t, id)));
      list(thermal, 'Fans').forEach((f) => push(fanHealth(f, id)));
      list(thermal, 'Redundancy').forEach((r) => push(redundancyHealth(r, id, 'fan')));
      list(power, 'PowerSupplies').forEach((p) => push(psuHealth(p, id)));
      list(power, 'Voltages').forEach((v) => push(voltageHealth(v, id)));
      list(power, 'Redundancy').forEach((r) => push(redundancyHealth(r, id, 'psu')));
      // Newer services (Redfish 2020.4+, OpenBMC) deprecate or drop Thermal/Power in favour of
      // Sensors, ThermalSubsystem and PowerSubsystem; read those only where the legacy one is missing.
      if (!thermal) {
        const sensorsPath = odataId(chassis.Sensors);
        if (sensorsPath) (await this.members(sensorsPath, signal)).forEach((x) => push(sensorHealth(x, id)));
        const thermalSub = odataId(chassis.ThermalSubsystem) ? await this.tryGet(odataId(chassis.ThermalSubsystem)!, signal) : null;
        const fansPath = odataId(thermalSub?.Fans);
        if (fansPath) (await this.members(fansPath, signal)).forEach((f) => push(fanHealth(f, id)));
      }
      if (!power) {
        const powerSub = odataId(chassis.PowerSubsystem) ? await this.tryGet(odataId(chassis.PowerSubsystem)!, signal) : null;
        const psusPath = odataId(powerSub?.PowerSupplies);
        if (psusPath) (await this.members(psusPath, signal)).forEach((p) => push(psuHealth(p, id)));
      }
    }
    return out;
  }

  private async logEntries(system: RedfishDoc, since: string | null, signal: AbortSignal | undefined): Promise<NonNullable<HealthReport['logEntries']>> {
    const servicesPath = odataId(system.LogServices);
    if (!servicesPath) return [];
    const out: NonNullable<HealthReport['logEntries']> = [];
    for (const service of await this.members(servicesPath, signal)) {
      const entriesPath = odataId(service.Entries);
      if (!entriesPath) continue;
      const serviceId = String(service.Id ?? entriesPath.split('/').slice(-2, -1)[0]);
      for (const entry of await this.members(entriesPath, signal)) {
        if (!isNewLogEntry(entry, since)) continue;
        const severity = logSeverity(entry);
        out.push({
          id: `${serviceId}/${String(entry.Id ?? out.length)}`,
          at: typeof entry.Created === 'string' ? entry.Created : null,
          severity,
          message: String(entry.Message ?? entry.Name ?? 'log entry'),
        });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The driver factory the registry uses. */
export function createRedfishDriver(endpoint: BmcEndpoint, opts: RedfishDriverOptions = {}): RedfishDriver {
  return new RedfishDriver(endpoint, opts);
}
