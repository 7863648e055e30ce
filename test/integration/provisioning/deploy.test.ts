import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { OrderService } from '../../../src/orders/orders.js';
import { Notifier } from '../../../src/notifications/outbox.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { ManualClock } from '../../../src/clock.js';
import { WorkflowRunner, workflowHistory } from '../../../src/provisioning/workflows/engine.js';
import { deployWorkflow } from '../../../src/provisioning/workflows/deploy.js';
import { Provisioner } from '../../../src/provisioning/provisioner.js';
import { RecordingBmcs, ScriptedBoot } from '../../support/provisioning-fakes.js';
import { verifySha512crypt } from '../../../src/boot/crypt.js';
import { DeploymentService } from '../../../src/boot/deployments.js';
import { DeploymentBootIntents } from '../../../src/provisioning/boot-intents.js';
import type { BootIntents } from '../../../src/provisioning/ports.js';

async function seed(knex: Knex): Promise<void> {
  const ts = new Date().toISOString();
  await knex('sites').insert({ id: 'ma', code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', delivery_window_hours: 24, created_at: ts, updated_at: ts });
  await knex('machines').insert(['m-a', 'm-b'].map((id) => ({ id, serial: id, hardware_profile: 'std', site_id: 'ma', provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts })));
  await knex('nics').insert({ id: 'n-a', machine_id: 'm-a', mac: '52:54:00:00:00:0a', name: 'eno1', pxe: true, ipv4_address: '10.10.0.10', ipv4_prefix: 24, created_at: ts, updated_at: ts });
}

describe.each(testDatabases())('deploy workflow on %s', (dialect) => {
  const t = useTestDatabase(dialect);

  /** An order service and a worker with notifications, recording BMCs and the given boot services. */
  function worker(clock: ManualClock, boot: BootIntents) {
    const secrets = new SecretBox(randomBytes(32));
    const notifier = new Notifier({ webhook: { url: 'http://127.0.0.1:9/', secret: 's' } }, secrets, clock);
    const orders = new OrderService({ knex: t.knex, clock, notifier });
    const bmcs = new RecordingBmcs();
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'worker-1', clock, retryDelayMs: () => 0, definitions: [deployWorkflow({ knex: t.knex, bmcs, boot, secrets, notifier, clock, timeouts: { pollMs: 0 } })] });
    return { secrets, orders, bmcs, provisioner: new Provisioner({ knex: t.knex, orders, runner, clock }) };
  }

  it('delivers an order: power, PXE, install, disk boot, first boot, signed credentials, clock met; re-allocates after an install failure', async () => {
    await seed(t.knex);
    const clock = new ManualClock(new Date());
    const boot = new ScriptedBoot(clock);
    const { secrets, orders, bmcs, provisioner } = worker(clock, boot);

    const { order } = await orders.createOrder({
      external_id: 'E-1', customer_id: 'c', contact_email: 'c@example.com', hardware_profile: 'std', country: 'MA', os_image: 'debian-12',
      hostname: 'srv1.example.com', root_password: true, support_tier: 'managed', paid_at: clock.now().toISOString(),
    }, 'k1', { name: 'pipeline' });
    const first = order.machine_id!;
    boot.failInstallOn.add(first);

    // Drive the lifecycle: whenever a machine is powered on after PXE was set, it plays the installer.
    for (let i = 0; i < 60; i++) {
      await provisioner.tick();
      for (const [m, state] of bmcs.power) if (state === 'on') boot.playInstaller(m);
      clock.advance(1000);
      if ((await orders.getOrder(order.id)).status === 'delivered') break;
    }

    const delivered = await orders.getOrder(order.id);
    expect(delivered.status).toBe('delivered');
    expect(delivered.delivery_clock.status).toBe('met');
    const second = delivered.machine_id!;
    expect(second).not.toBe(first);
    expect((await t.knex('machines').where({ id: first }).first())).toMatchObject({ provision_state: 'failed' });
    expect(String((await t.knex('machines').where({ id: first }).first()).last_error)).toMatch(/wait_install: installer reported failure/);
    expect((await t.knex('machines').where({ id: second }).first()).provision_state).toBe('active');

    // The BMC saw the steps in order on the machine that was delivered.
    expect(bmcs.calls.filter((c) => c.startsWith(second))).toEqual([
      `${second}:power:off`, `${second}:boot:pxe:once`, `${second}:power:on`, `${second}:boot:disk:persistent`, `${second}:power:cycle`,
    ]);
    // The installer got a hash of the generated password; the webhook carries the password itself.
    const dep = [...boot.deployments.values()].find((d) => d.machineId === second)!;
    const notification = await t.knex('notifications').where({ event: 'order.delivered', subject_id: order.id }).first();
    const payload = JSON.parse(secrets.open(String(notification.payload)));
    expect(payload.data.credentials.username).toBe('root');
    expect(verifySha512crypt(payload.data.credentials.password, dep.spec.rootPasswordHash!)).toBe(true);
    expect(dep.outcome).toBe('done');
    expect(await t.knex('audit_log').where({ action: 'order.reallocate', target_id: order.id }).first()).toBeTruthy();

    const wfs = await t.knex('workflows').where({ order_id: order.id }).orderBy('created_at');
    expect(wfs.map((w: { status: string }) => w.status)).toEqual(['failed', 'succeeded']);
    const steps = (await workflowHistory(t.knex, wfs[1].id)).filter((h) => h.outcome === 'done').map((h) => h.step);
    expect(steps).toEqual(['start', 'prepare_boot', 'power_off', 'boot_pxe', 'power_on', 'wait_pxe', 'wait_install', 'boot_disk', 'reboot', 'wait_first_boot', 'deliver']);
  });

  it('fails an order for an OS image the boot catalog lacks at once, with its machine back in the pool and no hardware blamed', async () => {
    const clock = new ManualClock(new Date());
    const ts = clock.now().toISOString();
    await t.knex('machines').insert({ id: 'm-img', serial: 'm-img', hardware_profile: 'img', site_id: 'ma', provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
    // An API process without the boot configuration (split roles) cannot refuse the image itself:
    // the order service here has no catalog, the boot services have.
    const boot = new DeploymentBootIntents(t.knex, new DeploymentService(t.knex, { clock, knownImages: () => ['debian-12'] }));
    const { secrets, orders, bmcs, provisioner } = worker(clock, boot);
    const { order } = await orders.createOrder({
      external_id: 'E-IMG', customer_id: 'c', contact_email: 'c@example.com', hardware_profile: 'img', country: 'MA', os_image: 'windows-95',
      hostname: 'srv9.example.com', root_password: true, support_tier: 'managed', paid_at: clock.now().toISOString(),
    }, 'k-img', { name: 'pipeline' });
    expect(order.status).toBe('allocated');
    for (let i = 0; i < 10; i++) { await provisioner.tick(); clock.advance(1000); }

    expect(await orders.getOrder(order.id)).toMatchObject({ status: 'failed', miss_cause: 'invalid_order', machine_id: null });
    expect(await t.knex('machines').where({ id: 'm-img' }).first('provision_state', 'order_id', 'last_error')).toEqual({ provision_state: 'available', order_id: null, last_error: null });
    expect(bmcs.calls).toEqual([]);
    expect(await t.knex('workflows').where({ order_id: order.id }).pluck('status')).toEqual(['failed']);
    const failed = await t.knex('notifications').where({ event: 'order.failed', subject_id: order.id }).first();
    expect(JSON.parse(secrets.open(String(failed.payload))).data).toMatchObject({ cause: 'invalid_order', reason: expect.stringContaining('unknown OS image "windows-95"') });
  });

  /** A machine of a profile of its own, an order for it, and a worker that drives it on a manual clock. */
  async function oneMachineOrder(id: string, profile: string) {
    const clock = new ManualClock(new Date());
    const ts = clock.now().toISOString();
    await t.knex('machines').insert({ id, serial: id, hardware_profile: profile, site_id: 'ma', provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
    const orders = new OrderService({ knex: t.knex, clock });
    const bmcs = new RecordingBmcs();
    const boot = new ScriptedBoot(clock);
    const definition = deployWorkflow({ knex: t.knex, bmcs, boot, secrets: new SecretBox(randomBytes(32)), clock, timeouts: { pollMs: 0, pxeMs: 60_000 } });
    const provisioner = new Provisioner({ knex: t.knex, orders, runner: new WorkflowRunner({ knex: t.knex, owner: 'w', clock, retryDelayMs: () => 0, definitions: [definition] }), clock });
    const { order } = await orders.createOrder({
      external_id: `E-${id}`, customer_id: 'c', contact_email: 'c@example.com', hardware_profile: profile, country: 'MA', os_image: 'debian-12',
      hostname: `${id}.example.com`, root_password: true, support_tier: 'managed', paid_at: ts,
    }, `k-${id}`, { name: 'pipeline' });
    const tick = async (times: number) => {
      for (let i = 0; i < times; i++) { await provisioner.tick(); clock.advance(10_000); }
    };
    return { clock, orders, bmcs, boot, order, tick };
  }

  it('power-cycles once when the machine does not network-boot, then fails it with a hardware cause', async () => {
    const { orders, bmcs, order, tick } = await oneMachineOrder('m-dead', 'dead');
    await tick(40);
    expect(bmcs.calls.filter((c) => c === 'm-dead:power:cycle')).toHaveLength(1);
    expect((await t.knex('machines').where({ id: 'm-dead' }).first()).provision_state).toBe('failed');
    const o = await orders.getOrder(order.id);
    expect(o.status).toBe('received');
    expect(o.miss_cause).toBe('hardware_failure');
  });

  it('counts a network boot that happens while the BMC is still answering the power cycle', async () => {
    const { clock, bmcs, boot, order, tick } = await oneMachineOrder('m-slow', 'slow-bmc');
    const plain = bmcs.driverFor;
    // The machine ignores the first power-on; the power cycle takes the BMC 10 s to acknowledge,
    // and the machine network-boots 5 s into it.
    bmcs.driverFor = async (machineId) => {
      const driver = await plain(machineId);
      return {
        ...driver,
        async setPower(action) {
          if (action === 'cycle') {
            clock.advance(5_000);
            boot.pxe.set(machineId, clock.now().toISOString());
            clock.advance(5_000);
          }
          await driver.setPower(action);
        },
      };
    };
    await tick(20);
    expect(bmcs.calls.filter((c) => c === 'm-slow:power:cycle')).toHaveLength(1);
    const wf = await t.knex('workflows').where({ order_id: order.id }).first('id');
    const history = (await workflowHistory(t.knex, wf.id)).filter((h) => h.step === 'wait_pxe').map((h) => h.outcome);
    expect(history).toEqual(['waiting', 'restart', 'done']);
    expect((await t.knex('machines').where({ id: 'm-slow' }).first()).provision_state).toBe('deploying');
  });

  it('recomputes delivery clocks at most once per clockTickMs, not on every pass', async () => {
    const clock = new ManualClock(new Date());
    const orders = new OrderService({ knex: t.knex, clock });
    let ticks = 0;
    const original = orders.tickClocks.bind(orders);
    orders.tickClocks = async () => { ticks++; return original(); };
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, definitions: [] });
    const provisioner = new Provisioner({ knex: t.knex, orders, runner, clock, clockTickMs: 10_000 });
    for (let i = 0; i < 5; i++) { await provisioner.tick(); clock.advance(1_000); }
    expect(ticks).toBe(1);
    clock.advance(6_000);
    await provisioner.tick();
    expect(ticks).toBe(2);
  });
});
