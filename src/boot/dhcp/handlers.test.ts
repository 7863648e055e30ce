import { ManualClock } from '../../clock.js';
import { InputError } from '../../errors.js';
import { InMemoryBootLookup, type BootEventType, type Reservation } from '../lookup.js';
import { resolveDhcpConfig, type DhcpConfig } from './config.js';
import type { DhcpRequestContext, HandlerDeps, HandlerResult } from './handler.js';
import {
  DhcpOptions,
  MessageType,
  OPT_BOOTFILE_NAME,
  OPT_CLIENT_ARCH,
  OPT_CLIENT_GUID,
  OPT_LEASE_TIME,
  OPT_MESSAGE_TYPE,
  OPT_RELAY_AGENT_INFO,
  OPT_REQUESTED_IP,
  OPT_SERVER_ID,
  OPT_USER_CLASS,
  OPT_VENDOR_CLASS_ID,
  OPT_VENDOR_SPECIFIC,
  OPT_IPXE_ENCAP,
  ipToBuffer,
  encodeUserClasses,
} from './options.js';
import { BOOTREQUEST, FLAG_BROADCAST, decodePacket, encodePacket, macToChaddr, newPacket, type DhcpPacket } from './packet.js';
import { ProxyHandler } from './proxy-handler.js';
import { ReservationHandler } from './reservation-handler.js';
import type { DiscoveredMac, LeaseRecord } from './store.js';

const KNOWN = '52:54:00:aa:00:01';
const NO_PXE = '52:54:00:aa:00:02';
const UNKNOWN = '52:54:00:ff:ff:ff';

const baseConfig: DhcpConfig = {
  mode: 'authoritative',
  listen: { address: '10.20.0.2' },
  httpBaseUrl: 'http://10.20.0.2:8080/',
  discovery: true,
  subnets: [{ site: 'MA-NOU1', network: '10.20.0.0/24', gateway: '10.20.0.1', dns: ['10.20.0.53'], domain: 'nou1.example', leaseSeconds: 7200 }],
};

function reservation(mac: string, ipv4: string, pxe = true): Reservation {
  return { machineId: `m-${ipv4}`, mac, hostname: `host-${ipv4.split('.')[3]}`, siteCode: 'MA-NOU1', ipv4, prefixLength: 24, gateway: '10.20.0.1', dnsServers: ['10.20.0.53'], domain: 'nou1.example', leaseSeconds: 7200, pxe };
}

function setup(mode: 'authoritative' | 'proxy' = 'authoritative', extra: Partial<DhcpConfig> = {}) {
  const events: Array<{ machineId: string; event: BootEventType; detail?: Record<string, unknown> }> = [];
  const leases: LeaseRecord[] = [];
  const discovered: DiscoveredMac[] = [];
  const clock = new ManualClock('2026-11-26T12:00:00.000Z');
  const deps: HandlerDeps = {
    config: resolveDhcpConfig({ ...baseConfig, mode, ...extra }),
    lookup: new InMemoryBootLookup([reservation(KNOWN, '10.20.0.11'), reservation(NO_PXE, '10.20.0.12', false), { ...reservation('52:54:00:aa:00:03', '10.99.0.5'), prefixLength: 24 }]),
    events: { record: (machineId, event, detail) => events.push({ machineId, event, ...(detail ? { detail } : {}) }) },
    store: { recordLease: (l) => leases.push(l), recordDiscovered: (d) => discovered.push(d), flush: async () => {} },
    clock,
  };
  const handler = mode === 'proxy' ? new ProxyHandler(deps) : new ReservationHandler(deps);
  return { handler, events, leases, discovered, clock };
}

function req(mac: string, type: MessageType, opts: Array<[number, Buffer]> = [], fields: Partial<DhcpPacket> = {}, via: 'dhcp' | 'pxe' = 'dhcp'): DhcpRequestContext {
  const packet = newPacket({ op: BOOTREQUEST, xid: 77, chaddr: macToChaddr(mac), options: DhcpOptions.from([[OPT_MESSAGE_TYPE, Buffer.from([type])], ...opts]), ...fields });
  // Through the wire codec, so the handler sees exactly what a socket would deliver.
  const decoded = decodePacket(encodePacket(packet));
  return { packet: decoded, mac, via, source: { address: fields.ciaddr ?? '0.0.0.0', port: via === 'pxe' ? 68 : 68 } };
}

function replyOf(r: HandlerResult): DhcpPacket {
  if (r.action !== 'reply') throw new Error(`expected a reply, got ignore(${r.reason})`);
  return decodePacket(encodePacket(r.packet));
}

const pxeBios: Array<[number, Buffer]> = [[OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00000:UNDI:002001')], [OPT_CLIENT_ARCH, Buffer.from([0, 0])]];
const guid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x42)]);

describe('reservation handler', () => {
  it('offers the reserved address with lease, network options and no boot file to a plain client', () => {
    const { handler, leases } = setup();
    const offer = replyOf(handler.handle(req(KNOWN, MessageType.DISCOVER)));
    expect(offer.options.messageType).toBe(MessageType.OFFER);
    expect(offer.yiaddr).toBe('10.20.0.11');
    expect(offer.options.serverId).toBe('10.20.0.2');
    expect(offer.options.uint32(OPT_LEASE_TIME)).toBe(7200);
    expect(offer.options.ip(1)).toBe('255.255.255.0');
    expect(offer.options.ip(3)).toBe('10.20.0.1');
    expect(offer.options.ips(6)).toEqual(['10.20.0.53']);
    expect(offer.options.string(12)).toBe('host-11');
    expect(offer.options.string(15)).toBe('nou1.example');
    expect(offer.file).toBe('');
    expect(offer.xid).toBe(77);
    expect(leases).toEqual([expect.objectContaining({ mac: KNOWN, ip: '10.20.0.11', state: 'offered' })]);
  });

  it.each([
    ['BIOS (arch 0)', pxeBios, 'undionly.kpxe', 'PXEClient'],
    ['x86-64 UEFI (arch 7)', [[OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00007:UNDI:003016')], [OPT_CLIENT_ARCH, Buffer.from([0, 7])]], 'ipxe.efi', 'PXEClient'],
    ['EFI BC (arch 9)', [[OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00009:UNDI:003016')], [OPT_CLIENT_ARCH, Buffer.from([0, 9])]], 'ipxe.efi', 'PXEClient'],
    ['arm64 UEFI (arch 11)', [[OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00011:UNDI:003000')], [OPT_CLIENT_ARCH, Buffer.from([0, 11])]], 'snp.efi', 'PXEClient'],
    ['arch from option 60 only', [[OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00007:UNDI:003016')]], 'ipxe.efi', 'PXEClient'],
    ['UEFI HTTP boot (arch 16)', [[OPT_VENDOR_CLASS_ID, Buffer.from('HTTPClient:Arch:00016:UNDI:003001')], [OPT_CLIENT_ARCH, Buffer.from([0, 16])]], 'http://10.20.0.2:8080/ipxe/ipxe.efi', 'HTTPClient'],
    ['iPXE with bare user class', [...pxeBios, [OPT_USER_CLASS, Buffer.from('iPXE')]], `http://10.20.0.2:8080/boot/ipxe?mac=${KNOWN}`, null],
    ['iPXE with RFC 3004 user class', [...pxeBios, [OPT_USER_CLASS, encodeUserClasses(['iPXE'])]], `http://10.20.0.2:8080/boot/ipxe?mac=${KNOWN}`, null],
  ] as Array<[string, Array<[number, Buffer]>, string, string | null]>)('gives a %s client its boot file', (_n, opts, file, vendorClass) => {
    const { handler } = setup();
    const offer = replyOf(handler.handle(req(KNOWN, MessageType.DISCOVER, [...opts, [OPT_CLIENT_GUID, guid]])));
    expect(offer.file).toBe(file);
    expect(offer.options.string(OPT_BOOTFILE_NAME)).toBe(file);
    expect(offer.siaddr).toBe('10.20.0.2');
    expect(offer.options.vendorClassId).toBe(vendorClass);
    expect(offer.options.clientGuid).toEqual(guid);
    if (vendorClass === 'PXEClient') expect(offer.options.get(OPT_VENDOR_SPECIFIC)).toEqual(Buffer.from([6, 1, 8, 255]));
    else expect(offer.options.has(OPT_VENDOR_SPECIFIC)).toBe(false);
    // iPXE itself is told not to wait for a proxyDHCP offer (175/176 no-pxedhcp = 1); firmware is not.
    if (file.includes('/boot/ipxe?')) expect(offer.options.get(OPT_IPXE_ENCAP)).toEqual(Buffer.from([176, 1, 1]));
    else expect(offer.options.has(OPT_IPXE_ENCAP)).toBe(false);
  });

  it('uses the configured arm64 binary name', () => {
    const { handler } = setup('authoritative', { bootFiles: { uefiArm64: 'ipxe-arm64.efi' } });
    const offer = replyOf(handler.handle(req(KNOWN, MessageType.DISCOVER, [[OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00011')], [OPT_CLIENT_ARCH, Buffer.from([0, 11])]])));
    expect(offer.file).toBe('ipxe-arm64.efi');
  });

  it('records pxe_seen for a PXE DISCOVER of a known machine, not for a plain one', () => {
    const { handler, events } = setup();
    handler.handle(req(KNOWN, MessageType.DISCOVER));
    expect(events).toEqual([]);
    handler.handle(req(KNOWN, MessageType.DISCOVER, pxeBios));
    expect(events).toEqual([{ machineId: 'm-10.20.0.11', event: 'pxe_seen', detail: expect.objectContaining({ arch: 0, ipxe: false, bootFile: 'undionly.kpxe' }) }]);
  });

  it('records pxe_seen once per machine and boot stage within 10 s of retransmissions', () => {
    const { handler, events, clock } = setup();
    handler.handle(req(KNOWN, MessageType.DISCOVER, pxeBios));
    handler.handle(req(KNOWN, MessageType.DISCOVER, pxeBios));
    handler.handle(req(KNOWN, MessageType.DISCOVER, [...pxeBios, [OPT_USER_CLASS, Buffer.from('iPXE')]]));
    expect(events.map((e) => [e.event, e.detail?.ipxe])).toEqual([['pxe_seen', false], ['pxe_seen', true]]);
    clock.advance(10_001);
    handler.handle(req(KNOWN, MessageType.DISCOVER, pxeBios));
    expect(events).toHaveLength(3);
  });

  it('gives a NIC not marked for PXE an address but no boot file', () => {
    const { handler } = setup();
    const offer = replyOf(handler.handle(req(NO_PXE, MessageType.DISCOVER, pxeBios)));
    expect(offer.yiaddr).toBe('10.20.0.12');
    expect(offer.file).toBe('');
    expect(offer.options.has(OPT_VENDOR_CLASS_ID)).toBe(false);
  });

  it('stays silent for an unknown MAC and records it when discovery is on', () => {
    const { handler, discovered } = setup();
    expect(handler.handle(req(UNKNOWN, MessageType.DISCOVER, pxeBios))).toEqual({ action: 'ignore', reason: 'unknown_mac' });
    expect(discovered).toEqual([{ mac: UNKNOWN, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: 0, relayAddress: null, siteCode: 'MA-NOU1' }]);
  });

  it('does not record unknown MACs when discovery is off', () => {
    const { handler, discovered } = setup('authoritative', { discovery: false });
    expect(handler.handle(req(UNKNOWN, MessageType.DISCOVER))).toEqual({ action: 'ignore', reason: 'unknown_mac' });
    expect(discovered).toEqual([]);
  });

  it('ACKs a REQUEST for the reserved address naming this server and records the lease and event', () => {
    const { handler, leases, events } = setup();
    const ack = replyOf(handler.handle(req(KNOWN, MessageType.REQUEST, [[OPT_SERVER_ID, ipToBuffer('10.20.0.2')], [OPT_REQUESTED_IP, ipToBuffer('10.20.0.11')]])));
    expect(ack.options.messageType).toBe(MessageType.ACK);
    expect(ack.yiaddr).toBe('10.20.0.11');
    expect(leases.at(-1)).toEqual({ mac: KNOWN, machineId: 'm-10.20.0.11', ip: '10.20.0.11', expiresAt: new Date('2026-11-26T14:00:00.000Z'), state: 'bound' });
    expect(events.map((e) => e.event)).toEqual(['dhcp_ack']);
  });

  it('ignores a REQUEST that names another server', () => {
    const { handler, leases } = setup();
    const r = handler.handle(req(KNOWN, MessageType.REQUEST, [[OPT_SERVER_ID, ipToBuffer('10.20.0.3')], [OPT_REQUESTED_IP, ipToBuffer('10.20.0.11')]]));
    expect(r).toEqual({ action: 'ignore', reason: 'other_server' });
    expect(leases).toEqual([]);
  });

  it.each([
    ['SELECTING with a wrong option 50', [[OPT_SERVER_ID, ipToBuffer('10.20.0.2')], [OPT_REQUESTED_IP, ipToBuffer('10.20.0.99')]], {}],
    ['INIT-REBOOT with a wrong option 50', [[OPT_REQUESTED_IP, ipToBuffer('10.20.0.99')]], {}],
    ['RENEWING with a wrong ciaddr', [], { ciaddr: '10.20.0.98' }],
    ['a REQUEST with no address at all', [], {}],
  ] as Array<[string, Array<[number, Buffer]>, Partial<DhcpPacket>]>)('NAKs %s', (_n, opts, fields) => {
    const { handler, events } = setup();
    const r = handler.handle(req(KNOWN, MessageType.REQUEST, opts, fields));
    expect(r.action === 'reply' && r.nak).toBe(true);
    const nak = replyOf(r);
    expect(nak.options.messageType).toBe(MessageType.NAK);
    expect(nak.yiaddr).toBe('0.0.0.0');
    expect(nak.options.has(OPT_LEASE_TIME)).toBe(false);
    expect(events.map((e) => e.event)).toEqual(['dhcp_nak']);
  });

  it('ACKs a RENEWING request carrying the reserved ciaddr', () => {
    const { handler } = setup();
    const ack = replyOf(handler.handle(req(KNOWN, MessageType.REQUEST, [], { ciaddr: '10.20.0.11' })));
    expect(ack.options.messageType).toBe(MessageType.ACK);
    expect(ack.ciaddr).toBe('10.20.0.11');
  });

  it('records RELEASE and DECLINE without answering', () => {
    const { handler, leases, events } = setup();
    expect(handler.handle(req(KNOWN, MessageType.RELEASE, [[OPT_SERVER_ID, ipToBuffer('10.20.0.2')]], { ciaddr: '10.20.0.11' }))).toEqual({ action: 'ignore', reason: 'no_reply' });
    expect(handler.handle(req(KNOWN, MessageType.DECLINE, [[OPT_SERVER_ID, ipToBuffer('10.20.0.2')], [OPT_REQUESTED_IP, ipToBuffer('10.20.0.11')]]))).toEqual({ action: 'ignore', reason: 'no_reply' });
    expect(leases.map((l) => l.state)).toEqual(['released', 'declined']);
    expect(events.map((e) => e.event)).toEqual(['dhcp_release', 'dhcp_decline']);
  });

  it('answers INFORM with configuration but no address or lease time', () => {
    const { handler } = setup();
    const ack = replyOf(handler.handle(req(KNOWN, MessageType.INFORM, [], { ciaddr: '10.20.0.11' })));
    expect(ack.options.messageType).toBe(MessageType.ACK);
    expect(ack.yiaddr).toBe('0.0.0.0');
    expect(ack.options.has(OPT_LEASE_TIME)).toBe(false);
    expect(ack.options.ip(3)).toBe('10.20.0.1');
  });

  it('keeps giaddr and echoes option 82 on relayed requests; sets the broadcast bit on a relayed NAK', () => {
    const { handler } = setup();
    const relay: Array<[number, Buffer]> = [[OPT_RELAY_AGENT_INFO, Buffer.from([1, 3, 0x65, 0x74, 0x31])]];
    const offer = replyOf(handler.handle(req(KNOWN, MessageType.DISCOVER, relay, { giaddr: '10.20.0.1', hops: 1 })));
    expect(offer.giaddr).toBe('10.20.0.1');
    expect(offer.options.get(OPT_RELAY_AGENT_INFO)).toEqual(Buffer.from([1, 3, 0x65, 0x74, 0x31]));
    const nak = replyOf(handler.handle(req(KNOWN, MessageType.REQUEST, [...relay, [OPT_REQUESTED_IP, ipToBuffer('10.20.0.50')]], { giaddr: '10.20.0.1' })));
    expect(nak.flags & FLAG_BROADCAST).toBe(FLAG_BROADCAST);
  });

  it('does not answer a reservation whose address is on another network than the packet', () => {
    const { handler } = setup();
    expect(handler.handle(req('52:54:00:aa:00:03', MessageType.DISCOVER))).toEqual({ action: 'ignore', reason: 'wrong_network' });
    expect(handler.handle(req(KNOWN, MessageType.DISCOVER, [], { giaddr: '10.99.0.1' }))).toEqual({ action: 'ignore', reason: 'wrong_network' });
  });

  it('ignores replies, packets without option 53 and port-4011 traffic', () => {
    const { handler } = setup();
    const noType = req(KNOWN, MessageType.DISCOVER);
    noType.packet.options.delete(OPT_MESSAGE_TYPE);
    expect(handler.handle(noType)).toEqual({ action: 'ignore', reason: 'not_answered' });
    expect(handler.handle(req(KNOWN, MessageType.DISCOVER, [], {}, 'pxe'))).toEqual({ action: 'ignore', reason: 'not_answered' });
    const reply = req(KNOWN, MessageType.OFFER);
    reply.packet.op = 2;
    expect(handler.handle(reply)).toEqual({ action: 'ignore', reason: 'not_answered' });
  });
});

describe('proxyDHCP handler', () => {
  it('answers a PXE DISCOVER with boot information, PXEClient and option 43 but no address', () => {
    const { handler, events } = setup('proxy');
    const offer = replyOf(handler.handle(req(KNOWN, MessageType.DISCOVER, [...pxeBios, [OPT_CLIENT_GUID, guid]])));
    expect(offer.options.messageType).toBe(MessageType.OFFER);
    expect(offer.yiaddr).toBe('0.0.0.0');
    expect(offer.options.has(OPT_LEASE_TIME)).toBe(false);
    expect(offer.options.has(1)).toBe(false);
    expect(offer.options.vendorClassId).toBe('PXEClient');
    expect(offer.options.get(OPT_VENDOR_SPECIFIC)).toEqual(Buffer.from([6, 1, 8, 255]));
    expect(offer.options.clientGuid).toEqual(guid);
    expect(offer.file).toBe('undionly.kpxe');
    expect(events.map((e) => e.event)).toEqual(['pxe_seen']);
  });

  it('gives iPXE its script URL and still marks the offer PXEClient', () => {
    const { handler } = setup('proxy');
    const offer = replyOf(handler.handle(req(KNOWN, MessageType.DISCOVER, [...pxeBios, [OPT_USER_CLASS, Buffer.from('iPXE')]])));
    expect(offer.file).toBe(`http://10.20.0.2:8080/boot/ipxe?mac=${KNOWN}`);
    expect(offer.options.vendorClassId).toBe('PXEClient');
    // Harmless here (a proxy offer carries no address), kept so both modes answer iPXE alike.
    expect(offer.options.get(OPT_IPXE_ENCAP)).toEqual(Buffer.from([176, 1, 1]));
  });

  it('ACKs a boot server REQUEST on port 4011 and echoes ciaddr', () => {
    const { handler } = setup('proxy');
    const ack = replyOf(handler.handle(req(KNOWN, MessageType.REQUEST, pxeBios, { ciaddr: '10.20.0.150' }, 'pxe')));
    expect(ack.options.messageType).toBe(MessageType.ACK);
    expect(ack.ciaddr).toBe('10.20.0.150');
    expect(ack.yiaddr).toBe('0.0.0.0');
    expect(ack.file).toBe('undionly.kpxe');
  });

  it.each([
    ['a non-PXE DISCOVER', KNOWN, MessageType.DISCOVER, [], 'dhcp', 'not_answered'],
    ['a REQUEST on port 67', KNOWN, MessageType.REQUEST, pxeBios, 'dhcp', 'not_answered'],
    ['a NIC not marked for PXE', NO_PXE, MessageType.DISCOVER, pxeBios, 'dhcp', 'not_answered'],
    ['an unknown MAC', UNKNOWN, MessageType.DISCOVER, pxeBios, 'dhcp', 'unknown_mac'],
  ] as Array<[string, string, MessageType, Array<[number, Buffer]>, 'dhcp' | 'pxe', string]>)('ignores %s', (_n, mac, type, opts, via, reason) => {
    const { handler } = setup('proxy');
    expect(handler.handle(req(mac, type, opts, {}, via))).toEqual({ action: 'ignore', reason });
  });
});

describe('DHCP config', () => {
  it('fills defaults', () => {
    const c = resolveDhcpConfig(baseConfig);
    expect(c).toMatchObject({ port: 67, proxyPort: 4011, clientPort: 68, serverId: '10.20.0.2', nextServer: '10.20.0.2', bindAddress: '0.0.0.0', httpBaseUrl: 'http://10.20.0.2:8080' });
    expect(c.bootFiles).toEqual({ bios: 'undionly.kpxe', uefiX64: 'ipxe.efi', uefiArm64: 'snp.efi' });
    expect(c.subnets[0]!.network).toEqual({ base: 0x0a140000, prefixLength: 24, cidr: '10.20.0.0/24' });
  });

  it('names every bad key', () => {
    const bad = { ...baseConfig, mode: 'relay', listen: { address: '10.20.0' }, httpBaseUrl: 'nope', subnets: [{ site: '', network: '10.0.0.0/33', leaseSeconds: 5 }] } as unknown as DhcpConfig;
    expect(() => resolveDhcpConfig(bad)).toThrow(InputError);
    try {
      resolveDhcpConfig(bad);
    } catch (e) {
      const fields = ((e as InputError).details as Array<{ field: string }>).map((d) => d.field);
      expect(fields).toEqual(expect.arrayContaining(['boot.dhcp.mode', 'boot.dhcp.listen.address', 'boot.dhcp.httpBaseUrl', 'boot.dhcp.subnets[0].network', 'boot.dhcp.subnets[0].site', 'boot.dhcp.subnets[0].leaseSeconds']));
    }
  });
});
