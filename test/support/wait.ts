/**
 * Polling for tests that wait on another process, a database write or a real firmware: `probe`
 * is called until it returns a value (not null/undefined/false) or `timeoutMs` passes.
 */
export async function pollUntil<T>(probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `pollUntil` that throws `timed out after N ms waiting for <what>` instead of returning null. */
export async function waitFor<T>(probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const v = await pollUntil(probe, timeoutMs, everyMs);
  if (v === null) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  return v;
}
