import type { Reservation } from '../lookup.js';
import { addNetworkOptions, echoRelayInfo, onRequestNetwork, type DhcpHandler, type DhcpRequestContext, type HandlerDeps, type HandlerResult, EventThrottle } from './handler.js';
import { MessageType, OPT_LEASE_TIME, OPT_MESSAGE, OPT_REBINDING_TIME, OPT_RENEWAL_TIME, OPT_SERVER_ID } from './options.js';
import { inNetwork } from './net.js';
import { BOOTREQUEST, FLAG_BROADCAST, HTYPE_ETHERNET, replyTo, type DhcpPacket } from './packet.js';
import { applyBootDecision, bootDecision, isNetbootClient, pxeClientInfo } from './pxe.js';

/**
 * Authoritative policy: answers only MACs with a reservation in inventory, always with the
 * reserved address (RFC 2131 4.3). Unknown MACs get silence, so a second DHCP server on the same
 * network is not disturbed for machines Anvil does not own.
 */
export class ReservationHandler implements DhcpHandler {
  private readonly pxeSeen = new EventThrottle();

  constructor(private readonly deps: HandlerDeps) {}

  handle(ctx: DhcpRequestContext): HandlerResult {
    const req = ctx.packet;
    const type = req.options.messageType;
    if (req.op !== BOOTREQUEST || type === null || req.htype !== HTYPE_ETHERNET || req.hlen !== 6 || ctx.via !== 'dhcp') {
      return { action: 'ignore', reason: 'not_answered' };
    }
    const res = this.deps.lookup.byMac(ctx.mac);
    if (!res) {
      if (this.deps.config.discovery && (type === MessageType.DISCOVER || type === MessageType.REQUEST)) this.recordDiscovered(req, ctx.mac);
      return { action: 'ignore', reason: 'unknown_mac' };
    }
    if (!onRequestNetwork(req, res, this.deps.config)) return { action: 'ignore', reason: 'wrong_network' };

    switch (type) {
      case MessageType.DISCOVER:
        return this.offer(req, res);
      case MessageType.REQUEST:
        return this.request(req, res);
      case MessageType.DECLINE:
      case MessageType.RELEASE:
        return this.releaseOrDecline(req, res, type);
      case MessageType.INFORM:
        return this.inform(req, res);
      default:
        return { action: 'ignore', reason: 'not_answered' };
    }
  }

  private offer(req: DhcpPacket, res: Reservation): HandlerResult {
    const reply = this.answer(req, res, MessageType.OFFER);
    const { leaseSeconds } = res;
    this.deps.store.recordLease({ mac: res.mac, machineId: res.machineId, ip: res.ipv4, expiresAt: this.expiry(leaseSeconds), state: 'offered' });
    return { action: 'reply', packet: reply };
  }

  private request(req: DhcpPacket, res: Reservation): HandlerResult {
    const serverId = req.options.serverId;
    // SELECTING state: the client names the server it chose (RFC 2131 4.3.2).
    if (serverId !== null && serverId !== this.deps.config.serverId) return { action: 'ignore', reason: 'other_server' };
    // SELECTING / INIT-REBOOT carry option 50; RENEWING / REBINDING carry ciaddr.
    const wanted = req.options.requestedIp ?? (req.ciaddr !== '0.0.0.0' ? req.ciaddr : null);
    if (wanted !== res.ipv4) return this.nak(req, res, `address ${wanted ?? 'none'} is not reserved for ${res.mac}`);
    const reply = this.answer(req, res, MessageType.ACK);
    reply.ciaddr = req.ciaddr;
    this.deps.store.recordLease({ mac: res.mac, machineId: res.machineId, ip: res.ipv4, expiresAt: this.expiry(res.leaseSeconds), state: 'bound' });
    this.deps.events.record(res.machineId, 'dhcp_ack', { mac: res.mac, ip: res.ipv4 });
    return { action: 'reply', packet: reply };
  }

  private releaseOrDecline(req: DhcpPacket, res: Reservation, type: MessageType): HandlerResult {
    const serverId = req.options.serverId;
    if (serverId !== null && serverId !== this.deps.config.serverId) return { action: 'ignore', reason: 'other_server' };
    const ip = type === MessageType.DECLINE ? req.options.requestedIp ?? res.ipv4 : req.ciaddr;
    if (ip !== res.ipv4) return { action: 'ignore', reason: 'no_reply' };
    const declined = type === MessageType.DECLINE;
    this.deps.store.recordLease({ mac: res.mac, machineId: res.machineId, ip, expiresAt: this.deps.clock.now(), state: declined ? 'declined' : 'released' });
    // A DECLINE means another host answers ARP for the reserved address: an inventory conflict
    // someone must fix, so it becomes a machine event.
    this.deps.events.record(res.machineId, declined ? 'dhcp_decline' : 'dhcp_release', { mac: res.mac, ip });
    return { action: 'ignore', reason: 'no_reply' };
  }

  private inform(req: DhcpPacket, res: Reservation): HandlerResult {
    // RFC 2131 4.3.5: configuration only, no yiaddr and no lease time.
    const reply = replyTo(req, MessageType.ACK);
    reply.ciaddr = req.ciaddr;
    reply.options.setIp(OPT_SERVER_ID, this.deps.config.serverId);
    addNetworkOptions(reply, res);
    this.addBoot(req, res, reply, false);
    echoRelayInfo(reply, req);
    return { action: 'reply', packet: reply };
  }

  private nak(req: DhcpPacket, res: Reservation, why: string): HandlerResult {
    const reply = replyTo(req, MessageType.NAK);
    reply.options.setIp(OPT_SERVER_ID, this.deps.config.serverId);
    reply.options.setString(OPT_MESSAGE, why);
    // RFC 2131 4.3.2: a NAK through a relay sets the broadcast bit so the relay broadcasts it.
    if (req.giaddr !== '0.0.0.0') reply.flags |= FLAG_BROADCAST;
    echoRelayInfo(reply, req);
    this.deps.events.record(res.machineId, 'dhcp_nak', { mac: res.mac, requested: req.options.requestedIp ?? req.ciaddr });
    return { action: 'reply', packet: reply, nak: true };
  }

  private answer(req: DhcpPacket, res: Reservation, type: MessageType.OFFER | MessageType.ACK): DhcpPacket {
    const reply = replyTo(req, type);
    reply.yiaddr = res.ipv4;
    reply.options.setIp(OPT_SERVER_ID, this.deps.config.serverId);
    reply.options.setUint32(OPT_LEASE_TIME, res.leaseSeconds);
    reply.options.setUint32(OPT_RENEWAL_TIME, Math.floor(res.leaseSeconds / 2));
    reply.options.setUint32(OPT_REBINDING_TIME, Math.floor((res.leaseSeconds * 7) / 8));
    addNetworkOptions(reply, res);
    this.addBoot(req, res, reply, type === MessageType.OFFER);
    echoRelayInfo(reply, req);
    return reply;
  }

  private addBoot(req: DhcpPacket, res: Reservation, reply: DhcpPacket, isOffer: boolean): void {
    if (!res.pxe) return;
    const info = pxeClientInfo(req.options);
    if (!isNetbootClient(info)) return;
    const decision = bootDecision(info, res.mac, this.deps.config);
    if (isOffer && this.pxeSeen.allow(`${res.machineId}/${info.ipxe}`, this.deps.clock.now().getTime())) {
      this.deps.events.record(res.machineId, 'pxe_seen', {
        mac: res.mac,
        arch: info.arch,
        ipxe: info.ipxe,
        vendorClass: info.vendorClass,
        bootFile: decision?.bootFile ?? null,
      });
    }
    if (decision) applyBootDecision(reply, req, decision);
  }

  private recordDiscovered(req: DhcpPacket, mac: string): void {
    const info = pxeClientInfo(req.options);
    const relay = req.giaddr !== '0.0.0.0' ? req.giaddr : null;
    const site = this.deps.config.subnets.find((s) => inNetwork(relay ?? this.deps.config.address, s.network))?.site ?? null;
    this.deps.store.recordDiscovered({ mac, vendorClass: info.vendorClass, clientArch: info.arch, relayAddress: relay, siteCode: site });
  }

  private expiry(seconds: number): Date {
    return new Date(this.deps.clock.now().getTime() + seconds * 1000);
  }
}
