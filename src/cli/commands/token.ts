import { TokenService } from '../../tokens/service.js';
import { API_ROLES } from '../../tokens/roles.js';
import { TOKEN_NAME_PATTERN } from '../../tokens/schemas.js';
import { choiceOption, CONFIG_FLAGS_HELP, parseCommandArgs } from '../args.js';
import { openCliContext } from '../context.js';
import { UsageError } from '../io.js';
import type { CommandRun } from './types.js';

export const TOKEN_USAGE = `Usage:
  anvil token create --role ROLE --name NAME   create a token and print it (shown only once)
  anvil token list                             list tokens (name, role, prefix, created, last used, revoked)
  anvil token revoke NAME                      revoke a token; requests with it get 401 from then on

Roles: admin (everything), technician (inventory and machine operations),
       pipeline (orders, reading machines and sites), viewer (read only).

${CONFIG_FLAGS_HELP}`;

export const runToken: CommandRun = async (argv, flags, env) => {
  const { values, positionals } = parseCommandArgs(argv, { role: { type: 'string' }, name: { type: 'string' } }, TOKEN_USAGE);
  const [action, ...args] = positionals;
  const expect = (n: number): void => {
    if (args.length > n) throw new UsageError(`unexpected argument "${args[n]}"`, TOKEN_USAGE);
    if (args.length < n) throw new UsageError(`token ${action} needs a token NAME`, TOKEN_USAGE);
  };
  switch (action) {
    case 'create':
      expect(0);
      if (!values.name) throw new UsageError('token create needs --name NAME', TOKEN_USAGE);
      if (!TOKEN_NAME_PATTERN.test(String(values.name))) {
        throw new UsageError(`--name must be letters, digits, and . _ @ - (up to 128, starting with a letter or digit) (got "${String(values.name)}")`, TOKEN_USAGE);
      }
      if (!values.role) throw new UsageError(`token create needs --role (${API_ROLES.join(', ')})`, TOKEN_USAGE);
      choiceOption(values.role, '--role', API_ROLES, TOKEN_USAGE);
      break;
    case 'list':
      expect(0);
      break;
    case 'revoke':
      expect(1);
      break;
    default:
      throw new UsageError(action ? `unknown token action "${action}"` : 'token needs an action: create, list or revoke', TOKEN_USAGE);
  }
  if ((values.role || values.name) && action !== 'create') throw new UsageError(`--role and --name are for token create`, TOKEN_USAGE);

  const ctx = await openCliContext(env.loadConfig(flags), { io: env.io });
  try {
    const tokens = new TokenService({ knex: ctx.knex });
    if (action === 'create') {
      const { token, record } = await tokens.create({ name: String(values.name), role: String(values.role) }, ctx.actor);
      // The token alone on stdout so `TOKEN=$(anvil token create …)` works; the note goes to stderr.
      ctx.stdout(`${token}\n`);
      ctx.stderr(`created token "${record.name}" (${record.role}); store it now, it cannot be shown again\n`);
    } else if (action === 'list') {
      const rows = (await tokens.list()).map((t) => [t.name, t.role, t.prefix, t.created_at, t.last_used_at ?? '-', t.revoked_at ?? '-']);
      ctx.stdout(formatTable(['NAME', 'ROLE', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED'], rows));
    } else {
      const revoked = await tokens.revoke(args[0]!, ctx.actor);
      ctx.stdout(`revoked token "${revoked.name}"\n`);
    }
    return 0;
  } finally {
    await ctx.close();
  }
};

/** Left-aligned columns separated by two spaces; no trailing spaces. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  return [header, ...rows].map(line).join('');
}
