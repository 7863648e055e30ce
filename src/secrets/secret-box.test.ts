import { mkdtempSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SecretBox, SecretKeyMissingError, decodeSecretKey, sealedKeyId } from './secret-box.js';
import { loadSecretKey } from './key-file.js';
import { InputError } from '../errors.js';

describe('SecretBox', () => {
  const key = randomBytes(32);

  it('opens what it sealed, and never stores the plaintext', () => {
    const box = new SecretBox(key);
    const sealed = box.seal('calvin');
    expect(sealed).not.toContain('calvin');
    expect(box.open(sealed)).toBe('calvin');
    expect(box.seal('calvin')).not.toBe(sealed);
  });

  it('rejects a tampered value', () => {
    const box = new SecretBox(key);
    const sealed = box.seal('secret');
    const raw = Buffer.from(sealed.split(':')[2]!, 'base64');
    raw[raw.length - 1] ^= 1;
    expect(() => box.open(`v1:${box.keyId}:${raw.toString('base64')}`)).toThrow();
  });

  it('opens values sealed with a previous key after rotation, and tells which key sealed a value', () => {
    const old = new SecretBox(key);
    const sealed = old.seal('pw');
    const rotated = new SecretBox(randomBytes(32), [key]);
    expect(rotated.open(sealed)).toBe('pw');
    expect(sealedKeyId(sealed)).toBe(old.keyId);
    expect(sealedKeyId(rotated.seal('pw'))).toBe(rotated.keyId);
    expect(sealedKeyId('{"erased":"delivered"}')).toBeNull();
    expect(() => rotated.open('v1:abcd')).toThrow(/unknown format/);
  });

  it('answers a value sealed with a key it was not given with a 503 naming that key, not a bare error', () => {
    const sealed = new SecretBox(randomBytes(32)).seal('pw');
    const err = (() => {
      try {
        new SecretBox(key).open(sealed);
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SecretKeyMissingError);
    expect(err).toMatchObject({ status: 503, code: 'secret_key_missing', message: `secret was sealed with key ${sealedKeyId(sealed)}, which is not configured` });
  });

  it('refuses keys that are not 32 bytes of base64, naming the setting', () => {
    expect(() => decodeSecretKey('not base64!')).toThrow(InputError);
    expect(() => decodeSecretKey(randomBytes(16).toString('base64'))).toThrow(/ANVIL_SECRET_KEY: must decode to 32 bytes/);
  });
});

describe('loadSecretKey', () => {
  it('generates a key file once with 0600 permissions and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-key-'));
    const first = loadSecretKey(undefined, dir);
    expect(first.source).toBe('generated');
    expect(statSync(join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    const second = loadSecretKey(undefined, dir);
    expect(second.source).toBe('file');
    expect(second.key.equals(first.key)).toBe(true);
    expect(readFileSync(join(dir, 'secret.key'), 'utf8').trim()).toBe(first.key.toString('base64'));
  });

  it('prefers ANVIL_SECRET_KEY', () => {
    const key = randomBytes(32);
    const loaded = loadSecretKey(key.toString('base64'), mkdtempSync(join(tmpdir(), 'anvil-key-')));
    expect(loaded.source).toBe('env');
    expect(loaded.key.equals(key)).toBe(true);
  });
});
