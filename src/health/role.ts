import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { AnvilConfig, ListenAddress } from '../config/schema.js';
import { AnvilMetrics } from '../metrics/metrics.js';
import { untilAborted } from '../clock.js';
import { startMetricsServer } from '../metrics/server.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { createHealthServices, type HealthServices, type HealthServicesDeps } from './services.js';

/**
 * Wiring for `anvil serve`: one set of health services and metrics per process, registered for
 * the API routes, plus the sweeper role and the optional separate metrics listener. The returned
 * role objects have the `{name, start(signal)}` shape `cli/services.ts` runs.
 */

export interface HealthWiring {
  health: HealthServices;
  metrics: AnvilMetrics;
}

/** Creates the process's health services (notifying through `notifier`) and metrics. */
export function configureHealth(
  deps: Omit<HealthServicesDeps, 'onSweepFinished' | 'logger'> & { logger: Logger; config?: Pick<AnvilConfig, 'notifications'> },
): HealthWiring {
  const metrics = new AnvilMetrics({ knex: deps.knex });
  const { config, ...rest } = deps;
  const notifications = rest.notifications ?? (config?.notifications?.webhook ? { webhook: config.notifications.webhook } : null);
  const health = createHealthServices({ ...rest, notifications, logger: deps.logger.child({ role: 'sweeper' }), onSweepFinished: (s) => metrics.observeSweep(s) });
  return { health, metrics };
}

/** The sweeper role: scheduled sweeps of `site` (or every site) and the incident deadline tick. */
export function sweeperRoleService(wiring: HealthWiring, site: string | null): { name: string; start(signal: AbortSignal): Promise<void> } {
  return {
    name: 'sweeper',
    start: (signal) => wiring.health.sweeper.run(signal, { site }),
  };
}

/** Serves /metrics on config `metrics.listen` until `signal` aborts. */
export function metricsListenerService(wiring: HealthWiring, settings: { listen: ListenAddress; token: string | null }, logger: Logger): { name: string; start(signal: AbortSignal): Promise<void> } {
  return {
    name: 'metrics',
    async start(signal) {
      const srv = await startMetricsServer({ metrics: wiring.metrics, host: settings.listen.host, port: settings.listen.port, token: settings.token });
      logger.info({ url: srv.url }, 'metrics listening');
      await untilAborted(signal);
      await srv.close();
    },
  };
}
