import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isAnvilError, UnprocessableError } from '../../errors.js';
import { formatProblem, type ImportReport } from '../../inventory/import.js';
import { InventoryService } from '../../inventory/service.js';
import type { CliContext } from '../context.js';
import { writeAudit } from '../../db/repositories/audit.js';

const USAGE = `Usage:
  anvil inventory import FILE [--dry-run]   create/update sites, racks and machines from a YAML file
                                           (all or nothing; nothing missing from the file is deleted)
  anvil inventory export [--with-secrets]   print the inventory as YAML (BMC passwords only with --with-secrets)
`;

/** Past this many, more problems only scroll the first ones away; the count still says how many. */
const MAX_PROBLEMS = 50;

/**
 * `anvil inventory import|export`. Exit codes: 0 done, 1 the file has problems (each printed
 * to stderr as `FILE:LINE field: message`; nothing was written), 2 wrong usage.
 */
export async function runInventory(argv: string[], ctx: CliContext): Promise<number> {
  let values: { 'dry-run'?: boolean; 'with-secrets'?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { 'dry-run': { type: 'boolean' }, 'with-secrets': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    return usage(ctx, (err as Error).message.split('\n')[0]!);
  }
  if (values.help) {
    ctx.stdout(USAGE);
    return 0;
  }
  const [action, ...args] = positionals;
  const service = new InventoryService({ knex: ctx.knex, secrets: ctx.secrets });

  if (action === 'import') {
    if (args.length !== 1) return usage(ctx, args.length === 0 ? 'inventory import needs a FILE' : `unexpected argument "${args[1]}"`);
    if (values['with-secrets']) return usage(ctx, '--with-secrets is for inventory export');
    const file = args[0]!;
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      ctx.stderr(`anvil: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 1;
    }
    let text: string;
    try {
      // Decoding leniently would turn a binary or Latin-1 file into replacement characters that
      // then fail as a flood of YAML errors (or worse, import as mojibake).
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      ctx.stderr(`anvil: ${file}: not a YAML text file (not valid UTF-8); nothing was written\n`);
      return 1;
    }
    try {
      const report = await service.importInventory(text, { dryRun: values['dry-run'] ?? false, actor: ctx.actor, fileName: file });
      ctx.stdout(formatReport(report));
      return 0;
    } catch (err) {
      if (err instanceof UnprocessableError && Array.isArray(err.details)) {
        for (const p of err.details.slice(0, MAX_PROBLEMS)) ctx.stderr(`${formatProblem(p)}\n`);
        if (err.details.length > MAX_PROBLEMS) ctx.stderr(`… and ${err.details.length - MAX_PROBLEMS} more\n`);
        ctx.stderr(`anvil: ${err.message}; nothing was written\n`);
        return 1;
      }
      if (isAnvilError(err)) {
        ctx.stderr(`anvil: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  }

  if (action === 'export') {
    if (args.length > 0) return usage(ctx, `unexpected argument "${args[0]}"`);
    if (values['dry-run']) return usage(ctx, '--dry-run is for inventory import');
    const withSecrets = values['with-secrets'] ?? false;
    const yaml = await service.exportInventory({ withSecrets });
    if (withSecrets) await recordSecretExport(ctx);
    ctx.stdout(yaml);
    return 0;
  }

  return usage(ctx, action ? `unknown inventory action "${action}"` : 'inventory needs an action: import or export');
}

/**
 * An export with secrets hands every BMC password to whoever gets the output, so it is audited like
 * a mutation; the row is written before anything is printed, so no row means no passwords shown.
 */
async function recordSecretExport(ctx: CliContext): Promise<void> {
  const [row] = await ctx.knex('machine_bmcs').count({ n: '*' });
  const bmcs = Number(row?.n ?? 0);
  // Not `passwords`: the audit redaction would hide a key with that name.
  await writeAudit(ctx.knex, ctx.actor, { action: 'inventory.export_secrets', targetType: 'inventory', targetId: null, after: { bmc_records: bmcs } });
  ctx.stderr(`anvil: warning: this export holds ${bmcs} BMC password${bmcs === 1 ? '' : 's'} in clear text; store it like a secret (audited as inventory.export_secrets)\n`);
}

function usage(ctx: CliContext, message: string): number {
  ctx.stderr(`anvil: ${message}\n\n${USAGE}`);
  return 2;
}

/** The human summary: what was (or would be) created and updated, with field names. */
export function formatReport(report: ImportReport): string {
  const lines: string[] = [];
  const prefix = report.dryRun ? 'would create' : 'created';
  const uprefix = report.dryRun ? 'would update' : 'updated';
  for (const c of report.created) lines.push(`${prefix} ${c.kind} ${c.key}`);
  for (const u of report.updated) lines.push(`${uprefix} ${u.kind} ${u.key}: ${u.fields.join(', ')}`);
  const changes = report.created.length + report.updated.length;
  if (changes === 0) lines.push(`no changes (${report.unchanged} unchanged)${report.dryRun ? ' [dry run]' : ''}`);
  else {
    lines.push(
      `${report.created.length} created, ${report.updated.length} updated, ${report.unchanged} unchanged` +
        (report.dryRun ? ' [dry run: nothing was written]' : ''),
    );
  }
  return lines.join('\n') + '\n';
}
