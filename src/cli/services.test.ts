import { silentLogger } from '../log.js';
import { runServices, type RoleService } from './services.js';

/** A service that runs until aborted, recording that it stopped. */
function idle(name: string, stopped: string[]): RoleService {
  return {
    name,
    start: (signal) =>
      new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          stopped.push(name);
          resolve();
        });
      }),
  };
}

describe('runServices', () => {
  it('stops every service when the outer signal aborts', async () => {
    const stopped: string[] = [];
    const outer = new AbortController();
    const run = runServices([idle('api', stopped), idle('worker', stopped)], outer.signal, silentLogger());
    outer.abort();
    await run;
    expect(stopped.sort()).toEqual(['api', 'worker']);
  });

  it('stops the others on the first failure and rethrows it', async () => {
    const stopped: string[] = [];
    const failing: RoleService = { name: 'boot', start: async () => Promise.reject(new Error('cannot bind port 67')) };
    await expect(runServices([idle('api', stopped), failing], new AbortController().signal, silentLogger())).rejects.toThrow('cannot bind port 67');
    expect(stopped).toEqual(['api']);
  });

  it('stops the others when one returns without being asked', async () => {
    const stopped: string[] = [];
    const quitter: RoleService = { name: 'sweeper', start: async () => undefined };
    await runServices([idle('api', stopped), quitter], new AbortController().signal, silentLogger());
    expect(stopped).toEqual(['api']);
  });
});
