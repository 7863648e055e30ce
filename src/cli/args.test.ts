import { splitConfigFlags } from './args.js';
import { UsageError } from './io.js';

describe('splitConfigFlags', () => {
  it('takes the shared flags in both forms and leaves the rest in order', () => {
    expect(splitConfigFlags(['import', '--config', 'a.yaml', 'inv.yaml', '--database-url=sqlite:x.db', '--dry-run', '--log-level', 'debug'])).toEqual({
      flags: { config: 'a.yaml', databaseUrl: 'sqlite:x.db', logLevel: 'debug' },
      rest: ['import', 'inv.yaml', '--dry-run'],
    });
  });

  it('passes everything after -- through untouched', () => {
    expect(splitConfigFlags(['x', '--', '--config', 'y']).rest).toEqual(['x', '--', '--config', 'y']);
  });

  it('refuses a shared flag without a value', () => {
    expect(() => splitConfigFlags(['--config'])).toThrow(UsageError);
    expect(() => splitConfigFlags(['--data-dir', '--log-level', 'info'])).toThrow('--data-dir needs a value');
  });
});
