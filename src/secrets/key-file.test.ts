import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rotateKeyFile } from './key-file.js';
import { keyIdOf } from './secret-box.js';

describe('rotateKeyFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-keyfile-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the old key in secret.key.previous and writes a new one', () => {
    const old = randomBytes(32);
    writeFileSync(join(dir, 'secret.key'), old.toString('base64') + '\n');
    const rotated = rotateKeyFile(dir, keyIdOf(old));
    expect(rotated.previous.equals(old)).toBe(true);
    expect(readFileSync(join(dir, 'secret.key'), 'utf8').trim()).toBe(rotated.key.toString('base64'));
    expect(readFileSync(join(dir, 'secret.key.previous'), 'utf8').trim()).toBe(old.toString('base64'));
  });

  it('refuses, writing nothing, when the file no longer holds the key the caller started with', () => {
    const current = randomBytes(32);
    writeFileSync(join(dir, 'secret.key'), current.toString('base64') + '\n');
    expect(() => rotateKeyFile(dir, 'deadbeef')).toThrow(`holds key ${keyIdOf(current)}, not deadbeef`);
    expect(readFileSync(join(dir, 'secret.key'), 'utf8').trim()).toBe(current.toString('base64'));
    expect(existsSync(join(dir, 'secret.key.previous'))).toBe(false);
  });
});
