import { randomBytes } from 'node:crypto';
import { OrderService } from '../../../src/orders/orders.js';
import { useCliDatabase } from '../../support/cli.js';
import { seedSite } from '../../support/seed.js';

describe('anvil order CLI', () => {
  const cli = useCliDatabase('sqlite', 'anvil-order-cli-');
  const key = randomBytes(32).toString('base64');
  let orderId: string;
  const run = (...argv: string[]) => cli.run(argv, { ANVIL_SECRET_KEY: key, ANVIL_LOG_LEVEL: 'error' });

  beforeAll(async () => {
    await seedSite(cli.db.knex);
    const { order } = await new OrderService({ knex: cli.db.knex }).createOrder({
      external_id: 'WHMCS-9', customer_id: 'cust-9', contact_email: 'c@example.com', hardware_profile: 'std', country: 'MA', os_image: 'debian-12',
      hostname: 'srv9.example.com', root_password: true, support_tier: 'fully_managed', paid_at: new Date().toISOString(),
    }, 'cli-order-1', { name: 'test' });
    orderId = order.id;
  });

  it('lists orders with their delivery clock and time left', async () => {
    const r = await run('order', 'list', '--status', 'received');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^ID\s+EXTERNAL\s+CUSTOMER\s+STATUS\s+CLOCK\s+LEFT\s+MACHINE$/);
    expect(r.stdout).toMatch(new RegExp(`${orderId}\\s+WHMCS-9\\s+cust-9\\s+received\\s+on_track\\s+2[34]h\\d\\dm\\s+-`));
    expect((await run('order', 'list', '--clock', 'breached')).stdout.trim().split('\n')).toHaveLength(1);
  });

  it('shows one order, and refuses bad usage (2) and unknown orders (1)', async () => {
    const r = await run('order', 'show', orderId);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('customer   cust-9 <c@example.com>, fully_managed');
    expect(r.stdout).toMatch(/clock {6}on_track: paid .*, deadline .*, 2[34]h\d\dm left/);
    expect((await run('order', 'show')).code).toBe(2);
    const missing = await run('order', 'show', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('anvil: order nope not found');
  });
});
