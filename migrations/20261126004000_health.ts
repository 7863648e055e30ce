import type { Knex } from 'knex';

// Health sweeps, their results, current component state, incidents (with the contract's tier
// deadlines) and planned maintenance windows. Timestamps are ISO strings written by the app.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sweeps', (t) => {
    t.string('id', 36).primary();
    t.string('site_code', 32).nullable().comment('null for a sweep of one machine or of every site');
    t.string('machine_id', 36).nullable().comment('set for an on-demand sweep of one machine');
    t.string('trigger', 16).notNullable().comment('schedule | demand');
    t.string('status', 16).notNullable().comment('running | done | failed');
    t.integer('total').notNullable().defaultTo(0);
    t.integer('done').notNullable().defaultTo(0);
    t.integer('errors').notNullable().defaultTo(0).comment('machines whose BMC could not be checked (reported unknown)');
    t.text('error').nullable().comment('why the sweep itself failed');
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).nullable();
    t.integer('duration_ms').nullable();
    t.string('requested_by', 128).notNullable();
    t.string('lease_owner', 128).nullable();
    t.string('lease_purpose', 64).nullable();
    t.timestamp('lease_expires_at', { useTz: true }).nullable();
    t.index(['site_code', 'started_at']);
    t.index(['status']);
  });

  // One row per site: `last_tick_at` makes "one scheduled sweep per site per interval" a
  // conditional UPDATE, and the lease columns make "one sweep at a time per site" hold across
  // every process (the id is `site:<code>`).
  await knex.schema.createTable('sweep_ticks', (t) => {
    t.string('id', 64).primary();
    t.timestamp('last_tick_at', { useTz: true }).nullable();
    t.string('lease_owner', 128).nullable();
    t.string('lease_purpose', 64).nullable();
    t.timestamp('lease_expires_at', { useTz: true }).nullable();
  });

  await knex.schema.createTable('health_results', (t) => {
    t.bigIncrements('id').primary();
    t.string('machine_id', 36).notNullable().references('id').inTable('machines').onDelete('CASCADE');
    t.string('sweep_id', 36).nullable();
    t.string('component', 200).notNullable();
    t.string('kind', 16).notNullable();
    t.string('status', 16).notNullable().comment('ok | warning | critical | unknown');
    t.double('reading_value').nullable();
    t.string('reading_unit', 16).nullable();
    t.text('message').notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.index(['machine_id', 'at']);
    t.index(['at']);
  });

  await knex.schema.createTable('machine_components', (t) => {
    t.string('machine_id', 36).notNullable().references('id').inTable('machines').onDelete('CASCADE');
    t.string('component', 200).notNullable();
    t.string('kind', 16).notNullable();
    t.string('status', 16).notNullable();
    t.integer('consecutive_ok').notNullable().defaultTo(0);
    t.double('reading_value').nullable();
    t.string('reading_unit', 16).nullable();
    t.text('message').notNullable();
    t.timestamp('last_seen_at', { useTz: true }).notNullable();
    t.timestamp('changed_at', { useTz: true }).notNullable();
    t.primary(['machine_id', 'component']);
  });

  await knex.schema.createTable('machine_health', (t) => {
    t.string('machine_id', 36).primary().references('id').inTable('machines').onDelete('CASCADE');
    t.string('log_marker', 64).nullable().comment('newest BMC log entry seen (ISO time or IPMI SEL record id)');
    t.string('last_sweep_id', 36).nullable();
    t.timestamp('last_checked_at', { useTz: true }).nullable();
  });

  await knex.schema.createTable('incidents', (t) => {
    t.string('id', 36).primary();
    t.string('machine_id', 36).notNullable().references('id').inTable('machines').onDelete('CASCADE');
    t.string('component', 200).notNullable();
    t.string('order_id', 36).nullable().comment('the order the machine served when the incident opened');
    t.string('customer_id', 200).nullable();
    t.string('support_tier', 16).nullable();
    t.string('severity', 8).notNullable().comment('major | minor');
    t.string('status', 16).notNullable().comment('open | acknowledged | resolved');
    t.string('source', 16).notNullable().comment('auto | technician');
    t.string('title', 300).notNullable();
    t.text('message').nullable();
    t.timestamp('opened_at', { useTz: true }).notNullable();
    t.timestamp('acknowledged_at', { useTz: true }).nullable();
    t.timestamp('resolved_at', { useTz: true }).nullable();
    t.timestamp('notify_by', { useTz: true }).nullable().comment('contract: customer informed within 30 minutes');
    t.timestamp('process_by', { useTz: true }).nullable().comment('contract: major incident processed (managed 2 h, fully managed 30 min)');
    t.timestamp('resolve_by', { useTz: true }).nullable().comment('contract: resolved (managed 4 h, fully managed 2 h)');
    t.timestamp('notified_at', { useTz: true }).nullable();
    t.string('deadline_status', 16).nullable().comment('on_track | at_risk | breached | met | missed; null without a customer clock');
    t.integer('healthy_sweeps').notNullable().defaultTo(0).comment('consecutive healthy sweeps since the last fault (auto-resolve)');
    t.text('resolved_reason').nullable();
    t.string('opened_by', 128).notNullable();
    t.string('resolved_by', 128).nullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.index(['status', 'severity']);
    t.index(['machine_id']);
    t.index(['customer_id']);
    t.index(['deadline_status']);
  });
  // One open incident per machine and component: the same partial-index SQL runs on both dialects.
  await knex.raw(`create unique index incidents_one_open on incidents (machine_id, component) where status <> 'resolved'`);

  await knex.schema.createTable('incident_notes', (t) => {
    t.bigIncrements('id').primary();
    t.string('incident_id', 36).notNullable().references('id').inTable('incidents').onDelete('CASCADE');
    t.timestamp('at', { useTz: true }).notNullable();
    t.string('author', 128).notNullable();
    t.text('text').notNullable();
    t.index(['incident_id']);
  });

  await knex.schema.createTable('incident_interventions', (t) => {
    t.bigIncrements('id').primary();
    t.string('incident_id', 36).notNullable().references('id').inTable('incidents').onDelete('CASCADE');
    t.integer('minutes').notNullable().comment('support intervention time, counted against the monthly tier allowance');
    t.string('by', 128).notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('note').nullable();
    t.index(['incident_id']);
    t.index(['at']);
  });

  await knex.schema.createTable('maintenance_windows', (t) => {
    t.string('id', 36).primary();
    t.string('scope', 16).notNullable().comment('machine | rack | site');
    t.string('target_id', 36).notNullable().comment('machine, rack or site id');
    t.string('target_name', 200).notNullable().comment('serial, rack name or site code, for people');
    t.timestamp('starts_at', { useTz: true }).notNullable();
    t.timestamp('ends_at', { useTz: true }).notNullable();
    t.text('reason').notNullable();
    t.boolean('notified').notNullable().defaultTo(false);
    t.integer('notified_customers').notNullable().defaultTo(0);
    t.string('created_by', 128).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('cancelled_at', { useTz: true }).nullable();
    t.index(['scope', 'target_id']);
    t.index(['ends_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['maintenance_windows', 'incident_interventions', 'incident_notes', 'incidents', 'machine_health', 'machine_components', 'health_results', 'sweep_ticks', 'sweeps']) {
    await knex.schema.dropTableIfExists(table);
  }
}
