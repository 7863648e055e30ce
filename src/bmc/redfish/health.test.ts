import { describe, expect, it } from '@jest/globals';
import { driveHealth, fanHealth, isNewLogEntry, psuHealth, sensorHealth, systemHealth, temperatureHealth, worst } from './health.js';

const cpuTemp = (reading: number, health = 'OK') => ({
  Name: 'CPU1 Temp', MemberId: '0', Status: { State: 'Enabled', Health: health }, ReadingCelsius: reading,
  UpperThresholdNonCritical: 42, UpperThresholdCritical: 45, UpperThresholdFatal: 48,
});

describe('Redfish health translation', () => {
  it.each([
    [41, 'ok'],
    [42, 'warning'],
    [44.5, 'warning'],
    [45, 'critical'],
    [60, 'critical'],
  ])('CPU temperature %d °C against thresholds 42/45 → %s', (reading, status) => {
    expect(temperatureHealth(cpuTemp(reading), '1U')).toMatchObject({ component: 'sensor:1U:CPU1 Temp', kind: 'temperature', status, reading: { value: reading, unit: 'Cel' } });
  });

  it('keeps the BMC verdict when it is worse than the thresholds say', () => {
    expect(temperatureHealth(cpuTemp(30, 'Critical'), '1U')?.status).toBe('critical');
  });

  it('uses lower thresholds too and skips disabled sensors', () => {
    expect(temperatureHealth({ Name: 'Intake', ReadingCelsius: 4, LowerThresholdCritical: 5, LowerThresholdNonCritical: 10, Status: { Health: 'OK' } }, 'c')?.status).toBe('critical');
    expect(temperatureHealth({ Name: 'CPU2 Temp', Status: { State: 'Disabled' } }, 'c')).toBeNull();
  });

  it('drives: failed is critical, FailurePredicted is a warning even with Health OK, absent is skipped', () => {
    expect(driveHealth({ Id: 'D1', Status: { State: 'Enabled', Health: 'Critical' } }, 'x')?.status).toBe('critical');
    const predicted = driveHealth({ Id: 'D2', Status: { State: 'Enabled', Health: 'OK' }, FailurePredicted: true }, 'x');
    expect(predicted).toMatchObject({ component: 'drive:D2', status: 'warning' });
    expect(predicted?.message).toMatch(/predictive failure/);
    expect(driveHealth({ Name: 'Bay 3', Status: { State: 'Absent' } }, 'x')).toBeNull();
  });

  it('PSUs: an installed PSU that is offline is critical; an empty bay is not reported', () => {
    expect(psuHealth({ MemberId: '0', Name: 'PSU', Status: { State: 'UnavailableOffline', Health: 'OK' } }, '1U')?.status).toBe('critical');
    expect(psuHealth({ MemberId: '1', Status: { State: 'Absent' } }, '1U')).toBeNull();
    expect(psuHealth({ MemberId: '0', Status: { State: 'Enabled', Health: 'Warning' }, LastPowerOutputWatts: 325 }, '1U')).toMatchObject({ status: 'warning', reading: { value: 325, unit: 'W' } });
  });

  it('fans report their reading and health', () => {
    expect(fanHealth({ Name: 'Fan1', Reading: 0, ReadingUnits: 'RPM', LowerThresholdCritical: 500, Status: { Health: 'OK' } }, 'c')).toMatchObject({ status: 'critical', reading: { value: 0, unit: 'RPM' } });
  });

  it('system health includes rollup and conditions in the message', () => {
    const c = systemHealth({ Id: 'S1', Status: { Health: 'OK', HealthRollup: 'Warning', Conditions: [{ Message: 'CPU1 hot' }] } });
    expect(c).toMatchObject({ component: 'system:S1', status: 'ok' });
    expect(c.message).toBe('system S1: OK, rollup Warning (CPU1 hot)');
  });

  it('log entries: newer than since only; entries without a time count as new', () => {
    expect(isNewLogEntry({ Created: '2026-01-02T00:00:00Z' }, '2026-01-01T00:00:00Z')).toBe(true);
    expect(isNewLogEntry({ Created: '2025-12-31T00:00:00Z' }, '2026-01-01T00:00:00Z')).toBe(false);
    expect(isNewLogEntry({}, '2026-01-01T00:00:00Z')).toBe(true);
    expect(isNewLogEntry({ Created: '2012-03-07T14:44:00Z' }, null)).toBe(true);
  });

  it('worst orders ok < unknown < warning < critical', () => {
    expect(worst('ok', 'warning', 'unknown')).toBe('warning');
    expect(worst('critical', 'warning')).toBe('critical');
  });

  it.each([
    [41, 'ok'],
    [42, 'warning'],
    [45, 'critical'],
  ])('Sensor resource at %d °C with UpperCaution 42 / UpperCritical 45 → %s', (reading, status) => {
    const sensor = { Id: 'CPU1Temp', Name: 'CPU #1 Temperature', ReadingUnits: 'Cel', Reading: reading, Status: { State: 'Enabled', Health: 'OK' }, Thresholds: { UpperCaution: { Reading: 42 }, UpperCritical: { Reading: 45 } } };
    expect(sensorHealth(sensor, '1U')).toMatchObject({ component: 'sensor:1U:CPU #1 Temperature', kind: 'temperature', status, reading: { value: reading, unit: 'Cel' } });
  });

  it('Sensor kinds follow ReadingType; a zero lower-critical threshold is not a fault', () => {
    const fan = { Name: 'CPU #1 Fan Speed', ReadingType: 'Percent', ReadingUnits: '%', Reading: 0, Status: { Health: 'OK' }, Thresholds: { LowerCritical: { Reading: 0 } } };
    expect(sensorHealth(fan, 'c')).toMatchObject({ kind: 'fan', status: 'ok' });
    expect(sensorHealth({ Name: 'PS1 Input Power', ReadingType: 'Power', ReadingUnits: 'W', Reading: 200, Status: { Health: 'Critical' } }, 'c')?.status).toBe('critical');
  });
});
