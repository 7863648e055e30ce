/** Exponential backoff with full jitter: attempt 1 waits up to base, doubling, capped at max. */
export function backoffMs(attempt: number, baseMs = 5_000, maxMs = 30 * 60_000, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  // Never retry sooner than half the ceiling, so a flapping receiver still gets breathing room.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
