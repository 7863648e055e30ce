import { randomBytes } from 'node:crypto';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { RecordingBmcs, ScriptedBoot } from '../../support/provisioning-fakes.js';
import { OrderService } from '../../../src/orders/orders.js';
import { OrderLifecycle } from '../../../src/orders/lifecycle.js';
import { Notifier } from '../../../src/notifications/outbox.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { ManualClock } from '../../../src/clock.js';
import { WorkflowRunner } from '../../../src/provisioning/workflows/engine.js';
import { deployWorkflow } from '../../../src/provisioning/workflows/deploy.js';
import { releaseWorkflow } from '../../../src/provisioning/workflows/release.js';
import { Provisioner } from '../../../src/provisioning/provisioner.js';
import { ConflictError, NotAllowedError, UnprocessableError } from '../../../src/errors.js';

describe.each(testDatabases())('order lifecycle on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const clock = new ManualClock(new Date());
  const secrets = new SecretBox(randomBytes(32));
  const bmcs = new RecordingBmcs();
  const boot = new ScriptedBoot(clock);
  const actor = { name: 'pipeline' };
  let orders: OrderService;
  let lifecycle: OrderLifecycle;
  let provisioner: Provisioner;
  let orderId: string;
  let machineId: string;

  async function drive(until: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 60 && !(await until()); i++) {
      await provisioner.tick();
      for (const [m, state] of bmcs.power) if (state === 'on') boot.playInstaller(m);
      clock.advance(1000);
    }
  }

  beforeAll(async () => {
    const ts = clock.now().toISOString();
    await t.knex('sites').insert({ id: 'ca', code: 'CA-MTL1', name: 'Montreal', country: 'CA', city: 'Montreal', timezone: 'America/Toronto', created_at: ts, updated_at: ts });
    await t.knex('machines').insert({ id: 'm1', serial: 'm1', hardware_profile: 'std', site_id: 'ca', provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
    const notifier = new Notifier({ webhook: { url: 'http://127.0.0.1:9/', secret: 's' } }, secrets, clock);
    orders = new OrderService({ knex: t.knex, clock, notifier });
    lifecycle = new OrderLifecycle({ knex: t.knex, bmcs, secrets, notifier, clock });
    const deps = { knex: t.knex, bmcs, boot, secrets, notifier, clock, timeouts: { pollMs: 0 } };
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, retryDelayMs: () => 0, definitions: [deployWorkflow(deps), releaseWorkflow(deps)] });
    provisioner = new Provisioner({ knex: t.knex, orders, runner, clock });
    const { order } = await orders.createOrder({
      external_id: 'L-1', customer_id: 'c', contact_email: 'c@example.com', hardware_profile: 'std', country: 'CA', os_image: 'debian-12',
      hostname: 'srv.example.com', root_password: true, support_tier: 'fully_managed', paid_at: ts,
    }, 'life-1', actor);
    orderId = order.id;
    machineId = order.machine_id!;
    await drive(async () => (await orders.getOrder(orderId)).status === 'delivered');
    expect((await orders.getOrder(orderId)).status).toBe('delivered');
  });

  it('shows the delivered credentials until the pipeline acknowledges delivery, then never again', async () => {
    const creds = await lifecycle.credentials(orderId);
    expect(creds).toMatchObject({ username: 'root' });
    expect(String(creds.password)).toHaveLength(20);
    // The delivery webhook has not reached the pipeline yet (its receiver is down): it carries the password.
    const webhook = async () => JSON.parse(secrets.open(String((await t.knex('notifications').where({ event: 'order.delivered', subject_id: orderId, channel: 'webhook', status: 'pending' }).first()).payload)));
    expect((await webhook()).data.credentials).toMatchObject({ username: 'root', password: creds.password });
    await lifecycle.acknowledgeDelivery(orderId, actor);
    await expect(lifecycle.credentials(orderId)).rejects.toBeInstanceOf(NotAllowedError);
    const row = await t.knex('orders').where({ id: orderId }).first();
    expect(row.credentials_enc).toBeNull();
    // Its retries still report the delivery, without the password the pipeline said it has.
    const retried = await webhook();
    expect(retried).toMatchObject({ event: 'order.delivered', data: { credentials: { username: 'root', acknowledged: true } } });
    expect(JSON.stringify(retried)).not.toContain(String(creds.password));
  });

  it('suspends a server (powered off, power-on refused) and restores it', async () => {
    await lifecycle.suspend(orderId, { reason: 'abuse report #77: outbound attack' }, actor);
    expect(bmcs.power.get(machineId)).toBe('off');
    await expect(lifecycle.assertPowerOnAllowed(machineId)).rejects.toBeInstanceOf(ConflictError);
    await expect(lifecycle.reinstall(orderId, { customer_request_ref: 'TICKET-1' }, actor)).rejects.toThrow(/suspended/);
    await lifecycle.restore(orderId, {}, actor);
    expect(bmcs.power.get(machineId)).toBe('on');
    await expect(lifecycle.assertPowerOnAllowed(machineId)).resolves.toBeUndefined();
    const actions = await t.knex('audit_log').where({ target_id: orderId }).pluck('action');
    expect(actions).toEqual(expect.arrayContaining(['order.suspend', 'order.restore']));
  });

  it('refuses to reinstall or terminate without the customer\'s express request (422), touching nothing', async () => {
    const before = bmcs.calls.length;
    await expect(lifecycle.reinstall(orderId, {}, actor)).rejects.toBeInstanceOf(UnprocessableError);
    await expect(lifecycle.terminate(orderId, { reason: 'operator thinks so' }, actor)).rejects.toBeInstanceOf(UnprocessableError);
    await expect(lifecycle.terminate(orderId, { customer_request_ref: '' }, actor)).rejects.toThrow(/customer_request_ref/);
    expect(bmcs.calls.length).toBe(before);
    expect((await t.knex('machines').where({ id: machineId }).first()).provision_state).toBe('active');
  });

  it('refuses a reinstall with an OS image the boot catalog lacks (422), touching nothing', async () => {
    const withCatalog = new OrderLifecycle({ knex: t.knex, bmcs, secrets, clock, knownImages: ['debian-12', 'rocky-9'] });
    const refused = await withCatalog.reinstall(orderId, { customer_request_ref: 'TICKET-9', os_image: 'windows-95' }, actor).then(() => null, (e: unknown) => e);
    expect(refused).toMatchObject({ status: 422, details: [{ field: 'os_image' }] });
    expect((await t.knex('machines').where({ id: machineId }).first()).provision_state).toBe('active');
    expect((await t.knex('orders').where({ id: orderId }).first()).os_image).not.toBe('windows-95');
  });

  it('reinstalls on request and delivers new credentials', async () => {
    await lifecycle.reinstall(orderId, { customer_request_ref: 'TICKET-2', os_image: 'rocky-9' }, actor);
    expect((await t.knex('machines').where({ id: machineId }).first()).provision_state).toBe('deploying');
    await drive(async () => (await t.knex('machines').where({ id: machineId }).first()).provision_state === 'active');
    expect((await t.knex('machines').where({ id: machineId }).first()).provision_state).toBe('active');
    expect(await t.knex('notifications').where({ event: 'order.reinstalled', subject_id: orderId }).first()).toBeTruthy();
    expect((await orders.getOrder(orderId)).delivery_clock.status).toBe('met');
  });

  it('terminates on request: wipes the machine through the wipe image and returns it to available', async () => {
    await lifecycle.terminate(orderId, { customer_request_ref: 'TICKET-3' }, actor);
    await drive(async () => (await t.knex('machines').where({ id: machineId }).first()).provision_state === 'available');
    const m = await t.knex('machines').where({ id: machineId }).first();
    expect(m).toMatchObject({ provision_state: 'available', order_id: null });
    expect([...boot.deployments.values()].some((d) => d.machineId === machineId && d.spec.kind === 'wipe' && d.outcome === 'done')).toBe(true);
    expect((await orders.getOrder(orderId)).status).toBe('terminated');
    const audit = await t.knex('audit_log').where({ action: 'order.terminate', target_id: orderId }).first();
    expect(String(audit.after)).toContain('TICKET-3');
  });
});
