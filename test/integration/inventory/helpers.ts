import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { runInventory } from '../../../src/cli/commands/inventory.js';
import type { CliContext } from '../../../src/cli/context.js';
import type { AnvilConfig } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';
import type { Actor } from '../../../src/db/repositories/audit.js';
import { UnprocessableError } from '../../../src/errors.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { InventoryService } from '../../../src/inventory/service.js';
import type { MachineCreateInput } from '../../../src/inventory/schemas.js';

export const actor: Actor = { name: 'cli:test' };

export function newService(knex: Knex): { service: InventoryService; secrets: SecretBox } {
  const secrets = new SecretBox(randomBytes(32));
  return { service: new InventoryService({ knex, secrets }), secrets };
}

/** Rows per inventory table, to prove an operation wrote nothing. */
export async function tableCounts(knex: Knex): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['sites', 'racks', 'machines', 'machine_bmcs', 'nics', 'audit_log']) {
    const [{ n }] = await knex(t).count({ n: '*' });
    out[t] = Number(n);
  }
  return out;
}

export function machineInput(i: number, over: Partial<MachineCreateInput> = {}): MachineCreateInput {
  const hex = i.toString(16).padStart(2, '0');
  return {
    serial: `SER-${String(i).padStart(4, '0')}`,
    hardware_profile: i % 2 === 0 ? 'dell-r650-128g' : 'smc-x12-64g',
    site: 'MA-NOU1',
    rack: 'A01',
    rack_unit: i,
    bmc: { protocol: i % 2 === 0 ? 'redfish' : 'ipmi', host: '127.0.0.1', port: 18000 + i, username: 'admin', password: `pw-secret-${i}`, tls: 'insecure' },
    nics: [
      { name: 'eno1', mac: `AA-BB-CC-00-00-${hex}`, pxe: true, ipv4: { address: `10.20.0.${i}`, prefix: 24, gateway: '10.20.0.1' } },
      { name: 'eno2', mac: `aabb.cc01.00${hex}` },
    ],
    ...over,
  };
}

/**
 * `anvil inventory` run in process on the test database (`t`, whose knex is ready by the time the
 * hooks run), its output captured; `file` writes an input file into a temporary directory.
 */
export function useInventoryCli(t: { knex: Knex }, prefix: string) {
  let dir = '';
  let out: string[] = [];
  let err: string[] = [];
  let ctx: CliContext;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    ctx = {
      config: {} as AnvilConfig,
      knex: t.knex,
      secrets: newService(t.knex).secrets,
      logger: silentLogger(),
      stdout: (s) => out.push(s),
      stderr: (s) => err.push(s),
      actor,
      close: async () => undefined,
    };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir: (): string => dir,
    file(name: string, content: string | Buffer): string {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    async run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      out = [];
      err = [];
      const code = await runInventory(argv, ctx);
      return { code, stdout: out.join(''), stderr: err.join('') };
    },
  };
}

/** The error a promise that must fail fails with (it fails the test when it resolves). */
export async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('import was expected to fail');
    },
    (e: unknown) => e as Error,
  );
}

/** The problems of a refused import, as `FILE:LINE field: message` strings. */
export async function problemsOf(p: Promise<unknown>): Promise<string[]> {
  const err = await failure(p);
  expect(err).toBeInstanceOf(UnprocessableError);
  const details = (err as UnprocessableError).details as { file: string; line?: number; field: string; message: string }[];
  return details.map((d) => `${d.file}:${d.line} ${d.field}: ${d.message}`);
}
