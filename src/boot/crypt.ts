import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InputError } from '../errors.js';

/**
 * SHA-512 crypt (`$6$`), as specified by Ulrich Drepper ("Unix crypt using SHA-256 and SHA-512",
 * 2007-2008) and implemented by glibc. Installers (kickstart `rootpw --iscrypted`, preseed
 * `passwd/root-password-crypted`, cloud-init `passwd`) accept only crypt strings, and we never
 * want the plaintext to reach a template, a database row or a log line.
 */

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const SALT_MAX = 16;

// The order in which digest bytes are grouped into 24-bit chunks for the crypt base-64 alphabet.
const SHA512_PERMUTATION: ReadonlyArray<readonly [number, number, number]> = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `len` bytes of `block` repeated (the spec's "for each block of 64 bytes, then the rest"). */
function repeatTo(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i));
  return out;
}

function encode64(digest: Buffer): string {
  let out = '';
  const put = (b2: number, b1: number, b0: number, n: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++) {
      out += ITOA64[w & 0x3f];
      w >>>= 6;
    }
  };
  for (const [a, b, c] of SHA512_PERMUTATION) put(digest[a]!, digest[b]!, digest[c]!, 4);
  put(0, 0, digest[63]!, 2);
  return out;
}

export interface Sha512CryptOptions {
  /** Up to 16 characters from `[./0-9A-Za-z]`; random when omitted. */
  salt?: string;
  /** 1000..999999999; omitted → 5000 and no `rounds=` field, as glibc does. */
  rounds?: number;
}

/** Returns the `$6$…` crypt string for `password`. */
export function sha512crypt(password: string, options: Sha512CryptOptions = {}): string {
  const salt = (options.salt ?? randomSalt()).slice(0, SALT_MAX);
  if (!/^[./0-9A-Za-z]*$/.test(salt)) throw new InputError('sha512crypt: salt may only contain [./0-9A-Za-z]');
  const explicitRounds = options.rounds !== undefined;
  const rounds = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Math.trunc(options.rounds ?? ROUNDS_DEFAULT)));
  return compute(Buffer.from(password, 'utf8'), salt, rounds, explicitRounds);
}

/**
 * Re-computes a crypt string from a `$6$[rounds=N$]salt[$hash]` setting, as crypt(3) does; the
 * form test vectors and `openssl passwd -6` produce.
 */
export function sha512cryptWithSetting(password: string, setting: string): string {
  const m = /^\$6\$(?:rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!m) throw new InputError('sha512crypt: setting must start with $6$');
  const explicitRounds = m[1] !== undefined;
  const rounds = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, explicitRounds ? Number(m[1]) : ROUNDS_DEFAULT));
  return compute(Buffer.from(password, 'utf8'), m[2]!.slice(0, SALT_MAX), rounds, explicitRounds);
}

/** Constant-time check of `password` against a `$6$` crypt string. */
export function verifySha512crypt(password: string, hash: string): boolean {
  if (!isSha512CryptHash(hash)) return false;
  const again = Buffer.from(sha512cryptWithSetting(password, hash));
  const given = Buffer.from(hash);
  return again.length === given.length && timingSafeEqual(again, given);
}

/** True when `value` has the shape of a `$6$` crypt string (what templates accept as a root password). */
export function isSha512CryptHash(value: string): boolean {
  return /^\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{0,16}\$[./0-9A-Za-z]{86}$/.test(value);
}

function randomSalt(): string {
  const bytes = randomBytes(SALT_MAX);
  let s = '';
  for (const b of bytes) s += ITOA64[b & 0x3f];
  return s;
}

function compute(p: Buffer, saltText: string, rounds: number, explicitRounds: boolean): string {
  const s = Buffer.from(saltText, 'ascii');
  const b = sha512(p, s, p);

  const a = createHash('sha512');
  a.update(p);
  a.update(s);
  a.update(repeatTo(b, p.length));
  for (let n = p.length; n > 0; n >>= 1) a.update(n & 1 ? b : p);
  const aDigest = a.digest();

  const dp = createHash('sha512');
  for (let i = 0; i < p.length; i++) dp.update(p);
  const pSeq = repeatTo(dp.digest(), p.length);

  const ds = createHash('sha512');
  for (let i = 0; i < 16 + aDigest[0]!; i++) ds.update(s);
  const sSeq = repeatTo(ds.digest(), s.length);

  let c = aDigest;
  for (let i = 0; i < rounds; i++) {
    const h = createHash('sha512');
    h.update(i & 1 ? pSeq : c);
    if (i % 3) h.update(sSeq);
    if (i % 7) h.update(pSeq);
    h.update(i & 1 ? c : pSeq);
    c = h.digest();
  }
  return `$6$${explicitRounds ? `rounds=${rounds}$` : ''}${saltText}$${encode64(c)}`;
}
