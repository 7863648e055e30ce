import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startRedfishSimFleet, type RedfishSimFleet } from '../../../src/lab/redfish-sim/index.js';
import { defaultBmcRegistry } from '../../../src/bmc/registry.js';
import { runCli } from '../../support/cli.js';

/** `anvil machine …` end to end: a YAML import, then the CLI drives a simulated Redfish BMC. */
describe('anvil machine CLI against the Redfish simulator', () => {
  let fleet: RedfishSimFleet;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  const run = (...argv: string[]) => runCli(argv, env);

  beforeAll(async () => {
    fleet = await startRedfishSimFleet({ count: 1, username: 'root', password: 'calvin-Pa55', initialPower: 'Off' });
    dir = mkdtempSync(join(tmpdir(), 'anvil-machine-cli-'));
    env = { DATABASE_URL: `sqlite:${join(dir, 'anvil.sqlite')}`, ANVIL_SECRET_KEY: randomBytes(32).toString('base64'), ANVIL_LOG_LEVEL: 'error' };
    const sim = fleet.instances[0]!;
    const pin = `sha256:${fleet.certificate!.fingerprint256.replace(/:/g, '').toLowerCase()}`;
    writeFileSync(join(dir, 'inventory.yaml'), [
      'sites:',
      '  - { code: CA-MTL1, name: Montreal 1, country: CA, city: Montreal, timezone: America/Toronto }',
      'machines:',
      `  - serial: ${sim.serial}`,
      '    hardware_profile: dell-r650-128g',
      '    site: CA-MTL1',
      `    bmc: { protocol: redfish, host: 127.0.0.1, port: ${sim.port}, username: root, password: calvin-Pa55, tls: "${pin}" }`,
      '    nics:',
      `      - { name: eno1, mac: "${sim.macs[0]}", pxe: true }`,
      '',
    ].join('\n'));
    expect((await run('inventory', 'import', join(dir, 'inventory.yaml'))).code).toBe(0);
  }, 30_000);

  afterAll(async () => {
    await defaultBmcRegistry.closeAll();
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies every enrolled machine over a pinned TLS certificate', async () => {
    const r = await run('machine', 'verify', '--all');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${fleet.instances[0]!.serial}\\s+available`));
  });

  it('powers on, reads the state back, and sets PXE for the next boot', async () => {
    const serial = fleet.instances[0]!.serial;
    expect((await run('machine', 'power', serial, 'on')).stdout).toBe('on: power is now on\n');
    expect(fleet.instances[0]!.powerState()).toBe('On');
    expect((await run('machine', 'power', serial, 'status')).stdout).toBe('on\n');
    expect((await run('machine', 'boot', serial, 'pxe')).code).toBe(0);
    expect(fleet.instances[0]!.bootOverride()).toMatchObject({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' });
  }, 30_000);

  it('inspects the machine and reports the mockup hardware', async () => {
    const r = await run('machine', 'inspect', fleet.instances[0]!.serial);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/memory \d+ GiB/);
  });

  it('exits 2 on wrong usage and 1 with one line for an unknown machine', async () => {
    expect((await run('machine', 'power', 'x', 'sideways')).code).toBe(2);
    const r = await run('machine', 'power', 'NOPE', 'status');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('anvil: machine NOPE not found');
  });
});
