import { openLabThread, startLabThread } from './thread-calls.js';

// The fixture entry lives in test/support; workerThreadEntry resolves it beside this URL.
const FIXTURE_DIR = new URL('../../test/support/here.ts', import.meta.url).href;

describe('lab thread calls', () => {
  it("answers a call with the handler's value or its error, and passes events on", async () => {
    const events: unknown[] = [];
    const thread = startLabThread(FIXTURE_DIR, 'lab-thread-fixture', null, (e) => events.push(e));
    try {
      expect(await thread.call('echo', { a: 1 })).toEqual({ a: 1 });
      await expect(thread.call('fail')).rejects.toThrow('handler failed');
      await expect(thread.call('nope')).rejects.toThrow('unknown operation nope');
      await thread.call('emit', 'hello');
      expect(events).toEqual(['hello']);
    } finally {
      await thread.stop();
    }
  });

  it('fails a call at once when the thread dies under it, and every call after', async () => {
    const thread = startLabThread(FIXTURE_DIR, 'lab-thread-fixture', null);
    await expect(thread.call('hang')).rejects.toThrow(/lab-thread-fixture thread exited \(3\)/);
    await expect(thread.call('echo', 1)).rejects.toThrow(/exited/);
    await thread.stop();
  });

  it('opens a thread with its start result, and stops it when start fails', async () => {
    const thread = await openLabThread<string>(FIXTURE_DIR, 'lab-thread-fixture', null);
    expect(thread.started).toBe('started');
    await thread.stop();
    await expect(openLabThread(FIXTURE_DIR, 'lab-thread-fixture', { failStart: true })).rejects.toThrow('start refused');
  });
});
