import type { Knex } from 'knex';

// The outbox: a notification row is written in the same transaction as the change it reports
// (an order delivered, an incident opened), so a crash can delay it but never lose it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('notifications', (t) => {
    t.string('id', 36).primary();
    t.string('event', 64).notNullable().comment('e.g. order.delivered, order.clock_changed, incident.opened');
    t.string('subject_type', 32).notNullable();
    t.string('subject_id', 64).notNullable();
    t.string('channel', 16).notNullable().comment('webhook | email');
    t.string('recipient', 320).nullable().comment('e-mail address for the email channel');
    t.text('payload').notNullable().comment('JSON; secrets inside are sealed, see src/secrets');
    t.string('status', 16).notNullable().defaultTo('pending').comment('pending | delivered | failed');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).notNullable();
    t.text('last_error').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('delivered_at', { useTz: true }).nullable();
    t.string('lease_owner', 128).nullable();
    t.string('lease_purpose', 64).nullable();
    t.timestamp('lease_expires_at', { useTz: true }).nullable();
    t.index(['status', 'next_attempt_at']);
    t.index(['subject_type', 'subject_id']);
  });
  await knex.schema.createTable('notification_attempts', (t) => {
    t.bigIncrements('id').primary();
    t.string('notification_id', 36).notNullable().references('id').inTable('notifications').onDelete('CASCADE');
    t.timestamp('at', { useTz: true }).notNullable();
    t.integer('status_code').nullable();
    t.text('error').nullable();
    t.integer('duration_ms').notNullable();
    t.index(['notification_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('notification_attempts');
  await knex.schema.dropTableIfExists('notifications');
}
