import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeSecretKey } from './secret-box.js';

export const KEY_FILE_NAME = 'secret.key';

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
