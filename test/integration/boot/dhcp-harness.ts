import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DhcpConfig } from '../../../src/boot/dhcp/config.js';
import type { DhcpStats } from '../../../src/boot/dhcp/server.js';
import type { Reservation } from '../../../src/boot/lookup.js';
import { stopProcess, type Lan } from '../../support/netns.js';
import { tsNodeArgs } from '../../support/ts-child.js';

/** Shared by the DHCP integration tests and bench/dhcp-perf: Anvil's server as a child in a namespace. */
export interface AnvilDhcpChild {
  process: ChildProcess;
  /** Asks for the counters (SIGUSR1) and resolves with the next stats line. */
  stats(): Promise<DhcpStats>;
  /** SIGTERM; resolves with the final counters. */
  stop(): Promise<DhcpStats | null>;
  output(): string;
}

export async function startAnvilDhcp(
  lan: Lan,
  member: string,
  input: { config: DhcpConfig; reservations?: Reservation[]; databaseUrl?: string; logLevel?: string },
  workDir: string,
): Promise<AnvilDhcpChild> {
  const cfg = join(workDir, `anvil-dhcp-${member}.json`);
  writeFileSync(cfg, JSON.stringify(input));
  const child = lan.spawn(member, process.execPath, tsNodeArgs('test/integration/boot/dhcp-server-child.ts', [cfg]));
  let out = '';
  let err = '';
  const waiters: Array<(s: DhcpStats) => void> = [];
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const msg = JSON.parse(line) as { stats?: DhcpStats };
        if (msg.stats) waiters.shift()?.(msg.stats);
      } catch {
        /* not a protocol line */
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`DHCP child not ready in 20 s: ${out}${err}`)), 20_000);
    const check = () => {
      if (out.includes('"ready":true')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`DHCP child exited with ${code}: ${out}${err}`));
    });
  });
  return {
    process: child,
    stats() {
      return new Promise<DhcpStats>((resolve) => {
        waiters.push(resolve);
        child.kill('SIGUSR1');
      });
    },
    async stop() {
      const final = new Promise<DhcpStats | null>((resolve) => {
        waiters.push(resolve);
        child.once('exit', () => resolve(null));
      });
      await stopProcess(child, 5000);
      return final;
    },
    output: () => out + err,
  };
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `anvil-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A udhcpc script that writes its environment to `<dir>/<tag>.env` when a lease is bound. */
export function udhcpcScript(dir: string, tag: string): { script: string; envFile: string; read(): Record<string, string> | null } {
  const envFile = join(dir, `${tag}.env`);
  const script = join(dir, `${tag}.sh`);
  writeFileSync(script, `#!/bin/sh\nif [ "$1" = bound ]; then env > ${envFile}.tmp && mv ${envFile}.tmp ${envFile}; fi\nexit 0\n`);
  chmodSync(script, 0o755);
  return {
    script,
    envFile,
    read() {
      if (!existsSync(envFile)) return null;
      const env: Record<string, string> = {};
      for (const line of readFileSync(envFile, 'utf8').split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
      }
      return env;
    },
  };
}

export { waitFor } from '../../support/wait.js';
