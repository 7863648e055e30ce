import { choiceOption, CONFIG_FLAGS_HELP, intOption, parseCommandArgs } from '../args.js';
import { openCliContext } from '../context.js';
import { UsageError } from '../io.js';
import { OrderService } from '../../orders/orders.js';
import { ClockStatus, OrderStatus } from '../../orders/schemas.js';
import { formatTable } from './token.js';
import type { CommandRun } from './types.js';

export const ORDER_USAGE = `Usage:
  anvil order list [--status S] [--clock on_track|at_risk|breached|met|missed] [--site CODE] [--customer ID] [--limit N]
  anvil order show ID

${CONFIG_FLAGS_HELP}`;

function remaining(seconds: number | null): string {
  if (seconds === null) return '-';
  const sign = seconds < 0 ? '-' : '';
  const s = Math.abs(seconds);
  return `${sign}${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export const runOrder: CommandRun = async (argv, flags, env) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    { status: { type: 'string' }, clock: { type: 'string' }, site: { type: 'string' }, customer: { type: 'string' }, limit: { type: 'string' } },
    ORDER_USAGE,
  );
  const [action, id, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, ORDER_USAGE);
  if (action === 'list' && id) throw new UsageError(`unexpected argument "${id}"`, ORDER_USAGE);
  if (action === 'show' && !id) throw new UsageError('order show needs an order ID', ORDER_USAGE);
  if (action !== 'list' && action !== 'show') throw new UsageError(action ? `unknown order action "${action}"` : 'order needs an action: list or show', ORDER_USAGE);
  const status = choiceOption(values.status, '--status', OrderStatus.options, ORDER_USAGE);
  const clock = choiceOption(values.clock, '--clock', ClockStatus.options, ORDER_USAGE);
  const limit = intOption(values.limit, '--limit', { min: 1, max: 500 }, ORDER_USAGE);

  const ctx = await openCliContext(env.loadConfig(flags), { io: env.io });
  try {
    const orders = new OrderService({ knex: ctx.knex });
    if (action === 'show') {
      const o = await orders.getOrder(id!);
      const c = o.delivery_clock;
      ctx.stdout(
        [
          `order      ${o.id} (${o.external_id})`,
          `customer   ${o.customer_id} <${o.contact_email}>, ${o.support_tier}`,
          `server     ${o.hostname}, ${o.hardware_profile}, ${o.os_image}, ${o.site ?? o.country}`,
          `status     ${o.status}${o.suspended ? ' (suspended)' : ''}${o.machine_id ? `, machine ${o.machine_id}` : ''}`,
          `clock      ${c.status}: paid ${c.paid_at}, deadline ${c.deadline_at}, ${c.delivered_at ? `delivered ${c.delivered_at}` : `${remaining(c.remaining_seconds)} left`}`,
          ...(o.miss_cause ? [`last cause ${o.miss_cause}`] : []),
        ].join('\n') + '\n',
      );
      return 0;
    }
    const page = await orders.listOrders({
      ...(status ? { status } : {}),
      ...(clock ? { clock_status: clock } : {}),
      ...(values.site ? { site: String(values.site) } : {}),
      ...(values.customer ? { customer: String(values.customer) } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
    ctx.stdout(
      formatTable(
        ['ID', 'EXTERNAL', 'CUSTOMER', 'STATUS', 'CLOCK', 'LEFT', 'MACHINE'],
        page.items.map((o) => [o.id, o.external_id, o.customer_id, o.status, o.delivery_clock.status, remaining(o.delivery_clock.remaining_seconds), o.machine_id ?? '-']),
      ),
    );
    if (page.next_cursor) ctx.stderr(`(more orders: narrow the filters or raise --limit)\n`);
    return 0;
  } finally {
    await ctx.close();
  }
};
