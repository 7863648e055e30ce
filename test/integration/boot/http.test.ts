import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { ManualClock } from '../../../src/clock.js';
import { DeploymentService } from '../../../src/boot/deployments.js';
import { DbBootEventSink, InMemoryBootLookup, type Reservation } from '../../../src/boot/lookup.js';
import { createBootHttpServer, type BootHttpServer } from '../../../src/boot/http/server.js';
import { OsImageConfig, TemplateStore } from '../../../src/boot/http/templates.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';

const IMAGES = new Map(
  [
    { name: 'rocky-9', family: 'rhel', kernel_url: 'http://mirror.test/rocky/vmlinuz', initrd_url: 'http://mirror.test/rocky/initrd.img', repo_url: 'http://mirror.test/rocky/9/BaseOS/x86_64/os/' },
    { name: 'debian-12', family: 'debian', kernel_url: 'http://mirror.test/debian/linux', initrd_url: 'http://mirror.test/debian/initrd.gz', repo_url: 'http://mirror.test/debian/' },
    { name: 'ubuntu-24.04', family: 'ubuntu', kernel_url: 'http://mirror.test/ubuntu/vmlinuz', initrd_url: 'http://mirror.test/ubuntu/initrd', repo_url: 'http://mirror.test/ubuntu/live.iso' },
    { name: 'noble-cloud', family: 'cloud', kernel_url: 'http://mirror.test/cloud/vmlinuz', initrd_url: 'http://mirror.test/cloud/initrd', repo_url: 'http://mirror.test/cloud/image.img' },
    { name: 'wiper', family: 'cloud', kernel_url: 'http://mirror.test/wipe/vmlinuz', initrd_url: 'http://mirror.test/wipe/initrd', repo_url: 'http://mirror.test/wipe/' },
  ].map((i) => [i.name, OsImageConfig.parse(i)] as const),
);

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example.net';

function reservation(n: number, over: Partial<Reservation> = {}): Reservation {
  return {
    machineId: `m${n}`, mac: `52:54:00:00:00:0${n}`, hostname: `srv-${n}`, siteCode: 'MA-NOU1', ipv4: `10.20.0.${10 + n}`, prefixLength: 24,
    gateway: '10.20.0.1', dnsServers: ['10.20.0.53'], domain: 'nou1.example.net', leaseSeconds: 3600, pxe: true, ...over,
  };
}

describe.each(testDatabases())('boot HTTP service on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const clock = new ManualClock('2026-11-26T12:00:00.000Z');
  const logLines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logLines.push(s) });
  let lookup: InMemoryBootLookup;
  let events: DbBootEventSink;
  let deployments: DeploymentService;
  let server: BootHttpServer;
  let base = '';

  beforeAll(async () => {
    const now = clock.now().toISOString();
    await t.knex('sites').insert({ id: 's1', code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', created_at: now, updated_at: now });
    for (const n of [1, 2, 3, 4, 5, 6, 7]) {
      await t.knex('machines').insert({ id: `m${n}`, serial: `SER${n}`, hardware_profile: 'p1', site_id: 's1', created_at: now, updated_at: now });
      await t.knex('nics').insert({ id: `n${n}`, machine_id: `m${n}`, mac: `52:54:00:00:00:0${n}`, name: 'eno1', pxe: true, ipv4_address: `10.20.0.${10 + n}`, ipv4_prefix: 24, created_at: now, updated_at: now });
    }
    lookup = new InMemoryBootLookup([1, 2, 3, 4, 5, 6, 7].map((n) => reservation(n, n === 7 ? { pxe: false } : {})));
    events = new DbBootEventSink(t.knex, { flushMs: 10 });
    deployments = new DeploymentService(t.knex, { clock, knownImages: () => IMAGES.keys() });
    server = createBootHttpServer(
      { host: '127.0.0.1', port: 0 },
      { deployments, lookup, events, templates: new TemplateStore(), images: IMAGES, baseUrl: 'http://10.20.0.2:8080', logger, knex: t.knex },
    );
    const addr: AddressInfo = await server.start();
    base = `http://127.0.0.1:${addr.port}`;
  });

  // Boot events are written in the background: write each test's before the next test (and before
  // useTestDatabase's afterAll, which runs first, destroys the database).
  afterEach(async () => {
    await events?.flush();
  });

  afterAll(async () => {
    await server?.stop();
    await events?.close();
  });

  const script = async (mac: string) => {
    const res = await fetch(`${base}/boot/ipxe?mac=${encodeURIComponent(mac)}`);
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const j = async (r: Response): Promise<any> => r.json();
  const tokenOf = (body: string) => /\/boot\/(?:config|callback)\/([A-Za-z0-9_-]{43})/.exec(body)?.[1] ?? '';
  const callback = (token: string, body: unknown, form = false) =>
    fetch(`${base}/boot/callback/${token}`, {
      method: 'POST',
      headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
      body: form ? String(body) : JSON.stringify(body),
    });
  const machineEvents = async (machineId: string) => {
    await events.flush();
    return (await t.knex('machine_events').where({ machine_id: machineId }).orderBy('id')).map((r: { event: string; detail: string }) => ({ event: r.event, detail: JSON.parse(r.detail ?? 'null') }));
  };

  it('serves an install script with kernel, initrd and the answer-file URL, and records script_served', async () => {
    await deployments.createDeployment('m1', { kind: 'install', os_image: 'rocky-9', hostname: 'web-01', ssh_keys: [KEY], root_password: 'correct horse battery' });
    const r = await script('52-54-00-00-00-01');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain/);
    expect(r.body.startsWith('#!ipxe\n')).toBe(true);
    expect(r.body).toContain('kernel --name vmlinuz http://mirror.test/rocky/vmlinuz || goto retry');
    expect(r.body).toContain('initrd --name initrd.img http://mirror.test/rocky/initrd.img || goto retry');
    expect(r.body).toMatch(/inst\.ks=http:\/\/10\.20\.0\.2:8080\/boot\/config\/[A-Za-z0-9_-]{43}\/ks\.cfg/);
    const evs = await machineEvents('m1');
    expect(evs.at(-1)).toMatchObject({ event: 'script_served', detail: { script: 'install', mac: '52:54:00:00:00:01', os_image: 'rocky-9' } });
    expect((await deployments.listForMachine('m1'))[0]!.status).toBe('booting');
  });

  it('renders the kickstart with hostname, reserved network, hashed root password and keys; records config_fetched', async () => {
    const token = tokenOf((await script('52:54:00:00:00:01')).body);
    const res = await fetch(`${base}/boot/config/${token}/ks.cfg`);
    expect(res.status).toBe(200);
    const ks = await res.text();
    expect(ks).toContain('network --device=52:54:00:00:00:01 --bootproto=static --ip=10.20.0.11 --netmask=255.255.255.0 --gateway=10.20.0.1 --nameserver=10.20.0.53 --hostname=web-01.nou1.example.net');
    expect(ks).toMatch(/^rootpw --iscrypted \$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/m);
    expect(ks).not.toContain('correct horse');
    expect(ks).toContain(`sshkey --username=root '${KEY}'`);
    expect(ks).toContain(`-d event=started 'http://10.20.0.2:8080/boot/callback/${token}'`);
    expect((await machineEvents('m1')).at(-1)).toMatchObject({ event: 'config_fetched', detail: { file: 'ks.cfg' } });
    // A family's other files do not exist.
    expect((await fetch(`${base}/boot/config/${token}/preseed.cfg`)).status).toBe(404);
    expect((await fetch(`${base}/boot/config/${token}/..%2F..%2Fetc%2Fpasswd`)).status).toBe(404);
  });

  it('a newer script replaces the token: the old one is unknown', async () => {
    const first = tokenOf((await script('52:54:00:00:00:01')).body);
    const second = tokenOf((await script('52:54:00:00:00:01')).body);
    expect(first).not.toBe(second);
    const res = await fetch(`${base}/boot/config/${first}/ks.cfg`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'unknown callback token', details: null } });
  });

  it('takes each callback event once, moves the deployment, records install events, then serves localboot', async () => {
    const token = tokenOf((await script('52:54:00:00:00:01')).body);
    let res = await callback(token, { event: 'started' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ event: 'started', status: 'installing' });
    res = await callback(token, { event: 'started' });
    expect(res.status).toBe(409);
    expect((await j(res)).error.code).toBe('conflict');
    res = await callback(token, 'event=installed', true);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'installed' });
    const evs = (await machineEvents('m1')).map((e) => e.event);
    expect(evs).toEqual(expect.arrayContaining(['install_started', 'install_finished']));
    // The installed system reboots into PXE: it must boot from disk, not reinstall.
    const again = await script('52:54:00:00:00:01');
    expect(again.body).toContain('sanboot --no-describe --drive 0x80');
    res = await callback(token, { event: 'first_boot' });
    expect(await res.json()).toMatchObject({ status: 'done' });
    // Done: the token is gone and no answer file is served any more.
    expect((await callback(token, { event: 'failed' })).status).toBe(404);
    expect((await fetch(`${base}/boot/config/${token}/ks.cfg`)).status).toBe(404);
    expect((await script('52:54:00:00:00:01')).body).toContain('nothing to do');
    const rows = await deployments.callbacks((await deployments.listForMachine('m1'))[0]!.id);
    expect(rows.map((r) => r.event)).toEqual(['started', 'installed', 'first_boot']);
  });

  it('refuses an expired token with 401 and a malformed or unknown one with 404', async () => {
    await deployments.createDeployment('m2', { kind: 'install', os_image: 'debian-12', hostname: 'db-01' });
    const token = tokenOf((await script('52:54:00:00:00:02')).body);
    clock.advance(6 * 3600 * 1000 + 1);
    try {
      const res = await callback(token, { event: 'started' });
      expect(res.status).toBe(401);
      expect((await j(res)).error.code).toBe('token_expired');
      expect((await fetch(`${base}/boot/config/${token}/preseed.cfg`)).status).toBe(401);
    } finally {
      clock.advance(-(6 * 3600 * 1000 + 1));
    }
    expect((await callback('x'.repeat(43), { event: 'started' })).status).toBe(404);
    expect((await callback('short', { event: 'started' })).status).toBe(404);
  });

  it('refuses a callback from another machine\'s address (403) and bad bodies (400)', async () => {
    const token = tokenOf((await script('52:54:00:00:00:02')).body);
    lookup.replace([1, 2, 3, 4, 5, 6, 7].map((n) => reservation(n, n === 3 ? { ipv4: '127.0.0.1' } : n === 7 ? { pxe: false } : {})));
    try {
      const res = await callback(token, { event: 'started' });
      expect(res.status).toBe(403);
      expect((await j(res)).error.code).toBe('forbidden');
      // And machine 3's address cannot fetch machine 2's script either.
      expect((await script('52:54:00:00:00:02')).body).toContain('nothing to do');
    } finally {
      lookup.replace([1, 2, 3, 4, 5, 6, 7].map((n) => reservation(n, n === 7 ? { pxe: false } : {})));
    }
    let res = await callback(token, { event: 'rebooted' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_input', details: [{ field: 'event' }] } });
    res = await fetch(`${base}/boot/callback/${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"event":' });
    expect(res.status).toBe(400);
    expect((await callback(token, { event: 'started', detail: { log: 'x'.repeat(20_000) } })).status).toBe(413);
  });

  it('records a failure with its detail and stops serving the deployment', async () => {
    const token = tokenOf((await script('52:54:00:00:00:02')).body);
    const res = await callback(token, { event: 'failed', detail: 'no disk found' });
    expect(await res.json()).toMatchObject({ status: 'failed' });
    const d = (await deployments.listForMachine('m2'))[0]!;
    expect(d.lastError).toBe('no disk found');
    expect((await machineEvents('m2')).at(-1)).toMatchObject({ event: 'install_failed', detail: { detail: 'no disk found' } });
    expect((await script('52:54:00:00:00:02')).body).toContain('nothing to do');
  });

  it('renders preseed, autoinstall and cloud-init answer files per family', async () => {
    await deployments.createDeployment('m3', { kind: 'install', os_image: 'debian-12', hostname: 'deb-03', ssh_keys: [KEY] });
    let token = tokenOf((await script('52:54:00:00:00:03')).body);
    const preseed = await (await fetch(`${base}/boot/config/${token}/preseed.cfg`)).text();
    expect(preseed).toContain('d-i netcfg/get_hostname string deb-03');
    expect(preseed).toContain('d-i mirror/http/hostname string mirror.test');
    expect(preseed).toContain('d-i passwd/root-password-crypted password !');
    expect(preseed).toContain(`echo '${KEY}' >> /target/root/.ssh/authorized_keys`);

    await deployments.createDeployment('m4', { kind: 'install', os_image: 'ubuntu-24.04', hostname: 'ubu-04', ssh_keys: [KEY], network: { dns: ['1.1.1.1'] } });
    const ipxe = (await script('52:54:00:00:00:04')).body;
    token = tokenOf(ipxe);
    expect(ipxe).toContain(`ds=nocloud-net;s=http://10.20.0.2:8080/boot/config/${token}/`);
    const ud = parseYaml(await (await fetch(`${base}/boot/config/${token}/user-data`)).text());
    expect(ud.autoinstall.network.ethernets.anvil0).toMatchObject({ match: { macaddress: '52:54:00:00:00:04' }, addresses: ['10.20.0.14/24'], nameservers: { addresses: ['1.1.1.1'] } });
    expect(parseYaml(await (await fetch(`${base}/boot/config/${token}/meta-data`)).text())).toMatchObject({ 'local-hostname': 'ubu-04' });
    expect((await fetch(`${base}/boot/config/${token}/vendor-data`)).status).toBe(200);

    await deployments.createDeployment('m5', { kind: 'install', os_image: 'noble-cloud', hostname: 'cl-05', ssh_keys: [KEY] });
    token = tokenOf((await script('52:54:00:00:00:05')).body);
    const cloud = parseYaml(await (await fetch(`${base}/boot/config/${token}/user-data`)).text());
    expect(cloud).toMatchObject({ hostname: 'cl-05', fqdn: 'cl-05.nou1.example.net', users: [{ name: 'root', ssh_authorized_keys: [KEY] }] });
    expect((await fetch(`${base}/boot/config/${token}/ks.cfg`)).status).toBe(404);
  });

  it('accepts concurrent callbacks of different events, each once', async () => {
    const token = tokenOf((await script('52:54:00:00:00:03')).body);
    // One installer's events in flight together (retries, a slow network): both land, the
    // duplicate is a 409, and the status ends where the furthest event puts it.
    const results = await Promise.all(['started', 'installed', 'started'].map((event) => callback(token, { event })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 409]);
    const d = (await deployments.listForMachine('m3'))[0]!;
    expect(d.status).toBe('installed');
    expect(await (await callback(token, { event: 'first_boot' })).json()).toMatchObject({ status: 'done' });
    expect((await deployments.callbacks(d.id)).map((c) => c.event).sort()).toEqual(['first_boot', 'installed', 'started']);
  });

  it('lets only one of two concurrent creators have an active deployment', async () => {
    const outcomes = await Promise.allSettled([
      deployments.createDeployment('m3', { kind: 'localboot' }),
      deployments.createDeployment('m3', { kind: 'localboot' }),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({ reason: { status: 409 } });
  });

  it('serves wipe and explicit localboot scripts', async () => {
    await deployments.createDeployment('m6', { kind: 'wipe', os_image: 'wiper' });
    const wipe = (await script('52:54:00:00:00:06')).body;
    expect(wipe).toMatch(/anvil\.action=wipe anvil\.callback=http:\/\/10\.20\.0\.2:8080\/boot\/callback\/[A-Za-z0-9_-]{43}/);
    const res = await callback(tokenOf(wipe), { event: 'installed' });
    expect(await res.json()).toMatchObject({ status: 'done' });
    await deployments.createDeployment('m6', { kind: 'localboot' });
    expect((await script('52:54:00:00:00:06')).body).toContain('sanboot --no-describe --drive 0x80');
    expect((await deployments.listForMachine('m6'))[0]!.status).toBe('done');
  });

  it('answers an unknown MAC with the nothing-to-do script (200), counted, and a non-PXE NIC likewise', async () => {
    const before = server.stats.unknownMacs;
    const r = await script('aa:bb:cc:dd:ee:ff');
    expect(r.status).toBe(200);
    expect(r.body).toBe('#!ipxe\n# Anvil: nothing to do for aa:bb:cc:dd:ee:ff (MAC not in inventory)\necho Anvil: nothing to do for aa:bb:cc:dd:ee:ff (MAC not in inventory); continuing with the next boot device\nexit\n');
    expect(server.stats.unknownMacs).toBe(before + 1);
    expect((await script('52:54:00:00:00:07')).body).toContain('NIC not marked for network boot');
    const rejected = server.stats.rejected;
    const bad = await fetch(`${base}/boot/ipxe?mac=not-a-mac`);
    expect(bad.status).toBe(400);
    expect(server.stats.rejected).toBe(rejected + 1);
    expect((await j(bad)).error.details[0].field).toBe('mac');
  });

  it('refuses a second active deployment and cancels', async () => {
    const { deployment } = await deployments.createDeployment('m7', { kind: 'localboot' });
    await expect(deployments.createDeployment('m7', { kind: 'localboot' })).rejects.toMatchObject({ status: 409 });
    await deployments.cancel(deployment.id, 'operator changed their mind');
    await expect(deployments.cancel(deployment.id, 'again')).rejects.toMatchObject({ status: 409 });
    await expect(deployments.createDeployment('nope', { kind: 'localboot' })).rejects.toMatchObject({ status: 404 });
    await expect(deployments.createDeployment('m7', { kind: 'install', os_image: 'windows', hostname: 'w' })).rejects.toMatchObject({ status: 400 });
  });

  it('finish ends a deployment from the workflow side, idempotently, inside a transaction', async () => {
    // m7's NIC is not marked for PXE: the token createDeployment returned stays the current one.
    const { deployment, callbackToken } = await deployments.createDeployment('m7', { kind: 'install', os_image: 'rocky-9', hostname: 'w-07' });
    expect((await fetch(`${base}/boot/config/${callbackToken}/ks.cfg`)).status).toBe(200);
    await t.knex.transaction(async (trx) => {
      expect((await deployments.finish(deployment.id, 'failed', 'no install_started within 30 min', trx)).status).toBe('failed');
    });
    expect((await deployments.finish(deployment.id, 'failed')).lastError).toBe('no install_started within 30 min');
    await expect(deployments.finish(deployment.id, 'done')).rejects.toMatchObject({ status: 409 });
    await expect(deployments.finish('missing', 'done')).rejects.toMatchObject({ status: 404 });
    expect((await callback(callbackToken, { event: 'started' })).status).toBe(404);
  });

  it('never writes a token into a log line', async () => {
    const joined = logLines.join('');
    expect(joined).toContain('/boot/config/[redacted]/ks.cfg');
    expect(joined).toContain('/boot/callback/[redacted]');
    expect(joined).not.toMatch(/\/boot\/(config|callback)\/[A-Za-z0-9_-]{43}/);
  });
});
