import { createHealthServices } from '../../health/services.js';
import type { IncidentDetail, IncidentFilter } from '../../health/incidents.js';
import { DEADLINE_STATUSES } from '../../health/tier-deadlines.js';
import { choiceOption, CONFIG_FLAGS_HELP, intOption, parseCommandArgs } from '../args.js';
import { cliNotifications, openCliContext } from '../context.js';
import { UsageError } from '../io.js';
import { formatTable } from './token.js';
import type { CommandRun } from './types.js';

export const INCIDENT_USAGE = `Usage:
  anvil incident list [--status S] [--severity major|minor] [--deadline-status S] [--machine ID] [--customer ID]
                                        incidents, newest first (status: open, acknowledged, resolved, unresolved)
  anvil incident show ID                one incident with its deadlines, notes and intervention time
  anvil incident ack ID [--note TEXT]   acknowledge (processing started)
  anvil incident note ID TEXT           add a note
  anvil incident time ID MINUTES [--note TEXT]
                                        log support intervention time (counts against the tier allowance)
  anvil incident resolve ID --reason TEXT

${CONFIG_FLAGS_HELP}`;

const LIST_FLAGS = ['status', 'severity', 'deadline-status', 'machine', 'customer'] as const;

export function formatIncident(i: IncidentDetail): string {
  const lines = [
    `incident ${i.id}`,
    `  machine        ${i.machine_serial} (${i.machine_id})`,
    `  component      ${i.component}`,
    `  title          ${i.title}`,
    `  severity       ${i.severity}`,
    `  status         ${i.status}${i.resolved_reason ? ` (${i.resolved_reason})` : ''}`,
    `  source         ${i.source} (opened by ${i.opened_by})`,
    `  customer       ${i.customer_id ? `${i.customer_id}, order ${i.order_id}, tier ${i.support_tier}` : '-'}`,
    `  opened         ${i.opened_at}`,
    `  notify by      ${i.notify_by ?? '-'}   notified ${i.notified_at ?? '-'}`,
    `  process by     ${i.process_by ?? '-'}   acknowledged ${i.acknowledged_at ?? '-'}`,
    `  resolve by     ${i.resolve_by ?? '-'}   resolved ${i.resolved_at ?? '-'}`,
    `  deadlines      ${i.deadline_status ?? 'no customer clock'}`,
    `  intervention   ${i.intervention_minutes} min`,
  ];
  if (i.message) lines.push(`  message        ${i.message}`);
  for (const n of i.notes) lines.push(`  note ${n.at} ${n.author}: ${n.text}`);
  for (const v of i.interventions) lines.push(`  time ${v.at} ${v.by}: ${v.minutes} min${v.note ? ` (${v.note})` : ''}`);
  return `${lines.join('\n')}\n`;
}

export const runIncident: CommandRun = async (argv, flags, env) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      status: { type: 'string' }, severity: { type: 'string' }, 'deadline-status': { type: 'string' }, machine: { type: 'string' },
      customer: { type: 'string' }, note: { type: 'string' }, reason: { type: 'string' }, limit: { type: 'string' },
    },
    INCIDENT_USAGE,
  );
  const [action, ...args] = positionals;
  const need = (n: number, what: string): void => {
    if (args.length < n) throw new UsageError(`incident ${action} needs ${what}`, INCIDENT_USAGE);
    if (args.length > n) throw new UsageError(`unexpected argument "${args[n]}"`, INCIDENT_USAGE);
  };
  switch (action) {
    case 'list':
      need(0, '');
      break;
    case 'show':
    case 'ack':
      need(1, 'an incident ID');
      break;
    case 'note':
      need(2, 'an incident ID and the note TEXT');
      break;
    case 'time':
      need(2, 'an incident ID and MINUTES');
      if (!/^\d+$/.test(args[1]!)) throw new UsageError(`MINUTES must be a whole number (got "${args[1]}")`, INCIDENT_USAGE);
      break;
    case 'resolve':
      need(1, 'an incident ID');
      if (!values.reason) throw new UsageError('incident resolve needs --reason TEXT', INCIDENT_USAGE);
      break;
    default:
      throw new UsageError(action ? `unknown incident action "${action}"` : 'incident needs an action: list, show, ack, note, time or resolve', INCIDENT_USAGE);
  }
  if (action !== 'list' && LIST_FLAGS.some((f) => values[f] !== undefined)) throw new UsageError(`filters are for incident list`, INCIDENT_USAGE);

  const ctx = await openCliContext(env.loadConfig(flags), { io: env.io });
  try {
    const { incidents } = createHealthServices({
      knex: ctx.knex,
      secrets: ctx.secrets,
      logger: ctx.logger,
      notifications: action === 'list' || action === 'show' ? null : cliNotifications(ctx, 'changed here'),
    });
    const id = args[0]!;
    switch (action) {
      case 'list': {
        const filter: IncidentFilter = {
          status: choiceOption(values.status, '--status', ['open', 'acknowledged', 'resolved', 'unresolved'] as const, INCIDENT_USAGE),
          severity: choiceOption(values.severity, '--severity', ['major', 'minor'] as const, INCIDENT_USAGE),
          deadline_status: choiceOption(values['deadline-status'], '--deadline-status', DEADLINE_STATUSES, INCIDENT_USAGE),
          machine: values.machine as string | undefined,
          customer: values.customer as string | undefined,
          limit: intOption(values.limit, '--limit', { min: 1, max: 1000 }, INCIDENT_USAGE) ?? 100,
        };
        const rows = await incidents.list(filter);
        ctx.stdout(
          formatTable(
            ['ID', 'MACHINE', 'COMPONENT', 'SEVERITY', 'STATUS', 'DEADLINES', 'CUSTOMER', 'OPENED'],
            rows.map((i) => [i.id, i.machine_serial, i.component, i.severity, i.status, i.deadline_status ?? '-', i.customer_id ?? '-', i.opened_at]),
          ),
        );
        break;
      }
      case 'show':
        ctx.stdout(formatIncident(await incidents.get(id)));
        break;
      case 'ack':
        ctx.stdout(formatIncident(await incidents.acknowledge(id, ctx.actor, (values.note as string | undefined) ?? null)));
        break;
      case 'note':
        ctx.stdout(formatIncident(await incidents.addNote(id, args[1]!, ctx.actor)));
        break;
      case 'time':
        ctx.stdout(formatIncident(await incidents.logIntervention(id, { minutes: Number(args[1]), note: (values.note as string | undefined) ?? null }, ctx.actor)));
        break;
      case 'resolve':
        ctx.stdout(formatIncident(await incidents.resolve(id, String(values.reason), ctx.actor)));
        break;
    }
    return 0;
  } finally {
    await ctx.close();
  }
};
