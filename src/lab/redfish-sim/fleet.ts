import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BmcEndpoint } from '../../bmc/driver.js';
import { loadMockup, type Mockup } from './mockups.js';
import { RedfishSimInstance } from './instance.js';

const run = promisify(execFile);

/**
 * A fleet of simulated Redfish BMCs in this process: one HTTP(S) server per instance on its own
 * loopback port (so each looks like its own `host:port` BMC), all sharing one parsed copy of the
 * mockup. Used by the lab, health sweeps, integration tests and benchmarks.
 */

export interface SimCertificate {
  key: string;
  cert: string;
  /** `AA:BB:...` as X509Certificate.fingerprint256 prints it. */
  fingerprint256: string;
}

export interface RedfishSimFleetOptions {
  count: number;
  /** `public-rackmount1` (default), `public-localstorage`, `public-bladed`. */
  mockup?: string;
  /** Mockups folder or "builtin"; default ANVIL_REDFISH_MOCKUPS or `<packageRoot>/../shared/redfish-mockups`, else the built-in copy. */
  mockupsDir?: string;
  /** HTTPS with a self-signed certificate (default true, as on real BMCs). */
  https?: boolean;
  /** Use this certificate instead of generating one. */
  certificate?: SimCertificate;
  host?: string;
  username?: string;
  password?: string;
  /** Delay before a reset takes effect. Default 0. */
  powerDelayMs?: number;
  asyncReset?: boolean;
  sessions?: boolean;
  ignoreGracefulShutdown?: boolean;
  initialPower?: 'On' | 'Off';
  /** Replaces the mockup's ResetType AllowableValues (simulate a BMC without PowerCycle, etc.). */
  allowedResetTypes?: string[];
  /** Service root `Vendor` (selects the driver's vendor adapter), e.g. `HPE`. */
  vendor?: string;
  /** `weak` ETags never match If-Match (RFC 9110 strong comparison), as seen on iLO. */
  etagStyle?: 'strong' | 'weak';
  /** 428 on PATCH without If-Match, as Lenovo XCC. */
  requireIfMatch?: boolean;
  /** false: serve only the Sensors/ThermalSubsystem/PowerSubsystem model, no Chassis Thermal/Power. */
  legacyThermalPower?: boolean;
  /** MACs for instance i's physical NICs (e.g. to match an inventory file); generated otherwise. */
  macsFor?: (index: number) => string[];
  /** Serial number prefix; instance i gets `${prefix}${i padded to 4}`. Default `SIM`. */
  serialPrefix?: string;
}

export interface RedfishSimFleet {
  instances: RedfishSimInstance[];
  /** The mockup every instance serves (its `dir` tells whether it is the built-in copy). */
  mockup: Mockup;
  certificate: SimCertificate | null;
  scheme: 'https' | 'http';
  /** A BmcEndpoint for instance `i` (tls pinned to the fleet certificate unless overridden). */
  endpoint(i: number, overrides?: Partial<BmcEndpoint>): BmcEndpoint;
  stop(): Promise<void>;
}

let generated: Promise<SimCertificate> | null = null;

/**
 * A self-signed certificate for 127.0.0.1/localhost, made once per process with the openssl CLI
 * (node:crypto cannot issue X.509 certificates). P-256 keeps generation and handshakes cheap.
 */
export function simCertificate(): Promise<SimCertificate> {
  generated ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anvil-redfish-sim-'));
    try {
      const keyFile = join(dir, 'key.pem');
      const certFile = join(dir, 'cert.pem');
      await run('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
        '-subj', '/CN=anvil-redfish-sim', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', keyFile, '-out', certFile,
      ]);
      const [key, cert] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]);
      return { key, cert, fingerprint256: new X509Certificate(cert).fingerprint256 };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  generated.catch(() => {
    generated = null;
  });
  return generated;
}

export async function startRedfishSimFleet(options: RedfishSimFleetOptions): Promise<RedfishSimFleet> {
  if (!Number.isInteger(options.count) || options.count < 1) throw new Error(`fleet count must be a positive integer (got ${options.count})`);
  const mockup = loadMockup(options.mockup ?? 'public-rackmount1', options.mockupsDir);
  const https = options.https ?? true;
  const certificate = https ? (options.certificate ?? (await simCertificate())) : null;
  const host = options.host ?? '127.0.0.1';
  const username = options.username ?? 'admin';
  const password = options.password ?? 'password';
  const instances: RedfishSimInstance[] = [];
  const servers: Server[] = [];
  const sockets = new Set<Socket>();

  const stop = async (): Promise<void> => {
    for (const instance of instances) instance.shutdown();
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };

  try {
    for (let i = 0; i < options.count; i++) {
      const instance = new RedfishSimInstance({
        index: i,
        mockup,
        serial: `${options.serialPrefix ?? 'SIM'}${String(i).padStart(4, '0')}`,
        macs: options.macsFor?.(i) ?? [],
        username,
        password,
        powerDelayMs: options.powerDelayMs ?? 0,
        asyncReset: options.asyncReset ?? false,
        sessions: options.sessions ?? true,
        ignoreGracefulShutdown: options.ignoreGracefulShutdown ?? false,
        initialPower: options.initialPower ?? 'On',
        allowedResetTypes: options.allowedResetTypes,
        vendor: options.vendor,
        etagStyle: options.etagStyle,
        requireIfMatch: options.requireIfMatch,
        legacyThermalPower: options.legacyThermalPower,
      });
      const handler = (req: IncomingMessage, res: ServerResponse): void => {
        instance.handle(req, res).catch(() => {
          if (!res.headersSent) res.writeHead(500);
          res.end();
        });
      };
      const server = certificate ? createHttpsServer({ key: certificate.key, cert: certificate.cert }, handler) : createHttpServer(handler);
      server.keepAliveTimeout = 30_000;
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      // A broken client handshake must not take the simulator down.
      server.on('tlsClientError', () => undefined);
      server.on('clientError', (_err, socket) => socket.destroy());
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      instance.port = (server.address() as AddressInfo).port;
      instance.host = host;
      instances.push(instance);
      servers.push(server);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    instances,
    mockup,
    certificate,
    scheme: https ? 'https' : 'http',
    endpoint(i: number, overrides: Partial<BmcEndpoint> = {}): BmcEndpoint {
      const instance = instances[i];
      if (!instance) throw new Error(`no simulated BMC ${i}`);
      return {
        protocol: 'redfish',
        host: instance.host,
        port: instance.port,
        username,
        password,
        tls: certificate ? `sha256:${certificate.fingerprint256}` : 'insecure',
        ...overrides,
      };
    },
    stop,
  };
}
