import { chassisComponents, selLogEntries, sensorComponent } from './health.js';
import type { SensorRecord } from './commands/sdr.js';
import type { SelRecord } from './commands/sel.js';

const record = (o: Partial<SensorRecord> = {}): SensorRecord => ({
  recordId: 1, recordType: 0x01, ownerId: 0x20, ownerLun: 0, sensorNumber: 1, entityId: 3, entityInstance: 1, sensorType: 0x01,
  readingType: 0x01, name: 'CPU1 Temp', thresholdAccess: 2, readableThresholds: 0x10, baseUnit: 1, percentage: false,
  conversion: { analogFormat: 0, linearization: 0, m: 1, b: 0, bExp: 0, rExp: 0 }, sdrThresholds: { upperCritical: 90 }, ...o,
});
const reading = { raw: 95, unavailable: false, scanningEnabled: true, thresholdStatus: 0, discreteState: 0 };

describe('sensorComponent', () => {
  it('reports a temperature past its critical threshold as critical with the reading', () => {
    expect(sensorComponent({ record: record(), reading, thresholds: { upperCritical: 90 } })).toEqual({
      component: 'sensor:CPU1 Temp', kind: 'temperature', status: 'critical', reading: { value: 95, unit: 'Cel' },
      message: '95 Cel crossed upper critical 90 Cel',
    });
  });

  it('reports unavailable readings and read failures as unknown', () => {
    expect(sensorComponent({ record: record(), reading: { ...reading, unavailable: true }, thresholds: {} })?.status).toBe('unknown');
    expect(sensorComponent({ record: record(), reading: null, thresholds: {}, error: 'no such sensor' })).toMatchObject({ status: 'unknown', message: 'no such sensor' });
  });

  it('judges power supply state sensors and skips other discrete sensors', () => {
    const psu = record({ sensorType: 0x08, readingType: 0x6f, name: 'PSU1', conversion: null });
    expect(sensorComponent({ record: psu, reading: { ...reading, discreteState: 0x03 }, thresholds: {} })).toMatchObject({ kind: 'psu', status: 'critical' });
    expect(sensorComponent({ record: record({ sensorType: 0x05, readingType: 0x6f }), reading, thresholds: {} })).toBeNull();
  });
});

describe('chassisComponents', () => {
  it('turns fault bits into critical components', () => {
    const c = chassisComponents({ powerOn: true, powerOverload: false, powerInterlock: false, mainPowerFault: true, powerControlFault: false,
      chassisIntrusion: false, frontPanelLockout: false, driveFault: false, coolingFault: true });
    expect(c.find((x) => x.component === 'chassis:power')).toMatchObject({ status: 'critical', message: 'main power fault' });
    expect(c.find((x) => x.component === 'chassis:cooling')?.status).toBe('critical');
    expect(c.find((x) => x.component === 'chassis:drives')?.status).toBe('ok');
  });
});

describe('selLogEntries', () => {
  const entry = (id: number, at: string | null): SelRecord => ({
    recordId: id, recordType: 2, at, sensorType: 1, sensorNumber: 1, eventType: 1, deassertion: false, eventData: Buffer.from([0x59, 0, 0]), raw: Buffer.alloc(16),
  });
  const records = [entry(1, '2024-01-01T00:00:00.000Z'), entry(2, '2024-01-02T00:00:00.000Z'), entry(3, null)];
  const names = new Map([[1, 'CPU1 Temp']]);

  it('keeps entries after a record id or after a time (and those without a time)', () => {
    expect(selLogEntries(records, names, '2').map((e) => e.id)).toEqual(['3']);
    expect(selLogEntries(records, names, '2024-01-01T12:00:00Z').map((e) => e.id)).toEqual(['2', '3']);
    expect(selLogEntries(records, names, null)).toHaveLength(3);
    expect(selLogEntries(records, names, null)[0]).toEqual({ id: '1', at: '2024-01-01T00:00:00.000Z', severity: 'critical',
      message: 'Temperature CPU1 Temp: upper critical going high asserted' });
  });
});
