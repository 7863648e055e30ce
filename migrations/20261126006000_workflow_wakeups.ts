import type { Knex } from 'knex';

// Waiting workflow steps are woken when the event they wait for is recorded (a machine's network
// boot, an installer callback) instead of only at their next poll. A wake-up bumps `wake_seq` and
// makes the workflow due; a runner that decided to wait while a wake-up arrived sees the number
// moved and looks again at once, so a wake-up is never lost between a step's check and its
// "wait" record, whichever processes the boot role and the worker run in.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('workflows', (t) => {
    t.integer('wake_seq').notNullable().defaultTo(0).comment('bumped by each wake-up (boot activity of the machine)');
  });
}

export async function down(knex: Knex): Promise<void> {
  // Not knex's dropColumn: on SQLite it rebuilds the table, and inside the migration's transaction
  // foreign keys stay on, so dropping the old table cascaded to every row referencing it. SQLite
  // (3.35+) and PostgreSQL both drop a plain column in place.
  await knex.raw('alter table workflows drop column wake_seq');
}
