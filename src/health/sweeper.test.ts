import { BmcAuthError, BmcError, BmcUnreachableError, NotFoundError } from '../errors.js';
import { bmcFailure, logFindings, mapSweep, powerComponent } from './sweeper.js';
import type { HealthReport } from '../bmc/driver.js';

const customer = { orderId: 'o', externalId: 'e', customerId: 'c', supportTier: 'managed' as const, contactEmail: 'x@example.com', hostname: 'h' };

describe('power state against expectation', () => {
  it('an active customer server found off is critical (machine down)', () => {
    expect(powerComponent({ customer, provisionState: 'active' }, 'off').status).toBe('critical');
    expect(powerComponent({ customer, provisionState: 'active' }, 'on').status).toBe('ok');
  });
  it('stock machines may be off; an unreadable power state is unknown', () => {
    expect(powerComponent({ customer: null, provisionState: 'available' }, 'off').status).toBe('ok');
    expect(powerComponent({ customer, provisionState: 'active' }, 'unknown').status).toBe('unknown');
  });
});

describe('BMC failures', () => {
  const live = new AbortController().signal;
  it('rejected credentials are a critical bmc component; everything else is unknown', () => {
    expect(bmcFailure(new BmcAuthError('401'), 1000, live).status).toBe('critical');
    expect(bmcFailure(new BmcUnreachableError('refused'), 1000, live)).toMatchObject({ component: 'bmc', status: 'unknown' });
    expect(bmcFailure(new BmcError('HTTP 500'), 1000, live).status).toBe('unknown');
    expect(bmcFailure(new NotFoundError('no BMC record'), 1000, live).status).toBe('unknown');
    expect(bmcFailure(new Error('boom'), 1000, live).status).toBe('unknown');
  });
  it('names the budget when the machine ran out of time', () => {
    const c = new AbortController();
    c.abort();
    expect(bmcFailure(new BmcUnreachableError('aborted'), 1500, c.signal).message).toMatch(/1500 ms budget/);
  });
});

describe('log findings', () => {
  const report = (entries: HealthReport['logEntries']): HealthReport => ({
    components: [
      { component: 'drive:1', kind: 'drive', status: 'ok', reading: null, message: '' },
      { component: 'log:sel', kind: 'log', status: 'ok', reading: null, message: 'SEL' },
      ...(entries ?? []).map((e) => ({ component: `log:${e.id}`, kind: 'log' as const, status: e.severity, reading: null, message: e.message })),
    ],
    logEntries: entries,
  });
  const old = [{ id: 'Log1/1', at: '2012-03-07T14:44:00Z', severity: 'critical' as const, message: 'old' }];

  it('takes the existing log as the baseline on the first sweep', () => {
    const r = logFindings(report(old), null, 'redfish');
    expect(r.summary.status).toBe('ok');
    expect(r.marker).toBe('2012-03-07T14:44:00Z');
    expect(r.components.map((c) => c.component)).toEqual(['drive:1', 'log:sel']);
  });

  it('judges new entries after the baseline and advances the marker', () => {
    const entries = [
      { id: 'Log1/2', at: '2026-11-26T10:00:00.000Z', severity: 'warning' as const, message: 'fan slow' },
      { id: 'Log1/3', at: '2026-11-26T10:01:00.000Z', severity: 'critical' as const, message: 'PSU lost input' },
    ];
    const r = logFindings(report(entries), '2012-03-07T14:44:00Z', 'redfish');
    expect(r.summary).toMatchObject({ component: 'log:new-entries', status: 'critical' });
    expect(r.summary.message).toContain('PSU lost input');
    expect(r.marker).toBe('2026-11-26T10:01:00.000Z');
    expect(logFindings(report([]), r.marker, 'redfish').summary.status).toBe('ok');
  });

  it('uses SEL record ids as the IPMI marker', () => {
    const r = logFindings(report([{ id: '7', at: null, severity: 'warning', message: 'x' }, { id: '12', at: null, severity: 'ok', message: 'y' }]), '5', 'ipmi');
    expect(r.marker).toBe('12');
    expect(r.summary.status).toBe('warning');
  });
});

describe('sweep records', () => {
  const row = { id: 's', site_code: 'A', machine_id: null, trigger: 'demand', status: 'running', total: 3, done: 1, errors: 0, error: null, started_at: '2026-11-26T10:00:00.000Z', finished_at: null, duration_ms: null, requested_by: 'x' };
  it('a running sweep whose lease expired is reported failed (abandoned)', () => {
    const now = new Date('2026-11-26T10:05:00.000Z');
    expect(mapSweep({ ...row, lease_expires_at: '2026-11-26T10:04:00.000Z' }, now)).toMatchObject({ status: 'failed', error: expect.stringMatching(/abandoned/) });
    expect(mapSweep({ ...row, lease_expires_at: '2026-11-26T10:06:00.000Z' }, now)).toMatchObject({ status: 'running', error: null });
    expect(mapSweep({ ...row, status: 'done', lease_expires_at: null }, now).status).toBe('done');
  });
});
