import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Random-access bytes behind one transfer. File access is synchronous on purpose: the transfer state
 * machine stays a plain function of its input, and an open or a read from the page cache costs
 * microseconds, while each async fs call is a hop through libuv's thread pool that, on a loaded host,
 * waits for a thread to be scheduled (measured: ~70 ms added to a 1 MiB transfer at load average 12).
 * The trade-off: a root on a slow network filesystem would stall every transfer; serve from local disk.
 */
export interface BlockSource {
  readonly size: number;
  /** Copies `length` bytes at `position` into `target[targetOffset..]`; throws if they are not all there. */
  readInto(target: Buffer, targetOffset: number, length: number, position: number): void;
  /** What a transfer thread needs to read the same bytes (see `sourceFromHandoff`). */
  handoff(): SourceHandoff;
  close(): Promise<void>;
}

/**
 * A source described for another thread of this process: file descriptors are process-wide, so a
 * transfer thread reads the descriptor the request handler opened (and checked) rather than opening
 * the path again, which would reopen the window between the root check and the open. The sending
 * side keeps owning the descriptor and closes it when the thread reports the transfer's end.
 */
export type SourceHandoff = { kind: 'fd'; fd: number; size: number; path: string } | { kind: 'buffer'; data: Uint8Array };

/** The receiving side of a handoff: a borrowed descriptor is never closed here. */
export function sourceFromHandoff(handoff: SourceHandoff): BlockSource {
  if (handoff.kind === 'buffer') return new BufferSource(Buffer.from(handoff.data.buffer, handoff.data.byteOffset, handoff.data.byteLength));
  return FileSource.borrow(handoff.fd, handoff.size, handoff.path);
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
  handoff(): SourceHandoff {
    // An exact copy: a Buffer may be a view into a larger pool, and a thread needs only these bytes.
    return { kind: 'buffer', data: Uint8Array.prototype.slice.call(this.data) };
  }
  async close(): Promise<void> {}
}

/** Read-ahead per open file; 64 KiB holds a full 16 x 1468 window several times over. */
const READ_AHEAD_BYTES = 64 * 1024;

export class FileSource implements BlockSource {
  /** Allocated at the first read: a source only handed to a transfer thread never reads. */
  private cache: Buffer | null = null;
  private cacheStart = 0;
  private cacheLength = 0;

  private closed = false;

  private constructor(
    private readonly fd: number,
    readonly size: number,
    readonly path: string,
    private readonly ownsFd = true,
  ) {}

  /** Opens a regular file; the size is fixed at open time (a file that shrinks mid-transfer fails it). */
  static async open(path: string): Promise<FileSource> {
    return FileSource.openSync(path);
  }

  static openSync(path: string): FileSource {
    // O_NONBLOCK so a FIFO planted in the root cannot hang the open; it then fails the isFile check.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const info = fstatSync(fd);
      if (!info.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOENT' });
      return new FileSource(fd, info.size, path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Reads a descriptor another thread opened and will close; `close` leaves it open. */
  static borrow(fd: number, size: number, path: string): FileSource {
    return new FileSource(fd, size, path, false);
  }

  handoff(): SourceHandoff {
    return { kind: 'fd', fd: this.fd, size: this.size, path: this.path };
  }

  /**
   * Blocks are read through a small read-ahead cache: one pread per READ_AHEAD_BYTES instead of one per
   * block keeps syscalls and fs.readSync's argument checks off the per-packet path. Window rollbacks and
   * retransmissions re-read from the cache when the block is still in it.
   */
  readInto(target: Buffer, targetOffset: number, length: number, position: number): void {
    if (position + length > this.size) throw new Error(`${this.path}: read past the end`);
    let done = 0;
    while (done < length) {
      const at = position + done;
      if (at < this.cacheStart || at >= this.cacheStart + this.cacheLength) this.fill(at);
      const n = Math.min(length - done, this.cacheStart + this.cacheLength - at);
      this.cache!.copy(target, targetOffset + done, at - this.cacheStart, at - this.cacheStart + n);
      done += n;
    }
  }

  private fill(position: number): void {
    this.cache ??= Buffer.allocUnsafe(Math.max(1, Math.min(READ_AHEAD_BYTES, this.size)));
    const want = Math.min(this.cache.length, this.size - position);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, this.cache, got, want - got, position + got);
      if (n === 0) throw new Error(`${this.path} shrank while being served`);
      got += n;
    }
    this.cacheStart = position;
    this.cacheLength = got;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsFd) closeSync(this.fd);
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
