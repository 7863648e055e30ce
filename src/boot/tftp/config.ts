import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { InputError } from '../../errors.js';
import { MAX_BLKSIZE, MAX_WINDOWSIZE, MIN_BLKSIZE } from './options.js';

/** Where Debian's `ipxe` package installs its binaries. */
export const DEBIAN_IPXE_DIR = '/usr/lib/ipxe';

/** Configuration of the read-only TFTP server (the `boot.tftp` section of Anvil's config). */
export interface TftpConfig {
  /** IPv4 or IPv6 address to bind; `0.0.0.0` listens on every interface. */
  listenAddress: string;
  /** UDP port of the request socket (69 in production; 0 picks a free port, for tests). */
  port: number;
  /** Directory served to clients; names are resolved inside it and may not leave it. */
  rootDir: string;
  /**
   * Largest block size agreed to (RFC 2348). The default 1468 keeps a DATA packet inside a 1500-byte
   * Ethernet MTU (1468 + 4 TFTP + 8 UDP + 20 IP); up to 65464 is allowed for jumbo or loopback use.
   */
  maxBlksize: number;
  /** Largest window agreed to (RFC 7440). */
  maxWindowsize: number;
  /**
   * Retransmission timeout when the client does not negotiate `timeout` (RFC 2349). Consecutive
   * retransmissions back off (x2 each, at most x8), so the default gives up after 1+2+4+8+8+8 = 31 s.
   */
  timeoutMs: number;
  /** Consecutive retransmissions before a transfer is abandoned. */
  retries: number;
  /** Concurrent transfers; requests beyond this get a "server busy" ERROR. */
  maxTransfers: number;
  /**
   * Directory holding iPXE binaries served by their well-known names when the root has no such file.
   * Defaults to Debian's /usr/lib/ipxe; null turns the fallback off.
   */
  ipxeDir: string | null;
  /** netascii requests are converted in memory; larger files are refused in that mode. */
  netasciiMaxBytes: number;
  /**
   * Worker threads that run transfers (transfer-pool.ts explains why); 0 runs them on the main event
   * loop. Requests are always accepted and checked on the main thread.
   */
  transferThreads: number;
}

/** Two threads at most by default: transfers mostly wait on the network, and the main thread needs a core too. */
const DEFAULT_TRANSFER_THREADS = Math.min(2, availableParallelism());

export const TFTP_DEFAULTS: Omit<TftpConfig, 'rootDir'> = {
  listenAddress: '0.0.0.0',
  port: 69,
  maxBlksize: 1468,
  maxWindowsize: 16,
  timeoutMs: 1000,
  retries: 5,
  maxTransfers: 256,
  ipxeDir: DEBIAN_IPXE_DIR,
  netasciiMaxBytes: 16 * 1024 * 1024,
  transferThreads: DEFAULT_TRANSFER_THREADS,
};

function integerIn(value: unknown, key: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InputError(`boot.tftp.${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`, {
      details: [{ field: `boot.tftp.${key}`, message: `expected an integer from ${min} to ${max}` }],
    });
  }
  return value;
}

/** Fills defaults and validates; throws InputError naming the offending key. */
export function resolveTftpConfig(input: Partial<TftpConfig> & Pick<TftpConfig, 'rootDir'>): TftpConfig {
  const config: TftpConfig = { ...TFTP_DEFAULTS, ...input };
  if (typeof config.rootDir !== 'string' || config.rootDir.length === 0) {
    throw new InputError('boot.tftp.rootDir must name a directory', {
      details: [{ field: 'boot.tftp.rootDir', message: 'required' }],
    });
  }
  if (isIP(config.listenAddress) === 0) {
    throw new InputError(`boot.tftp.listenAddress must be an IP address, got ${JSON.stringify(config.listenAddress)}`, {
      details: [{ field: 'boot.tftp.listenAddress', message: 'expected an IPv4 or IPv6 address' }],
    });
  }
  integerIn(config.port, 'port', 0, 65535);
  integerIn(config.maxBlksize, 'maxBlksize', MIN_BLKSIZE, MAX_BLKSIZE);
  integerIn(config.maxWindowsize, 'maxWindowsize', 1, MAX_WINDOWSIZE);
  integerIn(config.timeoutMs, 'timeoutMs', 10, 255_000);
  integerIn(config.retries, 'retries', 0, 100);
  integerIn(config.maxTransfers, 'maxTransfers', 1, 100_000);
  integerIn(config.transferThreads, 'transferThreads', 0, 64);
  integerIn(config.netasciiMaxBytes, 'netasciiMaxBytes', 0, 1024 * 1024 * 1024);
  if (config.ipxeDir !== null && (typeof config.ipxeDir !== 'string' || config.ipxeDir.length === 0)) {
    throw new InputError('boot.tftp.ipxeDir must be a directory path or null', {
      details: [{ field: 'boot.tftp.ipxeDir', message: 'expected a path or null' }],
    });
  }
  return config;
}
