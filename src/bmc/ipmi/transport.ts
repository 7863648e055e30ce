import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { BmcUnreachableError } from '../../errors.js';

/**
 * One UDP conversation with one BMC. Connected, so the kernel filters datagrams from other peers and
 * reports ICMP port-unreachable as an error instead of letting the request time out.
 */
export interface DatagramTransport {
  send(packet: Buffer): void;
  onMessage(handler: (packet: Buffer) => void): void;
  onError(handler: (err: Error) => void): void;
  close(): void;
}

export type TransportFactory = () => Promise<DatagramTransport>;

export function udpTransportFactory(host: string, port: number): TransportFactory {
  return () =>
    new Promise<DatagramTransport>((resolve, reject) => {
      const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
      let messageHandler: (packet: Buffer) => void = () => {};
      let errorHandler: (err: Error) => void = () => {};
      let connected = false;
      let closed = false;
      socket.on('message', (packet) => messageHandler(packet));
      socket.on('error', (err) => {
        if (!connected) {
          closed = true;
          socket.close();
          reject(new BmcUnreachableError(`cannot reach BMC ${host}:${port}: ${err.message}`, { cause: err }));
          return;
        }
        errorHandler(err);
      });
      socket.connect(port, host, () => {
        connected = true;
        // An idle driver must not keep the process alive; pending requests hold timers that do.
        socket.unref();
        resolve({
          send(packet) {
            if (closed) throw new BmcUnreachableError(`connection to BMC ${host}:${port} is closed`);
            socket.send(packet, (err) => {
              if (err) errorHandler(err);
            });
          },
          onMessage(handler) {
            messageHandler = handler;
          },
          onError(handler) {
            errorHandler = handler;
          },
          close() {
            if (closed) return;
            closed = true;
            socket.close();
          },
        });
      });
    });
}
