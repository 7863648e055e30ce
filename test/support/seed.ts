import type { Knex } from 'knex';

/** A site in Morocco (`s`, MA-NOU1), created on first use. */
export async function seedSite(knex: Knex): Promise<void> {
  if (await knex('sites').where({ id: 's' }).first()) return;
  const ts = new Date().toISOString();
  await knex('sites').insert({ id: 's', code: 'MA-NOU1', name: 'N', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', created_at: ts, updated_at: ts });
}

/** An available, healthy machine of `profile` in site `s` (for engine, wake-up and allocation tests). */
export async function seedMachine(knex: Knex, id: string, profile = 'std'): Promise<void> {
  await seedSite(knex);
  const ts = new Date().toISOString();
  await knex('machines').insert({ id, serial: id, hardware_profile: profile, site_id: 's', provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
}
