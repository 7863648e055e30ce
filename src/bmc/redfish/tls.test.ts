import { describe, expect, it } from '@jest/globals';
import { InputError } from '../../errors.js';
import { normaliseFingerprint, parseTlsPolicy } from './tls.js';

const HEX = 'ab'.repeat(32);
const COLON = Array(32).fill('AB').join(':');

describe('TLS policy', () => {
  it.each([`sha256:${HEX}`, `SHA256:${HEX.toUpperCase()}`, `sha256:${COLON}`, `sha256:${COLON.toLowerCase()}`])('normalises %s', (value) => {
    expect(parseTlsPolicy(value)).toEqual({ mode: 'pin', fingerprint256: COLON });
  });

  it('parses verify and insecure', () => {
    expect(parseTlsPolicy('verify')).toEqual({ mode: 'verify' });
    expect(parseTlsPolicy('insecure')).toEqual({ mode: 'insecure' });
  });

  it.each(['sha256:abcd', 'sha1:' + HEX, 'none', ''])('rejects %p with InputError naming tls', (value) => {
    expect(() => parseTlsPolicy(value)).toThrow(InputError);
  });

  it('rejects fingerprints of the wrong length', () => {
    expect(() => normaliseFingerprint('ab'.repeat(20))).toThrow(/64 hex digits/);
  });
});
