import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { NotFoundError } from '../../errors.js';
import {
  ANSWER_FILES,
  networkModel,
  OsImageConfig,
  osModel,
  prefixToNetmask,
  TemplateStore,
  templateFor,
  type BootModel,
} from './templates.js';

/**
 * Golden files: each template rendered from one fixed model and compared as a whole. After an
 * intended template change, regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), '__golden__');
const store = new TemplateStore();

const IMAGES: Record<string, OsImageConfig> = {
  rocky9: OsImageConfig.parse({
    name: 'rocky-9', family: 'rhel',
    kernel_url: 'http://mirror.example.net/rocky/9/BaseOS/x86_64/os/images/pxeboot/vmlinuz',
    initrd_url: 'http://mirror.example.net/rocky/9/BaseOS/x86_64/os/images/pxeboot/initrd.img',
    repo_url: 'http://mirror.example.net/rocky/9/BaseOS/x86_64/os/',
    kernel_args: 'console=ttyS0,115200n8',
  }),
  debian12: OsImageConfig.parse({
    name: 'debian-12', family: 'debian',
    kernel_url: 'http://deb.example.net/debian/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64/linux',
    initrd_url: 'http://deb.example.net/debian/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64/initrd.gz',
    repo_url: 'http://deb.example.net/debian/',
  }),
  ubuntu2404: OsImageConfig.parse({
    name: 'ubuntu-24.04', family: 'ubuntu',
    kernel_url: 'http://mirror.example.net/ubuntu/24.04/casper/vmlinuz',
    initrd_url: 'http://mirror.example.net/ubuntu/24.04/casper/initrd',
    repo_url: 'http://mirror.example.net/ubuntu/24.04/ubuntu-24.04.1-live-server-amd64.iso',
  }),
  cloud: OsImageConfig.parse({
    name: 'ubuntu-24.04-cloud', family: 'cloud',
    kernel_url: 'http://mirror.example.net/cloud/noble/vmlinuz',
    initrd_url: 'http://mirror.example.net/cloud/noble/initrd',
    repo_url: 'http://mirror.example.net/cloud/noble/noble-server-cloudimg-amd64.img',
    kernel_args: 'root=live:http://mirror.example.net/cloud/noble/rootfs.squashfs',
  }),
};

const TOKEN = 'tok_0123456789abcdefghijklmnopqrstuvwxyzABCD';
const BASE = 'http://10.20.0.2:8080';

function model(image: OsImageConfig | null, overrides: Partial<BootModel> = {}): BootModel {
  return {
    baseUrl: BASE,
    machine: { id: 'm-0001', mac: '52:54:00:12:34:56' },
    deployment: image ? { id: 'd-0001', kind: 'install', hostname: 'web-01', fqdn: 'web-01.nou1.example.net' } : null,
    network: networkModel({ address: '10.20.0.31', prefix: 24, gateway: '10.20.0.1', dns: ['10.20.0.53', '10.20.0.54'], domain: 'nou1.example.net' }),
    os: image ? osModel(image) : null,
    urls: image
      ? { config: `${BASE}/boot/config/${TOKEN}/`, answerFile: `${BASE}/boot/config/${TOKEN}/${answerFileOf(image)}`, callback: `${BASE}/boot/callback/${TOKEN}` }
      : null,
    rootPasswordHash: '$6$abcdefgh12345678$hH3FjZZkD.RuGmIukoJ6X1/ojxI7Q6oXs70HmGNrON9WfqbLQ0xd/ksJZ6H.4WbnNfveboF8T745gOj/MOnsv.',
    sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example.net', "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 o'brien"],
    reason: null,
    ...overrides,
  };
}

function answerFileOf(image: OsImageConfig): string {
  return { rhel: 'ks.cfg', debian: 'preseed.cfg', ubuntu: '', cloud: '' }[image.family];
}

const CASES: Array<[string, string, BootModel]> = [
  ['ipxe/install.ipxe', 'install-rhel.ipxe', model(IMAGES.rocky9!)],
  ['ipxe/install.ipxe', 'install-debian.ipxe', model(IMAGES.debian12!)],
  ['ipxe/install.ipxe', 'install-ubuntu.ipxe', model(IMAGES.ubuntu2404!)],
  ['ipxe/install.ipxe', 'install-cloud.ipxe', model(IMAGES.cloud!)],
  ['ipxe/wipe.ipxe', 'wipe.ipxe', model(IMAGES.cloud!, { deployment: { id: 'd-0002', kind: 'wipe', hostname: 'web-01', fqdn: 'web-01' } })],
  ['ipxe/localboot.ipxe', 'localboot.ipxe', model(null)],
  ['ipxe/discover.ipxe', 'discover.ipxe', model(null, { reason: 'unknown MAC' })],
  ['ipxe/nothing.ipxe', 'nothing.ipxe', model(null, { reason: 'no deployment' })],
  ['kickstart/rhel9.ks', 'rhel9-static.ks', model(IMAGES.rocky9!)],
  ['kickstart/rhel9.ks', 'rhel9-dhcp-locked.ks', model(IMAGES.rocky9!, { network: networkModel({}), rootPasswordHash: null, sshKeys: ['ssh-ed25519 AAAA k1'] })],
  ['preseed/debian12.cfg', 'debian12.cfg', model(IMAGES.debian12!)],
  ['preseed/debian12.cfg', 'debian12-locked.cfg', model(IMAGES.debian12!, { rootPasswordHash: null, network: networkModel({ address: '10.0.0.9', prefix: 16 }) })],
  ['autoinstall/user-data', 'ubuntu-user-data.yaml', model(IMAGES.ubuntu2404!)],
  ['autoinstall/user-data', 'ubuntu-user-data-dhcp.yaml', model(IMAGES.ubuntu2404!, { network: networkModel({}), rootPasswordHash: null, sshKeys: [] })],
  ['autoinstall/meta-data', 'ubuntu-meta-data.yaml', model(IMAGES.ubuntu2404!)],
  ['cloud-init/user-data', 'cloud-user-data.yaml', model(IMAGES.cloud!)],
  ['cloud-init/meta-data', 'cloud-meta-data.yaml', model(IMAGES.cloud!)],
];

describe('pxe-templates golden files', () => {
  it.each(CASES)('%s renders as __golden__/%s', (template, golden, m) => {
    const out = store.render(template, m);
    const path = join(GOLDEN_DIR, golden);
    if (process.env.UPDATE_GOLDEN === '1') {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(path, out);
    }
    expect(out).toBe(readFileSync(path, 'utf8'));
  });

  it('every iPXE script starts with #!ipxe and never leaves a template tag behind', () => {
    for (const [template, , m] of CASES) {
      const out = store.render(template, m);
      if (template.startsWith('ipxe/')) expect(out.startsWith('#!ipxe\n')).toBe(true);
      expect(out).not.toContain('{{');
    }
  });

  it('YAML answer files parse, with the values where cloud-init/subiquity look for them', () => {
    const ud = parseYaml(store.render('autoinstall/user-data', model(IMAGES.ubuntu2404!)));
    expect(ud.autoinstall.version).toBe(1);
    expect(ud.autoinstall.network.ethernets.anvil0.match.macaddress).toBe('52:54:00:12:34:56');
    expect(ud.autoinstall.network.ethernets.anvil0.addresses).toEqual(['10.20.0.31/24']);
    expect(ud.autoinstall.network.ethernets.anvil0.nameservers.addresses).toEqual(['10.20.0.53', '10.20.0.54']);
    expect(ud.autoinstall['user-data'].users[0].ssh_authorized_keys[1]).toBe("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 o'brien");
    expect(ud.autoinstall['early-commands'][0]).toContain(`'${BASE}/boot/callback/${TOKEN}'`);
    const dhcp = parseYaml(store.render('autoinstall/user-data', model(IMAGES.ubuntu2404!, { network: networkModel({}), sshKeys: [] })));
    expect(dhcp.autoinstall.network.ethernets.anvil0.dhcp4).toBe(true);
    const cloud = parseYaml(store.render('cloud-init/user-data', model(IMAGES.cloud!)));
    expect(cloud.fqdn).toBe('web-01.nou1.example.net');
    expect(cloud.users[0].hashed_passwd).toMatch(/^\$6\$/);
    expect(parseYaml(store.render('cloud-init/meta-data', model(IMAGES.cloud!)))).toEqual({ 'instance-id': 'd-0001', 'local-hostname': 'web-01' });
  });

  it('a hostile SSH key comment stays inside its quotes in every answer file', () => {
    const evil = 'ssh-ed25519 AAAA x"; touch /pwned; echo "\'$(id)`id`';
    const m = model(IMAGES.ubuntu2404!, { sshKeys: [evil] });
    expect(parseYaml(store.render('autoinstall/user-data', m)).autoinstall['user-data'].users[0].ssh_authorized_keys).toEqual([evil]);
    const ks = store.render('kickstart/rhel9.ks', model(IMAGES.rocky9!, { sshKeys: [evil] }));
    expect(ks).toContain(`sshkey --username=root 'ssh-ed25519 AAAA x"; touch /pwned; echo "'\\''$(id)\`id\`'`);
    expect(() => store.render('kickstart/rhel9.ks', model(IMAGES.rocky9!, { sshKeys: ['k\n%post\nrm -rf /\n%end'] }))).toThrow(
      /pxe-templates\/kickstart\/rhel9.ks:\d+: "this": contains a newline/,
    );
  });
});

describe('OS image catalog', () => {
  it('picks the answer-file template per family and file', () => {
    expect(templateFor(IMAGES.rocky9!, 'ks.cfg')).toBe('kickstart/rhel9.ks');
    expect(templateFor(IMAGES.debian12!, 'preseed.cfg')).toBe('preseed/debian12.cfg');
    expect(templateFor(IMAGES.ubuntu2404!, 'meta-data')).toBe('autoinstall/meta-data');
    expect(templateFor({ ...IMAGES.cloud!, template: 'cloud-init/custom' }, 'user-data')).toBe('cloud-init/custom');
    expect(() => templateFor(IMAGES.rocky9!, 'user-data')).toThrow(NotFoundError);
    expect(ANSWER_FILES).toContain('vendor-data');
  });

  it('validates catalog entries, naming the field', () => {
    const bad = OsImageConfig.safeParse({ name: 'X Y', family: 'windows', kernel_url: 'ftp://x/k', initrd_url: 'http://x/i', repo_url: 'http://x/r', kernel_args: 'a ${x}' });
    expect(bad.success).toBe(false);
    const fields = bad.error!.issues.map((i) => i.path.join('.')).sort();
    expect(fields).toEqual(['family', 'kernel_args', 'kernel_url', 'name']);
    expect(OsImageConfig.safeParse({ ...IMAGES.rocky9!, template: '../../etc/passwd' }).success).toBe(false);
  });

  it('refuses template names that leave pxe-templates', () => {
    expect(() => store.get('../package.json')).toThrow(/not valid/);
    expect(() => store.get('kickstart/..')).toThrow();
    expect(() => store.get('kickstart/none.ks')).toThrow(NotFoundError);
  });

  it('compiles every shipped template', () => {
    expect(() => store.preload(Object.values(IMAGES))).not.toThrow();
  });

  it('spells out netmasks', () => {
    expect([0, 8, 16, 23, 24, 31, 32].map(prefixToNetmask)).toEqual(['0.0.0.0', '255.0.0.0', '255.255.0.0', '255.255.254.0', '255.255.255.0', '255.255.255.254', '255.255.255.255']);
  });
});
