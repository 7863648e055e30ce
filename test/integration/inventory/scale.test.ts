import { stringify } from 'yaml';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { actor, newService } from './helpers.js';

/** A generated inventory of `n` machines in one site with 25 racks. */
function bigInventory(n: number, password = 'pw'): string {
  const racks = Array.from({ length: 25 }, (_, r) => ({ name: `R${String(r + 1).padStart(2, '0')}`, height_u: 48 }));
  return stringify({
    sites: [{ code: 'MA-NOU1', name: 'Nouacer 1', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', racks }],
    machines: Array.from({ length: n }, (_, i) => ({
      serial: `BULK-${String(i).padStart(5, '0')}`,
      hardware_profile: 'smc-x12-64g',
      site: 'MA-NOU1',
      rack: racks[i % 25]!.name,
      rack_unit: Math.floor(i / 25) + 1,
      bmc: { protocol: 'ipmi', host: '127.0.0.1', port: 20000 + i, username: 'ADMIN', password: `${password}-${i}` },
      nics: [
        { name: 'eno1', mac: `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, pxe: true, ipv4: { address: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, prefix: 16 } },
        { name: 'eno2', mac: `02:00:00:01:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` },
      ],
    })),
  });
}

describe.each(testDatabases())('inventory import at scale on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  // Large enough that one query per machine would blow the bound below; small enough to stay quick.
  const N = 120;

  it(`imports ${N} machines, then re-imports and round-trips them with a bounded number of queries`, async () => {
    const { service } = newService(t.knex);
    const text = bigInventory(N);
    const created = await service.importInventory(text, { actor });
    expect(created.created).toHaveLength(1 + 25 + N);

    let queries = 0;
    const count = () => queries++;
    t.knex.on('query', count);
    const again = await service.importInventory(text, { actor });
    t.knex.off('query', count);
    expect(again.unchanged).toBe(1 + 25 + N);
    // Loading state is chunked (500 keys per query), never one query per machine.
    expect(queries).toBeLessThan(40);

    const exported = await service.exportInventory({ withSecrets: true });
    expect((await service.importInventory(exported, { actor })).unchanged).toBe(1 + 25 + N);
  }, 120_000);
});
