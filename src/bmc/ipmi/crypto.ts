/**
 * RMCP+ cryptography (IPMI v2.0 section 13.28-13.32): the RAKP key-exchange codes, the session
 * integrity key (SIK) and its derived keys K1 (integrity) and K2 (AES key), per-packet integrity
 * codes and AES-CBC-128 payload confidentiality. Pure functions over node:crypto.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type CipherSuiteId = 3 | 17;

/** The algorithms one cipher suite names, and the sizes they imply. */
export interface CipherSuite {
  id: CipherSuiteId;
  hash: 'sha1' | 'sha256';
  /** Open Session algorithm numbers: authentication, integrity, confidentiality. */
  authAlgorithm: number;
  integrityAlgorithm: number;
  confidentialityAlgorithm: number;
  /** Length of the RAKP 2/3 key-exchange codes (full HMAC). */
  keyExchangeCodeLength: number;
  /** Length of the RAKP 4 integrity check value and of every packet's integrity code. */
  integrityCodeLength: number;
}

export const CIPHER_SUITES: Readonly<Record<CipherSuiteId, CipherSuite>> = {
  // RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128
  3: { id: 3, hash: 'sha1', authAlgorithm: 0x01, integrityAlgorithm: 0x01, confidentialityAlgorithm: 0x01, keyExchangeCodeLength: 20, integrityCodeLength: 12 },
  // RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128
  17: { id: 17, hash: 'sha256', authAlgorithm: 0x03, integrityAlgorithm: 0x04, confidentialityAlgorithm: 0x01, keyExchangeCodeLength: 32, integrityCodeLength: 16 },
};

/** Maximum sizes IPMI v2.0 allows for user names and passwords. */
export const MAX_USERNAME_BYTES = 16;
export const MAX_PASSWORD_BYTES = 20;

function hmac(hash: CipherSuite['hash'], key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac(hash, key);
  for (const part of parts) h.update(part);
  return h.digest();
}

function u32le(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0, 0);
  return b;
}

/** The user key Kuid: the password, zero-padded to 20 bytes (also for the SHA-256 suites). */
export function userKey(password: string): Buffer {
  const bytes = Buffer.from(password, 'utf8');
  if (bytes.length > MAX_PASSWORD_BYTES) throw new RangeError(`IPMI password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  const key = Buffer.alloc(MAX_PASSWORD_BYTES);
  bytes.copy(key);
  return key;
}

/** Everything both sides know after RAKP 2; the inputs of every code and key below. */
export interface RakpExchange {
  suite: CipherSuite;
  /** Kuid (or KG when the BMC uses a two-key login). */
  userKey: Buffer;
  consoleSessionId: number;
  bmcSessionId: number;
  consoleRandom: Buffer;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  /** The privilege byte sent in RAKP 1, including the name-only lookup bit. */
  role: number;
  username: Buffer;
}

/** RAKP 2 key-exchange code the BMC must send: HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENm, UNAMEm). */
export function rakp2Code(x: RakpExchange): Buffer {
  return hmac(x.suite.hash, x.userKey, u32le(x.consoleSessionId), u32le(x.bmcSessionId), x.consoleRandom, x.bmcRandom,
    x.bmcGuid, Buffer.from([x.role, x.username.length]), x.username);
}

/** RAKP 3 key-exchange code the console sends: HMAC_Kuid(Rc, SIDm, ROLEm, ULENm, UNAMEm). */
export function rakp3Code(x: RakpExchange): Buffer {
  return hmac(x.suite.hash, x.userKey, x.bmcRandom, u32le(x.consoleSessionId), Buffer.from([x.role, x.username.length]), x.username);
}

/** Session integrity key: HMAC_KG(Rm, Rc, ROLEm, ULENm, UNAMEm); KG is Kuid when no BMC key is set. */
export function sessionIntegrityKey(x: RakpExchange): Buffer {
  return hmac(x.suite.hash, x.userKey, x.consoleRandom, x.bmcRandom, Buffer.from([x.role, x.username.length]), x.username);
}

/** RAKP 4 integrity check value: HMAC_SIK(Rm, SIDc, GUIDc), truncated to the suite's integrity length. */
export function rakp4Code(x: RakpExchange, sik: Buffer): Buffer {
  return hmac(x.suite.hash, sik, x.consoleRandom, u32le(x.bmcSessionId), x.bmcGuid).subarray(0, x.suite.integrityCodeLength);
}

export interface SessionKeys {
  suite: CipherSuite;
  sik: Buffer;
  /** K1: the integrity key. */
  k1: Buffer;
  /** K2 truncated to 16 bytes: the AES-128 key. */
  aesKey: Buffer;
}

/** K1 = HMAC_SIK(0x01 repeated), K2 = HMAC_SIK(0x02 repeated); the constant is one digest long. */
export function deriveSessionKeys(suite: CipherSuite, sik: Buffer): SessionKeys {
  const size = suite.hash === 'sha1' ? 20 : 32;
  const k1 = hmac(suite.hash, sik, Buffer.alloc(size, 0x01));
  const k2 = hmac(suite.hash, sik, Buffer.alloc(size, 0x02));
  return { suite, sik, k1, aesKey: k2.subarray(0, 16) };
}

/** Per-packet integrity code (HMAC-SHA1-96 or HMAC-SHA256-128) over auth type .. next header. */
export function integrityCode(keys: SessionKeys, signedPart: Uint8Array): Buffer {
  return hmac(keys.suite.hash, keys.k1, signedPart).subarray(0, keys.suite.integrityCodeLength);
}

/** Constant-time comparison that tolerates different lengths. */
export function codesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * AES-CBC-128 payload encryption: a random IV, then the payload followed by pad bytes 1, 2, ... N and
 * the pad length N, so the ciphertext is a whole number of 16-byte blocks.
 */
export function encryptPayload(keys: SessionKeys, payload: Uint8Array, iv: Buffer = randomBytes(16)): Buffer {
  const padLength = (16 - ((payload.length + 1) % 16)) % 16;
  const plain = Buffer.alloc(payload.length + padLength + 1);
  plain.set(payload, 0);
  for (let i = 0; i < padLength; i++) plain[payload.length + i] = i + 1;
  plain[plain.length - 1] = padLength;
  const cipher = createCipheriv('aes-128-cbc', keys.aesKey, iv).setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(plain), cipher.final()]);
}

/** Reverses `encryptPayload`; null when the length or the padding is malformed. */
export function decryptPayload(keys: SessionKeys, data: Buffer): Buffer | null {
  if (data.length < 32 || data.length % 16 !== 0) return null;
  const decipher = createDecipheriv('aes-128-cbc', keys.aesKey, data.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]);
  const padLength = plain[plain.length - 1]!;
  if (padLength > 15 || padLength + 1 > plain.length) return null;
  return plain.subarray(0, plain.length - padLength - 1);
}
