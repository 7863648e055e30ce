import { convertReading, evaluatePowerSupply, evaluateThresholds, kindOf, parseSensorReading, parseSensorThresholds } from './sensor.js';
import type { LinearConversion } from './sdr.js';

const linear = (o: Partial<LinearConversion> = {}): LinearConversion => ({ analogFormat: 0, linearization: 0, m: 1, b: 0, bExp: 0, rExp: 0, ...o });

describe('convertReading', () => {
  it.each([
    ['identity', linear(), 45, 45],
    ['M scales (fan 50 RPM per count)', linear({ m: 50 }), 100, 5000],
    ['R exponent (0.06 V per count)', linear({ m: 6, rExp: -2 }), 200, 12],
    ['B with its exponent', linear({ m: 5, b: -40, rExp: -1 }), 100, 46],
    ['B exponent applies to B only', linear({ m: 1, b: 3, bExp: 2 }), 10, 310],
    ['negative M', linear({ m: -2, b: 100 }), 10, 80],
    ['two\'s complement raw', linear({ analogFormat: 2 }), 0xfe, -2],
    ['one\'s complement raw', linear({ analogFormat: 1 }), 0xfe, -1],
    ['1/x linearization', linear({ linearization: 7, m: 1, b: 0 }), 4, 0.25],
    ['sqr linearization', linear({ linearization: 8 }), 3, 9],
  ])('%s', (_name, conversion, raw, expected) => {
    expect(convertReading(conversion, raw)).toBe(expected);
  });

  it('returns null for sensors without analog readings', () => {
    expect(convertReading(linear({ analogFormat: 3 }), 10)).toBeNull();
  });
});

describe('evaluateThresholds', () => {
  const thresholds = { upperNonCritical: 80, upperCritical: 90, upperNonRecoverable: 100, lowerCritical: 5, lowerNonCritical: 10 };

  it.each([
    [45, 'ok', null],
    [80, 'warning', 'upper non-critical 80 Cel'],
    [90, 'critical', 'upper critical 90 Cel'],
    [120, 'critical', 'upper non-recoverable 100 Cel'],
    [10, 'warning', 'lower non-critical 10 Cel'],
    [4, 'critical', 'lower critical 5 Cel'],
  ])('judges %p Cel as %s', (value, status, crossed) => {
    expect(evaluateThresholds(value, linear(), thresholds, 0, 'Cel')).toEqual({ status, crossed });
  });

  it('compares in converted units, so a negative M does not invert the verdict', () => {
    // y = -1 * raw + 200: raw 20 -> 180 Cel; the upper critical raw 110 -> 90 Cel
    expect(evaluateThresholds(180, linear({ m: -1, b: 200 }), { upperCritical: 110 }, 0, 'Cel').status).toBe('critical');
  });

  it('takes the worse of its own comparison and the BMC\'s status bits', () => {
    expect(evaluateThresholds(45, linear(), thresholds, 0x10, 'Cel')).toEqual({ status: 'critical', crossed: 'upper critical (reported by the BMC)' });
    expect(evaluateThresholds(85, linear(), thresholds, 0x10, 'Cel').status).toBe('critical');
    expect(evaluateThresholds(95, linear(), thresholds, 0x08, 'Cel').status).toBe('critical');
    expect(evaluateThresholds(45, linear(), {}, 0x01, 'Cel').status).toBe('warning');
  });
});

describe('sensor responses', () => {
  it('parses Get Sensor Reading flags and state bits', () => {
    expect(parseSensorReading(Buffer.from([0x5f, 0xc0, 0x18, 0x80]))).toEqual({
      raw: 0x5f, unavailable: false, scanningEnabled: true, thresholdStatus: 0x18, discreteState: 0x18,
    });
    expect(parseSensorReading(Buffer.from([0x00, 0x20])).unavailable).toBe(true);
    expect(() => parseSensorReading(Buffer.from([0x00]))).toThrow(RangeError);
  });

  it('parses Get Sensor Thresholds in its LNC..UNR order, honouring the readable mask', () => {
    expect(parseSensorThresholds(Buffer.from([0x1a, 1, 2, 3, 4, 5, 6]))).toEqual({ lowerCritical: 2, upperNonCritical: 4, upperCritical: 5 });
  });

  it('maps sensor types to component kinds', () => {
    expect([0x01, 0x02, 0x04, 0x08, 0x03, 0x7f].map(kindOf)).toEqual(['temperature', 'voltage', 'fan', 'psu', 'power', 'other']);
  });

  it.each([
    [0x01, 'ok', 'present'],
    [0x03, 'critical', 'failure detected'],
    [0x05, 'warning', 'predictive failure'],
    [0x09, 'critical', 'input lost (AC/DC)'],
    [0x00, 'unknown', 'not present'],
  ])('judges power supply state 0x%s', (state, status, message) => {
    expect(evaluatePowerSupply(state)).toEqual({ status, message });
  });
});
