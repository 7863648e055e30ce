import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Mockup, RedfishDoc } from './mockups.js';

/**
 * One simulated BMC: the shared, frozen mockup documents plus this instance's small overlay
 * (power and boot state, sessions, health changes, serial and MACs, injected faults). Requests
 * render the mockup document through the overlay; nothing in the mockup is ever mutated.
 */

export type SimFault =
  | { kind: 'latency'; ms: number }
  | { kind: 'http-error'; status?: number; message?: string }
  | { kind: 'auth' }
  | { kind: 'hang' }
  | { kind: 'malformed-json' };

export interface SimFaultOptions {
  /** Only requests whose path contains this string (or matches the RegExp). */
  path?: string | RegExp;
  /** Only requests with this HTTP method. */
  method?: string;
  /** Fault this many matching requests, then clear; forever when omitted. */
  times?: number;
}

export type SimHealthChange =
  | { kind: 'drive'; drive?: string; state: 'failed' | 'predictive' | 'ok' }
  | { kind: 'cpu-temperature'; celsius: number }
  | { kind: 'psu'; index?: number; state: 'failed' | 'ok' }
  | { kind: 'log'; severity: 'OK' | 'Warning' | 'Critical'; message: string };

/** A settled power change, as `onPowerChange` listeners see it. */
export interface SimPowerChange {
  systemId: string;
  /** The new PowerState (`On` / `Off`). */
  power: string;
  /** The ResetType that caused it (`On`, `ForceOff`, `PowerCycle`, ...). */
  cause: string;
  /** The boot override in force at this change, before a one-time override is consumed. */
  boot: RedfishDoc;
}

export interface SimInstanceOptions {
  index: number;
  mockup: Mockup;
  serial: string;
  macs: string[];
  username: string;
  password: string;
  /** Delay before a reset changes PowerState (the transitional state shows meanwhile). */
  powerDelayMs: number;
  /** Answer resets with 202 and a task monitor instead of 204. */
  asyncReset: boolean;
  /** Offer the SessionService; false makes clients fall back to Basic auth. */
  sessions: boolean;
  /** GracefulShutdown is accepted but the "OS" never shuts down (tests soft-off fallback). */
  ignoreGracefulShutdown: boolean;
  initialPower: 'On' | 'Off';
  /** Replaces the mockup's `ResetType@Redfish.AllowableValues` (e.g. a BMC without PowerCycle). */
  allowedResetTypes?: string[] | undefined;
  /** Service root `Vendor` (selects Anvil's vendor adapter), e.g. `HPE`, `Dell`, `Lenovo`. */
  vendor?: string | undefined;
  /** `weak`: ETags are `W/"..."`, which If-Match (strong comparison, RFC 9110 §13.1.1) never matches. */
  etagStyle?: 'strong' | 'weak' | undefined;
  /** Answer 428 to a PATCH without If-Match (as Lenovo XCC does). */
  requireIfMatch?: boolean | undefined;
  /** false: no deprecated Chassis Thermal/Power resources, only Sensors/ThermalSubsystem/PowerSubsystem. */
  legacyThermalPower?: boolean | undefined;
}

interface SystemState {
  power: string;
  boot: RedfishDoc;
  version: number;
  timer: NodeJS.Timeout | null;
}

interface LogEntry {
  Id: string;
  Severity: string;
  Message: string;
  Created: string;
}

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'odata-version': '4.0', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
};

function redfishError(status: number, messageId: string, message: string, resolution?: string): RedfishDoc {
  return {
    error: {
      code: 'Base.1.18.GeneralError',
      message: 'A general error has occurred. See ExtendedInfo for more information.',
      '@Message.ExtendedInfo': [{ MessageId: `Base.1.18.${messageId}`, Message: message, Severity: status >= 500 ? 'Critical' : 'Warning', Resolution: resolution ?? 'None.' }],
    },
  };
}

const safeEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export class RedfishSimInstance {
  port = 0;
  host = '127.0.0.1';
  readonly index: number;
  readonly serial: string;
  /** MACs of the machine's physical NICs (what DHCP will see), lower-case colon form. */
  readonly macs: string[];
  readonly systemIds: string[];
  /** Counters for tests and the benchmark. */
  readonly stats = { requests: 0, sessionsCreated: 0, sessionsDeleted: 0, maxConcurrent: 0, resets: [] as string[], patches: 0 };
  private active = 0;
  private readonly systems = new Map<string, SystemState>();
  private readonly sessions = new Map<string, { id: string; token: string; user: string }>();
  private nextSessionId = 1;
  private readonly tasks = new Map<string, { doneAt: number; resetType: string }>();
  private nextTaskId = 1;
  private faults: (SimFault & SimFaultOptions)[] = [];
  private readonly driveOverlay = new Map<string, 'failed' | 'predictive' | 'ok'>();
  private readonly psuOverlay = new Map<number, 'failed' | 'ok'>();
  private cpuTempC: number | null = null;
  private readonly addedLog: LogEntry[] = [];
  private nextLogId = 1000;
  private readonly macByPath = new Map<string, string>();
  private readonly hung = new Set<ServerResponse>();
  private readonly powerListeners = new Set<(change: SimPowerChange) => void>();

  constructor(private readonly opts: SimInstanceOptions) {
    this.index = opts.index;
    this.serial = opts.serial;
    this.systemIds = opts.mockup.systems.map((p) => p.split('/').pop()!);
    for (const path of opts.mockup.systems) {
      const doc = opts.mockup.docs.get(path)!;
      const boot = { ...((doc.Boot as RedfishDoc | undefined) ?? {}) };
      this.systems.set(path, { power: opts.initialPower, boot, version: 1, timer: null });
    }
    // Every distinct mockup MAC gets a generated one, so a fleet looks like distinct machines to
    // DHCP and inventory; interfaces sharing a MAC (a VLAN on its parent NIC) keep sharing it.
    // `macs` lists the machine's physical NICs (not VLANs, not the host interface to the BMC).
    const hostInterfaces = new Set<string>();
    for (const [path, doc] of opts.mockup.docs) {
      if (path.endsWith('/HostEthernetInterfaces') && Array.isArray(doc.Members)) {
        for (const m of doc.Members as RedfishDoc[]) hostInterfaces.add(String(m['@odata.id']));
      }
    }
    const supplied = [...opts.macs];
    const byOriginal = new Map<string, string>();
    const physical: string[] = [];
    const others: string[] = [];
    const nicPaths = [...opts.mockup.docs.keys()]
      .filter((p) => p.includes('/Systems/') && /EthernetInterface\./.test(String(opts.mockup.docs.get(p)!['@odata.type'])) && opts.mockup.docs.get(p)!.MACAddress !== undefined)
      .sort();
    const isPhysical = (p: string): boolean => opts.mockup.docs.get(p)!.EthernetInterfaceType !== 'Virtual' && !hostInterfaces.has(p);
    let generatedCount = 0;
    for (const path of [...nicPaths.filter(isPhysical), ...nicPaths.filter((p) => !isPhysical(p))]) {
      const doc = opts.mockup.docs.get(path)!;
      const original = String(doc.PermanentMACAddress ?? doc.MACAddress).toLowerCase();
      let mac = byOriginal.get(original);
      if (!mac) {
        mac = supplied.shift() ?? generatedMac(opts.index, 0x80 + generatedCount++);
        byOriginal.set(original, mac);
        (isPhysical(path) ? physical : others).push(mac);
      }
      this.macByPath.set(path, mac);
    }
    this.macs = physical;
  }

  /** Paths of the mockup's ComputerSystems. */
  get systemPaths(): string[] {
    return [...this.systems.keys()];
  }

  private systemPath(systemId?: string): string {
    const path = systemId ? this.systemPaths.find((p) => p.endsWith(`/${systemId}`)) : this.systemPaths[0];
    if (!path) throw new Error(`simulated BMC ${this.index}: no system ${systemId ?? ''}`);
    return path;
  }

  /** Sets PowerState directly (test set-up), cancelling any pending transition. */
  setPower(state: 'On' | 'Off', systemId?: string): void {
    const s = this.systems.get(this.systemPath(systemId))!;
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    s.power = state;
  }

  powerState(systemId?: string): string {
    return this.systems.get(this.systemPath(systemId))!.power;
  }

  bootOverride(systemId?: string): RedfishDoc {
    return { ...this.systems.get(this.systemPath(systemId))!.boot };
  }

  etag(systemId?: string): string {
    return this.etagOf(this.systemPath(systemId));
  }

  private etagOf(path: string): string {
    const tag = `"${this.serial}-${path.split('/').pop()}-${this.systems.get(path)!.version}"`;
    return this.opts.etagStyle === 'weak' ? `W/${tag}` : tag;
  }

  /**
   * Calls `listener` whenever a system's PowerState settles (after any power delay), with the
   * boot override that applied to that power-on (a one-time override is consumed right after).
   * Returns the function that removes the listener. The lab's simulated machines boot from this.
   */
  onPowerChange(listener: (change: SimPowerChange) => void): () => void {
    this.powerListeners.add(listener);
    return () => this.powerListeners.delete(listener);
  }

  /** True while any fault is injected (a machine behind a broken BMC does nothing). */
  get hasFaults(): boolean {
    return this.faults.length > 0;
  }

  /** Live session count. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Forgets every session, as a BMC does on session timeout or reboot. */
  expireSessions(): void {
    this.sessions.clear();
  }

  injectFault(fault: SimFault, opts: SimFaultOptions = {}): void {
    this.faults.push({ ...fault, ...opts });
  }

  clearFaults(): void {
    this.faults = [];
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  setHealth(change: SimHealthChange): void {
    const now = new Date().toISOString();
    switch (change.kind) {
      case 'drive': {
        const drive = change.drive ?? this.driveNames()[0];
        if (!drive) throw new Error('this mockup has no drives');
        this.driveOverlay.set(drive, change.state);
        if (change.state !== 'ok') this.addLog(change.state === 'failed' ? 'Critical' : 'Warning', `Drive ${drive} ${change.state === 'failed' ? 'failed' : 'reports a predictive failure'}`, now);
        break;
      }
      case 'cpu-temperature':
        this.cpuTempC = change.celsius;
        break;
      case 'psu':
        this.psuOverlay.set(change.index ?? 0, change.state);
        if (change.state === 'failed') this.addLog('Critical', `Power supply ${change.index ?? 0} lost input`, now);
        break;
      case 'log':
        this.addLog(change.severity, change.message, now);
        break;
    }
  }

  private addLog(severity: string, message: string, created: string): void {
    this.addedLog.push({ Id: String(this.nextLogId++), Severity: severity, Message: message, Created: created });
  }

  /** Drive ids (Storage) or device names (SimpleStorage) of the first system, present ones only. */
  driveNames(): string[] {
    const out: string[] = [];
    for (const [, doc] of this.opts.mockup.docs) {
      if (/#Drive\./.test(String(doc['@odata.type'])) && (doc.Status as RedfishDoc | undefined)?.State !== 'Absent') {
        if (!out.includes(String(doc.Id))) out.push(String(doc.Id));
      }
    }
    if (out.length > 0) return out;
    for (const [path, doc] of this.opts.mockup.docs) {
      if (!path.startsWith(this.systemPaths[0] ?? '') || !Array.isArray(doc.Devices)) continue;
      for (const dev of doc.Devices as RedfishDoc[]) if ((dev.Status as RedfishDoc | undefined)?.State !== 'Absent') out.push(String(dev.Name));
    }
    return out;
  }

  /** The first CPU temperature Sensor (what `cpu-temperature` changes in the Sensors model). */
  private cpuSensorPath(): string | undefined {
    for (const [path, doc] of this.opts.mockup.docs) {
      if (String(doc['@odata.type']).startsWith('#Sensor.') && doc.PhysicalContext === 'CPU' && doc.ReadingUnits === 'Cel') return path;
    }
    return undefined;
  }

  /** PowerSubsystem PowerSupply paths in order (index i is the `psu` change's index). */
  private powerSupplyPaths(): string[] {
    return [...this.opts.mockup.docs.entries()].filter(([, d]) => String(d['@odata.type']).startsWith('#PowerSupply.')).map(([p]) => p);
  }

  /** Stops pending timers and hung responses (the fleet closes the server). */
  shutdown(): void {
    for (const s of this.systems.values()) if (s.timer) clearTimeout(s.timer);
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  private takeFault(method: string, path: string): SimFault | null {
    const i = this.faults.findIndex(
      (f) => (!f.method || f.method.toUpperCase() === method) && (!f.path || (typeof f.path === 'string' ? path.includes(f.path) : f.path.test(path))),
    );
    if (i < 0) return null;
    const f = this.faults[i]!;
    if (f.times !== undefined) {
      f.times -= 1;
      if (f.times <= 0) this.faults.splice(i, 1);
    }
    return f;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.stats.requests += 1;
    this.active += 1;
    this.stats.maxConcurrent = Math.max(this.stats.maxConcurrent, this.active);
    res.once('close', () => {
      this.active -= 1;
    });
    const url = new URL(req.url ?? '/', 'http://sim');
    let path = decodeURIComponent(url.pathname).replace(/\/+$/, '') || '/';
    if (path === '/redfish/v1/') path = '/redfish/v1';
    const body = await readBody(req);

    let fault = this.takeFault(req.method ?? 'GET', path);
    if (fault?.kind === 'latency') {
      const ms = fault.ms;
      await new Promise((r) => setTimeout(r, ms));
      fault = null;
    }
    if (fault?.kind === 'hang') {
      this.hung.add(res);
      res.once('close', () => this.hung.delete(res));
      return;
    }
    if (fault?.kind === 'http-error') {
      const status = fault.status ?? 500;
      return sendJson(res, status, redfishError(status, 'InternalError', fault.message ?? 'The request failed due to an internal service error.  The service is still operational.', 'Resubmit the request.  If the problem persists, consider resetting the service.'));
    }
    if (fault?.kind === 'malformed-json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"@odata.id": "/redfish/v1/Systems", "Members": [{"@odata.id": ');
      return;
    }
    const authFault = fault?.kind === 'auth';

    if (path === '/redfish') return sendJson(res, 200, { v1: '/redfish/v1/' });
    if (path === '/redfish/v1' && req.method === 'GET') {
      const root = this.render(path)!;
      return sendJson(res, 200, this.opts.vendor ? { ...root, Vendor: this.opts.vendor } : root);
    }

    if (path === '/redfish/v1/SessionService/Sessions' && req.method === 'POST') {
      if (!this.opts.sessions) return sendJson(res, 405, redfishError(405, 'OperationNotAllowed', 'Sessions are not supported by this service.'));
      const creds = parseJson(body) as { UserName?: unknown; Password?: unknown } | null;
      if (authFault || !creds || creds.UserName !== this.opts.username || typeof creds.Password !== 'string' || !safeEqual(creds.Password, this.opts.password)) {
        return sendJson(res, 401, redfishError(401, 'ResourceAtUriUnauthorized', 'While accessing the resource at /redfish/v1/SessionService/Sessions, the service received an authorization error.'));
      }
      const id = String(this.nextSessionId++);
      const token = randomBytes(16).toString('hex');
      this.sessions.set(id, { id, token, user: creds.UserName as string });
      this.stats.sessionsCreated += 1;
      const location = `/redfish/v1/SessionService/Sessions/${id}`;
      return sendJson(res, 201, { '@odata.id': location, '@odata.type': '#Session.v1_7_0.Session', Id: id, Name: 'User Session', UserName: creds.UserName }, { 'x-auth-token': token, location });
    }

    const session = this.authenticate(req);
    if (authFault || session === false) {
      return sendJson(res, 401, redfishError(401, 'ResourceAtUriUnauthorized', `While accessing the resource at ${path}, the service received an authorization error.`), { 'www-authenticate': 'Basic realm="Redfish"' });
    }

    if (path.startsWith('/redfish/v1/SessionService/Sessions/')) {
      const id = path.split('/').pop()!;
      const s = this.sessions.get(id);
      if (!s) return sendJson(res, 404, redfishError(404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`));
      if (req.method === 'DELETE') {
        this.sessions.delete(id);
        this.stats.sessionsDeleted += 1;
        return sendJson(res, 204, undefined);
      }
      return sendJson(res, 200, { '@odata.id': path, '@odata.type': '#Session.v1_7_0.Session', Id: id, Name: 'User Session', UserName: s.user });
    }
    if (path.startsWith('/redfish/v1/TaskService/TaskMonitors/') && req.method === 'GET') {
      const id = path.split('/').pop()!;
      const task = this.tasks.get(id);
      if (!task) return sendJson(res, 404, redfishError(404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`));
      const running = Date.now() < task.doneAt;
      const doc = { '@odata.id': `/redfish/v1/TaskService/Tasks/${id}`, '@odata.type': '#Task.v1_7_0.Task', Id: id, Name: `Reset ${task.resetType}`, TaskState: running ? 'Running' : 'Completed', TaskStatus: 'OK', PercentComplete: running ? 50 : 100 };
      return sendJson(res, running ? 202 : 200, doc, running ? { location: path } : {});
    }
    const systemMatch = this.systems.has(path) ? path : null;
    if (req.method === 'PATCH') {
      if (!systemMatch) return sendJson(res, 405, redfishError(405, 'OperationNotAllowed', `PATCH is not allowed on ${path} in this simulator.`));
      return this.patchSystem(systemMatch, req, body, res);
    }
    if (req.method === 'POST') {
      const m = /^(.*)\/Actions\/ComputerSystem\.Reset$/.exec(path);
      if (m && this.systems.has(m[1]!)) return this.reset(m[1]!, body, res);
      return sendJson(res, 405, redfishError(405, 'OperationNotAllowed', `POST is not allowed on ${path} in this simulator.`));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, redfishError(405, 'OperationNotAllowed', `${req.method} is not allowed on ${path}.`));
    const doc = this.render(path);
    if (!doc) return sendJson(res, 404, redfishError(404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`, 'Place a valid resource at the URI or correct the URI and resubmit the request.'));
    return sendJson(res, 200, doc, systemMatch ? { etag: this.etagOf(systemMatch) } : {});
  }

  /** The session, `null` for valid Basic auth, or false when unauthenticated. */
  private authenticate(req: IncomingMessage): { id: string } | null | false {
    const token = req.headers['x-auth-token'];
    if (typeof token === 'string') {
      for (const s of this.sessions.values()) if (safeEqual(s.token, token)) return s;
      return false;
    }
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && auth.startsWith('Basic ')) {
      const [user, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      if (user === this.opts.username && safeEqual(rest.join(':'), this.opts.password)) return null;
    }
    return false;
  }

  private patchSystem(path: string, req: IncomingMessage, body: string, res: ServerResponse): void {
    const state = this.systems.get(path)!;
    const ifMatch = req.headers['if-match'];
    if (ifMatch === undefined && this.opts.requireIfMatch) {
      return sendJson(res, 428, redfishError(428, 'PreconditionRequired', 'A precondition header or annotation is required to change this resource.', 'Try the request again with an If-Match header.'));
    }
    const current = this.etagOf(path);
    if (typeof ifMatch === 'string' && ifMatch !== '*' && (ifMatch !== current || current.startsWith('W/'))) {
      return sendJson(res, 412, redfishError(412, 'PreconditionFailed', 'The ETag supplied did not match the ETag required to change this resource.', 'Try the operation again using the appropriate ETag.'));
    }
    const patch = parseJson(body) as RedfishDoc | null;
    if (!patch || typeof patch !== 'object') return sendJson(res, 400, redfishError(400, 'MalformedJSON', 'The request body submitted was malformed JSON and could not be parsed by the receiving service.'));
    const unknown = Object.keys(patch).filter((k) => k !== 'Boot' && k !== '@odata.etag');
    if (unknown.length > 0) return sendJson(res, 400, redfishError(400, 'PropertyNotWritable', `The property ${unknown[0]} is a read only property and cannot be assigned a value.`));
    const boot = (patch.Boot ?? {}) as RedfishDoc;
    const allowedTargets = (state.boot['BootSourceOverrideTarget@Redfish.AllowableValues'] as string[] | undefined) ?? ['None', 'Pxe', 'Hdd', 'BiosSetup'];
    for (const [key, value] of Object.entries(boot)) {
      const allowed =
        key === 'BootSourceOverrideTarget' ? allowedTargets
        : key === 'BootSourceOverrideEnabled' ? ['Once', 'Continuous', 'Disabled']
        : key === 'BootSourceOverrideMode' && 'BootSourceOverrideMode' in state.boot ? ['UEFI', 'Legacy']
        : null;
      if (!allowed) return sendJson(res, 400, redfishError(400, 'PropertyUnknown', `The property ${key} is not in the list of valid properties for the resource.`));
      if (typeof value !== 'string' || !allowed.includes(value)) {
        return sendJson(res, 400, redfishError(400, 'PropertyValueNotInList', `The value '${String(value)}' for the property ${key} is not in the list of acceptable values.`, 'Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.'));
      }
    }
    Object.assign(state.boot, boot);
    state.version += 1;
    this.stats.patches += 1;
    res.setHeader('etag', this.etagOf(path));
    return sendJson(res, 204, undefined);
  }

  private reset(path: string, body: string, res: ServerResponse): void {
    const state = this.systems.get(path)!;
    const doc = this.opts.mockup.docs.get(path)!;
    const action = (doc.Actions as RedfishDoc | undefined)?.['#ComputerSystem.Reset'] as RedfishDoc | undefined;
    const allowed = this.opts.allowedResetTypes ?? (action?.['ResetType@Redfish.AllowableValues'] as string[] | undefined) ?? ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart'];
    const resetType = (parseJson(body) as { ResetType?: unknown } | null)?.ResetType;
    if (typeof resetType !== 'string' || !allowed.includes(resetType)) {
      return sendJson(res, 400, redfishError(400, 'ActionParameterNotSupported', `The parameter ResetType for the action ComputerSystem.Reset is not supported on the target resource (got ${JSON.stringify(resetType)}).`));
    }
    this.stats.resets.push(resetType);
    const on = state.power === 'On' || state.power === 'PoweringOn';
    const transition = (via: string, to: string): void => {
      if (state.timer) clearTimeout(state.timer);
      state.timer = null;
      const finish = (): void => {
        state.power = to;
        state.timer = null;
        const change: SimPowerChange = { systemId: path.split('/').pop()!, power: to, cause: resetType, boot: { ...state.boot } };
        for (const listener of this.powerListeners) listener(change);
        if (to === 'On' && state.boot.BootSourceOverrideEnabled === 'Once') {
          // A one-time override is consumed by the boot it applied to.
          state.boot.BootSourceOverrideEnabled = 'Disabled';
          state.boot.BootSourceOverrideTarget = 'None';
          state.version += 1;
        }
      };
      if (this.opts.powerDelayMs <= 0) return finish();
      state.power = via;
      state.timer = setTimeout(finish, this.opts.powerDelayMs);
      state.timer.unref();
    };
    switch (resetType) {
      case 'On':
      case 'ForceOn':
        if (!on) transition('PoweringOn', 'On');
        break;
      case 'ForceOff':
        if (on) transition('PoweringOff', 'Off');
        break;
      case 'GracefulShutdown':
        if (on && !this.opts.ignoreGracefulShutdown) transition('PoweringOff', 'Off');
        break;
      case 'PushPowerButton':
        if (on && !this.opts.ignoreGracefulShutdown) transition('PoweringOff', 'Off');
        else if (!on) transition('PoweringOn', 'On');
        break;
      case 'ForceRestart':
      case 'GracefulRestart':
      case 'PowerCycle':
        transition('PoweringOn', 'On');
        break;
      default:
        break;
    }
    if (this.opts.asyncReset) {
      const id = String(this.nextTaskId++);
      this.tasks.set(id, { doneAt: Date.now() + this.opts.powerDelayMs, resetType });
      const monitor = `/redfish/v1/TaskService/TaskMonitors/${id}`;
      return sendJson(res, 202, { '@odata.id': `/redfish/v1/TaskService/Tasks/${id}`, TaskState: 'Running' }, { location: monitor });
    }
    return sendJson(res, 204, undefined);
  }

  /** A mockup document with this instance's overlay applied, or null when there is none. */
  render(path: string): RedfishDoc | null {
    if (path === '/redfish/v1/SessionService/Sessions') {
      const members = [...this.sessions.keys()].map((id) => ({ '@odata.id': `${path}/${id}` }));
      return { '@odata.id': path, '@odata.type': '#SessionCollection.SessionCollection', Name: 'Session Collection', Members: members, 'Members@odata.count': members.length };
    }
    const added = this.addedLog.find((e) => path.endsWith(`/Entries/${e.Id}`) && this.opts.mockup.docs.has(path.slice(0, path.lastIndexOf('/'))));
    if (added) return this.logEntryDoc(path.slice(0, path.lastIndexOf('/')), added);
    if (!this.opts.sessions && path === '/redfish/v1/SessionService') return null;
    if (this.opts.legacyThermalPower === false && /^\/redfish\/v1\/Chassis\/[^/]+\/(Thermal|Power)$/.test(path)) return null;
    const doc = this.opts.mockup.docs.get(path);
    if (!doc) return null;
    const type = String(doc['@odata.type'] ?? '');
    const system = this.systems.get(path);
    if (system) {
      const i = this.systemPaths.indexOf(path);
      const actions = doc.Actions as RedfishDoc | undefined;
      const reset = actions?.['#ComputerSystem.Reset'] as RedfishDoc | undefined;
      return {
        ...doc,
        ...(this.opts.allowedResetTypes && reset
          ? { Actions: { ...actions, '#ComputerSystem.Reset': { ...reset, 'ResetType@Redfish.AllowableValues': this.opts.allowedResetTypes } } }
          : {}),
        PowerState: system.power,
        Boot: { ...(doc.Boot as RedfishDoc | undefined), ...system.boot },
        SerialNumber: i === 0 ? this.serial : `${this.serial}-${i}`,
        '@odata.etag': this.etagOf(path),
      };
    }
    if (this.macByPath.has(path)) {
      const mac = this.macByPath.get(path)!.toUpperCase();
      return { ...doc, MACAddress: mac, ...(doc.PermanentMACAddress !== undefined ? { PermanentMACAddress: mac } : {}) };
    }
    if (type.startsWith('#Chassis.')) {
      let copy: RedfishDoc = doc;
      if (doc.SerialNumber === this.opts.mockup.docs.get(this.systemPaths[0] ?? '')?.SerialNumber) copy = { ...copy, SerialNumber: this.serial };
      if (this.opts.legacyThermalPower === false) {
        copy = { ...copy };
        for (const key of ['Thermal', 'Power', 'Thermal@Redfish.Deprecated', 'Power@Redfish.Deprecated']) delete copy[key];
      }
      return copy;
    }
    if (type.startsWith('#Sensor.') && this.cpuTempC !== null && doc.PhysicalContext === 'CPU' && doc.ReadingUnits === 'Cel' && path === this.cpuSensorPath()) {
      const reading = this.cpuTempC;
      const t = doc.Thresholds as Record<string, { Reading?: number }> | undefined;
      const crit = t?.UpperCritical?.Reading ?? Infinity;
      const warn = t?.UpperCaution?.Reading ?? Infinity;
      return { ...doc, Reading: reading, Status: { State: 'Enabled', Health: reading >= crit ? 'Critical' : reading >= warn ? 'Warning' : 'OK' } };
    }
    if (type.startsWith('#PowerSupply.') && this.psuOverlay.size > 0) {
      const overlay = this.psuOverlay.get(this.powerSupplyPaths().indexOf(path));
      if (overlay === 'failed') return { ...doc, Status: { State: 'UnavailableOffline', Health: 'Critical' }, LineInputStatus: 'LossOfInput' };
      if (overlay === 'ok') return { ...doc, Status: { State: 'Enabled', Health: 'OK' } };
      return doc;
    }
    if (type.startsWith('#Drive.')) {
      const overlay = this.driveOverlay.get(String(doc.Id));
      if (overlay) return { ...doc, Status: { ...(doc.Status as RedfishDoc), Health: overlay === 'failed' ? 'Critical' : 'OK' }, FailurePredicted: overlay === 'predictive' };
      return doc;
    }
    if (Array.isArray(doc.Devices) && this.driveOverlay.size > 0) {
      return {
        ...doc,
        Devices: (doc.Devices as RedfishDoc[]).map((dev) => {
          const overlay = this.driveOverlay.get(String(dev.Name));
          if (!overlay) return dev;
          return { ...dev, Status: { ...(dev.Status as RedfishDoc), Health: overlay === 'failed' ? 'Critical' : overlay === 'predictive' ? 'Warning' : 'OK' } };
        }),
      };
    }
    if (type.startsWith('#Thermal.') && this.cpuTempC !== null) {
      const temps = (doc.Temperatures as RedfishDoc[] | undefined) ?? [];
      const cpu = temps.findIndex((t) => t.PhysicalContext === 'CPU' && (t.Status as RedfishDoc | undefined)?.State !== 'Disabled');
      return {
        ...doc,
        Temperatures: temps.map((t, i) => {
          if (i !== cpu) return t;
          const reading = this.cpuTempC!;
          const crit = typeof t.UpperThresholdCritical === 'number' ? t.UpperThresholdCritical : Infinity;
          const warn = typeof t.UpperThresholdNonCritical === 'number' ? t.UpperThresholdNonCritical : Infinity;
          return { ...t, ReadingCelsius: reading, Status: { ...(t.Status as RedfishDoc), Health: reading >= crit ? 'Critical' : reading >= warn ? 'Warning' : 'OK' } };
        }),
      };
    }
    if (type.startsWith('#Power.') && this.psuOverlay.size > 0) {
      const psus = (doc.PowerSupplies as RedfishDoc[] | undefined) ?? [];
      return {
        ...doc,
        PowerSupplies: psus.map((p, i) => {
          const overlay = this.psuOverlay.get(i);
          if (!overlay) return p;
          return overlay === 'failed'
            ? { ...p, Status: { State: 'UnavailableOffline', Health: 'Critical' }, LastPowerOutputWatts: 0 }
            : { ...p, Status: { State: 'Enabled', Health: 'OK' } };
        }),
      };
    }
    if (type.startsWith('#LogEntryCollection.')) {
      const members = [...((doc.Members as RedfishDoc[] | undefined) ?? []), ...this.addedLog.map((e) => this.logEntryDoc(path, e))];
      const copy: RedfishDoc = { ...doc, Members: members, 'Members@odata.count': members.length };
      // The mockup advertises a next page it does not contain.
      delete copy['@odata.nextLink'];
      return copy;
    }
    if (doc['@odata.nextLink'] !== undefined) {
      const copy = { ...doc };
      delete copy['@odata.nextLink'];
      return copy;
    }
    return doc;
  }

  private logEntryDoc(collection: string, e: LogEntry): RedfishDoc {
    return { '@odata.id': `${collection}/${e.Id}`, '@odata.type': '#LogEntry.v1_15_0.LogEntry', Id: e.Id, Name: `Log Entry ${e.Id}`, EntryType: 'Event', Severity: e.Severity, Created: e.Created, Message: e.Message };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'DELETE') {
    req.resume();
    return Promise.resolve('');
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1 << 20) chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

/** A locally administered unicast MAC unique per (instance, interface). */
export function generatedMac(instance: number, nic: number): string {
  const bytes = [0x02, 0x52, 0x46, (instance >> 8) & 0xff, instance & 0xff, nic & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
