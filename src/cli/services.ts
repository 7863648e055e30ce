import type { Logger } from 'pino';

/**
 * A long-running part of `anvil serve` (api, worker, boot, sweeper). `start` runs until `signal`
 * aborts, then stops cleanly and resolves; it rejects when the service fails.
 */
export interface RoleService {
  name: string;
  start(signal: AbortSignal): Promise<void>;
}

/**
 * Runs services together until `signal` aborts or one of them stops: the first failure (or an
 * unexpected stop) aborts the rest, and the first error is rethrown once all have stopped.
 */
export async function runServices(services: readonly RoleService[], signal: AbortSignal, logger: Logger): Promise<void> {
  const group = new AbortController();
  const onAbort = (): void => group.abort(signal.reason);
  if (signal.aborted) group.abort(signal.reason);
  else signal.addEventListener('abort', onAbort, { once: true });
  let firstError: unknown;
  try {
    await Promise.all(
      services.map(async (service) => {
        try {
          await service.start(group.signal);
          if (!group.signal.aborted) {
            logger.warn({ service: service.name }, 'service stopped on its own; stopping the others');
            group.abort();
          }
        } catch (err) {
          if (firstError === undefined) firstError = err;
          logger.error({ service: service.name, err: (err as Error).message }, 'service failed; stopping the others');
          group.abort(err);
        }
      }),
    );
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (firstError !== undefined) throw firstError;
}
