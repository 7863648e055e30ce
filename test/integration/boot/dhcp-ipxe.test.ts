import { jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { createLan, netnsUnavailableReason, stopProcess, type Lan } from '../../support/netns.js';
import { startAnvilDhcp, tempDir, waitFor, type AnvilDhcpChild } from './dhcp-harness.js';
import { qemuTapNicArgs, QEMU_SYSTEM_X86_64 } from '../../../src/lab/qemu-machine.js';
import { qemuUnavailableReason } from '../../support/boot-qemu.js';
import { startRouterAdvertiser } from '../../support/ipv6-router.js';

/**
 * A real iPXE network boot ROM (Debian's ipxe-qemu `pxe-e1000.rom` in a QEMU VM whose tap is on the
 * test bridge) DHCPs from Anvil and must come back over HTTP for the script URL Anvil handed it.
 * The real ROM sends user class 77 as the bare bytes "iPXE". The script it gets chains a second
 * URL carrying `${net0/mac}`, which proves iPXE executed what it fetched.
 * TCG, not KVM: under this machine's nested KVM the ROM hangs at "starting execution".
 */
const reason = netnsUnavailableReason() ?? qemuUnavailableReason();
if (reason) console.warn(`skipping iPXE VM test: ${reason}`);
const d = reason ? describe.skip : describe;

const MAC = '52:54:00:dd:00:01';

const cases: Array<['authoritative' | 'proxy', string]> = [
  ['authoritative', 'Anvil hands out the address and the script URL'],
  ['proxy', 'dnsmasq hands out the address, Anvil (proxyDHCP) the script URL'],
];

d.each(cases)('a real iPXE ROM booting, %s mode (%s)', (mode) => {
  jest.setTimeout(120_000);
  let lan: Lan;
  let server: AnvilDhcpChild;
  let vm: ChildProcess | undefined;
  const dir = tempDir('dhcp-ipxe-it');
  const requests: string[] = [];

  beforeAll(async () => {
    lan = await createLan(`dhipxe${mode[0]}`, [{ name: 'srv', ip: '10.20.0.2/24' }, { name: 'dns', ip: '10.20.0.3/24' }]);
    await lan.addTap('tap0');
    await startRouterAdvertiser((cmd, args) => lan.spawn('srv', cmd, args), lan.ifname);
    if (mode === 'proxy') {
      lan.spawn('dns', 'dnsmasq', [
        '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=eth0', '--bind-interfaces',
        '--dhcp-range=10.20.0.100,10.20.0.110,255.255.255.0,1h', '--dhcp-authoritative', '--no-ping', '--leasefile-ro',
      ]);
    }
    server = await startAnvilDhcp(lan, 'srv', {
      config: {
        mode,
        listen: { interface: 'eth0', address: '10.20.0.2' },
        httpBaseUrl: 'http://10.20.0.2:8080',
        subnets: [{ site: 'MA-NOU1', network: '10.20.0.0/24' }],
      },
      reservations: [{ machineId: 'vm1', mac: MAC, hostname: 'vm1', siteCode: 'MA-NOU1', ipv4: '10.20.0.21', prefixLength: 24, gateway: '10.20.0.1', dnsServers: [], domain: null, leaseSeconds: 600, pxe: true }],
    }, dir.path);
    // Stand-in for the boot HTTP service: logs each request path; the script chains a second URL.
    const http = lan.spawn('srv', process.execPath, ['-e', `
      require('node:http').createServer((req, res) => {
        process.stdout.write(req.url + '\\n');
        res.setHeader('content-type', 'text/plain');
        res.end(req.url.startsWith('/boot/ipxe') ? '#!ipxe\\nchain http://10.20.0.2:8080/executed?mac=\${net0/mac}&ip=\${net0/ip}\\n' : '#!ipxe\\nexit\\n');
      }).listen(8080, '10.20.0.2', () => process.stdout.write('listening\\n'));`]);
    http.stdout!.on('data', (b: Buffer) => requests.push(...b.toString().split('\n').filter(Boolean)));
    await waitFor(() => (requests.includes('listening') ? true : null), 10_000, 'the HTTP stand-in');
  });

  afterAll(async () => {
    if (vm) await stopProcess(vm);
    await server?.stop();
    await lan?.destroy(); // also stops dnsmasq and the HTTP stand-in by PID
    dir.remove();
  });

  it('gets an address, fetches /boot/ipxe?mac=… from the URL Anvil gave it, and runs the script', async () => {
    vm = lan.spawn('hub', QEMU_SYSTEM_X86_64, [
      ...qemuTapNicArgs({ tap: 'tap0', mac: MAC, memoryMb: 128 }),
      '-display', 'none', '-net', 'none', '-no-reboot', '-boot', 'order=n',
    ]);
    let log = '';
    vm.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const url = await waitFor(() => requests.find((r) => r.startsWith('/boot/ipxe')) ?? null, 90_000, `iPXE to fetch its script (qemu: ${log})`);
    // iPXE percent-encodes the colons of the query it was given (`52%3A54%3A…`): the HTTP side
    // must decode the query (URLSearchParams does), not compare raw strings.
    expect(new URL(url, 'http://x').searchParams.get('mac')).toBe(MAC);
    const second = new URL(await waitFor(() => requests.find((r) => r.startsWith('/executed')) ?? null, 30_000, 'iPXE to run the script'), 'http://x');
    expect(second.searchParams.get('mac')).toBe(MAC);
    if (mode === 'authoritative') expect(second.searchParams.get('ip')).toBe('10.20.0.21');
    else expect(second.searchParams.get('ip')).toMatch(/^10\.20\.0\.1(0\d|10)$/);
    const stats = await server.stats();
    expect(stats.answered).toBeGreaterThanOrEqual(mode === 'authoritative' ? 2 : 1);
    expect(stats.naks).toBe(0);
  });
});

const OVMF = '/usr/share/qemu/OVMF.fd';
const EFI_ROM = '/usr/lib/ipxe/qemu/efi-e1000.rom';
const uefiReason = reason ?? (existsSync(OVMF) ? null : `${OVMF} is missing (package ovmf)`) ?? (existsSync(EFI_ROM) ? null : `${EFI_ROM} is missing`);
if (!reason && uefiReason) console.warn(`skipping UEFI PXE VM test: ${uefiReason}`);
const du = uefiReason ? describe.skip : describe;

/**
 * Real UEFI firmware (OVMF, i.e. EDK2's PxeBcDxe) network-booting from Anvil. The offer carries
 * option 60 "PXEClient"; without option 43 EDK2 would go on to next-server:4011 (BINL) instead
 * of loading the boot file. A stand-in on 69 and 4011 records which one the firmware uses.
 */
du('real UEFI firmware (OVMF) PXE booting from Anvil DHCP', () => {
  jest.setTimeout(150_000);
  const UEFI_MAC = '52:54:00:dd:00:02';
  let lan: Lan;
  let server: AnvilDhcpChild;
  const dir = tempDir('dhcp-uefi-it');
  const seen: string[] = [];

  beforeAll(async () => {
    lan = await createLan('dhuefi', [{ name: 'srv', ip: '10.20.0.2/24' }]);
    await lan.addTap('tap0');
    await startRouterAdvertiser((cmd, args) => lan.spawn('srv', cmd, args), lan.ifname);
    server = await startAnvilDhcp(lan, 'srv', {
      config: { mode: 'authoritative', listen: { interface: 'eth0', address: '10.20.0.2' }, httpBaseUrl: 'http://10.20.0.2:8080', subnets: [{ site: 'MA-NOU1', network: '10.20.0.0/24' }] },
      reservations: [{ machineId: 'vm2', mac: UEFI_MAC, hostname: 'vm2', siteCode: 'MA-NOU1', ipv4: '10.20.0.22', prefixLength: 24, gateway: null, dnsServers: [], domain: null, leaseSeconds: 600, pxe: true }],
    }, dir.path);
    const listener = lan.spawn('srv', process.execPath, ['-e', `
      const dgram = require('node:dgram');
      const tftp = dgram.createSocket('udp4');
      tftp.on('message', (m, r) => process.stdout.write('tftp ' + r.address + ' ' + m.readUInt16BE(0) + ' ' + m.subarray(2).toString('latin1').split('\\0')[0] + '\\n'));
      tftp.bind(69, '10.20.0.2');
      const binl = dgram.createSocket('udp4');
      binl.on('message', (m, r) => process.stdout.write('pxe4011 ' + r.address + '\\n'));
      binl.bind(4011, () => process.stdout.write('listening\\n'));`]);
    listener.stdout!.on('data', (b: Buffer) => seen.push(...b.toString().split('\n').filter(Boolean)));
    await waitFor(() => (seen.includes('listening') ? true : null), 10_000, 'the TFTP/4011 stand-in');
  });

  afterAll(async () => {
    await server?.stop();
    await lan?.destroy(); // stops QEMU and the stand-in by PID
    dir.remove();
  });

  it('takes the reserved address and asks next-server for ipxe.efi over TFTP, never port 4011', async () => {
    const vm = lan.spawn('hub', QEMU_SYSTEM_X86_64, [
      ...qemuTapNicArgs({ tap: 'tap0', mac: UEFI_MAC, rom: EFI_ROM }),
      '-bios', OVMF, '-display', 'none', '-net', 'none', '-no-reboot',
    ]);
    let log = '';
    vm.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const rrq = await waitFor(() => seen.find((l) => l.startsWith('tftp ')) ?? null, 120_000, `a TFTP read request (qemu: ${log})`);
    expect(rrq).toBe('tftp 10.20.0.22 1 ipxe.efi'); // opcode 1 = RRQ, from the reserved address
    expect(seen.filter((l) => l.startsWith('pxe4011'))).toEqual([]);
    expect((await server.stats()).naks).toBe(0);
  });
});
