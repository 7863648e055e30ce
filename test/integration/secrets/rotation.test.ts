import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DELIVERED_PAYLOAD } from '../../../src/notifications/outbox.js';
import { decodeSecretKey, keyIdOf, SecretBox } from '../../../src/secrets/secret-box.js';
import { useCliDatabase } from '../../support/cli.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { resealAll } from '../../../src/secrets/rotation.js';

/**
 * Secret key rotation through the CLI, on both databases: the key file is replaced, every stored
 * secret (BMC password, order credentials, outbox payload) is re-sealed with the new key and still
 * opens to the same value, and what cannot be re-sealed is named.
 */
const INVENTORY = `sites:
  - { code: RT-1, name: Rotation, country: MA, city: Nouacer, timezone: Africa/Casablanca }
machines:
  - serial: ROT-1
    hardware_profile: p
    site: RT-1
    bmc: { protocol: ipmi, host: 127.0.0.1, port: 6230, username: ADMIN, password: "bmc-pass-1" }
    nics: [{ name: eno1, mac: "52:54:00:5e:00:01", pxe: true }]
`;

describe.each(testDatabases())('anvil secrets on %s', (dialect) => {
  const cli = useCliDatabase(dialect, 'anvil-secrets-');
  const run = cli.run;
  const dataDir = (): string => join(cli.dir, 'data');
  const fileKey = (): Buffer => decodeSecretKey(readFileSync(join(dataDir(), 'secret.key'), 'utf8'));
  const exportedPassword = async (): Promise<string> => {
    const r = await run(['inventory', 'export', '--with-secrets']);
    expect(r.code).toBe(0);
    return /password: (\S+)/.exec(r.stdout)![1]!.replace(/^"|"$/g, '');
  };

  it('rotates the key file and re-seals every stored secret, which still opens to the same value', async () => {
    const file = join(cli.dir, 'inventory.yaml');
    writeFileSync(file, INVENTORY);
    expect((await run(['inventory', 'import', file])).code).toBe(0);
    const oldKey = fileKey();
    const oldBox = new SecretBox(oldKey);
    const machine = await cli.db.knex('machines').where({ serial: 'ROT-1' }).first('id');
    const now = new Date().toISOString();
    await cli.db.knex('orders').insert({
      id: 'ord-rot-1', idempotency_key: 'rot-1', request_hash: 'x'.repeat(64), created_by: 'test', external_id: 'EXT-ROT-1', customer_id: 'c1', contact_email: 'c1@example.com', hardware_profile: 'p', country: 'MA',
      os_image: 'debian-12', hostname: 'h1', support_tier: 'managed', status: 'delivered', machine_id: machine.id,
      paid_at: now, deadline_at: now, created_at: now, updated_at: now,
      credentials_enc: oldBox.seal(JSON.stringify({ username: 'root', password: 'delivered-pass' })),
    });
    // The outbox: one notification waiting (its payload sealed), one delivered (its payload erased,
    // no longer a secret: neither counted nor re-sealed).
    const notification = (id: string, status: string, payload: string) => ({
      id, event: 'order.delivered', subject_type: 'order', subject_id: 'ord-rot-1', channel: 'webhook', payload, status, attempts: 0, next_attempt_at: now, created_at: now,
    });
    await cli.db.knex('notifications').insert([
      notification('ntf-pending', 'pending', oldBox.seal('{"password":"queued-pass"}')),
      notification('ntf-delivered', 'delivered', DELIVERED_PAYLOAD),
    ]);

    const before = await run(['secrets', 'status']);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(new RegExp(`machine_bmcs\\.password_enc\\s+${oldBox.keyId}\\s+1\\s+current`));
    expect(before.stdout).toMatch(new RegExp(`orders\\.credentials_enc\\s+${oldBox.keyId}\\s+1\\s+current`));
    expect(before.stdout).toMatch(new RegExp(`notifications\\.payload\\s+${oldBox.keyId}\\s+1\\s+current`));
    expect(before.stdout).not.toContain('KEY MISSING');

    const rotated = await run(['secrets', 'rotate-key']);
    expect(rotated.code).toBe(0);
    const newKey = fileKey();
    expect(newKey.equals(oldKey)).toBe(false);
    expect(readFileSync(join(dataDir(), 'secret.key.previous'), 'utf8').trim()).toBe(oldKey.toString('base64'));
    expect(rotated.stdout).toBe(`re-sealed 3 secret(s) with key ${keyIdOf(newKey)}\n`);
    expect(rotated.messages.join('\n')).toContain(`key ${oldBox.keyId} kept in secret.key.previous`);

    const newBox = new SecretBox(newKey);
    const bmc = await cli.db.knex('machine_bmcs').where({ machine_id: machine.id }).first('password_enc');
    expect(String(bmc.password_enc).startsWith(`v1:${newBox.keyId}:`)).toBe(true);
    expect(newBox.open(String(bmc.password_enc))).toBe('bmc-pass-1');
    const order = await cli.db.knex('orders').where({ id: 'ord-rot-1' }).first('credentials_enc');
    expect(JSON.parse(newBox.open(String(order.credentials_enc)))).toEqual({ username: 'root', password: 'delivered-pass' });
    const payloads = Object.fromEntries((await cli.db.knex('notifications').select('id', 'payload')).map((n: { id: string; payload: string }) => [n.id, n.payload]));
    expect(newBox.open(payloads['ntf-pending'])).toBe('{"password":"queued-pass"}');
    expect(payloads['ntf-delivered']).toBe(DELIVERED_PAYLOAD);

    // Nothing is left under the old key, so it can go: the data stays readable with the new key alone.
    const after = await run(['secrets', 'status']);
    expect(after.stdout).not.toContain(oldBox.keyId + ' ');
    unlinkSync(join(dataDir(), 'secret.key.previous'));
    expect(await exportedPassword()).toBe('bmc-pass-1');
    const audit = await cli.db.knex('audit_log').where({ action: 'secrets.reseal' });
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit[0])).not.toContain('bmc-pass-1');
  });

  it('re-seals values of a key given in ANVIL_SECRET_KEYS_PREVIOUS (keys from the environment)', async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const machine = await cli.db.knex('machines').where({ serial: 'ROT-1' }).first('id');
    await cli.db.knex('machine_bmcs').where({ machine_id: machine.id }).update({ password_enc: new SecretBox(oldKey).seal('env-pass') });
    const keys = { ANVIL_SECRET_KEY: newKey.toString('base64'), ANVIL_SECRET_KEYS_PREVIOUS: oldKey.toString('base64') };
    const status = await run(['secrets', 'status'], keys);
    expect(status.stdout).toMatch(new RegExp(`${keyIdOf(oldKey)}\\s+1\\s+previous: run reseal`));
    // rotate-key is for key files; with keys in the environment the operator swaps them.
    const refused = await run(['secrets', 'rotate-key'], keys);
    expect(refused.code).toBe(2);
    expect(refused.messages[0]).toMatch(/^anvil: secrets rotate-key: the key comes from ANVIL_SECRET_KEY/);
    const resealed = await run(['secrets', 'reseal'], keys);
    // The order credentials are sealed by the file key, which this environment does not name: left as
    // they are, named, and the exit code says the rotation is not finished.
    expect(resealed.code).toBe(1);
    expect(resealed.stdout).toMatch(/^re-sealed 1 secret\(s\)/);
    expect(resealed.messages[0]).toMatch(/^cannot re-seal orders ord-rot-1: secret was sealed with key \w{8}, which is not configured$/);
    const bmc = await cli.db.knex('machine_bmcs').where({ machine_id: machine.id }).first('password_enc');
    expect(new SecretBox(newKey).open(String(bmc.password_enc))).toBe('env-pass');
  });

  it('names what it cannot re-seal and exits 1 when a key is missing', async () => {
    const lostKey = randomBytes(32);
    await cli.db.knex('orders').where({ id: 'ord-rot-1' }).update({ credentials_enc: new SecretBox(lostKey).seal('{"password":"x"}') });
    const status = await run(['secrets', 'status']);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(new RegExp(`orders\\.credentials_enc\\s+${keyIdOf(lostKey)}\\s+1\\s+KEY MISSING`));
    const r = await run(['secrets', 'reseal']);
    expect(r.code).toBe(1);
    expect(r.messages).toContain(`cannot re-seal orders ord-rot-1: secret was sealed with key ${keyIdOf(lostKey)}, which is not configured`);
    expect(existsSync(join(dataDir(), 'secret.key'))).toBe(true);
  });

  it('refuses to serve with a key that opens none of the stored secrets, naming the keys', async () => {
    const wrong = randomBytes(32);
    const r = await run(['serve', '--roles', 'api', '--listen', '127.0.0.1:0'], { ANVIL_SECRET_KEY: wrong.toString('base64') });
    expect(r.code).toBe(2);
    expect(r.messages[0]).toMatch(new RegExp(`^anvil: the secret key \\(key ${keyIdOf(wrong)}, .*\\) opens none of the \\d+ secrets stored in the database, sealed with key .*${keyIdOf(fileKey())}`));
  });
});

describe.each(testDatabases())('resealAll in batches on %s', (dialect) => {
  const t = useTestDatabase(dialect);

  it('pages through every value, skipping (and naming) the one whose key is gone, and re-seals each once', async () => {
    const oldKey = randomBytes(32);
    const lostKey = randomBytes(32);
    const box = new SecretBox(randomBytes(32), [oldKey]);
    const oldBox = new SecretBox(oldKey);
    const now = new Date().toISOString();
    const ids = Array.from({ length: 7 }, (_, i) => `ntf-${i}`);
    await t.knex('notifications').insert(ids.map((id, i) => ({
      id, event: 'order.delivered', subject_type: 'order', subject_id: 'o1', channel: 'webhook', status: 'pending', attempts: 0, next_attempt_at: now, created_at: now,
      // The fourth value was sealed with a key nobody has any more.
      payload: (i === 3 ? new SecretBox(lostKey) : oldBox).seal(`{"n":${i}}`),
    })));
    const result = await resealAll(t.knex, box, { name: 'test' }, { batchSize: 2 });
    expect(result.resealed).toBe(6);
    expect(result.failed.map((f) => f.id)).toEqual(['ntf-3']);
    expect(result.raced).toBe(0);
    const rows = (await t.knex('notifications').orderBy('id').select('id', 'payload')) as { id: string; payload: string }[];
    for (const [i, row] of rows.entries()) {
      if (i === 3) continue;
      expect(row.payload.startsWith(`v1:${box.keyId}:`)).toBe(true);
      expect(box.open(row.payload)).toBe(`{"n":${i}}`);
    }
    // Run again: nothing left to do but the value it cannot open.
    const again = await resealAll(t.knex, box, { name: 'test' }, { batchSize: 2 });
    expect(again).toEqual({ resealed: 0, failed: [expect.objectContaining({ id: 'ntf-3' })], raced: 0 });
  });
});
