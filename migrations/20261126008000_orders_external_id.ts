import type { Knex } from 'knex';

// Placing an order looks for another live order with the same external id (a pipeline that lost
// its Idempotency-Key would otherwise get two machines for one payment): an index keeps that one
// lookup however many orders there have been.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.index(['external_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.dropIndex(['external_id']);
  });
}
