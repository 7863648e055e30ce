/**
 * Sensor readings: Get Sensor Reading, Get Sensor Thresholds, the SDR linear conversion and the
 * evaluation of a reading against its thresholds.
 */
import type { ComponentKind, ComponentStatus } from '../../driver.js';
import { NetFn } from '../session.js';
import type { IpmiRequester } from './requester.js';
import type { LinearConversion, RawThresholds, SensorRecord } from './sdr.js';

export interface SensorReading {
  raw: number;
  /** The BMC says the reading is not available (sensor absent, initializing, host off...). */
  unavailable: boolean;
  scanningEnabled: boolean;
  /** Threshold sensors: comparison status bits (0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR). */
  thresholdStatus: number;
  /** Discrete sensors: asserted state bits 0-14. */
  discreteState: number;
}

export function parseSensorReading(data: Buffer): SensorReading {
  if (data.length < 2) throw new RangeError(`Get Sensor Reading response is ${data.length} bytes, expected at least 2`);
  const flags = data[1]!;
  const state1 = data[2] ?? 0;
  const state2 = data[3] ?? 0;
  return {
    raw: data[0]!,
    unavailable: (flags & 0x20) !== 0,
    scanningEnabled: (flags & 0x40) !== 0,
    thresholdStatus: state1 & 0x3f,
    discreteState: state1 | ((state2 & 0x7f) << 8),
  };
}

export async function getSensorReading(request: IpmiRequester, sensorNumber: number): Promise<SensorReading> {
  return parseSensorReading(await request(NetFn.sensor, 0x2d, Uint8Array.of(sensorNumber), 'Get Sensor Reading'));
}

/** Parses Get Sensor Thresholds: readable mask, then LNC, LC, LNR, UNC, UC, UNR. */
export function parseSensorThresholds(data: Buffer): RawThresholds {
  if (data.length < 7) throw new RangeError(`Get Sensor Thresholds response is ${data.length} bytes, expected 7`);
  const mask = data[0]!;
  const t: RawThresholds = {};
  if (mask & 0x01) t.lowerNonCritical = data[1]!;
  if (mask & 0x02) t.lowerCritical = data[2]!;
  if (mask & 0x04) t.lowerNonRecoverable = data[3]!;
  if (mask & 0x08) t.upperNonCritical = data[4]!;
  if (mask & 0x10) t.upperCritical = data[5]!;
  if (mask & 0x20) t.upperNonRecoverable = data[6]!;
  return t;
}

export async function getSensorThresholds(request: IpmiRequester, sensorNumber: number): Promise<RawThresholds> {
  return parseSensorThresholds(await request(NetFn.sensor, 0x27, Uint8Array.of(sensorNumber), 'Get Sensor Thresholds'));
}

const LINEARIZATION: Readonly<Record<number, (x: number) => number>> = {
  0: (x) => x,
  1: Math.log,
  2: Math.log10,
  3: Math.log2,
  4: Math.exp,
  5: (x) => 10 ** x,
  6: (x) => 2 ** x,
  7: (x) => 1 / x,
  8: (x) => x * x,
  9: (x) => x * x * x,
  10: Math.sqrt,
  11: Math.cbrt,
};

/** Converts a raw reading or threshold byte to its unit; null when the sensor has no analog reading. */
export function convertReading(conversion: LinearConversion, raw: number): number | null {
  let x: number;
  switch (conversion.analogFormat) {
    case 0:
      x = raw & 0xff;
      break;
    case 1:
      x = raw & 0x80 ? -((~raw) & 0x7f) : raw & 0x7f;
      break;
    case 2:
      x = raw & 0x80 ? raw - 0x100 : raw;
      break;
    default:
      return null;
  }
  const linear = (conversion.m * x + conversion.b * 10 ** conversion.bExp) * 10 ** conversion.rExp;
  // 0x70-0x7F are non-linear sensors whose factors depend on the reading; the linear result is the best we have.
  const fn = LINEARIZATION[conversion.linearization] ?? LINEARIZATION[0]!;
  const y = fn(linear);
  // Round away binary noise from the powers of ten (e.g. 0.1 * 3 = 0.30000000000000004).
  return Number.isFinite(y) ? Number(y.toPrecision(12)) : null;
}

/** Base unit codes (IPMI v2.0 table 43-15) written as UCUM-style units. */
const UNITS: Readonly<Record<number, string>> = {
  1: 'Cel', 2: '[degF]', 3: 'K', 4: 'V', 5: 'A', 6: 'W', 7: 'J', 8: 'C', 9: 'VA', 10: 'nit', 11: 'lm', 12: 'lx', 13: 'cd',
  14: 'kPa', 15: '[psi]', 16: 'N', 17: '[CFM]', 18: 'RPM', 19: 'Hz', 20: 'us', 21: 'ms', 22: 's', 23: 'min', 24: 'h',
};

export function unitOf(record: SensorRecord): string {
  if (record.percentage) return '%';
  return UNITS[record.baseUnit] ?? '';
}

/** Sensor type codes (IPMI v2.0 table 42-3) to Anvil component kinds. */
export function kindOf(sensorType: number): ComponentKind {
  switch (sensorType) {
    case 0x01: return 'temperature';
    case 0x02: return 'voltage';
    case 0x03: return 'power'; // current
    case 0x04: return 'fan';
    case 0x07: return 'cpu';
    case 0x08: return 'psu';
    case 0x09: return 'power'; // power unit
    case 0x0c: return 'memory';
    case 0x0d: return 'drive';
    case 0x10: return 'log';
    default: return 'other';
  }
}

export interface ThresholdVerdict {
  status: ComponentStatus;
  /** The threshold crossed, e.g. `upper critical 90 Cel`; null when none. */
  crossed: string | null;
}

const CHECKS: { key: keyof RawThresholds; upper: boolean; status: ComponentStatus; label: string }[] = [
  { key: 'upperNonRecoverable', upper: true, status: 'critical', label: 'upper non-recoverable' },
  { key: 'upperCritical', upper: true, status: 'critical', label: 'upper critical' },
  { key: 'lowerNonRecoverable', upper: false, status: 'critical', label: 'lower non-recoverable' },
  { key: 'lowerCritical', upper: false, status: 'critical', label: 'lower critical' },
  { key: 'upperNonCritical', upper: true, status: 'warning', label: 'upper non-critical' },
  { key: 'lowerNonCritical', upper: false, status: 'warning', label: 'lower non-critical' },
];

const STATUS_BITS: { bit: number; status: ComponentStatus; label: string }[] = [
  { bit: 0x20, status: 'critical', label: 'upper non-recoverable' },
  { bit: 0x10, status: 'critical', label: 'upper critical' },
  { bit: 0x04, status: 'critical', label: 'lower non-recoverable' },
  { bit: 0x02, status: 'critical', label: 'lower critical' },
  { bit: 0x08, status: 'warning', label: 'upper non-critical' },
  { bit: 0x01, status: 'warning', label: 'lower non-critical' },
];

/**
 * Compares a converted reading with the converted thresholds (at-or-beyond counts as crossed, as the
 * spec's comparison status does), and also honours the BMC's own comparison bits: the worse wins.
 */
export function evaluateThresholds(value: number, conversion: LinearConversion, thresholds: RawThresholds,
  bmcStatusBits: number, unit: string): ThresholdVerdict {
  let ours: ThresholdVerdict = { status: 'ok', crossed: null };
  for (const check of CHECKS) {
    const raw = thresholds[check.key];
    if (raw === undefined) continue;
    const limit = convertReading(conversion, raw);
    if (limit === null) continue;
    // A negative M (or a reciprocal linearization) flips the raw/unit ordering; compare in units.
    if (check.upper ? value >= limit : value <= limit) {
      ours = { status: check.status, crossed: `${check.label} ${limit}${unit ? ` ${unit}` : ''}` };
      break;
    }
  }
  if (ours.status === 'critical') return ours;
  const reported = STATUS_BITS.find((s) => (bmcStatusBits & s.bit) !== 0);
  if (reported && (reported.status === 'critical' || ours.status === 'ok')) {
    return { status: reported.status, crossed: `${reported.label} (reported by the BMC)` };
  }
  return ours;
}

/** Power supply sensor-specific offsets (sensor type 08h). */
export function evaluatePowerSupply(state: number): { status: ComponentStatus; message: string } {
  const problems: [number, ComponentStatus, string][] = [
    [1, 'critical', 'failure detected'],
    [3, 'critical', 'input lost (AC/DC)'],
    [4, 'critical', 'input lost or out of range'],
    [6, 'critical', 'configuration error'],
    [2, 'warning', 'predictive failure'],
    [5, 'warning', 'input out of range, but present'],
  ];
  const found = problems.filter(([bit]) => state & (1 << bit));
  if (found.length > 0) {
    const status = found.some(([, s]) => s === 'critical') ? 'critical' : 'warning';
    return { status, message: found.map(([, , m]) => m).join(', ') };
  }
  if (state & 0x01) return { status: 'ok', message: 'present' };
  return { status: 'unknown', message: 'not present' };
}
