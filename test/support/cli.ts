import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from './databases.js';

/** What one `anvil` invocation printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stderr without JSON log lines: what the operator reads. */
  messages: string[];
}

/** An io for `main` that records what it prints (for commands a test runs in the background). */
export function recordingIo(env: NodeJS.ProcessEnv, signal?: AbortSignal): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), env, ...(signal ? { signal } : {}) }, out, err };
}

function cliResult(code: number, out: string[], err: string[]): CliRun {
  const stderr = err.join('');
  return { code, stdout: out.join(''), stderr, messages: stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{')) };
}

/** Runs `anvil argv…` in this process with `env` as its environment. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const { io, out, err } = recordingIo(env);
  return cliResult(await main(argv, io), out, err);
}

/**
 * Registers beforeAll/afterAll hooks for CLI tests on a database: a temporary directory, a test
 * database (a file in it for SQLite) and the environment that points `anvil` at both.
 */
export function useCliDatabase(dialect: TestDialect, prefix: string): {
  readonly dir: string;
  readonly db: TestDatabase;
  readonly env: NodeJS.ProcessEnv;
  run(argv: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliRun>;
} {
  let dir = '';
  let db: TestDatabase | undefined;
  let env: NodeJS.ProcessEnv = {};
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    db = await createTestDatabase(dialect, { file: join(dir, 'anvil.sqlite') });
    env = { DATABASE_URL: db.url, ANVIL_DATA_DIR: join(dir, 'data'), ANVIL_LOG_LEVEL: 'warn' };
  });
  afterAll(async () => {
    await db?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get db() {
      return db!;
    },
    get env() {
      return env;
    },
    run: (argv, extraEnv = {}) => runCli(argv, { ...env, ...extraEnv }),
  };
}
