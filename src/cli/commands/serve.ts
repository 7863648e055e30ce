import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from '../../api/app.js';
import type { AnvilConfig, ServiceRole } from '../../config/schema.js';
import { closeAll as closeAllBmcs } from '../../bmc/registry.js';
import { InputError, UnavailableError } from '../../errors.js';
import { ConfigError } from '../../config/load.js';
import { secretsStatus } from '../../secrets/rotation.js';
import { CONFIG_FLAGS_HELP, parseCommandArgs } from '../args.js';
import { openCliContext, type CliContext } from '../context.js';
import { stopSignal, UsageError } from '../io.js';
import { runServices, type RoleService } from '../services.js';
import type { CommandRun } from './types.js';
import { untilAborted } from '../../clock.js';
import { buildRuntime, buildWorker, type Runtime } from '../runtime.js';
import { createBootService, interfaceAddress, parseBootConfig } from '../../boot/service.js';
import { metricsListenerService, sweeperRoleService } from '../../health/role.js';

export const SERVE_USAGE = `Usage: anvil serve [--listen HOST:PORT] [--roles api,worker,boot,sweeper] [--site CODE] [options]

Runs Anvil until SIGINT/SIGTERM: migrates the database, then starts the chosen roles.
  --listen HOST:PORT   API address (or ANVIL_LISTEN; default 127.0.0.1:8080)
  --roles LIST         roles to run in this process (or ANVIL_ROLES; default all)
  --site CODE          restrict worker, boot and sweeper roles to one site (or ANVIL_SITE)

${CONFIG_FLAGS_HELP}`;

/** How long open keep-alive connections get to finish before shutdown closes them. */
const SHUTDOWN_GRACE_MS = 5000;

/** The API role: the HTTP server on the configured address. */
export function apiService(ctx: CliContext, rt: Runtime = buildRuntime(ctx)): RoleService {
  return {
    name: 'api',
    async start(signal) {
      const app = createApp({
        knex: ctx.knex,
        secrets: ctx.secrets,
        logger: ctx.logger.child({ role: 'api' }),
        services: {
          inventory: rt.inventory,
          orders: rt.orders,
          lifecycle: rt.lifecycle,
          machines: rt.machines,
          health: rt.health.health,
          metrics: rt.health.metrics,
          metricsToken: ctx.config.metrics?.token ?? null,
        },
      });
      const server = createServer(app);
      const { host, port } = ctx.config.listen;
      await listen(server, host, port);
      const addr = server.address() as AddressInfo;
      const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      ctx.stdout(`anvil: API listening on http://${shownHost}:${addr.port}\n`);
      ctx.logger.info({ host: addr.address, port: addr.port }, 'API listening');
      await new Promise<void>((resolve, reject) => {
        server.on('error', reject);
        const stop = (): void => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
        };
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
      });
    },
  };
}

/** The worker role: allocation, deploy/release workflows, delivery clocks, notification delivery. */
export function workerService(ctx: CliContext, rt: Runtime = buildRuntime(ctx)): RoleService {
  return {
    name: 'worker',
    async start(signal) {
      const log = ctx.logger.child({ role: 'worker' });
      const { provisioner, dispatcher } = buildWorker(rt, log, {}, { concurrency: ctx.config.worker.concurrency });
      log.info({ owner: rt.owner }, 'worker started');
      try {
        await Promise.all([provisioner.run(signal), dispatcher.run(signal)]);
      } finally {
        dispatcher.close();
      }
    },
  };
}


/** The boot role: DHCP, TFTP and HTTP boot on the interface named in `boot:` (off when absent). */
export function bootRoleService(ctx: CliContext, rt: Runtime): RoleService {
  return {
    name: 'boot',
    async start(signal) {
      // A worker in this process wakes at once for the boot activity its workflows wait on.
      const boot = createBootService({ config: ctx.config, knex: ctx.knex, logger: ctx.logger, onActivity: rt.wakeups.machineActivity });
      await boot.start(signal);
      if (boot.dhcp) rt.health.metrics.addDhcpSource('dhcp', () => boot.dhcp!.stats());
      if (boot.tftp) rt.health.metrics.addTftpSource('tftp', () => boot.tftp!.stats());
      if (boot.enabled) ctx.stdout(`anvil: boot services on ${boot.baseUrl ?? '?'}${boot.dhcp ? ' (DHCP on)' : ''}${boot.tftp ? ' (TFTP on)' : ''}\n`);
      try {
        await untilAborted(signal);
      } finally {
        await boot.stop();
      }
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
      reject(new UnavailableError(`cannot listen on ${host}:${port}: ${why}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Role factories. Roles not built yet are reported and skipped, so a process started with
 * `--roles api,worker` today keeps working when the worker arrives.
 */
export function roleServices(ctx: CliContext, roles: readonly ServiceRole[], logger: Logger): RoleService[] {
  const rt = buildRuntime(ctx);
  const factories: Record<ServiceRole, (ctx: CliContext) => RoleService> = {
    api: (c) => apiService(c, rt),
    worker: (c) => workerService(c, rt),
    boot: (c) => bootRoleService(c, rt),
    sweeper: (c) => sweeperRoleService(rt.health, c.config.site),
  };
  const services: RoleService[] = roles.map((role) => factories[role](ctx));
  const metricsListen = ctx.config.metrics?.listen;
  if (metricsListen) {
    services.push(metricsListenerService(rt.health, { listen: metricsListen, token: ctx.config.metrics?.token ?? null }, logger));
    logger.info({ listen: metricsListen }, 'metrics on a separate listener');
  }
  return services;
}

/**
 * A process given another key than the one that sealed the stored secrets would fail every BMC
 * operation and every delivery while looking healthy, so it does not start. Some values sealed with
 * a key that is gone while the rest open (a key lost after a rotation) only warn: those BMC
 * passwords can be imported again.
 */
export async function refuseForeignSecretKey(ctx: Pick<CliContext, 'knex' | 'secrets' | 'logger'>): Promise<void> {
  const { unopenable, stored, missingKeyIds, currentKeyId } = await secretsStatus(ctx.knex, ctx.secrets);
  if (unopenable === 0) return;
  if (unopenable < stored) {
    ctx.logger.error({ unopenable, stored, missingKeys: missingKeyIds }, 'some stored secrets were sealed with keys this process does not have; `anvil secrets status` lists them');
    return;
  }
  throw new ConfigError(
    `the secret key (key ${currentKeyId}, from ANVIL_SECRET_KEY or the data directory's secret.key) opens none of the ${stored} secrets stored in the database, sealed with key ${missingKeyIds.join(', ')}: ` +
      'start with the key they were sealed with (after a rotation, give the old one in ANVIL_SECRET_KEYS_PREVIOUS); `anvil secrets status` lists them',
  );
}

/**
 * The boot interface and address are a setting of this host: checked before any role starts, so a
 * wrong one stops the process as a configuration error (exit 2) instead of after the API is up.
 */
function checkBootInterface(raw: AnvilConfig['boot']): void {
  const boot = parseBootConfig(raw);
  if (!boot) return;
  try {
    interfaceAddress(boot.interface, boot.address);
  } catch (err) {
    if (err instanceof InputError) throw new ConfigError(err.message);
    throw err;
  }
}

export const runServe: CommandRun = async (argv, flags, env) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    { listen: { type: 'string' }, roles: { type: 'string' }, site: { type: 'string' } },
    SERVE_USAGE,
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, SERVE_USAGE);
  const config = env.loadConfig({
    ...flags,
    ...(values.listen !== undefined ? { listen: String(values.listen) } : {}),
    ...(values.roles !== undefined ? { roles: String(values.roles) } : {}),
    ...(values.site !== undefined ? { site: String(values.site) } : {}),
  });
  const ctx = await openCliContext(config, { io: env.io });
  const log = ctx.logger;
  let services: RoleService[];
  try {
    await refuseForeignSecretKey(ctx);
    if (config.roles.includes('boot')) checkBootInterface(config.boot);
    log.info({ roles: config.roles, site: config.site, database: config.database.target.dialect }, 'starting');
    services = roleServices(ctx, config.roles, log);
  } catch (err) {
    // The open database pool would keep the process alive after the error was printed.
    await ctx.close();
    throw err;
  }

  const stop = stopSignal(env.io, (sig) => log.info({ signal: sig }, 'shutting down'));
  try {
    await runServices(services, stop.signal, log);
    // Redfish sessions are deleted and IPMI sessions closed, so BMC session pools do not fill up.
    await closeAllBmcs();
    log.info('stopped');
    return 0;
  } finally {
    stop.dispose();
    await ctx.close();
  }
};
