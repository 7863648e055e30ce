import { createSocket, type Socket } from 'node:dgram';
import { DhcpServer } from '../../../src/boot/dhcp/server.js';
import { InMemoryBootLookup } from '../../../src/boot/lookup.js';
import { DhcpOptions, MessageType, OPT_MESSAGE_TYPE } from '../../../src/boot/dhcp/options.js';
import { BOOTREQUEST, decodePacket, encodePacket, macToChaddr, newPacket, type DhcpPacket } from '../../../src/boot/dhcp/packet.js';
import type { DhcpConfig } from '../../../src/boot/dhcp/config.js';

/**
 * The server's socket handling, in-process on loopback. Only paths that answer by unicast are
 * exercised here (a broadcast would leave loopback); broadcast and relay paths run in the
 * namespace tests (dhcp.test.ts, dhcp-relay.test.ts).
 */
const MAC = '52:54:00:cc:00:01';

describe('DHCP server sockets on loopback', () => {
  let client: Socket;
  let clientPort: number;
  let server: DhcpServer;
  const replies: DhcpPacket[] = [];

  beforeAll(async () => {
    client = createSocket('udp4');
    client.on('message', (m) => replies.push(decodePacket(m)));
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    clientPort = client.address().port;
    const config: DhcpConfig = {
      mode: 'authoritative',
      listen: { address: '127.0.0.1', bindAddress: '127.0.0.1', port: 0, clientPort },
      httpBaseUrl: 'http://127.0.0.1:8080',
      subnets: [{ site: 'LO', network: '127.0.0.0/8' }],
    };
    const lookup = new InMemoryBootLookup([{ machineId: 'm1', mac: MAC, hostname: 'lo1', siteCode: 'LO', ipv4: '127.0.0.1', prefixLength: 8, gateway: null, dnsServers: [], domain: null, leaseSeconds: 600, pxe: false }]);
    server = new DhcpServer(config, { lookup });
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
    client.close();
  });

  function send(buf: Buffer): Promise<void> {
    return new Promise((resolve, reject) => client.send(buf, server.ports()[0]!, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  function request(type: MessageType, mac: string, fields: Partial<DhcpPacket> = {}): Buffer {
    return encodePacket(newPacket({ op: BOOTREQUEST, xid: Math.floor(Math.random() * 1e9), chaddr: macToChaddr(mac), options: DhcpOptions.from([[OPT_MESSAGE_TYPE, Buffer.from([type])]]), ...fields }));
  }

  async function until(pred: () => boolean): Promise<void> {
    // Loopback delivery takes microseconds; 3 s only guards against a hung test.
    const deadline = Date.now() + 3000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error('condition not met in 3 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('answers a RENEWING request by unicast to ciaddr and counts it', async () => {
    await send(request(MessageType.REQUEST, MAC, { ciaddr: '127.0.0.1' }));
    await until(() => replies.length === 1);
    expect(replies[0]!.options.messageType).toBe(MessageType.ACK);
    expect(replies[0]!.yiaddr).toBe('127.0.0.1');
    expect(server.stats()).toMatchObject({ received: 1, answered: 1 });
  });

  it('counts and drops malformed datagrams and unknown MACs without answering, then still answers', async () => {
    await send(Buffer.alloc(20));
    await send(Buffer.from('definitely not DHCP but long enough to pass the first length check?'.repeat(5)));
    await send(request(MessageType.INFORM, '52:54:00:cc:00:99', { ciaddr: '127.0.0.1' }));
    await until(() => server.stats().received === 4);
    expect(server.stats()).toMatchObject({ dropped_malformed: 2, ignored_unknown: 1, answered: 1 });
    await send(request(MessageType.INFORM, MAC, { ciaddr: '127.0.0.1' }));
    await until(() => replies.length === 2);
    expect(replies[1]!.options.messageType).toBe(MessageType.ACK);
    expect(replies[1]!.yiaddr).toBe('0.0.0.0');
  });

  it('refuses to start on a port another server holds', async () => {
    const second = new DhcpServer(
      { mode: 'authoritative', listen: { address: '127.0.0.1', bindAddress: '127.0.0.1', port: server.ports()[0]! }, httpBaseUrl: 'http://x', subnets: [] },
      { lookup: new InMemoryBootLookup() },
    );
    await expect(second.start()).rejects.toThrow(/EADDRINUSE/);
  });

  it('refuses a listen interface that does not hold the listen address', async () => {
    const bad = new DhcpServer(
      { mode: 'authoritative', listen: { interface: 'lo', address: '10.255.255.254', bindAddress: '127.0.0.1', port: 0 }, httpBaseUrl: 'http://x', subnets: [] },
      { lookup: new InMemoryBootLookup() },
    );
    await expect(bad.start()).rejects.toThrow(/not an address of interface "lo"/);
  });

  it('settles `closed` when stopped', async () => {
    const s = new DhcpServer({ mode: 'proxy', listen: { address: '127.0.0.1', bindAddress: '127.0.0.1', port: 0, proxyPort: 0 }, httpBaseUrl: 'http://x', subnets: [] }, { lookup: new InMemoryBootLookup() });
    await s.start();
    expect(s.ports()).toHaveLength(2);
    await s.stop();
    await expect(s.closed).resolves.toBeUndefined();
  });
});
