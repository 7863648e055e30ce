import type { Reservation } from '../lookup.js';
import { echoRelayInfo, type DhcpHandler, type DhcpRequestContext, type HandlerDeps, type HandlerResult, EventThrottle } from './handler.js';
import { MessageType, OPT_SERVER_ID } from './options.js';
import { BOOTREQUEST, HTYPE_ETHERNET, replyTo } from './packet.js';
import { PXE_DISCOVERY_CONTROL_SKIP, applyBootDecision, bootDecision, pxeClientInfo } from './pxe.js';
import { inNetwork } from './net.js';

/**
 * proxyDHCP policy (PXE 2.1 section 2.2.4), for networks whose addresses another DHCP server
 * hands out. It never offers an address (yiaddr stays 0.0.0.0) and answers only network boot
 * clients in inventory:
 * - a DISCOVER on port 67 gets a proxy OFFER carrying just the boot information;
 * - a REQUEST or INFORM on port 4011 (the client, now addressed, asking the boot server
 *   directly) gets an ACK with the same information, unicast back to the sender.
 * REQUESTs on port 67 belong to the address server and are left alone.
 */
export class ProxyHandler implements DhcpHandler {
  private readonly pxeSeen = new EventThrottle();

  constructor(private readonly deps: HandlerDeps) {}

  handle(ctx: DhcpRequestContext): HandlerResult {
    const req = ctx.packet;
    const type = req.options.messageType;
    if (req.op !== BOOTREQUEST || type === null || req.htype !== HTYPE_ETHERNET || req.hlen !== 6) return { action: 'ignore', reason: 'not_answered' };
    const isDiscover = ctx.via === 'dhcp' && type === MessageType.DISCOVER;
    const isBootServerRequest = ctx.via === 'pxe' && (type === MessageType.REQUEST || type === MessageType.INFORM);
    if (!isDiscover && !isBootServerRequest) return { action: 'ignore', reason: 'not_answered' };

    const info = pxeClientInfo(req.options);
    const res = this.deps.lookup.byMac(ctx.mac);
    if (!res) {
      if (this.deps.config.discovery && isDiscover) {
        const relay = req.giaddr !== '0.0.0.0' ? req.giaddr : null;
        const site = this.deps.config.subnets.find((s) => inNetwork(relay ?? this.deps.config.address, s.network))?.site ?? null;
        this.deps.store.recordDiscovered({ mac: ctx.mac, vendorClass: info.vendorClass, clientArch: info.arch, relayAddress: relay, siteCode: site });
      }
      return { action: 'ignore', reason: 'unknown_mac' };
    }
    if (!res.pxe) return { action: 'ignore', reason: 'not_answered' };
    const chosen = bootDecision(info, res.mac, this.deps.config);
    if (!chosen) return { action: 'ignore', reason: 'not_answered' };
    // Clients (PXE ROMs and iPXE alike) recognise a proxy offer by option 60 "PXEClient".
    const decision = chosen.vendorClass ? chosen : { ...chosen, vendorClass: 'PXEClient', vendorOptions: PXE_DISCOVERY_CONTROL_SKIP };

    const reply = replyTo(req, isDiscover ? MessageType.OFFER : MessageType.ACK);
    if (isBootServerRequest) reply.ciaddr = req.ciaddr;
    reply.options.setIp(OPT_SERVER_ID, this.deps.config.serverId);
    applyBootDecision(reply, req, decision);
    echoRelayInfo(reply, req);
    if (isDiscover && this.pxeSeen.allow(`${res.machineId}/${info.ipxe}`, this.deps.clock.now().getTime())) this.seen(res, info.arch, info.ipxe, info.vendorClass, decision.bootFile);
    return { action: 'reply', packet: reply };
  }

  private seen(res: Reservation, arch: number | null, ipxe: boolean, vendorClass: string | null, bootFile: string): void {
    this.deps.events.record(res.machineId, 'pxe_seen', { mac: res.mac, arch, ipxe, vendorClass, bootFile, proxy: true });
  }
}

