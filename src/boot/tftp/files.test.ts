import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverIpxeFiles, RootDirectory, sanitizeFilename, TftpRefusal } from './files.js';
import { TftpErrorCode } from './packet.js';

function refusalCode(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof TftpRefusal) return err.tftpCode;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('sanitizeFilename', () => {
  it.each([
    ['undionly.kpxe', 'undionly.kpxe'],
    ['/pxelinux.0', 'pxelinux.0'],
    ['//a//./b/', 'a/b'],
    ['\\boot\\x86\\wdsnbp.com', 'boot/x86/wdsnbp.com'],
    ['/etc/passwd', 'etc/passwd'],
    ['caf\u00e9.ipxe', 'caf\u00e9.ipxe'],
    ['..foo', '..foo'],
  ])('maps %j to the root-relative %j', (input, expected) => {
    expect(sanitizeFilename(Buffer.from(input, 'utf8'))).toBe(expected);
  });

  it.each([
    ['..'], ['../etc/passwd'], ['a/../../x'], ['a/../b'], ['..\\x'], ['/../x'],
  ])('refuses %j as an access violation', (input) => {
    expect(refusalCode(() => sanitizeFilename(Buffer.from(input)))).toBe(TftpErrorCode.ACCESS_VIOLATION);
  });

  it.each([
    ['a control byte', Buffer.from('a\x01b')],
    ['a newline (log injection)', Buffer.from('a\nb')],
    ['DEL', Buffer.from('a\x7f')],
    ['invalid UTF-8', Buffer.from([0x61, 0xff, 0xfe])],
  ])('refuses a name with %s', (_what, raw) => {
    expect(refusalCode(() => sanitizeFilename(raw))).toBe(TftpErrorCode.ACCESS_VIOLATION);
  });

  it('answers a name with no path segments as "file not found"', () => {
    expect(refusalCode(() => sanitizeFilename(Buffer.from('/./')))).toBe(TftpErrorCode.FILE_NOT_FOUND);
  });
});

describe('RootDirectory and the iPXE map', () => {
  let dir: string;
  let root: string;
  let outside: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-tftp-files-'));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(root, 'sub', 'file.bin'), 'inside');
    writeFileSync(join(outside, 'secret'), 'secret');
    symlinkSync(join(outside, 'secret'), join(root, 'escape'));
    symlinkSync(outside, join(root, 'escape-dir'));
    symlinkSync(join(root, 'sub', 'file.bin'), join(root, 'alias'));
    mkdirSync(join(dir, 'ipxe', 'arm64-efi'), { recursive: true });
    writeFileSync(join(dir, 'ipxe', 'undionly.kpxe'), 'undi');
    writeFileSync(join(dir, 'ipxe', 'arm64-efi', 'ipxe.efi'), 'arm');
    writeFileSync(join(dir, 'ipxe', 'unrelated.bin'), 'x');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('opens regular files and symlinks that stay inside the root', async () => {
    const r = await RootDirectory.open(root);
    const file = await r.open('sub/file.bin');
    expect(file?.size).toBe(6);
    await file?.close();
    const alias = await r.open('alias');
    expect(alias?.size).toBe(6);
    await alias?.close();
  });

  it('reports missing files and directories as absent', async () => {
    const r = await RootDirectory.open(root);
    expect(await r.open('nope')).toBeNull();
    expect(await r.open('sub')).toBeNull();
    expect(await r.open('sub/file.bin/x')).toBeNull();
  });

  it('refuses symlinks whose target lies outside the root', async () => {
    const r = await RootDirectory.open(root);
    await expect(r.open('escape')).rejects.toMatchObject({ tftpCode: TftpErrorCode.ACCESS_VIOLATION });
    await expect(r.open('escape-dir/secret')).rejects.toMatchObject({ tftpCode: TftpErrorCode.ACCESS_VIOLATION });
  });

  it('finds iPXE binaries by their well-known names only', () => {
    const found = discoverIpxeFiles(join(dir, 'ipxe'));
    expect([...found.keys()].sort()).toEqual(['ipxe-arm64.efi', 'undionly.kpxe']);
    expect(found.get('ipxe-arm64.efi')).toBe(join(dir, 'ipxe', 'arm64-efi', 'ipxe.efi'));
    expect(discoverIpxeFiles(null).size).toBe(0);
    expect(discoverIpxeFiles(join(dir, 'missing')).size).toBe(0);
  });
});
