import { setMaxListeners } from 'node:events';
import type {
  BmcCallContext,
  BmcDriver,
  BootDeviceRequest,
  BootDeviceState,
  HardwareInventory,
  HealthReport,
  PowerAction,
  PowerState,
} from './driver.js';
import { AnvilError, BmcAuthError, BmcError, BmcUnreachableError } from '../errors.js';

/**
 * The one place where BMC calls get their timeouts, retries and serialisation.
 *
 * BMCs are small embedded computers: two concurrent requests from two workers can wedge a web
 * server or interleave a boot-override PATCH with a reset. So every call for one BMC (keyed by
 * `host:port`, whatever driver instance it came through) waits its turn in a FIFO queue.
 */

export type BmcOperation = 'verify' | 'powerState' | 'setPower' | 'setBootDevice' | 'getBootDevice' | 'inspect' | 'health';

/** Operations that change nothing on the BMC and may therefore be retried after a failure. */
const IDEMPOTENT_READS: ReadonlySet<BmcOperation> = new Set(['verify', 'powerState', 'getBootDevice', 'inspect', 'health']);

/** What one call through the wrapper did; the caller may store it in the audit row. */
export interface BmcCallMetadata {
  bmc: string;
  protocol: string;
  operation: BmcOperation;
  attempts: number;
  durationMs: number;
  /** Time spent waiting behind earlier calls for the same BMC. */
  queuedMs: number;
  ok: boolean;
  lastError: string | null;
}

export interface SerializeOptions {
  /** Deadline for one attempt of a read or a boot-device change. Default 60 s. */
  timeoutMs?: number;
  /** Deadline for `setPower`, which polls until the BMC confirms. Default 5 min. */
  powerTimeoutMs?: number;
  /** Extra attempts for idempotent reads after a retryable failure. Default 2. */
  readRetries?: number;
  /** First backoff delay; doubles each retry, with ±20 % jitter. Default 500 ms. */
  backoffMs?: number;
  /** Called after every call with what happened (never includes credentials). */
  onCall?: (meta: BmcCallMetadata) => void;
  /** The queue to use; the process-wide one unless a test isolates itself. */
  queue?: BmcOperationQueue;
}

const observers = new Set<(meta: BmcCallMetadata) => void>();

/**
 * Process-wide listener for every call through any serialised driver (metrics: latency by
 * driver and operation). Returns the function that removes it. A throwing observer is ignored.
 */
export function observeBmcCalls(observer: (meta: BmcCallMetadata) => void): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

function notifyObservers(meta: BmcCallMetadata): void {
  for (const observer of observers) {
    try {
      observer(meta);
    } catch {
      // Metrics must never break a BMC operation.
    }
  }
}

/** A FIFO queue per key: `run` calls for one key never overlap. */
export class BmcOperationQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Number of keys with work queued or running (for tests and metrics). */
  get activeKeys(): number {
    return this.tails.size;
  }

  /**
   * Runs `fn` once every earlier call for `key` has settled. If `signal` aborts while waiting,
   * the call leaves the queue without running and rejects with BmcUnreachableError.
   */
  run<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => done);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });

    const waitTurn = previous.then(() => undefined);
    const turn = signal ? raceAbort(waitTurn, signal, `BMC ${key}: cancelled while waiting for an earlier operation`) : waitTurn;
    return turn.then(
      async () => {
        try {
          return await fn();
        } finally {
          release();
        }
      },
      (err: unknown) => {
        // Our turn must still pass, or later callers would wait behind a call that never runs.
        void previous.then(release);
        throw err;
      },
    );
  }
}

/** The process-wide queue: every driver instance for the same BMC shares it. */
export const defaultBmcQueue = new BmcOperationQueue();

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, message: string): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal, message));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal, message));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function abortError(signal: AbortSignal, message: string): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof AnvilError) return reason;
  return new BmcUnreachableError(message, { cause: reason });
}

/** An abort signal that fires at a deadline or when `parent` aborts; `dispose()` when done. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** True once the deadline itself (not the parent) fired. */
  readonly expired: boolean;
  dispose(): void;
}

/**
 * A deadline signal. Hand-rolled because on Node 20 `AbortSignal.timeout()` costs ~30 µs and
 * `AbortSignal.any()` ~80 µs per call (measured), which showed up as a third of a power-status
 * poll's cost; this costs a timer and a listener. The reason is a `TimeoutError` DOMException, as
 * with AbortSignal.timeout.
 */
export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  // One operation's signal is shared by every request it fans out to (Redfish health reads dozens
  // of resources), each with its own deadline listening here: not a leak, so no warning.
  setMaxListeners(256, controller.signal);
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`deadline of ${ms} ms passed`, 'TimeoutError'));
  }, ms);
  timer.unref?.();
  const onParent = (): void => controller.abort(parent?.reason);
  if (parent) {
    if (parent.aborted) controller.abort(parent.reason);
    else parent.addEventListener('abort', onParent, { once: true });
  }
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/** Whether a failed read is worth another attempt: transient transport or server trouble only. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof BmcAuthError) return false;
  if (err instanceof BmcError) {
    const details = err.details as Record<string, unknown> | undefined;
    if (details && !Array.isArray(details) && typeof details.retryable === 'boolean') return details.retryable;
    if (err instanceof BmcUnreachableError) return true;
    const status = details && !Array.isArray(details) ? details.httpStatus : undefined;
    return typeof status === 'number' ? status >= 500 : false;
  }
  return false;
}

/** Waits `ms`, rejecting with the signal's reason as soon as it aborts. */
export const abortableSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Wraps a driver so that its calls for `bmcKey` (`host:port`) are serialised, time-limited and,
 * for idempotent reads, retried with exponential backoff. `close()` is passed straight through
 * (it must work even while an operation is stuck).
 */
export function serializeDriver(bmcKey: string, driver: BmcDriver, options: SerializeOptions = {}): BmcDriver {
  const queue = options.queue ?? defaultBmcQueue;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const powerTimeoutMs = options.powerTimeoutMs ?? 300_000;
  const readRetries = options.readRetries ?? 2;
  const backoffMs = options.backoffMs ?? 500;

  async function call<T>(operation: BmcOperation, ctx: BmcCallContext | undefined, fn: (ctx: BmcCallContext) => Promise<T>): Promise<T> {
    const queuedAt = Date.now();
    let startedAt = queuedAt;
    let attempts = 0;
    let lastError: unknown = null;
    const limitMs = operation === 'setPower' ? powerTimeoutMs : timeoutMs;
    const maxAttempts = IDEMPOTENT_READS.has(operation) ? 1 + readRetries : 1;
    const report = (ok: boolean): void => {
      const meta: BmcCallMetadata = {
        bmc: bmcKey,
        protocol: driver.protocol,
        operation,
        attempts,
        durationMs: Date.now() - startedAt,
        queuedMs: startedAt - queuedAt,
        ok,
        lastError: lastError === null ? null : lastError instanceof Error ? lastError.message : String(lastError),
      };
      options.onCall?.(meta);
      notifyObservers(meta);
    };
    try {
      const result = await queue.run(
        bmcKey,
        async () => {
          startedAt = Date.now();
          for (;;) {
            attempts += 1;
            const limit = deadline(limitMs, ctx?.signal);
            try {
              // The race guarantees the deadline even for a driver that ignores the signal.
              return await raceAbort(fn({ signal: limit.signal }), limit.signal, `BMC ${bmcKey}: ${operation} timed out after ${limitMs} ms`);
            } catch (err) {
              lastError = err;
              const callerAborted = ctx?.signal?.aborted === true;
              if (limit.expired && !callerAborted && !(err instanceof BmcUnreachableError)) {
                lastError = new BmcUnreachableError(`BMC ${bmcKey}: ${operation} timed out after ${limitMs} ms`, { cause: err });
              }
              if (callerAborted || attempts >= maxAttempts || !isRetryable(lastError)) throw lastError;
              const delay = backoffMs * 2 ** (attempts - 1) * (0.8 + Math.random() * 0.4);
              await abortableSleep(delay, ctx?.signal);
            } finally {
              limit.dispose();
            }
          }
        },
        ctx?.signal,
      );
      report(true);
      return result;
    } catch (err) {
      if (lastError === null) lastError = err;
      report(false);
      throw lastError instanceof Error ? lastError : err;
    }
  }

  return {
    protocol: driver.protocol,
    verify: (ctx) => call('verify', ctx, (c) => driver.verify(c)),
    powerState: (ctx): Promise<PowerState> => call('powerState', ctx, (c) => driver.powerState(c)),
    setPower: (action: PowerAction, ctx) => call('setPower', ctx, (c) => driver.setPower(action, c)),
    setBootDevice: (req: BootDeviceRequest, ctx) => call('setBootDevice', ctx, (c) => driver.setBootDevice(req, c)),
    getBootDevice: (ctx): Promise<BootDeviceState> => call('getBootDevice', ctx, (c) => driver.getBootDevice(c)),
    inspect: (ctx): Promise<HardwareInventory> => call('inspect', ctx, (c) => driver.inspect(c)),
    health: (opts, ctx): Promise<HealthReport> => call('health', ctx, (c) => driver.health(opts, c)),
    close: () => driver.close(),
  };
}

/** The queue key for an endpoint: one BMC is one `host:port`, whatever the protocol. */
export function bmcKey(host: string, port: number | null, protocol: string): string {
  const effectivePort = port ?? (protocol === 'ipmi' ? 623 : protocol === 'redfish' ? 443 : 0);
  return `${host}:${effectivePort}`;
}
