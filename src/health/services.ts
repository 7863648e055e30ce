import { hostname } from 'node:os';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { defaultBmcRegistry } from '../bmc/registry.js';
import { systemClock, type Clock } from '../clock.js';
import { InventoryService } from '../inventory/service.js';
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
