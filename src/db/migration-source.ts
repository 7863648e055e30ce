import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { packageRoot } from '../paths.js';

/**
 * Migrations are the files in `migrations/` (TypeScript in the source tree, compiled JavaScript
 * under dist/), applied in file-name order. Names are stored without extension so a database
 * migrated from either tree agrees on what has run.
 */
interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

function migrationsDir(): string {
  // Running from dist/src/db → dist/migrations; from src/db (tests) → migrations/.
  const compiled = import.meta.url.includes('/dist/src/');
  return compiled ? join(packageRoot, 'dist', 'migrations') : join(packageRoot, 'migrations');
}

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return readdirSync(migrationsDir())
      .filter((f) => /^\d{8,}_[a-z0-9_]+\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
      .map((f) => f.replace(/\.(ts|js)$/, ''))
      .sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    const dir = migrationsDir();
    const ext = import.meta.url.includes('/dist/src/') ? '.js' : '.ts';
    return (await import(pathToFileURL(join(dir, name + ext)).href)) as MigrationModule;
  },
};
