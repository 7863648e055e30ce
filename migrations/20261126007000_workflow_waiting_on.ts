import type { Knex } from 'knex';

// What a sleeping workflow waits for (`network_boot` or `callback`; null while it is not sleeping
// in such a wait). Boot activity wakes only the workflows waiting for that kind of event, or not
// sleeping at all: an installer's own network boot no longer wakes the workflow that waits for
// the installer's callback, which then looked, found nothing and slept again.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('workflows', (t) => {
    t.string('waiting_on', 16).nullable().comment('network_boot | callback: what the sleeping step waits for');
  });
}

export async function down(knex: Knex): Promise<void> {
  // Not knex's dropColumn: on SQLite it rebuilds the table, and inside the migration's transaction
  // foreign keys stay on, so dropping the old table cascaded to every row referencing it. SQLite
  // (3.35+) and PostgreSQL both drop a plain column in place.
  await knex.raw('alter table workflows drop column waiting_on');
}
