/**
 * Turns what IPMI reports (chassis status bits, SDR sensors with readings and thresholds, SEL) into
 * Anvil's ComponentHealth entries. Pure: the driver gathers, this decides.
 */
import type { ComponentHealth, ComponentStatus, HealthReport } from '../driver.js';
import type { ChassisStatus } from './commands/chassis.js';
import type { RawThresholds, SensorRecord } from './commands/sdr.js';
import { convertReading, evaluatePowerSupply, evaluateThresholds, kindOf, unitOf, type SensorReading } from './commands/sensor.js';
import { describeSelRecord, type SelInfo, type SelRecord } from './commands/sel.js';

export function chassisComponents(status: ChassisStatus): ComponentHealth[] {
  const power: string[] = [];
  if (status.mainPowerFault) power.push('main power fault');
  if (status.powerControlFault) power.push('power control fault');
  if (status.powerOverload) power.push('power overload');
  const powerStatus: ComponentStatus = power.length > 0 ? 'critical' : status.powerInterlock ? 'warning' : 'ok';
  if (status.powerInterlock) power.push('power interlock active');
  return [
    { component: 'chassis:power', kind: 'power', status: powerStatus, reading: null,
      message: power.length > 0 ? power.join(', ') : `no power faults; system power ${status.powerOn ? 'on' : 'off'}` },
    { component: 'chassis:cooling', kind: 'fan', status: status.coolingFault ? 'critical' : 'ok', reading: null,
      message: status.coolingFault ? 'cooling/fan fault reported by the chassis' : 'no cooling/fan fault' },
    { component: 'chassis:drives', kind: 'drive', status: status.driveFault ? 'critical' : 'ok', reading: null,
      message: status.driveFault ? 'drive fault reported by the chassis' : 'no drive fault' },
    { component: 'chassis:intrusion', kind: 'chassis', status: status.chassisIntrusion ? 'warning' : 'ok', reading: null,
      message: status.chassisIntrusion ? 'chassis intrusion detected' : 'no chassis intrusion' },
  ];
}

export interface SensorObservation {
  record: SensorRecord;
  /** null when the reading could not be taken; `error` says why. */
  reading: SensorReading | null;
  thresholds: RawThresholds;
  error?: string;
}

/** One ComponentHealth per sensor Anvil can judge: threshold sensors and power supply state sensors. */
export function sensorComponent(obs: SensorObservation): ComponentHealth | null {
  const { record, reading } = obs;
  const kind = kindOf(record.sensorType);
  const component = `sensor:${record.name || `#${record.sensorNumber}`}`;
  const isThreshold = record.readingType === 0x01;
  const isPsuState = record.sensorType === 0x08 && record.readingType === 0x6f;
  if (!isThreshold && !isPsuState) return null;
  if (!reading) return { component, kind, status: 'unknown', reading: null, message: obs.error ?? 'no reading' };
  if (reading.unavailable || !reading.scanningEnabled) {
    return { component, kind, status: 'unknown', reading: null, message: reading.unavailable ? 'reading unavailable' : 'sensor scanning disabled' };
  }
  if (isPsuState) {
    const verdict = evaluatePowerSupply(reading.discreteState);
    return { component, kind, status: verdict.status, reading: null, message: verdict.message };
  }
  const unit = unitOf(record);
  const value = record.conversion ? convertReading(record.conversion, reading.raw) : null;
  if (value === null || !record.conversion) {
    return { component, kind, status: 'unknown', reading: null, message: 'sensor has no analog reading' };
  }
  const verdict = evaluateThresholds(value, record.conversion, obs.thresholds, reading.thresholdStatus, unit);
  return {
    component,
    kind,
    status: verdict.status,
    reading: { value, unit },
    message: verdict.crossed ? `${value}${unit ? ` ${unit}` : ''} crossed ${verdict.crossed}` : `${value}${unit ? ` ${unit}` : ''} within thresholds`,
  };
}

export function selComponent(info: SelInfo): ComponentHealth {
  return {
    component: 'log:sel',
    kind: 'log',
    status: info.overflow ? 'warning' : 'ok',
    reading: { value: info.entries, unit: 'entries' },
    message: info.overflow ? `SEL full (${info.entries} entries); new events are being dropped` : `${info.entries} SEL entries, ${info.freeBytes} bytes free`,
  };
}

/**
 * SEL records as log entries, newest last. `since` is an ISO time (entries at or before it are left
 * out; entries without a real timestamp are kept) or a record id (entries with a larger id are kept).
 */
export function selLogEntries(records: SelRecord[], sensorNames: Map<number, string>, since: string | null | undefined): NonNullable<HealthReport['logEntries']> {
  const sinceTime = since && Number.isNaN(Number(since)) ? Date.parse(since) : NaN;
  const sinceId = since && !Number.isNaN(Number(since)) ? Number(since) : NaN;
  return records
    .filter((r) => {
      if (!Number.isNaN(sinceId)) return r.recordId > sinceId;
      if (!Number.isNaN(sinceTime)) return r.at === null || Date.parse(r.at) > sinceTime;
      return true;
    })
    .map((r) => {
      const name = r.sensorNumber === null ? undefined : sensorNames.get(r.sensorNumber);
      const { severity, message } = describeSelRecord(r, name);
      return { id: String(r.recordId), at: r.at, severity, message };
    });
}
