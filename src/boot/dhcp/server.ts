import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { systemClock, type Clock } from '../../clock.js';
import { InputError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { nullEventSink, type BootEventSink, type BootLookup } from '../lookup.js';
import { resolveDhcpConfig, type DhcpConfig, type ResolvedDhcpConfig } from './config.js';
import type { DhcpHandler, DhcpRequestContext, HandlerResult } from './handler.js';
import { inNetwork, parseCidr, type Ipv4Network } from './net.js';
import { messageTypeName } from './options.js';
import { DEFAULT_MAX_MESSAGE, DhcpDecodeError, decodePacket, encodePacket, macOf, type DhcpPacket } from './packet.js';
import { ProxyHandler } from './proxy-handler.js';
import { ReservationHandler } from './reservation-handler.js';
import { nullDhcpStore, type DhcpStore } from './store.js';

/** Counters for /metrics. All are totals since start. */
export interface DhcpStats {
  received: number;
  answered: number;
  naks: number;
  ignored_unknown: number;
  /** Known MACs not answered: another server chosen, wrong network, DECLINE/RELEASE, not PXE in proxy mode. */
  ignored_other: number;
  dropped_malformed: number;
  /** Packets that did not come from the configured network (see `acceptsSource`). */
  dropped_foreign: number;
  /** Handler or encoder failures and socket send errors; each is logged. */
  errors: number;
}

export interface DhcpServerDeps {
  lookup: BootLookup;
  events?: BootEventSink;
  store?: DhcpStore;
  logger?: Logger;
  clock?: Clock;
  /** Replaces the policy chosen from `mode` (tests, or a future policy). */
  handler?: DhcpHandler;
}

const BROADCAST = '255.255.255.255';

/**
 * The DHCP service of the boot role: owns the UDP sockets (67, and 4011 in proxy mode), decodes
 * each datagram, hands it to the policy and sends the answer where RFC 2131 4.1 says.
 *
 * Interface binding: Node has no SO_BINDTODEVICE or IP_PKTINFO, and an address-less client's
 * broadcast only reaches a socket bound to 0.0.0.0, so the socket binds 0.0.0.0 and the server
 * accepts a packet only when it plausibly arrived on the configured network: a relayed packet's
 * giaddr must lie in a configured subnet; a direct packet's source must be 0.0.0.0 or on the
 * listen address's subnet; and the reservation's address must be on the network the packet came
 * from (handler.ts `onRequestNetwork`). On a multi-homed host this cannot tell two interfaces'
 * broadcasts apart: deploy one boot role per site network, in a network namespace holding only
 * the boot interface, or filter port 67 with nftables (`iifname != "boot0" udp dport 67 drop`).
 */
export class DhcpServer {
  readonly config: ResolvedDhcpConfig;
  private readonly handler: DhcpHandler;
  private readonly logger: Logger | undefined;
  private readonly store: DhcpStore;
  private sockets: Socket[] = [];
  private replySocket: Socket | null = null;
  private localNet: Ipv4Network | null = null;
  private readonly counters: DhcpStats = {
    received: 0,
    answered: 0,
    naks: 0,
    ignored_unknown: 0,
    ignored_other: 0,
    dropped_malformed: 0,
    dropped_foreign: 0,
    errors: 0,
  };
  private settle: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  /** Settles when the server stops: resolves on `stop()`, rejects if a socket fails. */
  readonly closed: Promise<void>;

  constructor(config: DhcpConfig | ResolvedDhcpConfig, deps: DhcpServerDeps) {
    this.config = 'proxyPort' in config ? config : resolveDhcpConfig(config);
    this.logger = deps.logger;
    this.store = deps.store ?? nullDhcpStore;
    const handlerDeps = { config: this.config, lookup: deps.lookup, events: deps.events ?? nullEventSink, store: this.store, clock: deps.clock ?? systemClock };
    this.handler = deps.handler ?? (this.config.mode === 'proxy' ? new ProxyHandler(handlerDeps) : new ReservationHandler(handlerDeps));
    this.closed = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.closed.catch(() => {});
  }

  /** Binds the sockets; resolves once they listen. Aborting `signal` stops the server. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.sockets.length) throw new Error('DHCP server already started');
    this.localNet = this.findLocalNetwork();
    const wildcard = this.config.bindAddress === '0.0.0.0';
    // Replies to address-less clients go to 255.255.255.255. Linux routes a limited broadcast out
    // of the interface that owns the socket's source address, and only then (otherwise it needs
    // a default route and picks that route's interface). So with a wildcard listener a second
    // socket bound to the listen address sends every reply (and receives unicast to it); both
    // set SO_REUSEADDR, which is what lets 0.0.0.0:67 and address:67 coexist.
    const sendFrom = wildcard && this.localNet ? this.config.address : null;
    try {
      if (sendFrom) {
        // SO_REUSEADDR would also let a second DHCP server (or a stale Anvil) share the port
        // silently; a plain bind first makes that an EADDRINUSE at start instead.
        const probe = await this.bind('dhcp', this.config.bindAddress, this.config.port, false);
        await new Promise<void>((resolve) => probe.close(() => resolve()));
      }
      this.sockets.push(await this.bind('dhcp', this.config.bindAddress, this.config.port, sendFrom !== null));
      if (sendFrom) {
        this.replySocket = await this.bind('dhcp', sendFrom, this.sockets[0]!.address().port, true);
        this.sockets.push(this.replySocket);
      }
      if (this.config.mode === 'proxy') this.sockets.push(await this.bind('pxe', this.config.bindAddress, this.config.proxyPort, false));
    } catch (err) {
      await this.closeSockets();
      throw err;
    }
    signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.logger?.info({ mode: this.config.mode, address: this.config.address, ports: this.ports() }, 'DHCP server listening');
  }

  async stop(): Promise<void> {
    await this.closeSockets();
    await this.store.flush();
    this.settle?.resolve();
  }

  stats(): DhcpStats {
    return { ...this.counters };
  }

  /** The local ports actually bound (useful when configured as 0). */
  ports(): number[] {
    return [...new Set(this.sockets.map((s) => s.address().port))];
  }

  private findLocalNetwork(): Ipv4Network | null {
    const ifaces = networkInterfaces();
    const names = this.config.interface ? [this.config.interface] : Object.keys(ifaces);
    if (this.config.interface && !ifaces[this.config.interface]) {
      throw new InputError(`boot.dhcp.listen.interface: no interface named "${this.config.interface}" on this host`);
    }
    for (const name of names) {
      for (const a of ifaces[name] ?? []) {
        if (a.family === 'IPv4' && a.address === this.config.address && a.cidr) return parseCidr(a.cidr);
      }
    }
    if (this.config.interface) {
      throw new InputError(`boot.dhcp.listen.address: ${this.config.address} is not an address of interface "${this.config.interface}"`);
    }
    this.logger?.warn({ address: this.config.address }, 'DHCP listen address is not on this host; direct clients are not filtered by network');
    return null;
  }

  private bind(via: 'dhcp' | 'pxe', address: string, port: number, reuseAddr: boolean): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: 'udp4', reuseAddr });
      const onError = (err: Error) => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', onError);
        socket.setBroadcast(true);
        socket.on('error', (err) => {
          this.logger?.error({ err, port }, 'DHCP socket failed');
          this.counters.errors++;
          void this.closeSockets().then(() => this.settle?.reject(err));
        });
        socket.on('message', (msg, rinfo) => this.onMessage(socket, via, msg, rinfo));
        resolve(socket);
      });
    });
  }

  private async closeSockets(): Promise<void> {
    const sockets = this.sockets;
    this.sockets = [];
    this.replySocket = null;
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve();
      }
    })));
  }

  /** Never throws: every failure is counted and logged. */
  private onMessage(socket: Socket, via: 'dhcp' | 'pxe', msg: Buffer, rinfo: RemoteInfo): void {
    this.counters.received++;
    let req: DhcpPacket;
    try {
      req = decodePacket(msg);
    } catch (err) {
      this.counters.dropped_malformed++;
      if (!(err instanceof DhcpDecodeError)) this.counters.errors++;
      this.logger?.debug({ from: rinfo.address, reason: (err as DhcpDecodeError).reason, bytes: msg.length }, 'malformed DHCP packet dropped');
      return;
    }
    if (!this.acceptsSource(req, via, rinfo)) {
      this.counters.dropped_foreign++;
      return;
    }
    const ctx: DhcpRequestContext = { packet: req, mac: macOf(req), via, source: { address: rinfo.address, port: rinfo.port } };
    let result: HandlerResult;
    try {
      result = this.handler.handle(ctx);
    } catch (err) {
      this.counters.errors++;
      this.logger?.error({ err, mac: ctx.mac }, 'DHCP handler failed');
      return;
    }
    if (result.action === 'ignore') {
      if (result.reason === 'unknown_mac') this.counters.ignored_unknown++;
      else this.counters.ignored_other++;
      this.logger?.debug({ mac: ctx.mac, type: messageTypeName(req.options.messageType), reason: result.reason }, 'DHCP request not answered');
      return;
    }
    let wire: Buffer;
    try {
      const max = req.options.maxMessageSize;
      wire = encodePacket(result.packet, { maxMessageSize: max !== null ? max - 28 : DEFAULT_MAX_MESSAGE });
    } catch (err) {
      this.counters.errors++;
      this.logger?.error({ err, mac: ctx.mac }, 'DHCP reply could not be encoded');
      return;
    }
    const to = this.destination(req, result, via, rinfo);
    if (result.nak) this.counters.naks++;
    else this.counters.answered++;
    const out = via === 'dhcp' && this.replySocket ? this.replySocket : socket;
    out.send(wire, to.port, to.address, (err) => {
      if (err) {
        this.counters.errors++;
        this.logger?.warn({ err, to }, 'DHCP reply not sent');
      }
    });
    this.logger?.debug({ mac: ctx.mac, type: messageTypeName(result.packet.options.messageType), ip: result.packet.yiaddr, to }, 'DHCP reply sent');
  }

  private acceptsSource(req: DhcpPacket, via: 'dhcp' | 'pxe', rinfo: RemoteInfo): boolean {
    if (req.giaddr !== '0.0.0.0') return this.config.subnets.some((s) => inNetwork(req.giaddr, s.network));
    if (via === 'pxe' || rinfo.address !== '0.0.0.0') return this.localNet === null || inNetwork(rinfo.address, this.localNet);
    return true;
  }

  /** RFC 2131 4.1 ("If the 'giaddr' field … is non-zero …") and PXE 2.1 for port 4011. */
  private destination(req: DhcpPacket, result: Extract<HandlerResult, { action: 'reply' }>, via: 'dhcp' | 'pxe', rinfo: RemoteInfo): { address: string; port: number } {
    if (via === 'pxe') return { address: rinfo.address, port: rinfo.port };
    // Relay agents listen on the server port (RFC 1542 5.4), whatever port this server uses.
    if (req.giaddr !== '0.0.0.0') return { address: req.giaddr, port: 67 };
    if (result.nak) return { address: BROADCAST, port: this.config.clientPort };
    if (req.ciaddr !== '0.0.0.0') return { address: req.ciaddr, port: this.config.clientPort };
    // The client has no address yet. Unicasting to yiaddr would need an ARP entry for chaddr,
    // which Node cannot install, so the answer is broadcast whether or not the flag asks for it.
    return { address: BROADCAST, port: this.config.clientPort };
  }
}
