/**
 * One Anvil worker process for the crash test (and anyone who wants a bare worker): the worker
 * role on DATABASE_URL, with the lab's short deploy timeouts and a short workflow lease
 * (LEASE_SECONDS) so a surviving worker takes over a killed one's workflows quickly.
 * Prints `{"ready":true,"owner":...}` once running; stops on SIGTERM.
 *
 *   DATABASE_URL=... ANVIL_SECRET_KEY=... LEASE_SECONDS=3 INSTALL_MS=2000 \
 *     node --import ./test/support/ts-register.mjs test/support/lab-worker-child.ts
 */
import { buildRuntime, buildWorker } from '../../src/cli/runtime.js';
import { openCliContext } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config/load.js';
import { labTimeouts } from '../../src/lab/lab.js';

const config = loadConfig({ env: process.env, flags: { logLevel: process.env.LOG_LEVEL ?? 'warn' } });
const ctx = await openCliContext(config, { migrate: false });
const rt = buildRuntime(ctx);
const installMs = Number(process.env.INSTALL_MS ?? 2000);
const { provisioner } = buildWorker(rt, ctx.logger.child({ role: 'worker' }), labTimeouts(1, installMs), { leaseSeconds: Number(process.env.LEASE_SECONDS ?? 3) });
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());
process.stdout.write(`${JSON.stringify({ ready: true, owner: rt.owner, pid: process.pid })}\n`);
await provisioner.run(stop.signal, 100);
await ctx.close();
