import { z } from 'zod';
import { InputError } from '../errors.js';
import { validate } from './validate.js';

const Schema = z.object({ name: z.string().min(1), nics: z.array(z.object({ mac: z.string() }).strict()).optional(), port: z.number().optional() }).strict();

function failure(value: unknown): InputError {
  try {
    validate(Schema, value, 'body');
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

describe('validate', () => {
  it('returns the parsed value', () => {
    expect(validate(Schema, { name: 'a' }, 'body')).toEqual({ name: 'a' });
  });

  it('names each unknown field, nested ones with their path', () => {
    const err = failure({ name: 'a', colour: 1, nics: [{ mac: 'x', vlan: 3 }] });
    expect(err.details).toEqual(
      expect.arrayContaining([
        { field: 'colour', message: 'unknown field', in: 'body' },
        { field: 'nics[0].vlan', message: 'unknown field', in: 'body' },
      ]),
    );
    expect(err.details).toHaveLength(2);
    expect(err.message).toMatch(/^invalid body: (colour|nics\[0\]\.vlan): unknown field \(and 1 more\)$/);
  });

  it('says "required" for a missing field and keeps zod messages for wrong values', () => {
    const err = failure({ port: 'eighty' });
    expect(err.details).toEqual([
      { field: 'name', message: 'required', in: 'body' },
      { field: 'port', message: expect.stringContaining('expected number'), in: 'body' },
    ]);
  });

  it('names the whole body when it is not an object', () => {
    expect(failure(undefined).details).toEqual([{ field: 'body', message: 'required', in: 'body' }]);
  });
});
