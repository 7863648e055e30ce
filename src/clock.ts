/** Time source. Pure code takes `now` as an argument; services take a Clock so tests can fix time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  private current: Date;
  constructor(start: Date | string = '2026-01-01T00:00:00.000Z') {
    this.current = new Date(start);
  }
  now(): Date {
    return new Date(this.current);
  }
  set(to: Date | string): void {
    this.current = new Date(to);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/**
 * Waits `ms`, or less when `signal` aborts; never rejects. For service loops that idle between
 * passes: the abort listener is removed again, so a long-lived stop signal does not collect one
 * listener per pass.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolves when `signal` aborts (a role that only serves until it is told to stop). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/**
 * An idle pause that a wake-up cuts short, for service loops fed by events as well as by polling.
 * A wake-up that arrives while the loop is busy is kept, so the next pause returns at once.
 */
export class Wakeable {
  private pending = false;
  private waiting: (() => void) | null = null;

  wake(): void {
    this.pending = true;
    const resolve = this.waiting;
    this.waiting = null;
    resolve?.();
  }

  /** Forgets a kept wake-up (the loop is about to look for work anyway). */
  clear(): void {
    this.pending = false;
  }

  /** Waits `ms`, or until a wake-up or `signal` aborts; returns at once if a wake-up is kept. */
  pause(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.waiting === done) this.waiting = null;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.waiting = done;
    });
  }
}
