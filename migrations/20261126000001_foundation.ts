import type { Knex } from 'knex';

// Timestamps: timestamptz on PostgreSQL; on SQLite a text column holding ISO 8601 UTC strings.
// The application always writes ISO strings (see src/db/sql.ts), never DB defaults.
function timestamps(t: Knex.CreateTableBuilder): void {
  t.timestamp('created_at', { useTz: true }).notNullable();
  t.timestamp('updated_at', { useTz: true }).notNullable();
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sites', (t) => {
    t.string('id', 36).primary();
    t.string('code', 32).notNullable().unique().comment('e.g. MA-NOU1');
    t.string('name', 200).notNullable();
    t.string('country', 2).notNullable().comment('ISO 3166-1 alpha-2; data residency is decided on this');
    t.string('city', 200).notNullable();
    t.string('timezone', 64).notNullable();
    t.integer('delivery_window_hours').notNullable().defaultTo(24).comment('contract: delivered within this many hours of payment');
    timestamps(t);
  });

  await knex.schema.createTable('racks', (t) => {
    t.string('id', 36).primary();
    t.string('site_id', 36).notNullable().references('id').inTable('sites').onDelete('RESTRICT');
    t.string('name', 64).notNullable();
    t.string('row', 64).nullable();
    t.integer('height_u').notNullable().defaultTo(42);
    timestamps(t);
    t.unique(['site_id', 'name']);
  });

  await knex.schema.createTable('machines', (t) => {
    t.string('id', 36).primary();
    t.string('serial', 128).notNullable().unique();
    t.string('asset_tag', 128).nullable().unique();
    t.string('vendor', 128).nullable();
    t.string('model', 128).nullable();
    t.string('hardware_profile', 64).notNullable();
    t.string('site_id', 36).notNullable().references('id').inTable('sites').onDelete('RESTRICT');
    t.string('rack_id', 36).nullable().references('id').inTable('racks').onDelete('RESTRICT');
    t.integer('rack_unit').nullable();
    t.string('provision_state', 32).notNullable().defaultTo('enrolled');
    t.text('last_error').nullable();
    t.boolean('maintenance').notNullable().defaultTo(false);
    t.text('maintenance_reason').nullable();
    t.string('health', 16).notNullable().defaultTo('unknown');
    t.string('power_state', 16).notNullable().defaultTo('unknown');
    t.timestamp('power_state_at', { useTz: true }).nullable();
    t.text('hardware').nullable().comment('JSON: facts from inspection (cpu, memory, disks, nics)');
    t.text('inventory_mismatch').nullable().comment('JSON: MACs the BMC reports that inventory lacks, and the reverse');
    t.timestamp('inspected_at', { useTz: true }).nullable();
    // Lease: which process is driving this machine, why, and until when (see db/leases.ts).
    t.string('lease_owner', 128).nullable();
    t.string('lease_purpose', 64).nullable();
    t.timestamp('lease_expires_at', { useTz: true }).nullable();
    timestamps(t);
    t.index(['site_id', 'provision_state']);
    t.index(['hardware_profile']);
    t.unique(['rack_id', 'rack_unit']);
  });

  await knex.schema.createTable('machine_bmcs', (t) => {
    t.string('machine_id', 36).primary().references('id').inTable('machines').onDelete('CASCADE');
    t.string('protocol', 16).notNullable();
    t.string('host', 255).notNullable();
    t.integer('port').nullable();
    t.string('username', 128).notNullable();
    t.text('password_enc').notNullable().comment('AES-256-GCM, see src/secrets');
    t.string('tls_mode', 16).notNullable().defaultTo('verify').comment('verify | insecure | fingerprint');
    t.string('tls_fingerprint', 128).nullable().comment('SHA-256 of the pinned certificate, hex');
    t.string('system_id', 255).nullable().comment('Redfish ComputerSystem id when the BMC has several');
    timestamps(t);
  });

  await knex.schema.createTable('nics', (t) => {
    t.string('id', 36).primary();
    t.string('machine_id', 36).notNullable().references('id').inTable('machines').onDelete('CASCADE');
    t.string('mac', 17).notNullable().unique().comment('lower-case, colon separated');
    t.string('name', 64).notNullable();
    t.boolean('pxe').notNullable().defaultTo(false);
    t.string('switch_name', 128).nullable();
    t.string('switch_port', 64).nullable();
    t.string('ipv4_address', 15).nullable().unique();
    t.integer('ipv4_prefix').nullable();
    t.string('ipv4_gateway', 15).nullable();
    timestamps(t);
    t.index(['machine_id']);
  });

  await knex.schema.createTable('api_tokens', (t) => {
    t.string('id', 36).primary();
    t.string('name', 128).notNullable().unique();
    t.string('role', 16).notNullable();
    t.string('token_hash', 64).notNullable().unique().comment('SHA-256 of the token; the token itself is never stored');
    t.string('prefix', 16).notNullable().comment('first characters, to recognise a token in a list');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('last_used_at', { useTz: true }).nullable();
    t.timestamp('revoked_at', { useTz: true }).nullable();
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('at', { useTz: true }).notNullable();
    t.string('actor', 128).notNullable().comment('token name, or cli:<user> / system:<role>');
    t.string('action', 64).notNullable();
    t.string('target_type', 32).notNullable();
    t.string('target_id', 64).nullable();
    t.text('before').nullable().comment('JSON summary, secrets redacted');
    t.text('after').nullable().comment('JSON summary, secrets redacted');
    t.text('reason').nullable();
    t.string('request_id', 64).nullable();
    t.index(['target_type', 'target_id']);
    t.index(['at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['audit_log', 'api_tokens', 'nics', 'machine_bmcs', 'machines', 'racks', 'sites']) {
    await knex.schema.dropTableIfExists(table);
  }
}
