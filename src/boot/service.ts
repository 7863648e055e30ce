import { mkdirSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import type { Knex } from 'knex';
import { z } from 'zod';
import { InputError, type ErrorDetail } from '../errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_TOKEN_TTL_SECONDS, DeploymentService } from './deployments.js';
import { inNetwork, parseCidr } from './dhcp/net.js';
import { DhcpServer } from './dhcp/server.js';
import { DbDhcpStore } from './dhcp/store.js';
import { DEFAULT_BOOT_FILES, type DhcpBootFiles, type DhcpConfig, type DhcpSubnetConfig } from './dhcp/config.js';
import type { BootHttpDeps } from './http/router.js';
import { createBootHttpServer, type BootHttpServer } from './http/server.js';
import { applyFilter, OsImageConfig, TemplateStore } from './http/templates.js';
import { createDbBootLookup, DbBootEventSink, type BootActivityListener, type BootLookup, type DbBootLookup } from './lookup.js';
import { DEBIAN_IPXE_DIR, discoverIpxeFiles, RootDirectory, TftpServer } from './tftp/index.js';

/**
 * The `boot` role: DHCP (optional), TFTP (optional) and HTTP boot for one site network segment.
 * Nothing starts unless `boot:` is configured, and every service is tied to the one interface
 * named there: HTTP and TFTP bind that interface's address; DHCP binds 0.0.0.0 (broadcasts need
 * it) and accepts only packets from that interface's network (see dhcp/server.ts).
 */

const ipv4 = z.ipv4();
const networkAddress = (net: { cidr: string }): string => net.cidr.split('/')[0]!;
const port = z.number().int().min(0).max(65535);

const Subnet = z
  .object({
    site: z.string().min(1),
    network: z.cidrv4(),
    gateway: ipv4.optional(),
    dns: z.array(ipv4).max(8).optional(),
    domain: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/).optional(),
    lease_seconds: z.number().int().min(60).optional(),
  })
  .strict();

/** The `boot:` section of anvil.yaml (snake_case, like the rest of the file). */
export const BootConfig = z
  .object({
    /** The machines' network interface on this host. Required: boot services never guess it. */
    interface: z.string().min(1).max(15),
    /** This host's IPv4 address on `interface`; defaults to the interface's first IPv4 address. */
    address: ipv4.optional(),
    /** Site networks served; reservations take their prefix, DNS and domain from these. */
    subnets: z
      .array(Subnet)
      .min(1)
      .superRefine((subnets, ctx) => {
        // A NIC in two subnets of its site would get its DNS, domain and lease from whichever is
        // listed first. Sites may share a network (the lab's sites all live on loopback): a NIC's
        // own site's subnet is the one it gets.
        let nets: ReturnType<typeof parseCidr>[];
        try {
          nets = subnets.map((s) => parseCidr(s.network));
        } catch {
          return; // a malformed network is reported on its own
        }
        nets.forEach((net, i) => {
          const j = nets.findIndex((other, k) => k < i && subnets[k]!.site === subnets[i]!.site && (inNetwork(networkAddress(other), net) || inNetwork(networkAddress(net), other)));
          if (j >= 0) ctx.addIssue({ code: 'custom', path: [i, 'network'], message: `overlaps subnets.${j} (${subnets[j]!.network})` });
        });
      }),
    http: z
      .object({
        port: port.default(8080),
        /** The URL machines use to reach the boot HTTP service (e.g. behind a load balancer). */
        base_url: z.url({ protocol: /^https?$/ }).optional(),
        token_ttl_seconds: z.number().int().min(300).max(7 * 86400).default(DEFAULT_TOKEN_TTL_SECONDS),
      })
      .strict()
      .default({ port: 8080, token_ttl_seconds: DEFAULT_TOKEN_TTL_SECONDS }),
    dhcp: z
      .object({
        mode: z.enum(['authoritative', 'proxy']),
        port: port.optional(),
        proxy_port: port.optional(),
        client_port: port.optional(),
        server_id: ipv4.optional(),
        next_server: ipv4.optional(),
        boot_files: z.object({ bios: z.string().min(1).optional(), uefi_x64: z.string().min(1).optional(), uefi_arm64: z.string().min(1).optional() }).strict().optional(),
      })
      .strict()
      .optional(),
    tftp: z
      .object({
        port: port.default(69),
        /** Files served as-is; defaults to `<data_dir>/tftp`. iPXE binaries come from ipxe_dir. */
        root_dir: z.string().min(1).optional(),
        ipxe_dir: z.string().min(1).nullable().optional(),
        max_blksize: z.number().int().optional(),
        max_windowsize: z.number().int().optional(),
        timeout_ms: z.number().int().optional(),
        retries: z.number().int().optional(),
        max_transfers: z.number().int().optional(),
        /** Worker threads running transfers (0: on the main event loop); default min(2, CPUs). */
        transfer_threads: z.number().int().optional(),
      })
      .strict()
      .optional(),
    /** Record MACs inventory lacks (DHCP) and show them the "discover" script (HTTP). Never answered with an address. */
    discovery: z.boolean().default(false),
    os_images: z
      .array(OsImageConfig)
      .default([])
      .superRefine((images, ctx) => {
        const seen = new Set<string>();
        images.forEach((img, i) => {
          if (seen.has(img.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate OS image name "${img.name}"` });
          seen.add(img.name);
        });
      }),
    /** How often the boot role checks inventory for changes, in ms. */
    lookup_poll_ms: z.number().int().min(200).max(600_000).default(3000),
  })
  .strict();
export type BootConfig = z.infer<typeof BootConfig>;

/** Validates the raw `boot:` section; InputError naming every bad key as `boot.<path>`. Undefined → not configured. */
export function parseBootConfig(raw: unknown): BootConfig | null {
  if (raw === undefined || raw === null) return null;
  const r = BootConfig.safeParse(raw);
  if (r.success) return r.data;
  const details: ErrorDetail[] = r.error.issues.flatMap((i) => {
    const at = ['boot', ...i.path.map(String)];
    // An unknown key is reported on its parent; name the key itself, as a typo usually is one.
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ field: [...at, k].join('.'), message: 'unknown key' }));
    if (i.code === 'invalid_type' && /received undefined/.test(i.message)) return [{ field: at.join('.'), message: 'is required' }];
    return [{ field: at.join('.'), message: i.message }];
  });
  throw new InputError(`invalid boot configuration: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, { details });
}

/** The IPv4 address (and CIDR) of `name`; InputError when the interface or address is missing. */
export function interfaceAddress(name: string, wanted?: string, interfaces = networkInterfaces()): { address: string; cidr: string } {
  const addrs = (interfaces[name] ?? []).filter((a) => a.family === 'IPv4');
  if (!interfaces[name]) throw new InputError(`boot.interface: no running interface named "${name}" on this host (missing, down, or without carrier)`, { details: [{ field: 'boot.interface', message: 'not found' }] });
  const a = wanted ? addrs.find((x) => x.address === wanted) : addrs[0];
  if (!a) {
    throw new InputError(wanted ? `boot.address: ${wanted} is not an address of ${name}` : `boot.interface: ${name} has no IPv4 address`, {
      details: [{ field: wanted ? 'boot.address' : 'boot.interface', message: 'no matching IPv4 address' }],
    });
  }
  return { address: a.address, cidr: a.cidr ?? `${a.address}/32` };
}

/**
 * The iPXE script TFTP hands out as `boot.ipxe` / `autoexec.ipxe`: chain to the HTTP service.
 * With a known client address the MAC is filled in here; otherwise iPXE fills in the MAC of the
 * interface it booted from (`netX`).
 */
export function chainScript(baseUrl: string, mac: string | null): string {
  const url = `${applyFilter('ipxe', baseUrl)}/boot/ipxe?mac=${mac ? applyFilter('ipxe', mac) : '${netX/mac}'}`;
  return ['#!ipxe', '# Anvil: continue over HTTP', ':retry', `chain --autofree ${url} || goto failed`, 'exit', ':failed', 'echo Anvil: could not fetch the boot script, retrying in 5 s', 'sleep 5', 'goto retry', ''].join('\n');
}

export interface BootServiceOptions {
  /** The whole config; only `boot`, `dataDir` and `site` (serve only this site's machines) are read. */
  config: { boot?: Record<string, unknown> | undefined; dataDir?: string; site?: string | null };
  knex: Knex;
  logger: Logger;
  /** Replaces the database-backed inventory view (tests). */
  lookup?: BootLookup;
  /** Replaces network interface discovery (tests). */
  interfaces?: ReturnType<typeof networkInterfaces>;
  /**
   * Told what the boot role recorded once committed; a worker in this process wakes the workflows
   * waiting for it (workers elsewhere see the wake-up in the database).
   */
  onActivity?: BootActivityListener;
}

export interface BootService {
  /** False when `boot:` is absent: start() and stop() do nothing. */
  readonly enabled: boolean;
  readonly config: BootConfig | null;
  readonly deployments: DeploymentService;
  readonly http: BootHttpServer | null;
  readonly dhcp: DhcpServer | null;
  readonly tftp: TftpServer | null;
  /** Base URL machines use for HTTP boot (known after start). */
  readonly baseUrl: string | null;
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/** The DHCP and TFTP ports a started boot role listens on (simulated machines are pointed at them). */
export function bootPorts(boot: BootService): { dhcpPort: number; tftpPort: number } {
  if (!boot.dhcp || !boot.tftp) throw new Error('the boot role runs no DHCP or no TFTP server');
  return { dhcpPort: boot.dhcp.ports()[0]!, tftpPort: boot.tftp.address().port };
}

export function createBootService(opts: BootServiceOptions): BootService {
  const config = parseBootConfig(opts.config.boot);
  const log = opts.logger.child({ role: 'boot' });
  const images = new Map((config?.os_images ?? []).map((i) => [i.name, i] as const));
  const deployments = new DeploymentService(opts.knex, { knownImages: () => images.keys() });
  const state: { http: BootHttpServer | null; dhcp: DhcpServer | null; tftp: TftpServer | null; baseUrl: string | null } = { http: null, dhcp: null, tftp: null, baseUrl: null };
  let lookup: DbBootLookup | null = null;
  let events: DbBootEventSink | null = null;
  let started = false;

  let stopping: Promise<void> = Promise.resolve();
  /**
   * Stops everything and flushes the boot events not yet written. A second caller (the abort
   * signal stops the services, then the role stops them again before its database closes) waits
   * for the same stop: returning at once let the database close under the event writer's flush.
   */
  function stop(): Promise<void> {
    if (!started) return stopping;
    started = false;
    stopping = (async () => {
      const results = await Promise.allSettled([state.dhcp?.stop(), state.tftp?.stop(), state.http?.stop()]);
      await lookup?.stop();
      await events?.close();
      for (const r of results) if (r.status === 'rejected') log.error({ err: r.reason }, 'boot: a service failed to stop cleanly');
      log.info('boot services stopped');
    })();
    return stopping;
  }

  async function start(signal?: AbortSignal): Promise<void> {
    if (!config) {
      log.info('boot services not configured (no boot: section); DHCP, TFTP and HTTP boot stay off');
      return;
    }
    if (started) return;
    started = true;
    try {
      const { address } = interfaceAddress(config.interface, config.address, opts.interfaces);
      const subnets: DhcpSubnetConfig[] = config.subnets.map((s) => ({
        site: s.site,
        network: s.network,
        ...(s.gateway ? { gateway: s.gateway } : {}),
        ...(s.dns ? { dns: s.dns } : {}),
        ...(s.domain ? { domain: s.domain } : {}),
        ...(s.lease_seconds ? { leaseSeconds: s.lease_seconds } : {}),
      }));
      let view: BootLookup;
      if (opts.lookup) view = opts.lookup;
      else {
        lookup = createDbBootLookup(opts.knex, { subnets, pollMs: config.lookup_poll_ms, site: opts.config.site ?? null, logger: log });
        await lookup.start();
        view = lookup;
      }
      events = new DbBootEventSink(opts.knex, { logger: log, ...(opts.onActivity ? { onWritten: opts.onActivity } : {}) });
      const sink = events;
      const templates = new TemplateStore();
      templates.preload(images.values());

      const tftpRoot = config.tftp ? resolve(config.tftp.root_dir ?? join(opts.config.dataDir ?? './data', 'tftp')) : null;
      if (tftpRoot) mkdirSync(tftpRoot, { recursive: true });
      const bootFiles: DhcpBootFiles = { ...DEFAULT_BOOT_FILES, ...dhcpBootFiles(config.dhcp?.boot_files) };
      const findBootFile = bootFileFinder(tftpRoot ? await RootDirectory.open(tftpRoot) : null, config.tftp?.ipxe_dir === undefined ? DEBIAN_IPXE_DIR : config.tftp.ipxe_dir);
      const httpBootFiles = new Set([bootFiles.uefiX64, bootFiles.uefiArm64]);
      const httpDeps: BootHttpDeps = {
        deployments, lookup: view, events: sink, templates, images, baseUrl: config.http.base_url ?? '', logger: log,
        knex: opts.knex, discovery: config.discovery, tokenTtlSeconds: config.http.token_ttl_seconds,
        bootFile: (name) => (httpBootFiles.has(name) ? findBootFile(name) : null),
        ...(opts.onActivity ? { onActivity: opts.onActivity } : {}),
      };
      state.http = createBootHttpServer({ host: address, port: config.http.port }, httpDeps);
      const bound = await state.http.start();
      // Port 0 (tests) is known only now; routes read baseUrl per request.
      const baseUrl = (config.http.base_url ?? `http://${address}:${bound.port}`).replace(/\/+$/, '');
      httpDeps.baseUrl = baseUrl;
      state.baseUrl = baseUrl;

      if (config.tftp) {
        const t = config.tftp;
        const rootDir = tftpRoot!;
        const tftp = new TftpServer({
          config: {
            listenAddress: address,
            port: t.port,
            rootDir,
            ...(t.ipxe_dir !== undefined ? { ipxeDir: t.ipxe_dir } : {}),
            ...(t.max_blksize !== undefined ? { maxBlksize: t.max_blksize } : {}),
            ...(t.max_windowsize !== undefined ? { maxWindowsize: t.max_windowsize } : {}),
            ...(t.timeout_ms !== undefined ? { timeoutMs: t.timeout_ms } : {}),
            ...(t.retries !== undefined ? { retries: t.retries } : {}),
            ...(t.max_transfers !== undefined ? { maxTransfers: t.max_transfers } : {}),
            ...(t.transfer_threads !== undefined ? { transferThreads: t.transfer_threads } : {}),
          },
          generate: (file, client) => {
            if (file !== 'boot.ipxe' && file !== 'autoexec.ipxe') return null;
            return Buffer.from(chainScript(baseUrl, view.byIp(client.address)?.mac ?? null));
          },
          logger: log,
        });
        tftp.on('transfer', (t2) => {
          const r = view.byIp(t2.client.address);
          if (r) sink.record(r.machineId, 'tftp_served', { file: t2.file, bytes: t2.bytes, origin: t2.origin });
        });
        state.tftp = tftp;
        await tftp.start();
      }

      if (config.dhcp) {
        const d = config.dhcp;
        const dhcpConfig: DhcpConfig = {
          mode: d.mode,
          listen: {
            interface: config.interface,
            address,
            ...(d.port !== undefined ? { port: d.port } : {}),
            ...(d.proxy_port !== undefined ? { proxyPort: d.proxy_port } : {}),
            ...(d.client_port !== undefined ? { clientPort: d.client_port } : {}),
          },
          ...(d.server_id ? { serverId: d.server_id } : {}),
          ...(d.next_server ? { nextServer: d.next_server } : {}),
          bootFiles,
          httpBaseUrl: baseUrl,
          discovery: config.discovery,
          subnets,
        };
        state.dhcp = new DhcpServer(dhcpConfig, { lookup: view, events: sink, store: new DbDhcpStore(opts.knex, { logger: log }), logger: log });
        await state.dhcp.start();
        warnUnservedBootFiles(log, bootFiles, { tftp: config.tftp !== undefined, nextServer: d.next_server ?? null, find: findBootFile });
      }
      signal?.addEventListener('abort', () => void stop(), { once: true });
      log.info(
        { interface: config.interface, address, base_url: baseUrl, dhcp: config.dhcp?.mode ?? 'off', tftp: config.tftp ? 'on' : 'off', os_images: [...images.keys()] },
        'boot services started',
      );
    } catch (err) {
      await stop();
      throw err;
    }
  }

  return {
    enabled: config !== null,
    config,
    deployments,
    get http() {
      return state.http;
    },
    get dhcp() {
      return state.dhcp;
    },
    get tftp() {
      return state.tftp;
    },
    get baseUrl() {
      return state.baseUrl;
    },
    start,
    stop,
  };
}

function dhcpBootFiles(f: { bios?: string | undefined; uefi_x64?: string | undefined; uefi_arm64?: string | undefined } | undefined): Partial<DhcpBootFiles> {
  return { ...(f?.bios ? { bios: f.bios } : {}), ...(f?.uefi_x64 ? { uefiX64: f.uefi_x64 } : {}), ...(f?.uefi_arm64 ? { uefiArm64: f.uefi_arm64 } : {}) };
}

/** Where a boot file is found, as TFTP serves it: a regular file in the TFTP root first (confined to it), then the iPXE binaries. */
export function bootFileFinder(root: RootDirectory | null, ipxeDir: string | null): (name: string) => string | null {
  const ipxe = discoverIpxeFiles(ipxeDir);
  return (name) => {
    const inRoot = root?.locate(name) ?? null;
    if (inRoot !== null && statSync(inRoot).isFile()) return inRoot;
    return ipxe.get(name) ?? null;
  };
}

/**
 * DHCP names a boot file for each firmware whether or not anything serves it; a machine sent to a
 * file nobody has just fails to boot, with nothing in Anvil's log. Said once, at start.
 */
export function warnUnservedBootFiles(log: Logger, files: DhcpBootFiles, at: { tftp: boolean; nextServer: string | null; find: (name: string) => string | null }): void {
  if (at.nextServer) return; // another server's TFTP: not ours to check
  if (!at.tftp) {
    log.warn({ boot_files: files }, 'boot: DHCP sends PXE firmware to this host for its boot files, but boot.tftp is off here: enable boot.tftp, or set boot.dhcp.next_server to the TFTP server that has them');
    return;
  }
  const missing = Object.entries(files).filter(([, name]) => at.find(name) === null);
  if (missing.length > 0) {
    log.warn({ missing: Object.fromEntries(missing) }, 'boot: boot files DHCP offers are in neither the TFTP root nor the iPXE directory: those machines cannot network-boot until they are there');
  }
}
