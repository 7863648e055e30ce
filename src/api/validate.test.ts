import { z } from 'zod';
import { InputError } from '../errors.js';
import { rejectNul, validate } from './validate.js';

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

describe('rejectNul', () => {
  it('accepts values without NUL characters', () => {
    expect(() => rejectNul({ name: 'a', nics: [{ mac: 'x' }], n: 1, z: null }, 'body')).not.toThrow();
    expect(() => rejectNul(undefined, 'body')).not.toThrow();
  });

  it('names every field holding a NUL, nested ones with their path, and keys holding one', () => {
    let err: unknown;
    try {
      rejectNul({ name: 'a\u0000', nics: [{ mac: 'ok' }, { mac: '\u0000' }], ['k\u0000']: 1 }, 'body');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe('invalid body: name: must not contain a NUL character (\\u0000) (and 2 more)');
    expect((err as InputError).details).toEqual([
      { field: 'name', message: 'must not contain a NUL character (\\u0000)', in: 'body' },
      { field: 'nics[1].mac', message: 'must not contain a NUL character (\\u0000)', in: 'body' },
      { field: 'k\\0', message: 'must not contain a NUL character (\\u0000)', in: 'body' },
    ]);
  });

  it('names the query parameter or path parameter', () => {
    expect(() => rejectNul({ profile: 'a\u0000b' }, 'query')).toThrow('invalid query: profile:');
    expect(() => rejectNul({ id: ['x', 'a\u0000b'] }, 'params')).toThrow('invalid params: id[1]:');
  });
});
