/** Public surface of Anvil's read-only TFTP server. */
export { TftpServer } from './server.js';
export type {
  TftpClient,
  TftpContentHook,
  TftpFailedTransferRecord,
  TftpLogger,
  TftpOrigin,
  TftpServerOptions,
  TftpStats,
  TftpTransferRecord,
} from './server.js';
export { DEBIAN_IPXE_DIR, resolveTftpConfig, TFTP_DEFAULTS } from './config.js';
export type { TftpConfig } from './config.js';
export { discoverIpxeFiles, IPXE_FILE_CANDIDATES, RootDirectory } from './files.js';
