import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { createWorkflow, getWorkflow, workflowHistory, WorkflowRunner, StepFailedError, type WorkflowDefinition } from '../../../src/provisioning/workflows/engine.js';
import { ManualClock } from '../../../src/clock.js';
import { ConflictError } from '../../../src/errors.js';
import { seedMachine } from '../../support/seed.js';

describe.each(testDatabases())('workflow engine on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const now = () => new Date().toISOString();

  it('runs steps in order, carries data between them, waits, and records the history', async () => {
    await seedMachine(t.knex, 'm1');
    const effects: string[] = [];
    let polls = 0;
    const def: WorkflowDefinition = {
      kind: 'demo',
      steps: [
        { name: 'first', maxAttempts: 1, runTimeoutMs: 5000, run: async () => { effects.push('first'); return { outcome: 'done', data: { token: 'abc' } }; } },
        { name: 'wait', maxAttempts: 1, runTimeoutMs: 5000, run: async () => (++polls < 3 ? { outcome: 'wait', retryInMs: 0, detail: 'not yet' } : { outcome: 'done' }) },
        { name: 'last', maxAttempts: 1, runTimeoutMs: 5000, run: async (ctx) => { effects.push(`last:${ctx.workflow.data.token}`); return { outcome: 'done' }; } },
      ],
      onSucceeded: async (trx, wf) => { await trx('machines').where({ id: wf.machineId }).update({ provision_state: 'active' }); },
    };
    const id = await createWorkflow(t.knex, { kind: 'demo', machineId: 'm1' }, now());
    await expect(createWorkflow(t.knex, { kind: 'demo', machineId: 'm1' }, now())).rejects.toBeInstanceOf(ConflictError);
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w1', definitions: [def] });
    for (let i = 0; i < 10 && (await getWorkflow(t.knex, id))!.status !== 'succeeded'; i++) await runner.runOnce();
    expect((await getWorkflow(t.knex, id))!.status).toBe('succeeded');
    expect(effects).toEqual(['first', 'last:abc']);
    expect((await t.knex('machines').where({ id: 'm1' }).first()).provision_state).toBe('active');
    const history = await workflowHistory(t.knex, id);
    expect(history.map((h) => `${h.step}:${h.outcome}`)).toEqual(['first:done', 'wait:waiting', 'wait:done', 'last:done']);
  });

  it('gives the steps of one drive one memo, and each drive a new one', async () => {
    await seedMachine(t.knex, 'm-memo');
    const seen: Array<{ step: string; memo: Map<string, unknown>; had: unknown }> = [];
    let waited = false;
    const look = (step: string, ctx: { memo: Map<string, unknown> }) => {
      seen.push({ step, memo: ctx.memo, had: ctx.memo.get('k') });
      ctx.memo.set('k', step);
    };
    const def: WorkflowDefinition = {
      kind: 'memo',
      steps: [
        { name: 'a', maxAttempts: 1, runTimeoutMs: 5000, run: async (ctx) => { look('a', ctx); return { outcome: 'done' }; } },
        { name: 'b', maxAttempts: 1, runTimeoutMs: 5000, run: async (ctx) => { look('b', ctx); if (waited) return { outcome: 'done' }; waited = true; return { outcome: 'wait', retryInMs: 0 }; } },
      ],
    };
    const id = await createWorkflow(t.knex, { kind: 'memo', machineId: 'm-memo' }, now());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w-memo', definitions: [def] });
    await runner.runOnce();
    await runner.runOnce();
    expect((await getWorkflow(t.knex, id))!.status).toBe('succeeded');
    expect(seen.map((s) => [s.step, s.had])).toEqual([['a', undefined], ['b', 'a'], ['b', undefined]]);
    expect(seen[1]!.memo).toBe(seen[0]!.memo);
    expect(seen[2]!.memo).not.toBe(seen[0]!.memo);
  });

  it('retries a failing step, then fails the workflow and runs onFailed in the same transaction', async () => {
    await seedMachine(t.knex, 'm2');
    let calls = 0;
    const def: WorkflowDefinition = {
      kind: 'flaky',
      steps: [{ name: 'power_on', maxAttempts: 3, runTimeoutMs: 5000, run: async () => { calls++; throw new Error('BMC timed out'); } }],
      onFailed: async (trx, wf, err, step) => { await trx('machines').where({ id: wf.machineId }).update({ provision_state: 'failed', last_error: `${step}: ${err.message}` }); },
    };
    const id = await createWorkflow(t.knex, { kind: 'flaky', machineId: 'm2' }, now());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w1', definitions: [def], retryDelayMs: () => 0 });
    for (let i = 0; i < 5; i++) await runner.runOnce();
    expect(calls).toBe(3);
    const wf = (await getWorkflow(t.knex, id))!;
    expect(wf.status).toBe('failed');
    expect(wf.lastError).toBe('power_on: BMC timed out');
    expect((await t.knex('machines').where({ id: 'm2' }).first()).last_error).toBe('power_on: BMC timed out');
    expect((await workflowHistory(t.knex, id)).map((h) => h.outcome)).toEqual(['retry', 'retry', 'failed']);
  });

  it('fails at once on StepFailedError and when a step exceeds its time budget', async () => {
    await seedMachine(t.knex, 'm3');
    const def: WorkflowDefinition = { kind: 'fatal', steps: [{ name: 'x', maxAttempts: 5, runTimeoutMs: 5000, run: async () => { throw new StepFailedError('no such image'); } }] };
    const id = await createWorkflow(t.knex, { kind: 'fatal', machineId: 'm3' }, now());
    await new WorkflowRunner({ knex: t.knex, owner: 'w', definitions: [def] }).runOnce();
    expect((await getWorkflow(t.knex, id))!.status).toBe('failed');

    await seedMachine(t.knex, 'm4');
    const hung: WorkflowDefinition = { kind: 'hung', steps: [{ name: 'hang', maxAttempts: 1, runTimeoutMs: 50, run: () => new Promise(() => undefined) }] };
    const id2 = await createWorkflow(t.knex, { kind: 'hung', machineId: 'm4' }, now());
    await new WorkflowRunner({ knex: t.knex, owner: 'w', definitions: [hung] }).runOnce();
    const wf = (await getWorkflow(t.knex, id2))!;
    expect(wf.status).toBe('failed');
    expect(wf.lastError).toMatch(/exceeded its 50 ms budget/);
  });

  it('resumes at the recorded step when the worker that held the lease died', async () => {
    await seedMachine(t.knex, 'm5');
    const effects: string[] = [];
    const def: WorkflowDefinition = {
      kind: 'resume',
      steps: ['a', 'b', 'c'].map((name) => ({ name, maxAttempts: 1, runTimeoutMs: 5000, run: async () => { effects.push(name); return { outcome: 'done' as const }; } })),
    };
    const id = await createWorkflow(t.knex, { kind: 'resume', machineId: 'm5' }, now());
    await new WorkflowRunner({ knex: t.knex, owner: 'dead', definitions: [def] }).runStep(id);
    // The dead worker held the lease on step b when it died; the lease is still valid.
    await t.knex('workflows').where({ id }).update({ lease_owner: 'dead', lease_purpose: 'workflow', lease_expires_at: new Date(Date.now() + 60_000).toISOString() });
    const other = new WorkflowRunner({ knex: t.knex, owner: 'alive', definitions: [def] });
    expect(await other.runOnce()).toBe(0);
    await t.knex('workflows').where({ id }).update({ lease_expires_at: new Date(Date.now() - 1000).toISOString() });
    for (let i = 0; i < 3; i++) await other.runOnce();
    expect(effects).toEqual(['a', 'b', 'c']);
    expect((await getWorkflow(t.knex, id))!.status).toBe('succeeded');
  });

  it('never runs a step twice when two runners share the database', async () => {
    const counts = new Map<string, number>();
    const def: WorkflowDefinition = {
      kind: 'shared',
      steps: ['s1', 's2'].map((name) => ({ name, maxAttempts: 1, runTimeoutMs: 5000, run: async (ctx) => { const k = `${ctx.workflow.id}:${name}`; counts.set(k, (counts.get(k) ?? 0) + 1); await new Promise((r) => setTimeout(r, 5)); return { outcome: 'done' as const }; } })),
    };
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      await seedMachine(t.knex, `par-${i}`);
      ids.push(await createWorkflow(t.knex, { kind: 'shared', machineId: `par-${i}` }, now()));
    }
    const a = new WorkflowRunner({ knex: t.knex, owner: 'A', definitions: [def] });
    const b = new WorkflowRunner({ knex: t.knex, owner: 'B', definitions: [def] });
    for (let i = 0; i < 6; i++) await Promise.all([a.runOnce(), b.runOnce()]);
    const statuses = await t.knex('workflows').whereIn('id', ids).pluck('status');
    expect(statuses.every((s: string) => s === 'succeeded')).toBe(true);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(counts.size).toBe(40);
  });

  it('uses the injected clock for waits', async () => {
    await seedMachine(t.knex, 'm6');
    const clock = new ManualClock(new Date());
    const def: WorkflowDefinition = { kind: 'later', steps: [{ name: 'w', maxAttempts: 1, runTimeoutMs: 5000, run: async (ctx) => (ctx.now.getTime() - ctx.stepStartedAt.getTime() >= 60_000 ? { outcome: 'done' } : { outcome: 'wait', retryInMs: 30_000 }) }] };
    const id = await createWorkflow(t.knex, { kind: 'later', machineId: 'm6' }, clock.now().toISOString());
    const runner = new WorkflowRunner({ knex: t.knex, owner: 'w', definitions: [def], clock });
    await runner.runOnce();
    expect(await runner.runOnce()).toBe(0);
    clock.advance(30_000);
    await runner.runOnce();
    expect((await getWorkflow(t.knex, id))!.status).toBe('running');
    clock.advance(30_000);
    await runner.runOnce();
    expect((await getWorkflow(t.knex, id))!.status).toBe('succeeded');
  });
});
