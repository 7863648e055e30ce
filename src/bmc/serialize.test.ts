import { describe, expect, it } from '@jest/globals';
import type { BmcDriver, PowerState } from './driver.js';
import { FakeBmcDirectory, createFakeDriver } from './fake/driver.js';
import { BmcOperationQueue, bmcKey, isRetryable, serializeDriver, type BmcCallMetadata } from './serialize.js';
import { BmcAuthError, BmcError, BmcUnreachableError } from '../errors.js';

const endpoint = { protocol: 'fake' as const, host: '10.0.0.5', port: 623, username: 'admin', password: 'password', tls: 'verify' };

/** A deferred promise, so tests decide when a driver call finishes (no timing). */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('BmcOperationQueue', () => {
  it('runs calls for one key strictly one after another, in call order', async () => {
    const queue = new BmcOperationQueue();
    const events: string[] = [];
    const gates = [deferred<void>(), deferred<void>(), deferred<void>()];
    const runs = gates.map((gate, i) =>
      queue.run('bmc-a', async () => {
        events.push(`start ${i}`);
        await gate.promise;
        events.push(`end ${i}`);
      }),
    );
    await Promise.resolve();
    gates[2]!.resolve();
    gates[1]!.resolve();
    gates[0]!.resolve();
    await Promise.all(runs);
    expect(events).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(queue.activeKeys).toBe(0);
  });

  it('does not make one BMC wait for another', async () => {
    const queue = new BmcOperationQueue();
    const blocked = deferred<void>();
    const slow = queue.run('bmc-a', () => blocked.promise);
    await expect(queue.run('bmc-b', async () => 'b')).resolves.toBe('b');
    blocked.resolve();
    await slow;
  });

  it('a caller that aborts while queued leaves without running and does not block later callers', async () => {
    const queue = new BmcOperationQueue();
    const blocked = deferred<void>();
    const first = queue.run('k', () => blocked.promise);
    const controller = new AbortController();
    let ran = false;
    const second = queue.run('k', async () => {
      ran = true;
    }, controller.signal);
    controller.abort();
    await expect(second).rejects.toBeInstanceOf(BmcUnreachableError);
    const third = queue.run('k', async () => 'third');
    blocked.resolve();
    await first;
    await expect(third).resolves.toBe('third');
    expect(ran).toBe(false);
  });

  it('a failing call releases the queue', async () => {
    const queue = new BmcOperationQueue();
    await expect(queue.run('k', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    await expect(queue.run('k', async () => 1)).resolves.toBe(1);
  });
});

describe('serializeDriver', () => {
  it('retries idempotent reads after a transient failure and reports the attempts', async () => {
    const dir = new FakeBmcDirectory();
    const fake = createFakeDriver(endpoint, dir);
    fake.bmc.injectFailure({ kind: 'unreachable', operations: ['powerState'], times: 2 });
    const calls: BmcCallMetadata[] = [];
    const d = serializeDriver('k', fake, { queue: new BmcOperationQueue(), backoffMs: 1, onCall: (m) => calls.push(m) });
    await expect(d.powerState()).resolves.toBe('off');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ operation: 'powerState', attempts: 3, ok: true, protocol: 'fake', bmc: 'k' });
  });

  it('never retries a power change', async () => {
    const dir = new FakeBmcDirectory();
    const fake = createFakeDriver(endpoint, dir);
    fake.bmc.injectFailure({ kind: 'unreachable', operations: ['setPower'], times: 1 });
    const calls: BmcCallMetadata[] = [];
    const d = serializeDriver('k', fake, { queue: new BmcOperationQueue(), backoffMs: 1, onCall: (m) => calls.push(m) });
    await expect(d.setPower('on')).rejects.toBeInstanceOf(BmcUnreachableError);
    expect(calls[0]).toMatchObject({ operation: 'setPower', attempts: 1, ok: false });
    expect(fake.bmc.power).toBe('off');
  });

  it('does not retry wrong credentials', async () => {
    const dir = new FakeBmcDirectory();
    dir.get(endpoint.host, endpoint.port, { username: 'admin', password: 'password' });
    const fake = createFakeDriver({ ...endpoint, password: 'nope' }, dir);
    const calls: BmcCallMetadata[] = [];
    const d = serializeDriver('k', fake, { queue: new BmcOperationQueue(), backoffMs: 1, onCall: (m) => calls.push(m) });
    await expect(d.inspect()).rejects.toBeInstanceOf(BmcAuthError);
    expect(calls[0]!.attempts).toBe(1);
  });

  it('turns a driver that never answers into BmcUnreachableError at the deadline and frees the queue', async () => {
    const fake = createFakeDriver(endpoint, new FakeBmcDirectory());
    const never: BmcDriver = {
      protocol: 'fake',
      verify: (c) => fake.verify(c),
      powerState: () => new Promise<PowerState>(() => undefined),
      setPower: (a, c) => fake.setPower(a, c),
      setBootDevice: (r, c) => fake.setBootDevice(r, c),
      getBootDevice: (c) => fake.getBootDevice(c),
      inspect: (c) => fake.inspect(c),
      health: (o, c) => fake.health(o, c),
      close: () => fake.close(),
    };
    const queue = new BmcOperationQueue();
    const d = serializeDriver('k', never, { queue, timeoutMs: 5, readRetries: 0 });
    await expect(d.powerState()).rejects.toThrow(/powerState timed out after 5 ms/);
    expect(queue.activeKeys).toBe(0);
  });

  it('passes the caller abort through as BmcUnreachableError without retrying', async () => {
    const dir = new FakeBmcDirectory();
    const fake = createFakeDriver(endpoint, dir);
    fake.bmc.latencyMs = 60_000;
    const d = serializeDriver('k', fake, { queue: new BmcOperationQueue() });
    const controller = new AbortController();
    const call = d.health({}, { signal: controller.signal });
    controller.abort();
    await expect(call).rejects.toBeInstanceOf(BmcUnreachableError);
  });
});

describe('isRetryable', () => {
  it.each([
    [new BmcUnreachableError('timeout'), true],
    [new BmcUnreachableError('pin', { details: { retryable: false } }), false],
    [new BmcAuthError('creds'), false],
    [new BmcError('5xx', { details: { httpStatus: 503 } }), true],
    [new BmcError('4xx', { details: { httpStatus: 400 } }), false],
    [new BmcError('malformed JSON', { details: { httpStatus: 200, retryable: true } }), true],
    [new Error('other'), false],
  ])('%s → %s', (err, expected) => {
    expect(isRetryable(err)).toBe(expected);
  });
});

describe('bmcKey', () => {
  it('uses the protocol default port', () => {
    expect(bmcKey('10.0.0.1', null, 'ipmi')).toBe('10.0.0.1:623');
    expect(bmcKey('10.0.0.1', null, 'redfish')).toBe('10.0.0.1:443');
    expect(bmcKey('10.0.0.1', 8443, 'redfish')).toBe('10.0.0.1:8443');
  });
});
