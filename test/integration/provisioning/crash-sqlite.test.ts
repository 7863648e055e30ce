import { jest } from '@jest/globals';
import { DEPLOY_STEPS, expectDeliveredOnce, useCrashSite } from '../../support/crash-site.js';
import { pollUntil } from '../../support/wait.js';

/**
 * Crash safety on SQLite (issue 5 item 7): the embedded setup runs one worker. It is killed with
 * SIGKILL while it drives every deployment; a new worker process on the same file resumes each
 * deployment from its recorded step (after the dead worker's leases expire) and every order is
 * delivered exactly once. The boot role and the simulated servers run in this process, so the
 * file is shared by two processes, as with `anvil serve --roles boot` next to a worker; there is
 * never a second worker (crash.test.ts does that on PostgreSQL).
 */
jest.setTimeout(120_000);

const ORDERS = 6;
const LEASE_SECONDS = 3;
const INSTALL_MS = 2500;
const WAIT_INSTALL = DEPLOY_STEPS.indexOf('wait_install');

describe('crash safety with one worker process on SQLite', () => {
  const t = useCrashSite('sqlite', { count: ORDERS, leaseSeconds: LEASE_SECONDS, installMs: INSTALL_MS });

  it('the worker killed mid-deploy: its replacement resumes every deployment from the recorded step; each order delivered once', async () => {
    const { db } = t;
    const a = await t.startWorker();
    const ids: string[] = [];
    for (let i = 0; i < ORDERS; i++) ids.push(await t.placeOrder(`SQLCRASH-${i}`));

    // Kill A once every deployment is under way and one waits for its installer (a 2.5 s install).
    let live: number[] = [];
    const underWay = await pollUntil(async () => {
      live = (await db.knex('workflows').whereIn('order_id', ids).whereIn('status', ['pending', 'running']).pluck('step_index')) as number[];
      return live.length === ORDERS && live.some((s) => Number(s) >= WAIT_INSTALL);
    }, 30_000, 20);
    if (!underWay) throw new Error(`deployments did not get under way: ${JSON.stringify(live)}`);
    a.child.kill('SIGKILL');
    await a.exited;
    const atKill = (await db.knex('workflows').whereIn('order_id', ids).whereIn('status', ['pending', 'running']).select('id', 'step_index')) as { id: string; step_index: number }[];
    expect(atKill.length).toBeGreaterThan(0);

    const b = await t.startWorker();
    await expectDeliveredOnce(db, ids);
    // Each deployment A left unfinished: A did the steps before the recorded one, B the rest from it.
    for (const w of atKill) {
      const done = (await db.knex('workflow_steps').where({ workflow_id: w.id, outcome: 'done' }).orderBy('step_index').select('step_index', 'worker')) as { step_index: number; worker: string }[];
      expect(done.map((d) => Number(d.step_index))).toEqual([...DEPLOY_STEPS.keys()]);
      expect(done.filter((d) => Number(d.step_index) < Number(w.step_index)).every((d) => d.worker === a.owner)).toBe(true);
      expect(done.filter((d) => Number(d.step_index) >= Number(w.step_index)).map((d) => d.worker)).toEqual(Array(DEPLOY_STEPS.length - Number(w.step_index)).fill(b.owner));
    }
    // Every simulated server installed once and booted its installed system (no second deploy).
    for (const m of t.site.machines) {
      expect(m.stats.networkBoots).toBe(1);
      expect(m.stats.callbacks).toBe(3);
    }
  });
});
