import { getEventListeners } from 'node:events';
import { pause, untilAborted } from './clock.js';

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
