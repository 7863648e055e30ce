import { existsSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { TftpErrorCode } from './packet.js';
import { FileSource } from './source.js';
import type { BlockSource } from './source.js';

/** A request the server answers with an ERROR packet instead of data. */
export class TftpRefusal extends Error {
  constructor(
    readonly tftpCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'TftpRefusal';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Turns the filename bytes of a request into a root-relative path with `/` separators, or refuses it.
 *
 * Decisions (documented in docs/benchmarks/tftp.md and the server's TSDoc):
 * - Control bytes (below 0x20, DEL) and invalid UTF-8 are refused: no legitimate boot file has them,
 *   and they are how log injection and odd filesystem behaviour start.
 * - `\` is a separator (Windows/WDS-style clients send `\boot\x86\wdsnbp.com`).
 * - A leading `/` is dropped: names are root-relative, as PXE ROMs that ask for `/pxelinux.0` expect and
 *   as tftp-hpa's `-s` does. An absolute name therefore can never reach outside the root.
 * - Empty and `.` segments are dropped; any `..` segment is refused outright rather than normalized
 *   away, so `a/../b` is an access violation even though it would stay inside the root.
 */
export function sanitizeFilename(raw: Buffer): string {
  for (const byte of raw) {
    if (byte < 0x20 || byte === 0x7f) {
      throw new TftpRefusal(TftpErrorCode.ACCESS_VIOLATION, 'access violation: filename contains a control character');
    }
  }
  let name: string;
  try {
    name = utf8.decode(raw);
  } catch {
    throw new TftpRefusal(TftpErrorCode.ACCESS_VIOLATION, 'access violation: filename is not valid UTF-8');
  }
  const segments: string[] = [];
  for (const segment of name.replaceAll('\\', '/').split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw new TftpRefusal(TftpErrorCode.ACCESS_VIOLATION, 'access violation: filename leaves the root');
    segments.push(segment);
  }
  if (segments.length === 0) throw new TftpRefusal(TftpErrorCode.FILE_NOT_FOUND, 'file not found');
  return segments.join('/');
}

/**
 * Well-known iPXE file names and where Debian-style installs keep them, relative to the iPXE directory.
 * The first candidate that exists wins. Names are fixed (never client-chosen), so these may be
 * symlinks (Debian's /usr/lib/ipxe/ipxe.efi points into /boot).
 */
export const IPXE_FILE_CANDIDATES: Readonly<Record<string, readonly string[]>> = {
  'undionly.kpxe': ['undionly.kpxe'],
  'undionly.kkpxe': ['undionly.kkpxe'],
  'ipxe.pxe': ['ipxe.pxe'],
  'ipxe.efi': ['ipxe.efi', 'x86_64-efi/ipxe.efi'],
  'snponly.efi': ['snponly.efi', 'x86_64-efi/snponly.efi'],
  'ipxe-arm64.efi': ['arm64-efi/ipxe.efi', 'ipxe-arm64.efi'],
  'snponly-arm64.efi': ['arm64-efi/snponly.efi', 'snponly-arm64.efi'],
};

/** The iPXE binaries present in `ipxeDir`, by the name clients ask for (for DHCP boot-file choice too). */
export function discoverIpxeFiles(ipxeDir: string | null): Map<string, string> {
  const found = new Map<string, string>();
  if (ipxeDir === null) return found;
  for (const [name, candidates] of Object.entries(IPXE_FILE_CANDIDATES)) {
    const hit = candidates.map((c) => join(ipxeDir, c)).find((p) => existsSync(p));
    if (hit) found.set(name, hit);
  }
  return found;
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Finds files under a root whose real path (symlinks resolved) must stay inside it. */
export class RootDirectory {
  private constructor(readonly realRoot: string) {}

  static async open(rootDir: string): Promise<RootDirectory> {
    return new RootDirectory(realpathSync(rootDir));
  }

  /** Opens `relative` (already sanitized); null when absent, TftpRefusal when it escapes or is unreadable. */
  async open(relative: string): Promise<BlockSource | null> {
    const real = this.realPath(relative);
    return real === null ? null : openRegularFile(real);
  }

  /** The real path of `relative` for other servers of the same files (HTTP boot); null when absent, outside the root or unreadable. */
  locate(relative: string): string | null {
    try {
      return this.realPath(relative);
    } catch (err) {
      if (err instanceof TftpRefusal) return null;
      throw err;
    }
  }

  private realPath(relative: string): string | null {
    let real: string;
    try {
      // Synchronous like the opens in source.ts: no thread-pool hop per request (see FileSource).
      real = realpathSync.native(join(this.realRoot, relative));
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') return null;
      if (code === 'EACCES') throw new TftpRefusal(TftpErrorCode.ACCESS_VIOLATION, 'access violation: outside the root or unreadable');
      throw err;
    }
    if (!real.startsWith(this.realRoot.endsWith(sep) ? this.realRoot : this.realRoot + sep)) {
      throw new TftpRefusal(TftpErrorCode.ACCESS_VIOLATION, 'access violation: outside the root or unreadable');
    }
    return real;
  }
}

/** Opens a regular file; directories and devices count as absent, permission problems as refusals. */
export async function openRegularFile(path: string): Promise<BlockSource | null> {
  try {
    return await FileSource.open(path);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return null;
    if (code === 'EACCES' || code === 'EPERM') throw new TftpRefusal(TftpErrorCode.ACCESS_VIOLATION, 'access violation: outside the root or unreadable');
    throw err;
  }
}
