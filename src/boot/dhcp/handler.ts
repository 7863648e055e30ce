import type { Clock } from '../../clock.js';
import type { BootEventSink, BootLookup, Reservation } from '../lookup.js';
import type { ResolvedDhcpConfig } from './config.js';
import { broadcastOf, inNetwork, ipToInt, maskToIp, prefixToMask, type Ipv4Network } from './net.js';
import {
  OPT_BROADCAST_ADDRESS,
  OPT_DNS_SERVERS,
  OPT_DOMAIN_NAME,
  OPT_HOSTNAME,
  OPT_RELAY_AGENT_INFO,
  OPT_ROUTER,
  OPT_SUBNET_MASK,
} from './options.js';
import type { DhcpPacket } from './packet.js';
import type { DhcpStore } from './store.js';

/** One decoded request and where it came from. */
export interface DhcpRequestContext {
  packet: DhcpPacket;
  /** Client hardware address, lower-case colon form. */
  mac: string;
  /** `dhcp` for the server port (67), `pxe` for the PXE boot server port (4011). */
  via: 'dhcp' | 'pxe';
  source: { address: string; port: number };
}

export type IgnoreReason =
  /** MAC not in inventory (discovery may still record it). */
  | 'unknown_mac'
  /** REQUEST/DECLINE/RELEASE addressed to another server (option 54). */
  | 'other_server'
  /** The reservation's address is not on the network the packet came from. */
  | 'wrong_network'
  /** Not a message this policy answers (BOOTREPLY, no option 53, non-Ethernet, proxy and no PXE…). */
  | 'not_answered'
  /** DECLINE and RELEASE: recorded, never answered (RFC 2131 4.3.3, 4.3.4). */
  | 'no_reply';

export type HandlerResult = { action: 'reply'; packet: DhcpPacket; nak?: boolean } | { action: 'ignore'; reason: IgnoreReason };

/**
 * A DHCP policy. It decides what to answer; the server owns the socket, decides where the answer
 * goes (relay, broadcast, unicast) and counts outcomes. `handle` must not throw on any input and
 * must not wait on I/O.
 */
export interface DhcpHandler {
  handle(ctx: DhcpRequestContext): HandlerResult;
}

export interface HandlerDeps {
  config: ResolvedDhcpConfig;
  lookup: BootLookup;
  events: BootEventSink;
  store: DhcpStore;
  clock: Clock;
}

/**
 * True when `res` may be answered for a packet that came directly (giaddr 0: the client is on
 * the server's own segment) or through the relay agent at giaddr.
 */
export function onRequestNetwork(req: DhcpPacket, res: Reservation, config: ResolvedDhcpConfig): boolean {
  const here = req.giaddr !== '0.0.0.0' ? req.giaddr : config.address;
  return inNetwork(here, networkOf(res));
}

function networkOf(res: Reservation): Ipv4Network {
  return { base: (ipToInt(res.ipv4) & prefixToMask(res.prefixLength)) >>> 0, prefixLength: res.prefixLength, cidr: `${res.ipv4}/${res.prefixLength}` };
}

/** Options 1, 3, 6, 12, 15, 28 for a reservation. */
export function addNetworkOptions(reply: DhcpPacket, res: Reservation): void {
  reply.options.setIp(OPT_SUBNET_MASK, maskToIp(res.prefixLength));
  if (res.gateway) reply.options.setIp(OPT_ROUTER, res.gateway);
  if (res.dnsServers.length) reply.options.setIps(OPT_DNS_SERVERS, res.dnsServers);
  reply.options.setString(OPT_HOSTNAME, res.hostname);
  if (res.domain) reply.options.setString(OPT_DOMAIN_NAME, res.domain);
  if (res.prefixLength < 31) reply.options.setIp(OPT_BROADCAST_ADDRESS, broadcastOf(networkOf(res)));
}

/** RFC 3046 2.2: a server echoes the relay agent information option unchanged. */
export function echoRelayInfo(reply: DhcpPacket, req: DhcpPacket): void {
  const info = req.options.get(OPT_RELAY_AGENT_INFO);
  if (info) reply.options.set(OPT_RELAY_AGENT_INFO, info);
}

/**
 * Drops repeats of one machine's event within `windowMs`: a client retransmits DISCOVER every few
 * seconds while it waits, and a machine stuck in a PXE loop would otherwise write a row per packet.
 */
export class EventThrottle {
  private readonly last = new Map<string, number>();

  constructor(private readonly windowMs = 10_000) {}

  allow(key: string, nowMs: number): boolean {
    const prev = this.last.get(key);
    if (prev !== undefined && nowMs - prev < this.windowMs) return false;
    if (this.last.size > 100_000) this.last.clear(); // bounded memory under a flood of MACs
    this.last.set(key, nowMs);
    return true;
  }
}

