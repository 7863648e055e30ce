import { getEventListeners } from 'node:events';
import { pause, untilAborted, Wakeable } from './clock.js';

describe('pause', () => {
  it('does not leave a listener on the signal after each pass of a service loop', async () => {
    const stop = new AbortController();
    for (let i = 0; i < 20; i++) await pause(1, stop.signal);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });

  it('returns as soon as the signal aborts', async () => {
    const stop = new AbortController();
    const waiting = pause(60_000, stop.signal);
    stop.abort();
    await expect(waiting).resolves.toBeUndefined();
    await expect(untilAborted(stop.signal)).resolves.toBeUndefined();
  });
});

describe('Wakeable', () => {
  it('a wake-up ends the current pause; one that came while busy ends the next pause at once', async () => {
    const stop = new AbortController();
    const w = new Wakeable();
    const first = w.pause(3_600_000, stop.signal);
    w.wake();
    await expect(first).resolves.toBeUndefined();
    w.wake(); // while the loop is busy
    await expect(w.pause(3_600_000, stop.signal)).resolves.toBeUndefined();
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });

  it('forgets a kept wake-up when the loop is about to look anyway', async () => {
    const stop = new AbortController();
    const w = new Wakeable();
    w.wake();
    w.clear();
    let ended = false;
    const waiting = w.pause(3_600_000, stop.signal).then(() => {
      ended = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(ended).toBe(false);
    stop.abort();
    await waiting;
    expect(ended).toBe(true);
  });
});
