import type { Knex } from 'knex';

// Workflows (deploy, release/wipe, verify, reinstall) are ordered lists of idempotent steps. The
// current step and its data are recorded after every step, so a worker that dies mid-workflow
// loses only its lease: another worker resumes from the recorded step when the lease expires.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('workflows', (t) => {
    t.string('id', 36).primary();
    t.string('kind', 32).notNullable();
    t.string('machine_id', 36).notNullable().references('id').inTable('machines').onDelete('RESTRICT');
    t.string('order_id', 36).nullable().references('id').inTable('orders').onDelete('RESTRICT');
    t.string('status', 16).notNullable().defaultTo('pending').comment('pending | running | succeeded | failed | cancelled');
    t.integer('step_index').notNullable().defaultTo(0);
    t.integer('step_attempt').notNullable().defaultTo(0);
    t.timestamp('step_started_at', { useTz: true }).nullable();
    t.text('data').notNullable().defaultTo('{}').comment('JSON: step outputs carried to later steps');
    t.timestamp('next_run_at', { useTz: true }).notNullable();
    t.text('last_error').nullable();
    t.string('lease_owner', 128).nullable();
    t.string('lease_purpose', 64).nullable();
    t.timestamp('lease_expires_at', { useTz: true }).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).nullable();
    t.index(['status', 'next_run_at']);
    t.index(['machine_id']);
    t.index(['order_id']);
  });
  // One live workflow per machine, enforced by the database so two processes can never both start one.
  // Partial unique indexes have the same syntax on SQLite and PostgreSQL.
  await knex.raw(`create unique index workflows_one_live_per_machine on workflows (machine_id) where status in ('pending', 'running')`);
  await knex.schema.createTable('workflow_steps', (t) => {
    t.bigIncrements('id').primary();
    t.string('workflow_id', 36).notNullable().references('id').inTable('workflows').onDelete('CASCADE');
    t.integer('step_index').notNullable();
    t.string('step', 64).notNullable();
    t.integer('attempt').notNullable();
    t.string('outcome', 16).notNullable().comment('done | waiting | retry | failed');
    t.string('worker', 128).notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).notNullable();
    t.text('detail').nullable();
    t.index(['workflow_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('workflow_steps');
  await knex.schema.dropTableIfExists('workflows');
}
