import { startMetricsServer } from '../../../src/metrics/server.js';
import { startRedfishSimFleet, type RedfishSimFleet } from '../../../src/lab/redfish-sim/index.js';
import { closeAll } from '../../../src/bmc/registry.js';
import { testDatabases } from '../../support/databases.js';
import { useApi, type ApiHarness } from '../api/harness.js';

/**
 * The health API over a real app, database and Redfish simulator: sweeps on demand, machine
 * health, the incident lifecycle, the monthly intervention report, maintenance windows, /metrics.
 */

async function waitForSweep(h: ApiHarness, id: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  // Polls with a 20 s deadline: a sweep of one healthy simulated BMC takes well under a second.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await h.call('get', `/api/v1/sweeps/${id}`, { role: 'viewer' });
    expect(res.status).toBe(200);
    if (res.json.status !== 'running') return res.json;
    if (Date.now() > deadline) throw new Error(`sweep ${id} still running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(testDatabases())('health API on %s', (dialect) => {
  const h = useApi(dialect);
  let fleet: RedfishSimFleet;
  let machineId = '';
  const site = `API-${dialect === 'sqlite' ? 'S' : 'P'}`;

  beforeAll(async () => {
    fleet = await startRedfishSimFleet({ count: 1 });
    fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 2', state: 'ok' });
    fleet.instances[0]!.setHealth({ kind: 'psu', index: 0, state: 'ok' });
  });
  afterAll(async () => {
    await closeAll();
    await fleet?.stop();
  });

  it('creates a machine on a simulated BMC', async () => {
    expect((await h.call('post', '/api/v1/sites', { body: { code: site, name: 'API', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca' } })).status).toBe(201);
    const e = fleet.endpoint(0);
    const res = await h.call('post', '/api/v1/machines', {
      body: { serial: `${site}-M0`, hardware_profile: 'p', site, bmc: { protocol: 'redfish', host: e.host, port: e.port, username: e.username, password: e.password, tls: e.tls }, nics: [{ name: 'eno1', mac: fleet.instances[0]!.macs[0], pxe: true }] },
    });
    expect(res.status).toBe(201);
    machineId = res.json.id;
    const ts = new Date().toISOString();
    await h.knex('orders').insert({
      id: `o-${site}`, idempotency_key: `o-${site}`, request_hash: 'h', external_id: 'ext', customer_id: 'cust-api', contact_email: 'c@example.com',
      hardware_profile: 'p', country: 'MA', os_image: 'debian-12', hostname: 'h', support_tier: 'managed', status: 'delivered', machine_id: machineId,
      paid_at: ts, deadline_at: ts, created_by: 'test', created_at: ts, updated_at: ts,
    });
    await h.knex('machines').where({ id: machineId }).update({ provision_state: 'active', order_id: `o-${site}` });
  });

  it('POST /api/v1/sweeps is for technicians and answers 202; GET shows done/total and duration', async () => {
    expect((await h.call('post', '/api/v1/sweeps', { role: 'viewer', body: { site } })).status).toBe(403);
    expect((await h.call('post', '/api/v1/sweeps', { role: 'technician', body: { site: 'NOPE' } })).status).toBe(404);
    const res = await h.call('post', '/api/v1/sweeps', { role: 'technician', body: { site } });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/v1/sweeps/${res.json.id}`);
    const sweep = await waitForSweep(h, res.json.id);
    expect(sweep).toMatchObject({ status: 'done', total: 1, done: 1, errors: 0, site_code: site, requested_by: 'test-technician' });
    expect(typeof sweep.duration_ms).toBe('number');
  });

  it('GET /api/v1/machines/:id/health lists current components and history', async () => {
    const res = await h.call('get', `/api/v1/machines/${machineId}/health?history_limit=5`, { role: 'viewer' });
    expect(res.status).toBe(200);
    expect(res.json.health).toBe('ok');
    expect(res.json.components.map((c: { component: string }) => c.component)).toEqual(expect.arrayContaining(['bmc', 'power', 'drive:SATA Bay 1']));
    expect(res.json.history).toHaveLength(5);
  });

  it('an incident goes through acknowledge, note, intervention and resolve; the monthly report counts the time', async () => {
    fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 1', state: 'failed' });
    const started = await h.call('post', '/api/v1/sweeps', { role: 'technician', body: { machine: machineId } });
    expect(started.status).toBe(202);
    await waitForSweep(h, started.json.id);
    fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 1', state: 'ok' });
    const list = await h.call('get', `/api/v1/incidents?status=open&machine=${machineId}`, { role: 'viewer' });
    expect(list.status).toBe(200);
    expect(list.json.items).toHaveLength(1);
    const inc = list.json.items[0];
    expect(inc).toMatchObject({ component: 'drive:SATA Bay 1', severity: 'major', support_tier: 'managed', customer_id: 'cust-api', deadline_status: 'on_track' });
    expect((await h.call('get', `/api/v1/incidents?deadline_status=on_track&customer=cust-api`, { role: 'viewer' })).json.items).toHaveLength(1);

    expect((await h.call('post', `/api/v1/incidents/${inc.id}/acknowledge`, { role: 'viewer', body: {} })).status).toBe(403);
    const ack = await h.call('post', `/api/v1/incidents/${inc.id}/acknowledge`, { role: 'technician', body: { note: 'on it' } });
    expect(ack.status).toBe(200);
    expect(ack.json).toMatchObject({ status: 'acknowledged', deadline_status: 'on_track' });
    expect(ack.json.acknowledged_at).not.toBeNull();
    expect((await h.call('post', `/api/v1/incidents/${inc.id}/notes`, { role: 'technician', body: { text: 'drive ordered' } })).status).toBe(201);
    expect((await h.call('post', `/api/v1/incidents/${inc.id}/interventions`, { role: 'technician', body: { minutes: 0 } })).status).toBe(400);
    const work = await h.call('post', `/api/v1/incidents/${inc.id}/interventions`, { role: 'technician', body: { minutes: 150, note: 'swapped drive' } });
    expect(work.status).toBe(201);
    expect(work.json.intervention_minutes).toBe(150);
    const resolved = await h.call('post', `/api/v1/incidents/${inc.id}/resolve`, { role: 'technician', body: { reason: 'drive replaced' } });
    expect(resolved.status).toBe(200);
    // Processing and resolution were met; no notification channel is configured in this harness,
    // so the customer-notified clock is still running (on_track), which the status reports.
    expect(resolved.json).toMatchObject({ status: 'resolved', resolved_reason: 'drive replaced', notified_at: null, deadline_status: 'on_track' });
    expect(resolved.json.notes.map((n: { text: string }) => n.text)).toEqual(['on it', 'drive ordered']);
    expect((await h.call('post', `/api/v1/incidents/${inc.id}/resolve`, { role: 'technician', body: { reason: 'again' } })).status).toBe(409);

    const month = new Date().toISOString().slice(0, 7);
    const report = await h.call('get', `/api/v1/reports/interventions?month=${month}`, { role: 'viewer' });
    expect(report.status).toBe(200);
    expect(report.json.customers).toEqual([
      { customer_id: 'cust-api', support_tier: 'managed', incidents: 1, intervention_minutes: 150, allowance_minutes: 120, over_allowance_minutes: 30 },
    ]);
    expect((await h.call('get', '/api/v1/reports/interventions?month=2026-13', { role: 'viewer' })).status).toBe(400);
  });

  it('a technician opens an incident by hand; the same component twice is a 409', async () => {
    const body = { machine: machineId, severity: 'minor', title: 'customer reports noisy fan', component: 'report:fan' };
    const res = await h.call('post', '/api/v1/incidents', { role: 'technician', body });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ source: 'technician', severity: 'minor', process_by: null, status: 'open' });
    expect((await h.call('post', '/api/v1/incidents', { role: 'technician', body })).status).toBe(409);
    expect((await h.call('get', `/api/v1/incidents/${res.json.id}`, { role: 'viewer' })).json.title).toBe('customer reports noisy fan');
  });

  it('maintenance windows are announced and listed', async () => {
    const now = Date.now();
    const bad = await h.call('post', '/api/v1/maintenance-windows', { role: 'technician', body: { scope: 'site', target: site, starts_at: new Date(now + 7200_000).toISOString(), ends_at: new Date(now + 3600_000).toISOString(), reason: 'x' } });
    expect(bad.status).toBe(400);
    const res = await h.call('post', '/api/v1/maintenance-windows', { role: 'technician', body: { scope: 'site', target: site, starts_at: new Date(now + 3600_000).toISOString(), ends_at: new Date(now + 7200_000).toISOString(), reason: 'UPS test' } });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ scope: 'site', target_name: site });
    const list = await h.call('get', '/api/v1/maintenance-windows', { role: 'viewer' });
    expect(list.json.items.map((w: { id: string }) => w.id)).toContain(res.json.id);
  });

  it('/metrics needs a token and exposes the health, incident, order, sweep and BMC metrics', async () => {
    expect((await h.call('get', '/metrics', { role: null })).status).toBe(401);
    expect((await h.call('get', '/metrics', { token: 'anvil_bogus' })).status).toBe(401);
    const res = await h.call('get', '/metrics', { role: 'viewer' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    for (const name of ['anvil_machines', 'anvil_machines_health', 'anvil_incidents_open', 'anvil_orders', 'anvil_sweep_last_duration_seconds', 'anvil_sweep_duration_seconds_count', 'anvil_bmc_operation_duration_seconds_bucket', 'anvil_dhcp_packets_total', 'anvil_tftp_events_total']) {
      expect(res.text).toContain(name);
    }
    expect(res.text).toMatch(/anvil_machines\{state="active"\} 1/);
    expect(res.text).toMatch(/anvil_incidents_open\{deadline_status="on_track",severity="minor"\} 1/);
    expect(res.text).toMatch(/anvil_bmc_operation_duration_seconds_count\{protocol="redfish",operation="health",outcome="ok"\} [1-9]/);
  });

  it('a separate metrics listener with a dedicated token', async () => {
    const { metrics } = h.services;
    const srv = await startMetricsServer({ metrics, host: '127.0.0.1', port: 0, token: 'scrape-token-0123456789' });
    try {
      expect((await fetch(srv.url)).status).toBe(401);
      const ok = await fetch(srv.url, { headers: { authorization: 'Bearer scrape-token-0123456789' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('anvil_machines_health');
      expect((await fetch(srv.url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await srv.close();
    }
  });
});
