import { choiceOption, intOption } from './args.js';
import { UsageError } from './io.js';

describe('choiceOption', () => {
  const roles = ['admin', 'viewer'] as const;

  it('passes a valid value through and an absent one as undefined', () => {
    expect(choiceOption('viewer', '--role', roles, 'usage')).toBe('viewer');
    expect(choiceOption(undefined, '--role', roles, 'usage')).toBeUndefined();
  });

  it('refuses anything else as a usage error naming the option and the choices', () => {
    for (const bad of ['superuser', '', 'Admin', true]) {
      let err: unknown;
      try {
        choiceOption(bad, '--role', roles, 'the usage');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect(err).toMatchObject({ message: `--role must be one of admin, viewer (got "${String(bad)}")`, usage: 'the usage' });
    }
  });
});

describe('intOption', () => {
  it('reads whole numbers within the range', () => {
    expect(intOption('1', '--steps', { min: 1 }, 'u')).toBe(1);
    expect(intOption('500', '--limit', { min: 1, max: 500 }, 'u')).toBe(500);
    expect(intOption(undefined, '--limit', { min: 1, max: 500 }, 'u')).toBeUndefined();
  });

  it('refuses fractions, signs, words, out-of-range and unsafe integers', () => {
    for (const bad of ['0', '-1', '+1', '1.5', '1e3', 'abc', '', '501', '99999999999999999999']) {
      expect(() => intOption(bad, '--limit', { min: 1, max: 500 }, 'u')).toThrow(`--limit must be a whole number from 1 to 500 (got "${bad}")`);
    }
    expect(() => intOption('0', '--steps', { min: 1 }, 'u')).toThrow('--steps must be a whole number of at least 1 (got "0")');
    expect(() => intOption('99999999999999999999', '--steps', { min: 1 }, 'u')).toThrow(UsageError);
  });
});
