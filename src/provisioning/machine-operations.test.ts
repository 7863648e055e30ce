import type { Knex } from 'knex';
import type { BmcEndpoint } from '../bmc/driver.js';
import { BmcRegistry } from '../bmc/registry.js';
import { createFakeDriver } from '../bmc/fake/driver.js';
import { MachineOperations } from './machine-operations.js';

describe('MachineOperations.driverFor', () => {
  const endpoint: BmcEndpoint = { protocol: 'fake', host: '10.0.0.9', port: null, username: 'u', password: 'p', tls: 'insecure', systemId: null };

  function operations() {
    const lookups: string[] = [];
    const ops = new MachineOperations({
      knex: {} as Knex,
      inventory: {
        getBmcEndpoint: async (id: string) => { lookups.push(id); return endpoint; },
        recordHardwareFacts: async () => { throw new Error('not used'); },
      },
      registry: new BmcRegistry({ factories: { fake: (e) => createFakeDriver(e) } }),
    });
    return { ops, lookups };
  }

  it('reads the BMC record once per memo (a workflow drive), and every time without one', async () => {
    const { ops, lookups } = operations();
    const memo = new Map<string, unknown>();
    const first = await ops.driverFor('m1', memo);
    expect(await ops.driverFor('m1', memo)).toBe(first);
    expect(lookups).toEqual(['m1']);
    await ops.driverFor('m2', memo);
    expect(lookups).toEqual(['m1', 'm2']);
    await ops.driverFor('m1');
    await ops.driverFor('m1', new Map());
    expect(lookups).toEqual(['m1', 'm2', 'm1', 'm1']);
  });
});
