import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { InputError, UnavailableError } from '../errors.js';

/**
 * A stored secret sealed with a key this process was not given: nothing the caller sent is wrong,
 * and nothing works until the process runs with that key (503, with a code the operator can search).
 */
export class SecretKeyMissingError extends UnavailableError {
  override readonly code: string = 'secret_key_missing';
}

/**
 * Encrypts secrets at rest (BMC passwords, delivered credentials) with AES-256-GCM.
 * Stored form: `v1:<key id>:<base64(iv | tag | ciphertext)>`. The key id (first 8 hex chars of a
 * SHA-256 of the key) lets a rotation tell which key sealed a value.
 */
export class SecretBox {
  readonly keyId: string;
  private readonly keys: Map<string, Buffer>;

  /** `key` seals new values; `previousKeys` can still open values sealed before a rotation. */
  constructor(key: Buffer, previousKeys: Buffer[] = []) {
    if (key.length !== 32) throw new InputError('ANVIL_SECRET_KEY: must be 32 bytes (base64-encoded)');
    this.keys = new Map();
    for (const k of [key, ...previousKeys]) this.keys.set(keyIdOf(k), k);
    this.keyId = keyIdOf(key);
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.keyId)!, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${sealedPrefix(this.keyId)}${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')}`;
  }

  open(sealed: string): string {
    const parsed = parseSealed(sealed);
    if (!parsed?.payload) throw new Error('sealed secret has an unknown format');
    const { keyId, payload } = parsed;
    const key = this.keys.get(keyId);
    if (!key) throw new SecretKeyMissingError(`secret was sealed with key ${keyId}, which is not configured`);
    const raw = Buffer.from(payload, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  /** Ids of every key this box opens with, the current one first. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }
}

/** How stored values sealed with `keyId` begin, or any sealed value without one (a SQL LIKE pattern is this plus `%`). */
export function sealedPrefix(keyId?: string): string {
  return keyId === undefined ? 'v1:' : `v1:${keyId}:`;
}

/** The parts of a stored value (`v1:<key id>:<payload>`), or null when it is not a sealed value. */
function parseSealed(sealed: string): { keyId: string; payload: string } | null {
  const [version, keyId, payload] = sealed.split(':');
  return version === 'v1' && keyId && payload !== undefined ? { keyId, payload } : null;
}

/** Id of the key that sealed a stored value, or null when it is not a sealed value. */
export function sealedKeyId(sealed: string): string | null {
  return parseSealed(sealed)?.keyId ?? null;
}

export function keyIdOf(key: Buffer): string {
  // Not secret: a short fingerprint of the key, never the key.
  return createHashHex(key).slice(0, 8);
}


function createHashHex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function decodeSecretKey(value: string, setting = 'ANVIL_SECRET_KEY'): Buffer {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new InputError(`${setting}: not base64`);
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new InputError(`${setting}: must decode to 32 bytes, got ${key.length}`);
  return key;
}
