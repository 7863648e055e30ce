/**
 * Runs Anvil's TFTP server as a standalone process for the benchmark:
 *   node tftp-server.js ROOT ADDRESS PORT [maxBlksize] [maxWindowsize] [timeoutMs]
 * Prints "listening ADDRESS:PORT" when bound and the stats as JSON on SIGTERM/SIGINT.
 * TFTP_TRANSFER_THREADS=N sets `transferThreads` (default: the product default, min(2, CPUs)).
 */
import { TftpServer } from '../src/boot/tftp/server.js';

const [rootDir, listenAddress = '127.0.0.1', port = '6969', maxBlksize = '1468', maxWindowsize = '16', timeoutMs = '1000'] =
  process.argv.slice(2);
if (!rootDir) {
  console.error('usage: tftp-server.js ROOT [ADDRESS] [PORT] [maxBlksize] [maxWindowsize] [timeoutMs]');
  process.exit(2);
}
const server = new TftpServer({
  config: {
    rootDir, listenAddress, port: Number(port), maxBlksize: Number(maxBlksize), maxWindowsize: Number(maxWindowsize),
    timeoutMs: Number(timeoutMs), maxTransfers: 1024, ipxeDir: null,
    ...(process.env.TFTP_TRANSFER_THREADS ? { transferThreads: Number(process.env.TFTP_TRANSFER_THREADS) } : {}),
  },
});
await server.start();
const bound = server.address();
console.log(`listening ${bound.address}:${bound.port} (${server.transferThreads()} transfer threads)`);
const shutdown = async (): Promise<void> => {
  await server.stop();
  console.log(JSON.stringify(server.stats()));
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
