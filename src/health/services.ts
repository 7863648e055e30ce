import { hostname } from 'node:os';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { defaultBmcRegistry } from '../bmc/registry.js';
import { systemClock, type Clock } from '../clock.js';
import { InventoryService } from '../inventory/service.js';
import { metricsFor } from '../metrics/metrics.js';
import { Notifier, type NotificationSettings } from '../notifications/outbox.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { IncidentService } from './incidents.js';
import { MaintenanceService } from './maintenance.js';
import { Sweeper, type DriverSource, type SweeperOptions } from './sweeper.js';

/** Sweep settings (config defaults in brackets). */
export interface HealthSettings {
  /** [15] minutes between scheduled sweeps of a site. */
  intervalMinutes?: number;
  /** [64] machines checked at once. */
  concurrency?: number;
  /** [30000] time budget per machine. */
  machineBudgetMs?: number;
  /** [30] days of health history kept. */
  retentionDays?: number;
  /** [2] consecutive healthy sweeps before an incident auto-resolves. */
  autoResolveAfter?: number;
  /** [0.1] jitter fraction of the interval. */
  jitterFraction?: number;
}

/** Everything health-related a role, a command or an API route calls. */
export interface HealthServices {
  sweeper: Sweeper;
  incidents: IncidentService;
  maintenance: MaintenanceService;
}

export interface HealthServicesDeps {
  knex: Knex;
  secrets: SecretBox;
  clock?: Clock;
  logger?: Logger;
  /** Webhook settings for customer notifications (config `notifications`); none = not notified. */
  notifications?: NotificationSettings | null;
  /** A ready Notifier (tests); overrides `notifications`. */
  notifier?: Notifier | null;
  /** BMC drivers; the process-wide registry by default. */
  drivers?: DriverSource;
  /** The BMC endpoint of a machine; InventoryService.getBmcEndpoint by default. */
  endpointFor?: SweeperOptions['endpointFor'];
  settings?: HealthSettings;
  /** Lease owner identity; `<host>:<pid>` by default. */
  owner?: string;
  onSweepFinished?: SweeperOptions['onSweepFinished'];
}

export function createHealthServices(deps: HealthServicesDeps): HealthServices {
  const clock = deps.clock ?? systemClock;
  const notifier = deps.notifier !== undefined ? deps.notifier : deps.notifications?.webhook ? new Notifier(deps.notifications, deps.secrets, clock) : null;
  const incidents = new IncidentService({ knex: deps.knex, clock, notifier, logger: deps.logger });
  const maintenance = new MaintenanceService({ knex: deps.knex, clock, notifier });
  const inventory = deps.endpointFor ? null : new InventoryService({ knex: deps.knex, secrets: deps.secrets, clock });
  const sweeper = new Sweeper({
    knex: deps.knex,
    incidents,
    endpointFor: deps.endpointFor ?? ((id) => inventory!.getBmcEndpoint(id)),
    drivers: deps.drivers ?? defaultBmcRegistry,
    owner: deps.owner ?? `${hostname()}:${process.pid}`,
    clock,
    logger: deps.logger,
    onSweepFinished: deps.onSweepFinished,
    ...deps.settings,
  });
  return { sweeper, incidents, maintenance };
}

const registered = new WeakMap<Knex, HealthServices>();

/**
 * Makes `services` the health services API routes use for this database handle (`anvil serve`
 * registers them with the configured notifications; tests register their own). Until the API's
 * service bag carries them, routes look them up by their `knex`.
 */
export function registerHealthServices(knex: Knex, services: HealthServices): void {
  registered.set(knex, services);
}

/** The registered health services for this database handle, created with defaults on first use. */
export function healthServicesFor(api: { knex: Knex; secrets: SecretBox; clock: Clock }): HealthServices {
  let services = registered.get(api.knex);
  if (!services) {
    const knex = api.knex;
    services = createHealthServices({ knex, secrets: api.secrets, clock: api.clock, onSweepFinished: (s) => metricsFor(knex).metrics.observeSweep(s) });
    registered.set(api.knex, services);
  }
  return services;
}
