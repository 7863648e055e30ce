import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { AnvilConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../clock.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { defaultBmcRegistry, type BmcRegistry } from '../bmc/registry.js';
import { InventoryService } from '../inventory/service.js';
import { OrderService } from '../orders/orders.js';
import { OrderLifecycle } from '../orders/lifecycle.js';
import { Notifier, NotificationDispatcher, type NotificationSettings } from '../notifications/outbox.js';
import { MachineOperations } from '../provisioning/machine-operations.js';
import { DeploymentService } from '../boot/deployments.js';
import { parseBootConfig } from '../boot/service.js';
import { DeploymentBootIntents } from '../provisioning/boot-intents.js';
import { WorkflowRunner } from '../provisioning/workflows/engine.js';
import { deployWorkflow, type DeployTimeouts } from '../provisioning/workflows/deploy.js';
import { releaseWorkflow } from '../provisioning/workflows/release.js';
import { Provisioner } from '../provisioning/provisioner.js';
import { databaseWakeups, type WorkerWakeups } from '../provisioning/wakeups.js';
import { configureHealth, type HealthWiring } from '../health/role.js';
import { silentLogger } from '../log.js';

/** Every capability service of one Anvil process, built once from its configuration. */
export interface Runtime {
  knex: Knex;
  secrets: SecretBox;
  clock: Clock;
  /** host:pid:random — this process's name in leases. */
  owner: string;
  notificationSettings: NotificationSettings;
  notifier: Notifier;
  registry: BmcRegistry;
  inventory: InventoryService;
  orders: OrderService;
  lifecycle: OrderLifecycle;
  machines: MachineOperations;
  deployments: DeploymentService;
  bootIntents: DeploymentBootIntents;
  /**
   * Wake-ups between the roles of this process: the boot role's activity wakes waiting workflows
   * (pass `wakeups.machineActivity` to createBootService), an order allocated by the API starts its
   * deployment at once.
   */
  wakeups: WorkerWakeups;
  /** Sweeps, incidents, maintenance windows, and the process's Prometheus metrics. */
  health: HealthWiring;
}

export interface RuntimeOptions {
  clock?: Clock;
  registry?: BmcRegistry;
}

export function notificationSettings(config: AnvilConfig): NotificationSettings {
  const n = config.notifications;
  return {
    webhook: n?.webhook ? { url: n.webhook.url, secret: n.webhook.secret } : null,
    smtp: n?.smtp
      ? {
          host: n.smtp.host,
          port: n.smtp.port,
          // Port 465 speaks TLS from the first byte; others upgrade with STARTTLS when offered.
          secure: n.smtp.port === 465,
          from: n.smtp.from,
          ...(n.smtp.username ? { username: n.smtp.username } : {}),
          ...(n.smtp.password ? { password: n.smtp.password } : {}),
        }
      : null,
  };
}

export function buildRuntime(ctx: { config: AnvilConfig; knex: Knex; secrets: SecretBox; logger?: Logger }, opts: RuntimeOptions = {}): Runtime {
  const { knex, secrets } = ctx;
  const clock = opts.clock ?? systemClock;
  const registry = opts.registry ?? defaultBmcRegistry;
  const settings = notificationSettings(ctx.config);
  const notifier = new Notifier(settings, secrets, clock);
  const inventory = new InventoryService({ knex, secrets, clock });
  const machines = new MachineOperations({ knex, inventory, registry, clock });
  // The worker refuses deployments of images the boot catalog lacks, when this process has one.
  const images = parseBootConfig(ctx.config.boot)?.os_images.map((i) => i.name);
  const deployments = new DeploymentService(knex, { clock, ...(images ? { knownImages: () => images } : {}) });
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const wakeups = databaseWakeups(knex, { clock, ...(ctx.logger ? { logger: ctx.logger } : {}) });
  const health = configureHealth({
    knex,
    secrets,
    clock,
    notifier,
    drivers: registry,
    endpointFor: (id) => inventory.getBmcEndpoint(id),
    owner,
    settings: ctx.config.health,
    logger: ctx.logger ?? silentLogger(),
  });
  return {
    knex,
    secrets,
    clock,
    owner,
    health,
    notificationSettings: settings,
    notifier,
    registry,
    inventory,
    orders: new OrderService({ knex, clock, notifier, wakeups, knownImages: images ?? null }),
    lifecycle: new OrderLifecycle({ knex, bmcs: machines, secrets, notifier, clock, knownImages: images ?? null }),
    machines,
    deployments,
    bootIntents: new DeploymentBootIntents(knex, deployments),
    wakeups,
  };
}

export interface WorkerParts {
  runner: WorkflowRunner;
  provisioner: Provisioner;
  dispatcher: NotificationDispatcher;
}

/** The worker role's moving parts: workflows, allocation and clocks, and notification delivery. */
export function buildWorker(rt: Runtime, logger: Logger, timeouts: Partial<DeployTimeouts> = {}, options: { leaseSeconds?: number; concurrency?: number } = {}): WorkerParts {
  const deps = { knex: rt.knex, bmcs: rt.machines, boot: rt.bootIntents, secrets: rt.secrets, notifier: rt.notifier, clock: rt.clock, timeouts };
  const runner = new WorkflowRunner({
    knex: rt.knex, owner: rt.owner, clock: rt.clock, logger, definitions: [deployWorkflow(deps), releaseWorkflow(deps)], wakeups: rt.wakeups,
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    // Short leases (the crash test, the lab) let another worker take over a dead one's work sooner.
    ...(options.leaseSeconds !== undefined ? { leaseSeconds: options.leaseSeconds } : {}),
  });
  const provisioner = new Provisioner({ knex: rt.knex, orders: rt.orders, runner, clock: rt.clock, logger, wakeups: rt.wakeups });
  const dispatcher = new NotificationDispatcher({
    knex: rt.knex,
    settings: rt.notificationSettings,
    secrets: rt.secrets,
    owner: rt.owner,
    clock: rt.clock,
    logger,
    // The pipeline's 2xx for a delivery is its acknowledgement: the stored credentials go.
    async onDelivered(trx, n) {
      if (n.channel === 'webhook' && (n.event === 'order.delivered' || n.event === 'order.reinstalled')) {
        await trx('orders').where({ id: n.subjectId }).whereNull('credentials_acknowledged_at').update({ credentials_enc: null, credentials_acknowledged_at: rt.clock.now().toISOString() });
      }
    },
  });
  return { runner, provisioner, dispatcher };
}
