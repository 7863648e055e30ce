/**
 * Option negotiation for read requests: RFC 2347 (framework), RFC 2348 (blksize), RFC 2349 (timeout,
 * tsize) and RFC 7440 (windowsize). Pure: takes what the client asked for and the server's limits and
 * returns the parameters of the transfer plus the options to acknowledge in the OACK.
 */

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
export const MAX_WINDOWSIZE = 65535;

export interface NegotiationLimits {
  /** Largest blksize the server agrees to (a client asking more gets this). */
  maxBlksize: number;
  /** Largest windowsize the server agrees to. */
  maxWindowsize: number;
  /** Retransmission timeout used when the client does not negotiate one. */
  timeoutMs: number;
}

export interface TransferParameters {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Options to send back in an OACK, in the order the client sent them; empty means "no OACK". */
  acknowledged: Map<string, string>;
}

/** Parses a strictly decimal option value; RFC 2347 values are ASCII digits, nothing else. */
function decimal(value: string): number | null {
  if (!/^[0-9]{1,10}$/.test(value)) return null;
  return Number(value);
}

/**
 * Decides the transfer parameters. Options with values outside their RFC ranges are left out of the
 * OACK (RFC 2347 lets the server decline an option by omitting it), as are options we do not know.
 * `fileSize` is the number of bytes that will be sent (after any netascii conversion).
 */
export function negotiateOptions(
  requested: ReadonlyMap<string, string>,
  limits: NegotiationLimits,
  fileSize: number,
): TransferParameters {
  const params: TransferParameters = {
    blksize: DEFAULT_BLKSIZE,
    windowsize: 1,
    timeoutMs: limits.timeoutMs,
    acknowledged: new Map(),
  };
  for (const [name, raw] of requested) {
    const value = decimal(raw);
    switch (name) {
      case 'blksize':
        if (value !== null && value >= MIN_BLKSIZE && value <= MAX_BLKSIZE) {
          params.blksize = Math.min(value, limits.maxBlksize);
          params.acknowledged.set(name, String(params.blksize));
        }
        break;
      case 'windowsize':
        if (value !== null && value >= 1 && value <= MAX_WINDOWSIZE) {
          params.windowsize = Math.min(value, limits.maxWindowsize);
          params.acknowledged.set(name, String(params.windowsize));
        }
        break;
      case 'timeout':
        // RFC 2349: whole seconds 1..255; the server acknowledges the same value and uses it.
        if (value !== null && value >= 1 && value <= 255) {
          params.timeoutMs = value * 1000;
          params.acknowledged.set(name, String(value));
        }
        break;
      case 'tsize':
        // In a read request the client sends 0 and the server answers with the size.
        if (value !== null) params.acknowledged.set(name, String(fileSize));
        break;
      default:
        break;
    }
  }
  return params;
}
