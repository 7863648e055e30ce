import type { Logger } from 'pino';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { createWorkflow, getWorkflow, workflowHistory, WorkflowRunner, type WorkflowDefinition } from '../../../src/provisioning/workflows/engine.js';
import { machinesToWake, WorkerWakeups } from '../../../src/provisioning/wakeups.js';
import { Provisioner } from '../../../src/provisioning/provisioner.js';
import { OrderService } from '../../../src/orders/orders.js';
import { DbBootEventSink } from '../../../src/boot/lookup.js';
import { ManualClock } from '../../../src/clock.js';
import { seedMachine } from '../../support/seed.js';
import { waitFor } from '../../support/wait.js';

/**
 * Waiting is event-driven: the boot role's activity wakes the machine's workflow through the
 * database (any worker) and in-process (this worker at once), and a wake-up that lands while the
 * step looks is not lost. Time is a ManualClock that never reaches the poll interval, so a step
 * that runs again can only have been woken.
 */

const HOUR = 3_600_000;

/** A workflow whose one step waits (an hour between polls) until `ready` holds its machine. */
function waiting(ready: Set<string>, onLook?: (machineId: string) => Promise<void>): { def: WorkflowDefinition; looks: string[] } {
  const looks: string[] = [];
  return {
    looks,
    def: {
      kind: 'waits',
      steps: [
        {
          name: 'wait_event',
          maxAttempts: 1,
          runTimeoutMs: 5000,
          async run({ workflow }) {
            looks.push(workflow.machineId);
            const seen = ready.has(workflow.machineId);
            await onLook?.(workflow.machineId);
            return seen ? { outcome: 'done' } : { outcome: 'wait', retryInMs: HOUR, detail: 'waiting for the event' };
          },
        },
      ],
    },
  };
}

describe.each(testDatabases())('workflow wake-ups on %s', (dialect) => {
  const t = useTestDatabase(dialect);

  it('boot activity makes a waiting workflow due at once, without its poll interval passing', async () => {
    await seedMachine(t.knex, 'w1');
    const clock = new ManualClock(new Date());
    const ready = new Set<string>();
    const { def, looks } = waiting(ready);
    const id = await createWorkflow(t.knex, { kind: 'waits', machineId: 'w1' }, clock.now().toISOString());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, definitions: [def] });
    const wakeups = new WorkerWakeups(t.knex, { clock });

    await runner.runOnce();
    expect(await runner.runOnce()).toBe(0); // asleep for an hour
    // Activity no step waits for wakes nothing.
    const unawaited = [{ machineId: 'w1', event: 'dhcp_offer' }, { machineId: 'w1', event: 'callback:started' }];
    expect(machinesToWake(unawaited)).toEqual(new Map());
    expect(machinesToWake([...unawaited, { machineId: 'w1', event: 'pxe_seen' }, { machineId: 'w1', event: 'script_served' }, { machineId: 'w1', event: 'callback:first_boot' }]))
      .toEqual(new Map([['network_boot', ['w1']], ['callback', ['w1']]]));
    wakeups.machineActivity(unawaited);
    expect(await wakeups.wakeMachines([])).toBe(0);
    expect(await runner.runOnce()).toBe(0);

    ready.add('w1');
    expect(await wakeups.wakeMachines(['w1'])).toBe(1);
    expect(await runner.runOnce()).toBe(1);
    expect(looks).toEqual(['w1', 'w1']);
    expect((await getWorkflow(t.knex, id))!.status).toBe('succeeded');
    expect((await workflowHistory(t.knex, id)).map((h) => h.outcome)).toEqual(['waiting', 'done']);
  });

  it('keeps a wake-up that arrives while the step looks: the workflow stays due instead of sleeping', async () => {
    await seedMachine(t.knex, 'w2');
    const clock = new ManualClock(new Date());
    const ready = new Set<string>();
    const wakeups = new WorkerWakeups(t.knex, { clock });
    // The event lands after the step looked and before it records its wait: the race a plain
    // "next_run_at = now" wake-up would lose to the wait's own "next_run_at = in an hour".
    const { def, looks } = waiting(ready, async (machineId) => {
      if (looks.length === 1) {
        ready.add(machineId);
        await wakeups.wakeMachines([machineId]);
      }
    });
    const id = await createWorkflow(t.knex, { kind: 'waits', machineId: 'w2' }, clock.now().toISOString());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, definitions: [def] });

    await runner.runOnce();
    expect((await getWorkflow(t.knex, id))!.status).toBe('running');
    expect(await runner.runOnce()).toBe(1);
    expect((await getWorkflow(t.knex, id))!.status).toBe('succeeded');
  });

  it('wakes a sleeping step only for the kind of event it waits for; a step that is not sleeping, for any', async () => {
    await seedMachine(t.knex, 'w9');
    const clock = new ManualClock(new Date());
    const ready = new Set<string>();
    const { def, looks } = waiting(ready);
    def.steps[0]!.wakesOn = 'callback';
    const id = await createWorkflow(t.knex, { kind: 'waits', machineId: 'w9' }, clock.now().toISOString());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, definitions: [def] });
    const wakeups = new WorkerWakeups(t.knex, { clock });

    // Not yet run (not sleeping in a wait): any boot activity makes it due.
    expect(await wakeups.wakeMachines(['w9'], 'network_boot')).toBe(1);
    await runner.runOnce();
    expect((await t.knex('workflows').where({ id }).first('waiting_on')).waiting_on).toBe('callback');
    // Sleeping for a callback: the installer's own network boot leaves it asleep.
    wakeups.machineActivity([{ machineId: 'w9', event: 'pxe_seen' }, { machineId: 'w9', event: 'script_served' }]);
    expect(await wakeups.wakeMachines(['w9'], 'network_boot')).toBe(0);
    expect(await runner.runOnce()).toBe(0);
    expect(looks).toEqual(['w9']);
    // The callback wakes it.
    ready.add('w9');
    wakeups.machineActivity([{ machineId: 'w9', event: 'callback:installed' }]);
    await waitFor(async () => ((await runner.runOnce()) === 1 ? true : null), 5000, 'the callback to wake the step');
    expect(looks).toEqual(['w9', 'w9']);
    const done = await t.knex('workflows').where({ id }).first('status', 'waiting_on');
    expect(done).toEqual({ status: 'succeeded', waiting_on: null });
  });

  it('leaves a workflow in retry back-off alone (boot activity never shortens a retry delay)', async () => {
    await seedMachine(t.knex, 'w3');
    const clock = new ManualClock(new Date());
    let calls = 0;
    const def: WorkflowDefinition = { kind: 'flaky', steps: [{ name: 'bmc', maxAttempts: 3, runTimeoutMs: 5000, run: async () => { calls++; throw new Error('BMC timed out'); } }] };
    await createWorkflow(t.knex, { kind: 'flaky', machineId: 'w3' }, clock.now().toISOString());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, definitions: [def], retryDelayMs: () => HOUR });
    const wakeups = new WorkerWakeups(t.knex, { clock });
    await runner.runOnce();
    expect(await wakeups.wakeMachines(['w3'])).toBe(0);
    expect(await runner.runOnce()).toBe(0);
    expect(calls).toBe(1);
  });

  it('wakes a step that failed once and then went back to waiting (its retry is over)', async () => {
    await seedMachine(t.knex, 'w8');
    const clock = new ManualClock(new Date());
    let calls = 0;
    const def: WorkflowDefinition = {
      kind: 'flaky-wait',
      steps: [{
        name: 'wait_event', maxAttempts: 3, runTimeoutMs: 5000,
        run: async () => {
          if (++calls === 1) throw new Error('BMC timed out');
          return calls === 2 ? { outcome: 'wait', retryInMs: HOUR } : { outcome: 'done' };
        },
      }],
    };
    const id = await createWorkflow(t.knex, { kind: 'flaky-wait', machineId: 'w8' }, clock.now().toISOString());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, definitions: [def], retryDelayMs: () => 0 });
    const wakeups = new WorkerWakeups(t.knex, { clock });
    await runner.runOnce(); // fails, retry due at once
    await runner.runOnce(); // runs again and waits an hour
    expect(calls).toBe(2);
    expect((await getWorkflow(t.knex, id))!.lastError).toBeNull();
    expect(await wakeups.wakeMachines(['w8'])).toBe(1);
    expect(await runner.runOnce()).toBe(1);
    expect((await getWorkflow(t.knex, id))!.status).toBe('succeeded');
  });

  it('wakes a running worker in this process at once (its idle pause is an hour)', async () => {
    await seedMachine(t.knex, 'w4');
    const clock = new ManualClock(new Date());
    const ready = new Set<string>();
    const { def, looks } = waiting(ready);
    const id = await createWorkflow(t.knex, { kind: 'waits', machineId: 'w4' }, clock.now().toISOString());
    const wakeups = new WorkerWakeups(t.knex, { clock });
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, definitions: [def], wakeups });
    const stop = new AbortController();
    const running = runner.run(stop.signal, HOUR);
    try {
      await waitFor(async () => looks.length === 1 && (await getWorkflow(t.knex, id))!.nextRunAt > clock.now().toISOString(), 10_000, 'the step to look and sleep', 10);
      ready.add('w4');
      // What the boot role reports once the event is committed (createBootService onActivity).
      wakeups.machineActivity([{ machineId: 'w4', event: 'pxe_seen' }]);
      await waitFor(async () => (await getWorkflow(t.knex, id))!.status === 'succeeded', 10_000, 'the woken workflow to succeed', 10);
      expect(looks).toEqual(['w4', 'w4']);
    } finally {
      stop.abort();
      await running;
    }
  });

  it('a workflow whose drive fails (unknown kind) is not retried on every wake-up of the loop', async () => {
    await seedMachine(t.knex, 'u1');
    await seedMachine(t.knex, 'u2');
    const clock = new ManualClock(new Date());
    const ready = new Set<string>();
    const { def, looks } = waiting(ready);
    await createWorkflow(t.knex, { kind: 'from-a-newer-version', machineId: 'u1' }, clock.now().toISOString());
    const id = await createWorkflow(t.knex, { kind: 'waits', machineId: 'u2' }, clock.now().toISOString());
    const errors: string[] = [];
    const logger = { error: (_o: unknown, msg: string) => errors.push(msg), warn: () => undefined } as unknown as Logger;
    const wakeups = new WorkerWakeups(t.knex, { clock });
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', clock, definitions: [def], wakeups, logger });
    const stop = new AbortController();
    const running = runner.run(stop.signal, HOUR);
    try {
      for (let i = 1; i <= 4; i++) {
        await waitFor(async () => looks.length === i && (await getWorkflow(t.knex, id))!.nextRunAt > clock.now().toISOString(), 10_000, `look ${i} and its sleep`, 10);
        if (i < 4) await wakeups.wakeMachines(['u2']);
      }
      expect(errors).toEqual(['workflow runner: driving a workflow failed']);
    } finally {
      stop.abort();
      await running;
      await t.knex('workflows').whereIn('machine_id', ['u1', 'u2']).update({ status: 'cancelled' });
    }
  });

  it('the boot event sink reports a batch only once it is written', async () => {
    await seedMachine(t.knex, 'w5');
    const reported: string[] = [];
    let storedWhenReported: Promise<string[]> | null = null;
    const sink = new DbBootEventSink(t.knex, {
      flushMs: HOUR,
      onWritten: (events) => {
        reported.push(...events.map((e) => `${e.machineId}:${e.event}`));
        // Started at the moment of the report: sees what was committed by then.
        storedWhenReported = t.knex('machine_events').where({ machine_id: 'w5' }).orderBy('id').pluck('event').then((rows) => rows as string[]);
      },
    });
    sink.record('w5', 'pxe_seen', { mac: '52:54:00:00:00:05' });
    sink.record('w5', 'dhcp_ack');
    expect(reported).toEqual([]);
    await sink.flush();
    expect(reported).toEqual(['w5:pxe_seen', 'w5:dhcp_ack']);
    expect(await storedWhenReported).toEqual(['pxe_seen', 'dhcp_ack']);
    await sink.close();
  });

  it('runs a workflow\'s completed steps back to back in one pass, each recorded, and releases the lease', async () => {
    await seedMachine(t.knex, 'w6');
    const order: string[] = [];
    const def: WorkflowDefinition = {
      kind: 'chain',
      steps: ['a', 'b', 'c'].map((name) => ({ name, maxAttempts: 1, runTimeoutMs: 5000, run: async (ctx) => {
        // Each step starts only after the previous one's outcome is in the database.
        order.push(`${name}@${ctx.workflow.stepIndex}:${(await t.knex('workflow_steps').where({ workflow_id: ctx.workflow.id, outcome: 'done' }).count({ n: '*' }).first())!.n}`);
        return { outcome: 'done' as const, data: { [name]: true } };
      } })),
    };
    const id = await createWorkflow(t.knex, { kind: 'chain', machineId: 'w6' }, new Date().toISOString());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', definitions: [def] });
    expect(await runner.runOnce()).toBe(3);
    expect(order).toEqual(['a@0:0', 'b@1:1', 'c@2:2']);
    const wf = (await t.knex('workflows').where({ id }).first())!;
    expect(wf.status).toBe('succeeded');
    expect(wf.lease_owner).toBeNull();
    expect((await getWorkflow(t.knex, id))!.data).toEqual({ a: true, b: true, c: true });
    expect((await workflowHistory(t.knex, id)).map((h) => `${h.step}:${h.outcome}`)).toEqual(['a:done', 'b:done', 'c:done']);
    // runStep still runs exactly one step.
    await seedMachine(t.knex, 'w7');
    const id2 = await createWorkflow(t.knex, { kind: 'chain', machineId: 'w7' }, new Date().toISOString());
    expect(await runner.runStep(id2)).toBe(true);
    expect((await getWorkflow(t.knex, id2))!.stepIndex).toBe(1);
    await runner.runOnce();
    expect((await getWorkflow(t.knex, id2))!.status).toBe('succeeded');
  });

  it('two provisioners starting deployments at once start one workflow per allocated order', async () => {
    const orders = new OrderService({ knex: t.knex });
    const machines = ['p1', 'p2', 'p3', 'p4'];
    for (const m of machines) await seedMachine(t.knex, m, 'pair');
    const ids: string[] = [];
    for (let i = 0; i < machines.length; i++) {
      const { order } = await orders.createOrder({
        external_id: `P-${i}`, customer_id: 'c', contact_email: 'c@example.com', hardware_profile: 'pair', country: 'MA', os_image: 'debian-12',
        hostname: `p${i}.example.com`, root_password: true, support_tier: 'managed', paid_at: new Date().toISOString(),
      }, `wake-p-${i}`, { name: 'pipeline' });
      expect(order.status).toBe('allocated');
      ids.push(order.id);
    }
    // Deploy workflows without steps: each succeeds as soon as a runner picks it up.
    const empty: WorkflowDefinition = { kind: 'deploy', steps: [] };
    const make = (owner: string) => new Provisioner({ knex: t.knex, orders, runner: new WorkflowRunner({ knex: t.knex, owner, definitions: [empty] }) });
    const passes = await Promise.all([make('A').tick(), make('B').tick()]);
    expect(passes[0]!.started + passes[1]!.started).toBe(machines.length);
    const all = (await t.knex('workflows').whereIn('order_id', ids).select('order_id')) as { order_id: string }[];
    expect(all.map((w) => w.order_id).sort()).toEqual([...ids].sort());
  });
});
