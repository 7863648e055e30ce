import { jest } from '@jest/globals';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { DhcpConfig } from '../../../src/boot/dhcp/config.js';
import type { Reservation } from '../../../src/boot/lookup.js';
import { createLan, netnsUnavailableReason, type Lan } from '../../support/netns.js';
import { tsNodeArgs } from '../../support/ts-child.js';
import { startAnvilDhcp, tempDir, udhcpcScript, waitFor, type AnvilDhcpChild } from './dhcp-harness.js';

/**
 * proxyDHCP: dnsmasq (in its own namespace) is the network's existing DHCP server; Anvil in proxy
 * mode adds boot information only. A scripted PXE client checks the proxy offer on 67 and the
 * boot-server ACK on 4011; a real udhcpc checks that Anvil hands out no address.
 */
const skip = netnsUnavailableReason();
if (skip) console.warn(`skipping proxyDHCP namespace tests: ${skip}`);
const d = skip ? describe.skip : describe;

const PXE = '52:54:00:bb:00:01';
const PLAIN = '52:54:00:bb:00:02';
const UNKNOWN = '52:54:00:ee:ee:02';

function reservation(mac: string, ipv4: string): Reservation {
  return { machineId: `m-${mac}`, mac, hostname: 'h', siteCode: 'MA-NOU1', ipv4, prefixLength: 24, gateway: null, dnsServers: [], domain: null, leaseSeconds: 3600, pxe: true };
}

interface Seen { from: string; type: string; yiaddr: string; siaddr: string; ciaddr: string; file: string; vendorClass: string | null; option43: string | null; guidEchoed: boolean }

d('Anvil proxyDHCP next to dnsmasq', () => {
  jest.setTimeout(60_000);
  let lan: Lan;
  let server: AnvilDhcpChild;
  let dnsmasq: ChildProcess;
  let dnsmasqLog = '';
  const dir = tempDir('dhcp-proxy-it');

  beforeAll(async () => {
    lan = await createLan('dhproxy', [
      { name: 'srv', ip: '10.20.0.2/24' },
      { name: 'dns', ip: '10.20.0.3/24' },
      { name: 'pxe', mac: PXE, ip: '10.20.0.120/24', gateway: '10.20.0.1' },
      { name: 'plain', mac: PLAIN },
      { name: 'unk', mac: UNKNOWN, ip: '10.20.0.121/24', gateway: '10.20.0.1' },
    ]);
    dnsmasq = lan.spawn('dns', 'dnsmasq', [
      '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=eth0', '--bind-interfaces',
      '--dhcp-range=10.20.0.100,10.20.0.110,255.255.255.0,1h', '--dhcp-authoritative',
      // dnsmasq pings an address before offering it, which outlasts udhcpc's 1 s retry pace.
      '--no-ping',
      `--dhcp-leasefile=${join(dir.path, 'dnsmasq.leases')}`, `--pid-file=${join(dir.path, 'dnsmasq.pid')}`, '--log-facility=-', '--log-dhcp',
    ]);
    dnsmasq.stdout!.on('data', (b: Buffer) => (dnsmasqLog += b.toString()));
    dnsmasq.stderr!.on('data', (b: Buffer) => (dnsmasqLog += b.toString()));
    const config: DhcpConfig = {
      mode: 'proxy',
      listen: { interface: 'eth0', address: '10.20.0.2' },
      httpBaseUrl: 'http://10.20.0.2:8080',
      subnets: [{ site: 'MA-NOU1', network: '10.20.0.0/24' }],
    };
    // The proxy reservation addresses are irrelevant (no address is handed out) but must be on the network.
    server = await startAnvilDhcp(lan, 'srv', { config, reservations: [reservation(PXE, '10.20.0.50'), reservation(PLAIN, '10.20.0.51')] }, dir.path);
  });

  afterAll(async () => {
    if (process.env.DHCP_TEST_DEBUG) console.log(dnsmasqLog);
    await server?.stop();
    await lan?.destroy(); // also stops dnsmasq by PID
    dir.remove();
  });

  async function pxeClient(member: string, mac: string, extra: Record<string, unknown>): Promise<{ offers: Seen[]; acks: Seen[] }> {
    const r = await lan.exec(member, process.execPath, tsNodeArgs('test/integration/boot/dhcp-pxe-client-child.ts', [JSON.stringify({ mac, wait_ms: 1500, ...extra })]), { timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`PXE client failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { offers: Seen[]; acks: Seen[] };
  }

  it('answers a PXE DISCOVER with a proxy offer (no address, PXEClient, option 43, GUID echoed) and the 4011 REQUEST with an ACK', async () => {
    const { offers, acks } = await pxeClient('pxe', PXE, { arch: 7, ciaddr: '10.20.0.120', bootServer: '10.20.0.2' });
    const proxy = offers.filter((o) => o.from === '10.20.0.2');
    expect(proxy).toEqual([{ from: '10.20.0.2', type: 'OFFER', yiaddr: '0.0.0.0', siaddr: '10.20.0.2', ciaddr: '0.0.0.0', file: 'ipxe.efi', vendorClass: 'PXEClient', option43: '060108ff', guidEchoed: true, serverId: '10.20.0.2' }]);
    expect(acks).toEqual([expect.objectContaining({ from: '10.20.0.2', type: 'ACK', yiaddr: '0.0.0.0', ciaddr: '10.20.0.120', file: 'ipxe.efi', vendorClass: 'PXEClient' })]);
  });

  it('gives iPXE its script URL through the proxy', async () => {
    const { offers } = await pxeClient('pxe', PXE, { arch: 0, userClass: 'iPXE', ciaddr: '10.20.0.120' });
    expect(offers.find((o) => o.from === '10.20.0.2')).toMatchObject({ file: `http://10.20.0.2:8080/boot/ipxe?mac=${PXE}`, vendorClass: 'PXEClient' });
  });

  it('ignores an unknown MAC', async () => {
    const before = await server.stats();
    const { offers } = await pxeClient('unk', UNKNOWN, { arch: 0, ciaddr: '10.20.0.121' });
    expect(offers.filter((o) => o.from === '10.20.0.2')).toEqual([]);
    expect((await server.stats()).ignored_unknown).toBe(before.ignored_unknown + 1);
  });

  it('leaves address assignment to the existing server: udhcpc gets its lease from dnsmasq', async () => {
    const s = udhcpcScript(dir.path, 'plain');
    const r = await lan.exec('plain', 'udhcpc', ['-i', lan.ifname, '-f', '-q', '-n', '-t', '3', '-T', '1', '-A', '1', '-s', s.script], { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    const env = await waitFor(() => s.read(), 2000, 'udhcpc env');
    expect(env.serverid).toBe('10.20.0.3');
    expect(env.ip).toMatch(/^10\.20\.0\.1(0\d|10)$/);
    // udhcpc is no PXE client: the proxy saw its DISCOVER and stayed silent. The proxy may count it
    // after dnsmasq's lease has reached udhcpc, hence the wait.
    const stats = await waitFor(async () => {
      const s = await server.stats();
      return s.ignored_other >= 1 ? s : null;
    }, 5000, 'the proxy to count the DISCOVER it ignored');
    expect(stats.answered).toBeGreaterThanOrEqual(3);
  });
});
