import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { seedSite } from '../../support/seed.js';
import { claimLease, leaseHolder, releaseLease, renewLease, tryClaimLease, tryClaimLeaseRow, withLease } from '../../../src/db/leases.js';
import { LockedError } from '../../../src/errors.js';

describe.each(testDatabases())('leases on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const target = { table: 'machines', id: 'm-lease' };

  beforeAll(async () => {
    const now = new Date().toISOString();
    await seedSite(t.knex);
    await t.knex('machines').insert({ id: 'm-lease', serial: 'L1', hardware_profile: 'p', site_id: 's', created_at: now, updated_at: now });
  });

  it('gives the lease to exactly one of many concurrent claimants', async () => {
    const owners = Array.from({ length: 10 }, (_, i) => `worker-${i}`);
    const results = await Promise.all(owners.map((o) => tryClaimLease(t.knex, target, o, 'deploy', 60)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = owners[results.indexOf(true)]!;
    const holder = await leaseHolder(t.knex, target);
    expect(holder).toMatchObject({ owner: winner, purpose: 'deploy' });
    expect(await releaseLease(t.knex, target, winner)).toBe(true);
  });

  it('claims with the row in one statement: the row as claimed, or null while another holds it', async () => {
    const row = await tryClaimLeaseRow(t.knex, target, 'a', 'deploy', 60);
    expect(row).toMatchObject({ id: 'm-lease', serial: 'L1', lease_owner: 'a', lease_purpose: 'deploy' });
    expect(await tryClaimLeaseRow(t.knex, target, 'b', 'deploy', 60)).toBeNull();
    expect(await tryClaimLeaseRow(t.knex, target, 'a', 'deploy', 60)).toMatchObject({ lease_owner: 'a' });
    await releaseLease(t.knex, target, 'a');
  });

  it('refuses a held lease with LockedError naming the holder and purpose', async () => {
    await claimLease(t.knex, target, 'a', 'deploy', 60);
    await expect(claimLease(t.knex, target, 'b', 'sweep', 60)).rejects.toThrow(LockedError);
    await expect(claimLease(t.knex, target, 'b', 'sweep', 60)).rejects.toThrow(/locked by a \(deploy\)/);
    await releaseLease(t.knex, target, 'a');
  });

  it('lets another process take an expired lease, and the old owner can neither renew nor release it', async () => {
    await claimLease(t.knex, target, 'dead', 'deploy', -1);
    await claimLease(t.knex, target, 'alive', 'deploy', 60);
    expect(await renewLease(t.knex, target, 'dead', 60)).toBe(false);
    expect(await releaseLease(t.knex, target, 'dead')).toBe(false);
    expect((await leaseHolder(t.knex, target)).owner).toBe('alive');
    await releaseLease(t.knex, target, 'alive');
  });

  it('releases the lease after withLease, also when the work throws', async () => {
    await expect(withLease(t.knex, target, 'w', 'inspect', 60, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect((await leaseHolder(t.knex, target)).owner).toBeNull();
    expect(await withLease(t.knex, target, 'w', 'inspect', 60, async (signal) => signal.aborted)).toBe(false);
  });
});
