/**
 * `power status` operations per second against N real ipmi_sim BMCs (default 16): Anvil's native
 * lanplus driver vs `ipmitool -I lanplus -C 3 ... chassis power status` (one process per operation)
 * vs FreeIPMI `ipmipower --stat` fanning out over all hosts, sequential and N-way concurrent.
 *
 *   node --import ./test/support/ts-register.mjs bench/ipmi-power-status.ts            # 16 BMCs, 4 s per scenario
 *   IPMI_BENCH_SECONDS=2 IPMI_BENCH_BMCS=8 node --import ./test/support/ts-register.mjs bench/ipmi-power-status.ts
 *   IPMI_BENCH_CHASSIS_SCRIPT=0 node --import ./test/support/ts-register.mjs bench/ipmi-power-status.ts
 *
 * By default the simulators delegate power to a chassis_control shell script, which ipmi_sim forks for
 * every power status read (realistic state, but a few ms of fork/exec per operation on the BMC side).
 * IPMI_BENCH_CHASSIS_SCRIPT=0 leaves power to ipmi_sim itself (always "off"), so the numbers measure
 * the clients.
 *
 * Everything runs on loopback; the simulators are started here and killed by PID at the end.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createIpmiDriver } from '../src/bmc/ipmi/driver.js';
import type { BmcDriver } from '../src/bmc/driver.js';
import { startIpmiSim, type IpmiSim } from '../src/lab/ipmi-sim.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.IPMI_BENCH_SECONDS ?? 4);
const BMCS = Number(process.env.IPMI_BENCH_BMCS ?? 16);
const USER = 'bench';
const PASSWORD = 'bench-password';
const CHASSIS_SCRIPT = process.env.IPMI_BENCH_CHASSIS_SCRIPT !== '0';

interface Result {
  scenario: string;
  concurrency: number;
  ops: number;
  seconds: number;
  opsPerSecond: number;
  errors: number;
}

/** Runs `op(worker)` in `concurrency` loops until the time is up; each loop owns BMC index worker+k*concurrency. */
async function measure(scenario: string, concurrency: number, op: (bmc: number) => Promise<void>, opsPerCall = 1): Promise<Result> {
  let ops = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
    let i = 0;
    while (performance.now() < deadline) {
      const bmc = concurrency === 1 ? i % BMCS : worker % BMCS;
      i++;
      try {
        await op(bmc);
        ops += opsPerCall;
      } catch (err) {
        errors++;
        if (errors === 1) console.error(`${scenario}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const result = { scenario, concurrency, ops, seconds: Number(seconds.toFixed(2)), opsPerSecond: Number((ops / seconds).toFixed(1)), errors };
  console.error(`${scenario} x${concurrency}: ${result.opsPerSecond} ops/s (${ops} ops, ${errors} errors)`);
  return result;
}

async function main(): Promise<void> {
  const sims: IpmiSim[] = [];
  const drivers: BmcDriver[] = [];
  try {
    for (let i = 0; i < BMCS; i++) sims.push(await startIpmiSim({ user: USER, password: PASSWORD, power: i % 2 ? 'on' : 'off', powerControl: CHASSIS_SCRIPT }));
    console.error(`${BMCS} ipmi_sim BMCs on ports ${sims.map((s) => s.port).join(',')}; chassis_control script: ${CHASSIS_SCRIPT}; ${SECONDS} s per scenario`);
    const endpoint = (sim: IpmiSim) => ({ protocol: 'ipmi' as const, host: sim.host, port: sim.port, username: USER, password: PASSWORD, tls: 'verify', timeoutMs: 5000 });
    for (const sim of sims) drivers.push(createIpmiDriver(endpoint(sim)));
    // sanity: every tool agrees on every BMC before anything is timed
    for (const [i, sim] of sims.entries()) {
      const state = await drivers[i]!.powerState();
      if (state !== sim.power()) throw new Error(`native driver read ${state} from BMC ${i}, simulator says ${sim.power()}`);
    }
    const ipmitoolArgs = (sim: IpmiSim) => ['-I', 'lanplus', '-C', '3', '-H', sim.host, '-p', String(sim.port), '-U', USER, '-E', 'chassis', 'power', 'status'];
    const env = { ...process.env, IPMI_PASSWORD: PASSWORD };
    const ipmitool = async (bmc: number): Promise<void> => {
      const { stdout } = await run('ipmitool', ipmitoolArgs(sims[bmc]!), { env, timeout: 20_000 });
      if (!stdout.includes(`Chassis Power is ${sims[bmc]!.power()}`)) throw new Error(`ipmitool said: ${stdout.trim()}`);
    };
    const hosts = sims.map((s) => `${s.host}:${s.port}`).join(',');
    const ipmipowerArgs = ['-D', 'LAN_2_0', '-h', hosts, '-u', USER, '-p', PASSWORD, '-I', '3', '-l', 'ADMIN', '-W', 'opensesspriv', '-F', String(BMCS), '--stat'];
    const ipmipower = async (): Promise<void> => {
      const { stdout } = await run('ipmipower', ipmipowerArgs, { timeout: 30_000 });
      const lines = stdout.trim().split('\n').filter((l) => /: (on|off)$/.test(l));
      if (lines.length !== BMCS) throw new Error(`ipmipower answered for ${lines.length}/${BMCS} hosts: ${stdout.trim().slice(0, 200)}`);
    };
    const nativeWarm = async (bmc: number): Promise<void> => {
      await drivers[bmc]!.powerState();
    };
    const nativeCold = async (bmc: number): Promise<void> => {
      const d = createIpmiDriver(endpoint(sims[bmc]!));
      try {
        await d.powerState();
      } finally {
        await d.close();
      }
    };

    const results: Result[] = [];
    results.push(await measure('anvil native (session reused)', 1, nativeWarm));
    results.push(await measure('anvil native (session reused)', BMCS, nativeWarm));
    results.push(await measure('anvil native (new session per op)', 1, nativeCold));
    results.push(await measure('anvil native (new session per op)', BMCS, nativeCold));
    results.push(await measure('ipmitool process per op', 1, ipmitool));
    results.push(await measure('ipmitool process per op', BMCS, ipmitool));
    results.push(await measure(`ipmipower --stat over ${BMCS} hosts`, 1, ipmipower, BMCS));

    const rate = (scenario: string, concurrency: number): number => results.find((r) => r.scenario.startsWith(scenario) && r.concurrency === concurrency)?.opsPerSecond ?? NaN;
    console.log(`| scenario | concurrency | ops/s | ops | s | errors |\n|---|---:|---:|---:|---:|---:|`);
    for (const r of results) console.log(`| ${r.scenario} | ${r.concurrency} | ${r.opsPerSecond} | ${r.ops} | ${r.seconds} | ${r.errors} |`);
    for (const c of [1, BMCS]) {
      console.log(`\nnative (reused) / ipmitool at concurrency ${c}: ${(rate('anvil native (session reused)', c) / rate('ipmitool', c)).toFixed(1)}x`);
      console.log(`native (new session) / ipmitool at concurrency ${c}: ${(rate('anvil native (new session', c) / rate('ipmitool', c)).toFixed(1)}x`);
    }
    console.log(`native (reused, x${BMCS}) / ipmipower fan-out: ${(rate('anvil native (session reused)', BMCS) / rate('ipmipower', 1)).toFixed(1)}x`);
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
    await Promise.all(sims.map((s) => s.stop()));
  }
}

await main();
