/**
 * Defaults the configuration schema and the components themselves share, in a module of their own so
 * a component does not load the schema (and zod) to know its default.
 */

/** Workflows one worker process drives at once (`worker.concurrency`). */
export const DEFAULT_WORKER_CONCURRENCY = 32;
/** Machines a health sweep checks at once (`health.concurrency`). */
export const DEFAULT_HEALTH_CONCURRENCY = 64;
