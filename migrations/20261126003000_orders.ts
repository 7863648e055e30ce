import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('orders', (t) => {
    t.string('id', 36).primary();
    t.string('idempotency_key', 200).notNullable().unique().comment('from the Idempotency-Key header: a retry returns the same order');
    t.string('request_hash', 64).notNullable().comment('SHA-256 of the canonical request body; same key + other body = 409');
    t.string('external_id', 200).notNullable().comment("the order pipeline's own order id");
    t.string('customer_id', 200).notNullable();
    t.string('contact_email', 320).notNullable();
    t.string('hardware_profile', 64).notNullable();
    t.string('country', 2).notNullable().comment('data residency: only machines in sites of this country may serve the order');
    t.string('site_code', 32).nullable().comment('when the customer chose a datacenter, not only a country');
    t.string('os_image', 64).notNullable();
    t.string('hostname', 253).notNullable();
    t.text('ssh_keys').nullable().comment('JSON list of public keys');
    t.boolean('root_password_requested').notNullable().defaultTo(false);
    t.string('support_tier', 16).notNullable().comment('unmanaged | managed | fully_managed');
    t.string('status', 16).notNullable().defaultTo('received');
    t.string('machine_id', 36).nullable().references('id').inTable('machines').onDelete('RESTRICT');
    t.timestamp('paid_at', { useTz: true }).notNullable();
    t.timestamp('deadline_at', { useTz: true }).notNullable().comment('contract: paid_at + delivery window (24 h for dedicated servers)');
    t.timestamp('allocated_at', { useTz: true }).nullable();
    t.timestamp('delivered_at', { useTz: true }).nullable();
    t.timestamp('cancelled_at', { useTz: true }).nullable();
    t.string('clock_status', 16).notNullable().defaultTo('on_track').comment('last published delivery clock status');
    t.string('miss_cause', 32).nullable().comment('no_capacity | hardware_failure | install_failure | bmc_unreachable');
    t.text('credentials_enc').nullable().comment('sealed access credentials until the pipeline acknowledges delivery');
    t.timestamp('credentials_acknowledged_at', { useTz: true }).nullable();
    t.boolean('suspended').notNullable().defaultTo(false);
    t.text('suspended_reason').nullable();
    t.string('created_by', 128).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.index(['status', 'created_at']);
    t.index(['customer_id']);
    t.index(['clock_status']);
  });
  // At most one live order per machine; a machine freed by cancel/terminate can serve another.
  await knex.schema.alterTable('machines', (t) => {
    t.string('order_id', 36).nullable().comment('the order this machine currently serves');
    t.index(['order_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('machines', (t) => {
    t.dropIndex(['order_id']);
  });
  // Not knex's dropColumn: on SQLite it rebuilds the table, and inside the migration's transaction
  // foreign keys stay on, so dropping the old table cascaded to every row referencing it. SQLite
  // (3.35+) and PostgreSQL both drop a plain column in place.
  await knex.raw('alter table machines drop column order_id');
  await knex.schema.dropTableIfExists('orders');
}
