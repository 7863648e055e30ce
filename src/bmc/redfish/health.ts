import type { ComponentHealth, ComponentStatus } from '../driver.js';
import { mapHealth, type RedfishDoc } from './vendors/adapter.js';

/**
 * Pure translation of Redfish resources into ComponentHealth entries. The driver fetches; these
 * functions decide. Absent or disabled parts (Status.State `Absent`/`Disabled`) are not reported.
 */

const RANK: Record<ComponentStatus, number> = { ok: 0, unknown: 1, warning: 2, critical: 3 };

export function worst(...statuses: ComponentStatus[]): ComponentStatus {
  return statuses.reduce((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok' as ComponentStatus);
}

interface Status {
  State?: unknown;
  Health?: unknown;
  HealthRollup?: unknown;
}

function statusOf(doc: RedfishDoc): Status {
  const s = doc.Status;
  return typeof s === 'object' && s !== null ? (s as Status) : {};
}

/** Whether a part is there and in use (reported) or absent/disabled (skipped). */
export function isPresent(doc: RedfishDoc): boolean {
  const state = statusOf(doc).State;
  return state !== 'Absent' && state !== 'Disabled' && state !== 'UnavailableOffline';
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function str(v: unknown, fallback: string): string {
  return typeof v === 'string' && v.trim() ? v.trim() : fallback;
}

function describe(label: string, health: unknown): string {
  return health === undefined || health === null ? `${label}: health not reported` : `${label}: ${String(health)}`;
}

/** ComputerSystem Status: Health is the system itself, HealthRollup includes its subordinates. */
export function systemHealth(system: RedfishDoc): ComponentHealth {
  const s = statusOf(system);
  const id = str(system.Id, 'system');
  const rollup = s.HealthRollup === undefined ? '' : `, rollup ${String(s.HealthRollup)}`;
  const conditions = Array.isArray((s as { Conditions?: unknown }).Conditions)
    ? ((s as { Conditions: { Message?: unknown }[] }).Conditions.map((c) => c.Message).filter((m): m is string => typeof m === 'string'))
    : [];
  return {
    component: `system:${id}`,
    kind: 'system',
    status: mapHealth(s.Health),
    reading: null,
    message: `system ${id}: ${String(s.Health ?? 'health not reported')}${rollup}${conditions.length ? ` (${conditions.join('; ')})` : ''}`,
  };
}

export function partHealth(doc: RedfishDoc, kind: 'cpu' | 'memory', prefix: string): ComponentHealth | null {
  if (!isPresent(doc)) return null;
  const id = str(doc.Id, str(doc.Name, '?'));
  const s = statusOf(doc);
  return { component: `${prefix}:${id}`, kind, status: mapHealth(s.Health), reading: null, message: describe(`${prefix} ${id}`, s.Health) };
}

/**
 * A Drive resource (or a SimpleStorage device). `FailurePredicted` (SMART predictive failure) is
 * a warning even while Health still says OK: the drive works today and should be replaced.
 */
export function driveHealth(doc: RedfishDoc, fallbackName: string): ComponentHealth | null {
  if (!isPresent(doc)) return null;
  const name = str(doc.Id, str(doc.Name, fallbackName));
  const s = statusOf(doc);
  let status = mapHealth(s.Health);
  const notes: string[] = [`health ${String(s.Health ?? 'not reported')}`];
  if (doc.FailurePredicted === true) {
    status = worst(status, 'warning');
    notes.push('predictive failure (FailurePredicted)');
  }
  const model = typeof doc.Model === 'string' ? ` ${doc.Model}` : '';
  return { component: `drive:${name}`, kind: 'drive', status, reading: null, message: `drive ${name}${model}: ${notes.join(', ')}` };
}

/**
 * A Thermal.Temperatures entry: the worse of the BMC's own Health and our comparison of the
 * reading with its thresholds (some BMCs leave Health at OK while the reading crosses them).
 */
export function temperatureHealth(t: RedfishDoc, chassisId: string): ComponentHealth | null {
  if (!isPresent(t)) return null;
  const name = str(t.Name, str(t.MemberId, '?'));
  const reading = num(t.ReadingCelsius);
  let status = mapHealth(statusOf(t).Health);
  if (status === 'unknown' && reading !== null) status = 'ok';
  let why = '';
  if (reading !== null) {
    const upperCrit = num(t.UpperThresholdCritical) ?? num(t.UpperThresholdFatal);
    const upperWarn = num(t.UpperThresholdNonCritical);
    const lowerCrit = num(t.LowerThresholdCritical) ?? num(t.LowerThresholdFatal);
    const lowerWarn = num(t.LowerThresholdNonCritical);
    if (upperCrit !== null && reading >= upperCrit) {
      status = worst(status, 'critical');
      why = ` at or above critical threshold ${upperCrit} °C`;
    } else if (upperWarn !== null && reading >= upperWarn) {
      status = worst(status, 'warning');
      why = ` at or above non-critical threshold ${upperWarn} °C`;
    } else if (lowerCrit !== null && reading <= lowerCrit) {
      status = worst(status, 'critical');
      why = ` at or below critical threshold ${lowerCrit} °C`;
    } else if (lowerWarn !== null && reading <= lowerWarn) {
      status = worst(status, 'warning');
      why = ` at or below non-critical threshold ${lowerWarn} °C`;
    }
  }
  return {
    component: `sensor:${chassisId}:${name}`,
    kind: 'temperature',
    status,
    reading: reading === null ? null : { value: reading, unit: 'Cel' },
    message: `${name}: ${reading === null ? 'no reading' : `${reading} °C`}${why}`,
  };
}

export function fanHealth(f: RedfishDoc, chassisId: string): ComponentHealth | null {
  if (!isPresent(f)) return null;
  const name = str(f.Name, str(f.FanName, str(f.MemberId, '?')));
  const reading = num(f.Reading);
  const unit = f.ReadingUnits === 'Percent' ? '%' : 'RPM';
  let status = mapHealth(statusOf(f).Health);
  const lowerCrit = num(f.LowerThresholdCritical) ?? num(f.LowerThresholdFatal);
  if (reading !== null && lowerCrit !== null && reading <= lowerCrit && lowerCrit > 0) status = worst(status, 'critical');
  return {
    component: `fan:${chassisId}:${name}`,
    kind: 'fan',
    status,
    reading: reading === null ? null : { value: reading, unit },
    message: `${name}: ${reading === null ? 'no reading' : `${reading} ${unit}`}, health ${String(statusOf(f).Health ?? 'not reported')}`,
  };
}

export function psuHealth(p: RedfishDoc, chassisId: string): ComponentHealth | null {
  const s = statusOf(p);
  // An empty bay is not a fault; an installed PSU that is off or without input is.
  if (s.State === 'Absent') return null;
  const name = str(p.Name, str(p.MemberId, str(p.Id, '?')));
  const id = str(p.MemberId, str(p.Id, name));
  let status = mapHealth(s.Health);
  const notes = [`health ${String(s.Health ?? 'not reported')}`];
  if (s.State === 'UnavailableOffline' || s.State === 'Disabled') {
    status = worst(status, 'critical');
    notes.push(`state ${String(s.State)}`);
  }
  const watts = num(p.LastPowerOutputWatts);
  return {
    component: `psu:${chassisId}:${id}`,
    kind: 'psu',
    status,
    reading: watts === null ? null : { value: watts, unit: 'W' },
    message: `${name} ${id}: ${notes.join(', ')}`,
  };
}

export function voltageHealth(v: RedfishDoc, chassisId: string): ComponentHealth | null {
  if (!isPresent(v)) return null;
  const name = str(v.Name, str(v.MemberId, '?'));
  const reading = num(v.ReadingVolts);
  let status = mapHealth(statusOf(v).Health);
  if (reading !== null) {
    const hiC = num(v.UpperThresholdCritical);
    const loC = num(v.LowerThresholdCritical);
    if ((hiC !== null && reading >= hiC) || (loC !== null && reading <= loC)) status = worst(status, 'critical');
  }
  return {
    component: `sensor:${chassisId}:${name}`,
    kind: 'voltage',
    status,
    reading: reading === null ? null : { value: reading, unit: 'V' },
    message: `${name}: ${reading === null ? 'no reading' : `${reading} V`}`,
  };
}

/** Redundancy groups (Power.Redundancy / Thermal.Redundancy): lost redundancy is a warning. */
export function redundancyHealth(r: RedfishDoc, chassisId: string, kind: 'psu' | 'fan'): ComponentHealth | null {
  if (!isPresent(r)) return null;
  const name = str(r.Name, str(r.MemberId, '?'));
  const s = statusOf(r);
  return {
    component: `redundancy:${chassisId}:${name}`,
    kind,
    status: mapHealth(s.Health),
    reading: null,
    message: `${name} (${String(r.Mode ?? 'redundancy')}): ${String(s.Health ?? 'not reported')}`,
  };
}

/** LogEntry.Severity (OK/Warning/Critical) as our status. */
export function logSeverity(entry: RedfishDoc): ComponentStatus {
  const sev = entry.Severity ?? entry.MessageSeverity;
  return mapHealth(sev);
}

/** Whether a log entry is newer than `since` (entries without a timestamp count as new). */
export function isNewLogEntry(entry: RedfishDoc, since: string | null | undefined): boolean {
  if (!since) return true;
  const sinceMs = Date.parse(since);
  const created = typeof entry.Created === 'string' ? Date.parse(entry.Created) : Number.NaN;
  if (Number.isNaN(sinceMs) || Number.isNaN(created)) return true;
  return created > sinceMs;
}

function thresholdReading(t: unknown, key: string): number | null {
  const entry = typeof t === 'object' && t !== null ? (t as Record<string, unknown>)[key] : undefined;
  return typeof entry === 'object' && entry !== null ? num((entry as Record<string, unknown>).Reading) : null;
}

const SENSOR_KIND: Record<string, ComponentHealth['kind']> = {
  Temperature: 'temperature',
  Voltage: 'voltage',
  Rotational: 'fan',
  Percent: 'fan',
  Power: 'power',
  Current: 'power',
  EnergykWh: 'power',
  EnergyJoules: 'power',
  Frequency: 'power',
};

/**
 * A Sensor resource (Chassis/<id>/Sensors, the successor of Thermal/Power since Redfish 2020.4):
 * its Health, worsened by the reading against `Thresholds.{Upper,Lower}{Critical,Fatal,Caution}`.
 */
export function sensorHealth(sensor: RedfishDoc, chassisId: string): ComponentHealth | null {
  if (!isPresent(sensor)) return null;
  const name = str(sensor.Name, str(sensor.Id, '?'));
  const units = typeof sensor.ReadingUnits === 'string' ? sensor.ReadingUnits : '';
  const type = typeof sensor.ReadingType === 'string' ? sensor.ReadingType : units === 'Cel' ? 'Temperature' : '';
  const reading = num(sensor.Reading);
  let status = mapHealth(statusOf(sensor).Health);
  if (status === 'unknown' && reading !== null) status = 'ok';
  const t = sensor.Thresholds;
  let why = '';
  if (reading !== null) {
    const upperCrit = thresholdReading(t, 'UpperCritical') ?? thresholdReading(t, 'UpperFatal');
    const upperWarn = thresholdReading(t, 'UpperCaution');
    const lowerCrit = thresholdReading(t, 'LowerCritical') ?? thresholdReading(t, 'LowerFatal');
    const lowerWarn = thresholdReading(t, 'LowerCaution');
    if (upperCrit !== null && reading >= upperCrit) {
      status = worst(status, 'critical');
      why = ` at or above critical threshold ${upperCrit}`;
    } else if (upperWarn !== null && reading >= upperWarn) {
      status = worst(status, 'warning');
      why = ` at or above caution threshold ${upperWarn}`;
    } else if (lowerCrit !== null && reading <= lowerCrit && lowerCrit > 0) {
      status = worst(status, 'critical');
      why = ` at or below critical threshold ${lowerCrit}`;
    } else if (lowerWarn !== null && reading <= lowerWarn) {
      status = worst(status, 'warning');
      why = ` at or below caution threshold ${lowerWarn}`;
    }
  }
  return {
    component: `sensor:${chassisId}:${name}`,
    kind: SENSOR_KIND[type] ?? 'other',
    status,
    reading: reading === null ? null : { value: reading, unit: units || '1' },
    message: `${name}: ${reading === null ? 'no reading' : `${reading} ${units}`.trim()}${why}`,
  };
}
