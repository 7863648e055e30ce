import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { connect, migrateLatest } from '../../../src/db/connect.js';
import { DeploymentService } from '../../../src/boot/deployments.js';
import { netnsUnavailableReason, stopProcess } from '../../support/netns.js';
import { tsNodeArgs } from '../../support/ts-child.js';
import { pollUntil } from '../../support/wait.js';
import { qemuTapNicArgs, QEMU_SYSTEM_X86_64 } from '../../../src/lab/qemu-machine.js';
import { createTapSegment, qemuUnavailableReason, type TapSegment } from '../../support/boot-qemu.js';

/**
 * A real PXE firmware against Anvil's boot role: QEMU (TCG; KVM resets the guest on this host)
 * with the iPXE e1000 option ROM boots from the network on a tap device inside a namespace, where
 * Anvil's DHCP + TFTP + HTTP boot run as a child process. The machine has a localboot intent, so
 * it is expected to get an address, fetch its script over HTTP, and the deployment to finish.
 */
const skipReason = netnsUnavailableReason() ?? qemuUnavailableReason();
const d = skipReason ? describe.skip : describe;
if (skipReason) console.warn(`qemu-pxe test skipped: ${skipReason}`);

const MAC = '52:54:00:a7:00:01';
const SERVER = '10.77.0.1';

d('real iPXE firmware (QEMU) boots from Anvil', () => {
  let segment: TapSegment | null = null;
  let dir = '';
  let knex: Knex | null = null;
  let boot: ChildProcess | null = null;
  let qemu: ChildProcess | null = null;
  const bootOut: string[] = [];
  const qemuOut: string[] = [];

  afterAll(async () => {
    // Kill QEMU first (by PID, through the segment), then the boot role, then the namespace.
    await segment?.destroy();
    await knex?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sees the PXE request and serves the iPXE script for that MAC within 90 s', async () => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-qemu-'));
    const dbFile = join(dir, 'anvil.sqlite');
    knex = connect({ dialect: 'sqlite', location: dbFile });
    await migrateLatest(knex);
    const now = new Date().toISOString();
    await knex('sites').insert({ id: 's1', code: 'LAB1', name: 'Lab', country: 'MA', city: 'Nouacer', timezone: 'UTC', created_at: now, updated_at: now });
    await knex('machines').insert({ id: 'vm1', serial: 'QEMU-1', hardware_profile: 'vm', site_id: 's1', created_at: now, updated_at: now });
    await knex('nics').insert({ id: 'nic1', machine_id: 'vm1', mac: MAC, name: 'ens3', pxe: true, ipv4_address: '10.77.0.50', ipv4_prefix: 24, created_at: now, updated_at: now });
    const { deployment } = await new DeploymentService(knex).createDeployment('vm1', { kind: 'localboot' });

    segment = await createTapSegment('qemu', `${SERVER}/24`);
    const input = join(dir, 'boot.json');
    writeFileSync(
      input,
      JSON.stringify({
        databaseUrl: `sqlite:${dbFile}`,
        logLevel: 'info',
        config: {
          dataDir: dir,
          boot: {
            interface: segment.bridge,
            subnets: [{ site: 'LAB1', network: '10.77.0.0/24', gateway: SERVER, dns: [SERVER] }],
            http: { port: 8080 },
            dhcp: { mode: 'authoritative' },
            tftp: { port: 69 },
            lookup_poll_ms: 500,
            // A "kernel" real iPXE can boot without an OS mirror: iPXE itself as a PXE NBP, which
            // starts a second iPXE that asks DHCP again (and ignores the initrd and arguments).
            os_images: [{ name: 'ipxe-nbp', family: 'cloud', kernel_url: `http://${SERVER}:8081/undionly.kpxe`, initrd_url: `http://${SERVER}:8081/initrd.img`, repo_url: `http://${SERVER}:8081/` }],
          },
        },
      }),
    );
    boot = segment.spawn(process.execPath, tsNodeArgs('test/support/boot-service-child.ts', [input]));
    boot.stdout!.on('data', (b: Buffer) => bootOut.push(b.toString()));
    boot.stderr!.on('data', (b: Buffer) => bootOut.push(b.toString()));
    const ready = await pollUntil(() => {
      const line = bootOut.join('').split('\n').find((l) => l.includes('"ready"'));
      return line ? (JSON.parse(line) as { ready: boolean; error?: string }) : null;
    }, 20_000);
    if (!ready?.ready) throw new Error(`boot role did not start: ${ready?.error ?? bootOut.join('').slice(-2000)}`);

    const started = Date.now();
    qemu = startQemu(segment);
    qemu.stdout!.on('data', (b: Buffer) => qemuOut.push(b.toString()));
    qemu.stderr!.on('data', (b: Buffer) => qemuOut.push(b.toString()));

    const db = knex;
    const seen = await pollUntil(async () => {
      const events = (await db('machine_events').where({ machine_id: 'vm1' }).orderBy('id').pluck('event')) as string[];
      return events.includes('pxe_seen') && events.includes('script_served') ? events : null;
    }, 90_000);
    const elapsedS = ((Date.now() - started) / 1000).toFixed(1);
    if (!seen) {
      const events = await db('machine_events').where({ machine_id: 'vm1' }).pluck('event');
      throw new Error(`no pxe_seen + script_served within 90 s; events: ${JSON.stringify(events)}\nboot log tail:\n${bootOut.join('').slice(-3000)}\nqemu tail:\n${qemuOut.join('').slice(-1500)}`);
    }
    console.log(`qemu-pxe: PXE to script served in ${elapsedS} s; events: ${seen.join(', ')}`);
    expect(seen.indexOf('pxe_seen')).toBeLessThan(seen.indexOf('script_served'));
    const served = await db('machine_events').where({ machine_id: 'vm1', event: 'script_served' }).first('detail');
    expect(JSON.parse(served.detail)).toMatchObject({ script: 'localboot', mac: MAC, deployment_id: deployment.id });
    expect((await db('deployments').where({ id: deployment.id }).first('status')).status).toBe('done');
    await stopChild(qemu);
  }, 120_000);

  it('real iPXE runs the generated install script: downloads kernel and initrd over HTTP and boots the kernel', async () => {
    if (!segment || !knex) throw new Error('the first test did not set up the segment');
    const db = knex;
    const www = join(dir, 'www');
    mkdirSync(www);
    copyFileSync('/usr/lib/ipxe/undionly.kpxe', join(www, 'undionly.kpxe'));
    writeFileSync(join(www, 'initrd.img'), Buffer.alloc(4096, 0x5a));
    const mirror = segment.spawn('python3', ['-m', 'http.server', '8081', '--bind', SERVER, '--directory', www]);
    const mirrorLog: string[] = [];
    mirror.stderr!.on('data', (b: Buffer) => mirrorLog.push(b.toString()));
    const { deployment } = await new DeploymentService(db).createDeployment('vm1', { kind: 'install', os_image: 'ipxe-nbp', hostname: 'vm-01' });
    const firstEvent = ((await db('machine_events').max({ id: 'id' }).first()) as { id: number }).id;

    qemu = startQemu(segment);
    qemuOut.length = 0;
    qemu.stdout!.on('data', (b: Buffer) => qemuOut.push(b.toString()));
    qemu.stderr!.on('data', (b: Buffer) => qemuOut.push(b.toString()));
    const started = Date.now();
    // iPXE prints to the serial console. "PXE->EB" is the booted NBP (a second iPXE) starting:
    // the script's set/inc/iseq/kernel/initrd/imgargs lines ran and `boot` executed the image.
    const serial = () => qemuOut.join('');
    const booted = await pollUntil(() => (serial().includes('PXE->EB:') ? serial() : null), 80_000);
    if (!booted) {
      throw new Error(`install script did not run to boot; mirror log:\n${mirrorLog.join('').slice(-1500)}\nqemu:\n${JSON.stringify(serial().slice(-6000))}\nboot log tail:\n${bootOut.join('').slice(-3000)}`);
    }
    console.log(`qemu-pxe: install script ran to "boot" in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(booted).toMatch(/ipxe : \d+ bytes \[script\]/);
    expect(booted).toContain(`http://${SERVER}:8081/undionly.kpxe... ok`);
    expect(booted).toContain(`http://${SERVER}:8081/initrd.img... ok`);
    // Downloaded once each: no `|| goto retry` fired before `boot`.
    expect(mirrorLog.join('').match(/GET \/undionly\.kpxe/g)).toHaveLength(1);
    expect(booted).not.toContain('retrying');
    const served = await pollUntil(async () => ((await db('machine_events').where('id', '>', firstEvent).andWhere({ machine_id: 'vm1', event: 'script_served' }).first('detail')) as { detail: string } | undefined) ?? null, 5000);
    if (!served) throw new Error(`no script_served after event ${firstEvent}: ${JSON.stringify(await db('machine_events').where('id', '>', firstEvent - 5))}`);
    expect(JSON.parse(served.detail)).toMatchObject({ script: 'install', deployment_id: deployment.id, os_image: 'ipxe-nbp' });
    expect((await db('deployments').where({ id: deployment.id }).first('status')).status).toBe('booting');
    await stopChild(qemu);
  }, 120_000);
});

/** The VM under test: TCG, serial console on stdout, network boot through the e1000's iPXE ROM. */
function startQemu(segment: TapSegment): ChildProcess {
  return segment.spawn(QEMU_SYSTEM_X86_64, [
    ...qemuTapNicArgs({ tap: segment.tap, mac: MAC }),
    '-nographic', '-no-user-config', '-nodefaults', '-serial', 'stdio',
    '-boot', 'n',
  ]);
}

/** QEMU holds no state worth a clean shutdown: kill it at once. */
async function stopChild(child: ChildProcess | null): Promise<void> {
  if (child) await stopProcess(child, 0);
}
