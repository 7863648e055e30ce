import { Writable } from 'node:stream';
import { createLogger } from './log.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes JSON lines at or above the configured level', () => {
    const out = capture();
    const log = createLogger({ level: 'warn', destination: out.stream });
    log.info('hidden');
    log.warn({ machine: 'm1' }, 'shown');
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'shown', machine: 'm1' });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('censors passwords, tokens and authorization headers', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream });
    log.info({ bmc: { host: '10.0.0.5', password: 'hunter2' }, token: 'anv_abc', req: { headers: { authorization: 'Bearer anv_abc' } } }, 'x');
    const text = JSON.stringify(out.lines());
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('anv_abc');
    expect(text).toContain('10.0.0.5');
  });
});
