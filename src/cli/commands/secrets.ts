import { rotateKeyFile, secretBoxFor } from '../../secrets/key-file.js';
import { resealAll, secretsStatus } from '../../secrets/rotation.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import { ConfigError } from '../../config/load.js';
import { CONFIG_FLAGS_HELP, parseCommandArgs } from '../args.js';
import { openCliContext, type CliContext } from '../context.js';
import { UsageError } from '../io.js';
import { formatTable } from './token.js';
import type { CommandRun } from './types.js';

export const SECRETS_USAGE = `Usage:
  anvil secrets status       which keys sealed the stored secrets (BMC passwords, credentials, outbox)
  anvil secrets reseal       re-seal every secret sealed by a previous key with the current key
  anvil secrets rotate-key   (key file only) new <data-dir>/secret.key, the old one kept in
                             secret.key.previous, then reseal; restart the other Anvil processes

Previous keys open old values and never seal new ones. They come from ANVIL_SECRET_KEYS_PREVIOUS
(comma-separated), secret_keys_previous in anvil.yaml, and <data-dir>/secret.key.previous.
With ANVIL_SECRET_KEY (several processes): put the new key in ANVIL_SECRET_KEY and the old one in
ANVIL_SECRET_KEYS_PREVIOUS on every process, restart them, run 'anvil secrets reseal', and drop the
old key once 'anvil secrets status' shows nothing under it. See docs/operations.md.

${CONFIG_FLAGS_HELP}`;

export const runSecrets: CommandRun = async (argv, flags, env) => {
  const { positionals } = parseCommandArgs(argv, {}, SECRETS_USAGE);
  const [action, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`, SECRETS_USAGE);
  if (!['status', 'reseal', 'rotate-key'].includes(action ?? '')) {
    throw new UsageError(action ? `unknown secrets action "${action}"` : 'secrets needs an action: status, reseal or rotate-key', SECRETS_USAGE);
  }
  const config = env.loadConfig(flags);
  if (action === 'rotate-key' && config.secretKey !== undefined) {
    throw new ConfigError('secrets rotate-key: the key comes from ANVIL_SECRET_KEY or secret_key, not from a key file; set the new key there with the old one in ANVIL_SECRET_KEYS_PREVIOUS, restart, then run anvil secrets reseal');
  }
  const ctx = await openCliContext(config, { io: env.io });
  try {
    if (action === 'status') return await printStatus(ctx, ctx.secrets);
    let box = ctx.secrets;
    if (action === 'rotate-key') {
      const rotated = rotateKeyFile(config.dataDir, ctx.secrets.keyId);
      box = secretBoxFor(rotated.key, config.previousSecretKeys, config.dataDir);
      ctx.logger.info({ key_id: box.keyId, previous_key_id: ctx.secrets.keyId }, 'secret key file rotated');
      ctx.stderr(`new key ${box.keyId} in ${rotated.path}; key ${ctx.secrets.keyId} kept in secret.key.previous. Restart every Anvil process that uses this data directory.\n`);
    }
    const result = await resealAll(ctx.knex, box, ctx.actor);
    ctx.stdout(`re-sealed ${result.resealed} secret(s) with key ${box.keyId}${result.raced ? `; ${result.raced} changed meanwhile (already sealed anew)` : ''}\n`);
    for (const f of result.failed.slice(0, 20)) ctx.stderr(`cannot re-seal ${f.table} ${f.id}: ${f.reason}\n`);
    if (result.failed.length > 20) ctx.stderr(`… and ${result.failed.length - 20} more\n`);
    if (result.failed.length > 0) {
      ctx.stderr(`${result.failed.length} secret(s) are sealed by a key this process does not have: add it to ANVIL_SECRET_KEYS_PREVIOUS and run anvil secrets reseal again\n`);
      return 1;
    }
    return 0;
  } finally {
    await ctx.close();
  }
};

async function printStatus(ctx: CliContext, box: SecretBox): Promise<number> {
  const status = await secretsStatus(ctx.knex, box);
  ctx.stdout(`current key: ${status.currentKeyId}; configured: ${status.configuredKeyIds.join(', ')}\n`);
  const rows = status.columns.flatMap((c) => {
    const entries = Object.entries(c.byKey);
    if (entries.length === 0) return [[`${c.table}.${c.column}`, '-', '0', '']];
    return entries.map(([id, n]) => [`${c.table}.${c.column}`, id, String(n), id === status.currentKeyId ? 'current' : status.configuredKeyIds.includes(id) ? 'previous: run reseal' : 'KEY MISSING']);
  });
  ctx.stdout(formatTable(['COLUMN', 'KEY', 'VALUES', 'STATE'], rows));
  if (status.unopenable > 0) ctx.stderr(`${status.unopenable} secret(s) are sealed by a key that is not configured\n`);
  return status.unopenable > 0 ? 1 : 0;
}
