import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createBootService, type BootService } from '../../../src/boot/service.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';

const run = promisify(execFile);

/**
 * The assembled boot role on loopback (no DHCP here: port 67 on the host is off limits; the QEMU
 * test runs DHCP inside a namespace): HTTP boot and TFTP with its generated chain script, the
 * inventory read from the database.
 */
describe.each(testDatabases())('boot role on loopback on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  let service: BootService;
  let dir = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-boot-svc-'));
    const now = new Date().toISOString();
    await t.knex('sites').insert({ id: 's1', code: 'LO', name: 'Loopback', country: 'MA', city: 'Nouacer', timezone: 'UTC', created_at: now, updated_at: now });
    await t.knex('machines').insert({ id: 'm1', serial: 'LO-1', hardware_profile: 'p', site_id: 's1', created_at: now, updated_at: now });
    await t.knex('nics').insert({ id: 'n1', machine_id: 'm1', mac: '52:54:00:10:00:01', name: 'eno1', pxe: true, ipv4_address: '127.0.0.1', created_at: now, updated_at: now });
    service = createBootService({
      config: {
        dataDir: dir,
        boot: {
          interface: 'lo',
          subnets: [{ site: 'LO', network: '127.0.0.0/8', domain: 'lo.test' }],
          http: { port: 0 },
          tftp: { port: 0 },
          os_images: [{ name: 'rocky-9', family: 'rhel', kernel_url: 'http://m.test/k', initrd_url: 'http://m.test/i', repo_url: 'http://m.test/r/' }],
        },
      },
      knex: t.knex,
      logger: pino({ level: 'silent' }),
    });
    await service.start();
  });

  afterAll(async () => {
    await service?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('binds HTTP and TFTP to the named interface\'s address only', () => {
    expect(service.http!.address()!.address).toBe('127.0.0.1');
    expect(service.tftp!.address().address).toBe('127.0.0.1');
    expect(service.dhcp).toBeNull();
    expect(service.baseUrl).toBe(`http://127.0.0.1:${service.http!.address()!.port}`);
  });

  it('TFTP serves boot.ipxe chaining to the HTTP script for the client\'s MAC', async () => {
    const { stdout } = await run('curl', ['-sS', '--max-time', '10', `tftp://127.0.0.1:${service.tftp!.address().port}/boot.ipxe`]);
    expect(stdout).toContain(`chain --autofree ${service.baseUrl}/boot/ipxe?mac=52:54:00:10:00:01 || goto failed`);
  });

  it('serves the UEFI boot files DHCP offers to HTTP-boot firmware, and nothing else', async () => {
    const efi = await fetch(`${service.baseUrl}/ipxe/ipxe.efi`);
    expect(efi.status).toBe(200);
    expect(efi.headers.get('content-type')).toBe('application/efi');
    expect(Buffer.from(await efi.arrayBuffer()).equals(readFileSync('/usr/lib/ipxe/ipxe.efi'))).toBe(true);
    // The BIOS file is TFTP's business; other names, and paths out of the directory, are not served.
    for (const path of ['/ipxe/undionly.kpxe', '/ipxe/secret.key', '/ipxe/..%2F..%2Fetc%2Fpasswd']) {
      expect({ path, status: (await fetch(`${service.baseUrl}${path}`)).status }).toEqual({ path, status: 404 });
    }
  });

  it('serves the install script for a deployment created through the service, and records the TFTP and HTTP events', async () => {
    await service.deployments.createDeployment('m1', { kind: 'install', os_image: 'rocky-9', hostname: 'lo-01' });
    await expect(service.deployments.createDeployment('m1', { kind: 'install', os_image: 'nope', hostname: 'x' })).rejects.toMatchObject({ status: 400 });
    const res = await fetch(`${service.baseUrl}/boot/ipxe?mac=52:54:00:10:00:01`);
    const body = await res.text();
    expect(body).toContain('kernel --name vmlinuz http://m.test/k || goto retry');
    const token = /\/boot\/config\/([A-Za-z0-9_-]{43})\/ks\.cfg/.exec(body)![1]!;
    const ks = await (await fetch(`${service.baseUrl}/boot/config/${token}/ks.cfg`)).text();
    expect(ks).toContain('--hostname=lo-01.lo.test');
    await service.stop();
    const events = (await t.knex('machine_events').where({ machine_id: 'm1' }).orderBy('id').pluck('event')) as string[];
    expect(events).toEqual(['tftp_served', 'script_served', 'config_fetched']);
  });

  it('stopped by its signal and then by its role, has written every boot event when the second stop returns', async () => {
    // What serve does: the abort stops the services, the role's finally stops them again, and then
    // the database closes. The second stop must wait for the first one's event flush.
    const served = async () => Number((await t.knex('machine_events').where({ machine_id: 'm1', event: 'script_served' }).count({ n: '*' }).first())!.n);
    const before = await served();
    const second = createBootService({
      config: { dataDir: dir, boot: { interface: 'lo', subnets: [{ site: 'LO', network: '127.0.0.0/8' }], http: { port: 0 } } },
      knex: t.knex,
      logger: pino({ level: 'silent' }),
    });
    const abort = new AbortController();
    await second.start(abort.signal);
    for (let i = 0; i < 3; i++) expect((await fetch(`${second.baseUrl}/boot/ipxe?mac=52:54:00:10:00:01`)).status).toBe(200);
    abort.abort();
    await second.stop();
    expect(await served()).toBe(before + 3);
  });
});
