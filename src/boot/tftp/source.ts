import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { readSync } from 'node:fs';

/**
 * Random-access bytes behind one transfer. Reads are synchronous on purpose: the transfer state
 * machine stays a plain function of its input, and a block read from the page cache costs a few
 * microseconds, less than the promise round-trip an async read would add to every packet.
 */
export interface BlockSource {
  readonly size: number;
  /** Copies `length` bytes at `position` into `target[targetOffset..]`; throws if they are not all there. */
  readInto(target: Buffer, targetOffset: number, length: number, position: number): void;
  close(): Promise<void>;
}

export class BufferSource implements BlockSource {
  constructor(private readonly data: Buffer) {}
  get size(): number {
    return this.data.length;
  }
  readInto(target: Buffer, targetOffset: number, length: number, position: number): void {
    if (position + length > this.data.length) throw new Error('read past the end of generated content');
    this.data.copy(target, targetOffset, position, position + length);
  }
  async close(): Promise<void> {}
}

export class FileSource implements BlockSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly path: string,
  ) {}

  /** Opens a regular file; the size is fixed at open time (a file that shrinks mid-transfer fails it). */
  static async open(path: string): Promise<FileSource> {
    const handle = await open(path, 'r');
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOENT' });
      return new FileSource(handle, info.size, path);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  readInto(target: Buffer, targetOffset: number, length: number, position: number): void {
    let done = 0;
    while (done < length) {
      const n = readSync(this.handle.fd, target, targetOffset + done, length - done, position + done);
      if (n === 0) throw new Error(`${this.path} shrank while being served`);
      done += n;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * RFC 1350 netascii: line ends become CR LF and a bare CR becomes CR NUL. Only used for the (rare)
 * netascii requests, so converting the whole content in memory is acceptable; the size of the converted
 * content is what tsize must report.
 */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (const byte of data) if (byte === 0x0a || byte === 0x0d) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let j = 0;
  for (const byte of data) {
    if (byte === 0x0a) {
      out[j++] = 0x0d;
      out[j++] = 0x0a;
    } else if (byte === 0x0d) {
      out[j++] = 0x0d;
      out[j++] = 0x00;
    } else {
      out[j++] = byte;
    }
  }
  return out;
}

/** Reads the whole source into memory (for netascii conversion). */
export async function readAll(source: BlockSource): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(source.size);
  source.readInto(buf, 0, source.size, 0);
  return buf;
}
