// A separate Anvil process that allocates machines to the given orders, all at once.
// argv: DATABASE_URL orderId... ; prints one JSON line {orderId: machineId | null}.
import { connect, parseDatabaseUrl } from '../../src/db/connect.js';
import { allocateMachine } from '../../src/provisioning/allocation.js';

const [url, ...orders] = process.argv.slice(2);
const knex = connect(parseDatabaseUrl(url), { poolMax: 8 });
try {
  const results = await Promise.all(
    orders.map(async (orderId) => [orderId, await allocateMachine(knex, { orderId, hardwareProfile: 'std', country: 'MA' }, new Date().toISOString())] as const),
  );
  process.stdout.write(JSON.stringify(Object.fromEntries(results)) + '\n');
} finally {
  await knex.destroy();
}
