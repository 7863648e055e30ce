import type { Knex } from 'knex';
import { pino } from 'pino';
import { InputError } from '../errors.js';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { RootDirectory } from './tftp/index.js';
import { bootFileFinder, chainScript, createBootService, interfaceAddress, parseBootConfig, warnUnservedBootFiles } from './service.js';

const minimal = { interface: 'eth1', subnets: [{ site: 'MA-NOU1', network: '10.20.0.0/24' }] };

describe('boot configuration', () => {
  it('is off when the boot: section is absent', async () => {
    expect(parseBootConfig(undefined)).toBeNull();
    const service = createBootService({ config: {}, knex: {} as Knex, logger: pino({ level: 'silent' }) });
    expect(service.enabled).toBe(false);
    await service.start();
    expect(service.http).toBeNull();
    expect(service.dhcp).toBeNull();
    expect(service.tftp).toBeNull();
  });

  it('fills defaults: HTTP on 8080, no DHCP, no TFTP, no discovery', () => {
    const c = parseBootConfig(minimal)!;
    expect(c.http).toEqual({ port: 8080, token_ttl_seconds: 21600 });
    expect(c.dhcp).toBeUndefined();
    expect(c.tftp).toBeUndefined();
    expect(c.discovery).toBe(false);
    expect(c.os_images).toEqual([]);
  });

  it('requires the interface and names every bad key', () => {
    let err: unknown;
    try {
      parseBootConfig({
        subnets: [{ site: 'x', network: '10.0.0.0/33' }],
        dhcp: { mode: 'rogue' },
        os_images: [
          { name: 'a', family: 'rhel', kernel_url: 'http://m/k', initrd_url: 'http://m/i', repo_url: 'http://m/r' },
          { name: 'a', family: 'rhel', kernel_url: 'http://m/k', initrd_url: 'http://m/i', repo_url: 'http://m/r' },
        ],
        extra: 1,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const fields = ((err as InputError).details as Array<{ field: string }>).map((d) => d.field).sort();
    expect(fields).toEqual(['boot.dhcp.mode', 'boot.extra', 'boot.interface', 'boot.os_images.1.name', 'boot.subnets.0.network']);
  });

  it('refuses subnets of one site that overlap, naming the later one; sites may share a network', () => {
    const subnets = [{ site: 'MA-NOU1', network: '10.20.0.0/24' }, { site: 'MA-NOU1', network: '10.30.0.0/24' }, { site: 'MA-NOU1', network: '10.20.0.0/16' }];
    expect(() => parseBootConfig({ ...minimal, subnets })).toThrow('invalid boot configuration: boot.subnets.2.network: overlaps subnets.0 (10.20.0.0/24)');
    expect(parseBootConfig({ ...minimal, subnets: subnets.slice(0, 2) })!.subnets).toHaveLength(2);
    expect(parseBootConfig({ ...minimal, subnets: [subnets[0], { site: 'CA-MTL1', network: '10.20.0.0/16' }] })!.subnets).toHaveLength(2);
  });

  it('finds the address of the named interface only', () => {
    const ifaces = {
      eth0: [{ address: '192.0.2.5', netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:01', internal: false, cidr: '192.0.2.5/24' }],
      eth1: [
        { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:02', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
        { address: '10.20.0.2', netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:02', internal: false, cidr: '10.20.0.2/24' },
      ],
    } as unknown as Parameters<typeof interfaceAddress>[2];
    expect(interfaceAddress('eth1', undefined, ifaces)).toEqual({ address: '10.20.0.2', cidr: '10.20.0.2/24' });
    expect(() => interfaceAddress('eth1', '192.0.2.5', ifaces)).toThrow('boot.address: 192.0.2.5 is not an address of eth1');
    expect(() => interfaceAddress('eth9', undefined, ifaces)).toThrow(/no running interface named "eth9"/);
  });
});

describe('TFTP chain script', () => {
  it('chains to the HTTP script with the MAC when the client is known, else lets iPXE fill it in', () => {
    expect(chainScript('http://10.20.0.2:8080', '52:54:00:00:00:01')).toBe(
      '#!ipxe\n# Anvil: continue over HTTP\n:retry\nchain --autofree http://10.20.0.2:8080/boot/ipxe?mac=52:54:00:00:00:01 || goto failed\nexit\n:failed\necho Anvil: could not fetch the boot script, retrying in 5 s\nsleep 5\ngoto retry\n',
    );
    expect(chainScript('http://10.20.0.2:8080', null)).toContain('/boot/ipxe?mac=${netX/mac} || goto failed');
  });
});

describe('boot files DHCP offers', () => {
  const files = { bios: 'undionly.kpxe', uefiX64: 'ipxe.efi', uefiArm64: 'snp.efi' };
  const warnings = () => {
    const seen: { obj: Record<string, unknown>; msg: string }[] = [];
    const log = { warn: (obj: Record<string, unknown>, msg: string) => seen.push({ obj, msg }) } as unknown as Logger;
    return { seen, log };
  };

  it('are found in the TFTP root first, then among the iPXE binaries, never outside them', async () => {
    const root = mkdtempSync(join(tmpdir(), 'anvil-bootfiles-'));
    try {
      writeFileSync(join(root, 'snp.efi'), 'arm64');
      // TFTP refuses a link out of its root; the same file is not served over HTTP either.
      symlinkSync('/etc/hostname', join(root, 'out.efi'));
      const find = bootFileFinder(await RootDirectory.open(root), '/usr/lib/ipxe');
      expect(find('out.efi')).toBeNull();
      expect(find('snp.efi')).toBe(join(root, 'snp.efi'));
      expect(find('undionly.kpxe')).toBe('/usr/lib/ipxe/undionly.kpxe');
      expect(find('../secret')).toBeNull();
      expect(bootFileFinder(null, null)('undionly.kpxe')).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('are warned about at start when nothing here serves them', () => {
    const off = warnings();
    warnUnservedBootFiles(off.log, files, { tftp: false, nextServer: null, find: () => '/x' });
    expect(off.seen).toHaveLength(1);
    expect(off.seen[0]!.msg).toMatch(/boot\.tftp is off here/);

    const missing = warnings();
    warnUnservedBootFiles(missing.log, files, { tftp: true, nextServer: null, find: (n) => (n === 'snp.efi' ? null : `/x/${n}`) });
    expect(missing.seen).toEqual([{ obj: { missing: { uefiArm64: 'snp.efi' } }, msg: expect.stringMatching(/cannot network-boot/) }]);

    const fine = warnings();
    warnUnservedBootFiles(fine.log, files, { tftp: true, nextServer: null, find: (n) => `/x/${n}` });
    warnUnservedBootFiles(fine.log, files, { tftp: false, nextServer: '10.20.0.9', find: () => null });
    expect(fine.seen).toEqual([]);
  });
});
