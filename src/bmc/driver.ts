/**
 * The contract every BMC protocol implements (Redfish, IPMI lanplus, the fake used by tests and
 * the lab). Orchestration code talks only to this interface; no protocol detail leaks past it.
 *
 * Every method may throw:
 * - `BmcUnreachableError` — timeout, refused connection, TLS failure or fingerprint mismatch;
 * - `BmcAuthError` — the BMC rejected the credentials;
 * - `BmcError` — the BMC answered but the operation failed (message says what the BMC said);
 * - `UnsupportedOperationError` — the driver or this BMC cannot do it.
 * (all from `src/errors.ts`).
 */

export type BmcProtocol = 'redfish' | 'ipmi' | 'fake';

export type PowerState = 'on' | 'off' | 'unknown';

/**
 * - `on`: power on; success when already on.
 * - `off`: hard power off (immediate); success when already off.
 * - `soft-off`: ask the OS to shut down (ACPI); falls back to `off` only when the driver documents it.
 * - `cycle`: off then on; on a machine that is off, powers it on.
 * - `reset`: hard reset without removing power.
 */
export type PowerAction = 'on' | 'off' | 'soft-off' | 'cycle' | 'reset';

export type BootDevice = 'pxe' | 'disk' | 'bios';
export type BootMode = 'uefi' | 'legacy';

export interface BootDeviceRequest {
  device: BootDevice;
  /** false: next boot only (the usual choice for PXE provisioning). */
  persistent: boolean;
  mode: BootMode;
}

export interface BootDeviceState {
  device: BootDevice | 'none' | 'other';
  persistent: boolean;
  mode: BootMode | 'unknown';
}

export interface DiskFact {
  name: string;
  sizeGiB: number | null;
  model?: string | null;
  serial?: string | null;
  mediaType?: 'hdd' | 'ssd' | 'nvme' | 'unknown';
}

export interface NicFact {
  name: string;
  mac: string; // lower-case, colon separated
  speedMbps?: number | null;
  linkUp?: boolean | null;
}

export interface HardwareInventory {
  vendor: string | null;
  model: string | null;
  serial: string | null;
  biosVersion: string | null;
  bmcFirmwareVersion: string | null;
  cpus: { model: string | null; count: number; coresTotal?: number | null };
  memoryGiB: number | null;
  disks: DiskFact[];
  nics: NicFact[];
}

export type ComponentKind =
  | 'bmc'
  | 'system'
  | 'power'
  | 'cpu'
  | 'memory'
  | 'drive'
  | 'storage'
  | 'temperature'
  | 'fan'
  | 'voltage'
  | 'psu'
  | 'log'
  | 'chassis'
  | 'other';

export type ComponentStatus = 'ok' | 'warning' | 'critical' | 'unknown';

export interface ComponentHealth {
  /** Stable identifier within the machine, e.g. `drive:Disk.Bay.0`, `sensor:CPU1 Temp`. */
  component: string;
  kind: ComponentKind;
  status: ComponentStatus;
  /** A reading with its unit, e.g. `{value: 87, unit: 'Cel'}`; null when not applicable. */
  reading: { value: number; unit: string } | null;
  message: string;
}

export interface HealthReport {
  components: ComponentHealth[];
  /** Log entries (Redfish LogService / IPMI SEL) newer than `since`, when asked for. */
  logEntries?: { id: string; at: string | null; severity: ComponentStatus; message: string }[];
}

export interface BmcCallContext {
  /** Aborts the operation; drivers must stop promptly and throw BmcUnreachableError. */
  signal?: AbortSignal;
}

export interface BmcDriver {
  readonly protocol: BmcProtocol;
  /** Checks the BMC is reachable and accepts the credentials. Throws on failure. */
  verify(ctx?: BmcCallContext): Promise<void>;
  powerState(ctx?: BmcCallContext): Promise<PowerState>;
  /** Returns once the BMC confirms the new state (drivers poll where the protocol is asynchronous). */
  setPower(action: PowerAction, ctx?: BmcCallContext): Promise<void>;
  setBootDevice(req: BootDeviceRequest, ctx?: BmcCallContext): Promise<void>;
  getBootDevice(ctx?: BmcCallContext): Promise<BootDeviceState>;
  inspect(ctx?: BmcCallContext): Promise<HardwareInventory>;
  /** `sinceLogId`/`since` limit log entries to new ones since the last sweep. */
  health(opts?: { since?: string | null }, ctx?: BmcCallContext): Promise<HealthReport>;
  /** Releases sessions and sockets (Redfish session DELETE, IPMI Close Session). Idempotent. */
  close(): Promise<void>;
}

/** What a driver needs to reach one BMC; built from the machine's BMC record. */
export interface BmcEndpoint {
  protocol: BmcProtocol;
  host: string;
  port: number | null;
  username: string;
  /** Decrypted only in memory, never logged. */
  password: string;
  /** `verify` | `insecure` | `sha256:<hex fingerprint>` (Redfish TLS). */
  tls: string;
  /** Redfish ComputerSystem id or path, when the BMC exposes several. */
  systemId?: string | null;
  timeoutMs?: number;
}
