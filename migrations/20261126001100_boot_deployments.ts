import type { Knex } from 'knex';

// What a machine should do the next time it network-boots (install, wipe, boot locally), and the
// installer callbacks that report progress. See src/boot/deployments.ts.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('deployments', (t) => {
    t.string('id', 36).primary();
    t.string('machine_id', 36).notNullable().references('id').inTable('machines').onDelete('CASCADE');
    t.string('kind', 16).notNullable().comment('install | wipe | localboot');
    t.string('status', 16).notNullable().comment('pending | booting | installing | installed | failed | done | cancelled');
    t.string('os_image', 64).nullable().comment('name in the boot.os_images catalog; null for localboot');
    t.string('hostname', 63).nullable();
    t.string('boot_mac', 17).nullable().comment('the NIC the machine last network-booted this deployment from');
    t.text('config').notNullable().comment('JSON: ssh_keys, root_password_hash (SHA-512 crypt, never plaintext), network');
    t.string('callback_token_hash', 64).nullable().unique().comment('SHA-256 of the current callback token; the token itself is never stored');
    t.timestamp('callback_token_expires_at', { useTz: true }).nullable();
    t.text('last_error').nullable().comment('detail of the failed callback, or why it was cancelled');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.index(['machine_id', 'status']);
  });
  // At most one deployment drives a machine's boot; two concurrent creators cannot both win.
  // Partial unique indexes read the same on SQLite and PostgreSQL.
  await knex.raw(
    `create unique index deployments_one_active_per_machine on deployments (machine_id) where status in ('pending', 'booting', 'installing', 'installed')`,
  );

  await knex.schema.createTable('deployment_callbacks', (t) => {
    t.bigIncrements('id').primary();
    t.string('deployment_id', 36).notNullable().references('id').inTable('deployments').onDelete('CASCADE');
    t.string('event', 16).notNullable().comment('started | installed | failed | first_boot');
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('detail').nullable().comment('JSON, as the installer sent it (bounded in size)');
    t.string('remote_address', 45).nullable();
    // Each event is accepted once per deployment: a replayed callback is a 409, not a second row.
    t.unique(['deployment_id', 'event']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('deployment_callbacks');
  await knex.schema.dropTableIfExists('deployments');
}
