import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeSecretKey, keyIdOf, SecretBox } from './secret-box.js';

export const KEY_FILE_NAME = 'secret.key';
/** Keys replaced by `anvil secrets rotate-key`, one base64 key a line: still opened, never sealed with. */
export const PREVIOUS_KEYS_FILE_NAME = 'secret.key.previous';

export interface LoadedKey {
  key: Buffer;
  source: 'env' | 'file' | 'generated';
  path?: string;
}

/**
 * The key comes from ANVIL_SECRET_KEY when set; otherwise from `<dataDir>/secret.key`, generated
 * once with 0600 permissions. The caller logs a warning for `generated` (losing that file means
 * losing every stored BMC password, so operators should back it up or set the variable).
 */
export function loadSecretKey(envValue: string | undefined, dataDir: string): LoadedKey {
  if (envValue && envValue.trim() !== '') return { key: decodeSecretKey(envValue), source: 'env' };
  const path = join(dataDir, KEY_FILE_NAME);
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) chmodSync(path, 0o600);
    return { key: decodeSecretKey(readFileSync(path, 'utf8'), path), source: 'file', path };
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  // 'wx' fails if another process created the file meanwhile; then read theirs.
  try {
    writeFileSync(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadSecretKey(undefined, dataDir);
    throw err;
  }
  return { key, source: 'generated', path };
}

/** The keys in `<dataDir>/secret.key.previous` (none when the file does not exist). */
export function loadPreviousKeyFile(dataDir: string): Buffer[] {
  const path = join(dataDir, PREVIOUS_KEYS_FILE_NAME);
  if (!existsSync(path)) return [];
  if (statSync(path).mode & 0o077) chmodSync(path, 0o600);
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line, i) => ({ line: line.trim(), i }))
    .filter(({ line }) => line !== '' && !line.startsWith('#'))
    .map(({ line, i }) => decodeSecretKey(line, `${path}:${i + 1}`));
}

/**
 * Replaces `<dataDir>/secret.key` with a new random key, after appending the old one to
 * `secret.key.previous` (so values it sealed still open until they are re-sealed). The new key is
 * written beside the old file and renamed over it: a crash leaves either the old or the new key in
 * place, and the old one is already in the previous-keys file before the rename. A file that no
 * longer holds `expectedKeyId`, the key this process started with (rotated meanwhile), is left alone.
 */
export function rotateKeyFile(dataDir: string, expectedKeyId: string): { previous: Buffer; key: Buffer; path: string } {
  const path = join(dataDir, KEY_FILE_NAME);
  if (!existsSync(path)) throw new Error(`${path} does not exist: there is no key file to rotate`);
  const previous = decodeSecretKey(readFileSync(path, 'utf8'), path);
  // Another rotation got there first: refuse before anything is written.
  if (keyIdOf(previous) !== expectedKeyId) {
    throw new Error(`${path} holds key ${keyIdOf(previous)}, not ${expectedKeyId} which this process started with; run anvil secrets status`);
  }
  const previousPath = join(dataDir, PREVIOUS_KEYS_FILE_NAME);
  const known = loadPreviousKeyFile(dataDir).some((k) => k.equals(previous));
  if (!known) appendFileSync(previousPath, previous.toString('base64') + '\n', { mode: 0o600 });
  const key = randomBytes(32);
  const next = `${path}.new`;
  writeFileSync(next, key.toString('base64') + '\n', { mode: 0o600 });
  renameSync(next, path);
  return { previous, key, path };
}

/**
 * The box for `key` with every configured previous key (settings first, then the data directory's
 * `secret.key.previous`), so values sealed before a rotation still open.
 */
export function secretBoxFor(key: Buffer, configuredPrevious: readonly string[], dataDir: string): SecretBox {
  const previous = [...configuredPrevious.map((k) => decodeSecretKey(k, 'previous secret key')), ...loadPreviousKeyFile(dataDir)];
  return new SecretBox(key, previous.filter((k) => !k.equals(key)));
}
