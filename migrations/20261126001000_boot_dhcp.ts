import type { Knex } from 'knex';

// Boot services' tables. Timestamps are ISO strings written by the application (see src/db/sql.ts).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('machine_events', (t) => {
    t.bigIncrements('id').primary();
    t.string('machine_id', 36).notNullable().references('id').inTable('machines').onDelete('CASCADE');
    t.string('event', 32).notNullable().comment('pxe_seen | dhcp_ack | script_served | install_started | install_finished | …');
    t.text('detail').nullable().comment('JSON');
    t.timestamp('at', { useTz: true }).notNullable();
    t.index(['machine_id', 'at']);
  });

  await knex.schema.createTable('dhcp_leases', (t) => {
    t.string('mac', 17).primary().comment('lower-case, colon separated');
    t.string('machine_id', 36).nullable().references('id').inTable('machines').onDelete('SET NULL');
    t.string('ip', 15).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.string('state', 16).notNullable().comment('offered | bound | released | declined');
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.index(['ip']);
  });

  await knex.schema.createTable('discovered_macs', (t) => {
    t.string('mac', 17).primary().comment('a MAC the boot network saw that inventory lacks; for technicians to register');
    t.timestamp('first_seen_at', { useTz: true }).notNullable();
    t.timestamp('last_seen_at', { useTz: true }).notNullable();
    t.integer('seen_count').notNullable();
    t.string('vendor_class', 255).nullable();
    t.integer('client_arch').nullable();
    t.string('relay_address', 15).nullable().comment('giaddr, when the packet came through a relay agent');
    t.string('site_code', 32).nullable().comment('site whose network the packet arrived on, when known');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['discovered_macs', 'dhcp_leases', 'machine_events']) {
    await knex.schema.dropTableIfExists(table);
  }
}
