import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { promisify } from 'node:util';
import { BmcAuthError, BmcUnreachableError } from '../../../src/errors.js';
import type { BmcDriver, BmcEndpoint, ComponentHealth } from '../../../src/bmc/driver.js';
import { createIpmiDriver } from '../../../src/bmc/ipmi/driver.js';
import { freeUdpPort, startIpmiSim, type IpmiSim, type SimSensor } from '../../../src/lab/ipmi-sim.js';

const run = promisify(execFile);
const USER = 'anvil';
const PASSWORD = 'correct-horse';

const SENSORS: SimSensor[] = [
  { number: 0x01, name: 'CPU1 Temp', type: 'temperature', thresholds: { unc: 80, uc: 90, unr: 100 }, value: 45 },
  // 50 RPM per count: 100 -> 5000 RPM; warning at or below 1000, critical at or below 500
  { number: 0x02, name: 'FAN1', type: 'fan', m: 50, thresholds: { lnc: 20, lc: 10 }, value: 100 },
  // 0.06 V per count: 200 -> 12 V; critical outside 10.8 .. 13.2 V
  { number: 0x03, name: 'P12V', type: 'voltage', m: 6, rExp: -2, thresholds: { lc: 180, uc: 220 }, value: 200 },
  // (5 * raw - 40) / 10: 100 -> 46 Cel
  { number: 0x04, name: 'Inlet Temp', type: 'temperature', m: 5, b: -40, rExp: -1, thresholds: { uc: 200 }, value: 100 },
];

let sim: IpmiSim;
const drivers: BmcDriver[] = [];

function endpoint(overrides: Partial<BmcEndpoint> = {}): BmcEndpoint {
  return { protocol: 'ipmi', host: '127.0.0.1', port: sim.port, username: USER, password: PASSWORD, tls: 'verify', timeoutMs: 2000, ...overrides };
}

function driver(overrides: Partial<BmcEndpoint> = {}): BmcDriver {
  const d = createIpmiDriver(endpoint(overrides), { retryIntervalMs: 200, powerSettleTimeoutMs: 5000, powerPollIntervalMs: 50 });
  drivers.push(d);
  return d;
}

async function ipmitool(...args: string[]): Promise<string> {
  const { stdout } = await run('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(sim.port), '-U', USER, '-E', ...args], {
    env: { ...process.env, IPMI_PASSWORD: PASSWORD },
    timeout: 15_000,
  });
  return stdout;
}

function byComponent(components: ComponentHealth[], name: string): ComponentHealth {
  const found = components.find((c) => c.component === name);
  if (!found) throw new Error(`no component ${name} in ${components.map((c) => c.component).join(', ')}`);
  return found;
}

beforeAll(async () => {
  sim = await startIpmiSim({
    user: USER,
    password: PASSWORD,
    power: 'off',
    sensors: SENSORS,
    fru: {
      board: { manufacturer: 'Anvil Boards', product: 'AB-100', serial: 'BRD-0001', partNumber: 'AB-100-01' },
      product: { manufacturer: 'Anvil Labs', name: 'Anvil Server 1U', partNumber: 'AS1U', version: 'A1', serial: 'SN-12345', assetTag: 'RACK7-U12' },
    },
  });
}, 30_000);

afterAll(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  await sim?.stop();
});

describe('IPMI lanplus driver against ipmi_sim', () => {
  it('opens an RMCP+ session and reads the BMC firmware and FRU identity', async () => {
    const d = driver();
    await d.verify();
    const inventory = await d.inspect();
    expect(inventory).toMatchObject({
      vendor: 'Anvil Labs',
      model: 'Anvil Server 1U',
      serial: 'SN-12345',
      bmcFirmwareVersion: '9.08',
      biosVersion: null,
      disks: [],
      nics: [],
    });
    // the same FRU as ipmitool decodes it
    const fru = await ipmitool('fru', 'print', '0');
    expect(fru).toMatch(/Product Serial\s*:\s*SN-12345/);
    expect(fru).toMatch(/Board Mfg\s*:\s*Anvil Boards/);
    expect((await ipmitool('mc', 'info'))).toMatch(/Firmware Revision\s*:\s*9\.08/);
  });

  it('powers on; ipmitool sees it; ipmitool powers off; Anvil sees it', async () => {
    const d = driver();
    expect(await d.powerState()).toBe('off');
    await d.setPower('on');
    expect(await ipmitool('chassis', 'power', 'status')).toContain('Chassis Power is on');
    expect(sim.power()).toBe('on');
    await d.setPower('on'); // already on: success, no change
    await ipmitool('chassis', 'power', 'off');
    expect(await d.powerState()).toBe('off');
    await d.setPower('cycle'); // cycle on a machine that is off powers it on
    expect(await d.powerState()).toBe('on');
    await d.setPower('off');
    expect(sim.power()).toBe('off');
    expect(await ipmitool('chassis', 'power', 'status')).toContain('Chassis Power is off');
  });

  it('accepts a hard reset of a running machine and an ACPI soft-off', async () => {
    const d = driver();
    await d.setPower('on');
    await d.setPower('reset');
    expect(await d.powerState()).toBe('on');
    await d.setPower('soft-off');
    // The simulated OS obeys the ACPI request at once (chassis_control "set shutdown 1").
    expect(await d.powerState()).toBe('off');
    expect(sim.power()).toBe('off');
    await d.setPower('soft-off'); // already off: success
  });

  it.each([
    ['pxe', 'Force PXE'],
    ['disk', 'Force Boot from default Hard-Drive'],
    ['bios', 'Force Boot into BIOS Setup'],
  ] as const)('sets boot device %s and ipmitool reads it back as "%s"', async (device, ipmitoolText) => {
    const d = driver();
    await d.setBootDevice({ device, persistent: false, mode: 'uefi' });
    const flags = await ipmitool('chassis', 'bootparam', 'get', '5');
    expect(flags).toContain(ipmitoolText);
    expect(sim.bootDevice()).toBe(device === 'disk' ? 'default' : device);
    // ipmi_sim keeps only the device (not the valid/persistent/EFI bits): read back what ipmitool reads
    expect((await d.getBootDevice()).device).toBe(/Boot Flag Valid/.test(flags) ? device : 'none');
  });

  it('reports sensors against their SDR thresholds, chassis bits and the bmc', async () => {
    const d = driver();
    const report = await d.health();
    const c = report.components;
    expect(byComponent(c, 'bmc')).toMatchObject({ kind: 'bmc', status: 'ok' });
    expect(byComponent(c, 'bmc').message).toContain('cipher suite 3'); // ipmi_sim refuses suite 17
    expect(byComponent(c, 'chassis:power')).toMatchObject({ status: 'ok' });
    expect(byComponent(c, 'sensor:CPU1 Temp')).toMatchObject({ kind: 'temperature', status: 'ok', reading: { value: 45, unit: 'Cel' } });
    expect(byComponent(c, 'sensor:FAN1')).toMatchObject({ kind: 'fan', status: 'ok', reading: { value: 5000, unit: 'RPM' } });
    expect(byComponent(c, 'sensor:P12V')).toMatchObject({ kind: 'voltage', status: 'ok', reading: { value: 12, unit: 'V' } });
    expect(byComponent(c, 'sensor:Inlet Temp')).toMatchObject({ status: 'ok', reading: { value: 46, unit: 'Cel' } });
    // ipmitool converts the same SDRs to the same values
    const sdr = await ipmitool('sdr', 'list', 'full');
    expect(sdr).toMatch(/CPU1 Temp\s*\|\s*45 degrees C/);
    expect(sdr).toMatch(/FAN1\s*\|\s*5000 RPM/);
    expect(sdr).toMatch(/P12V\s*\|\s*12(\.0+)? Volts/);
  });

  it('reports a sensor driven past its critical threshold as critical, and a low fan as warning', async () => {
    const d = driver();
    await sim.setSensor(0x01, 95, { event: true }); // 95 Cel >= upper critical 90
    await sim.setSensor(0x02, 15); // 750 RPM <= lower non-critical 1000
    await sim.setSensor(0x03, 170); // 10.2 V <= lower critical 10.8
    try {
      const c = (await d.health()).components;
      const cpu = byComponent(c, 'sensor:CPU1 Temp');
      expect(cpu).toMatchObject({ status: 'critical', reading: { value: 95, unit: 'Cel' } });
      expect(cpu.message).toContain('upper critical 90 Cel');
      expect(byComponent(c, 'sensor:FAN1')).toMatchObject({ status: 'warning', reading: { value: 750, unit: 'RPM' } });
      expect(byComponent(c, 'sensor:P12V')).toMatchObject({ status: 'critical', reading: { value: 10.2, unit: 'V' } });
      expect(byComponent(c, 'sensor:Inlet Temp').status).toBe('ok');
    } finally {
      await sim.setSensor(0x01, 45);
      await sim.setSensor(0x02, 100);
      await sim.setSensor(0x03, 200);
    }
    expect(byComponent((await d.health()).components, 'sensor:CPU1 Temp').status).toBe('ok');
  });

  it('returns SEL entries as log entries, and only newer ones after a given record id', async () => {
    const d = driver();
    // system event: generator 0x20, EvMRev 4, temperature sensor 1, threshold, upper critical going high
    await sim.addSelEntry(0x02, [0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x04, 0x01, 0x01, 0x01, 0x09, 0x5f, 0x5a]);
    const all = await d.health({ since: null });
    const entries = all.logEntries ?? [];
    const critical = entries.find((e) => e.message.includes('CPU1 Temp') && e.message.includes('upper critical going high'));
    expect(critical).toMatchObject({ severity: 'critical' });
    expect(byComponent(all.components, 'log:sel').reading?.value).toBe(entries.length);
    const last = entries[entries.length - 1]!;
    const newer = await d.health({ since: last.id });
    expect(newer.logEntries).toEqual([]);
    expect((await ipmitool('sel', 'list'))).toContain('Upper Critical going high');
  });

  it('rejects a wrong password as BmcAuthError quickly, not as a timeout', async () => {
    const d = driver({ password: 'wrong-password', timeoutMs: 5000 });
    const started = Date.now();
    await expect(d.powerState()).rejects.toThrow(BmcAuthError);
    await expect(d.powerState()).rejects.toThrow(/authentication failed/);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('rejects an unknown user as BmcAuthError', async () => {
    await expect(driver({ username: 'nobody' }).verify()).rejects.toThrow(BmcAuthError);
  });

  it('reports a closed port as BmcUnreachableError within the timeout', async () => {
    const port = await freeUdpPort();
    const started = Date.now();
    await expect(driver({ port, timeoutMs: 1500 }).powerState()).rejects.toThrow(BmcUnreachableError);
    expect(Date.now() - started).toBeLessThan(1500 + 500);
  });

  it('reports a BMC that never answers as BmcUnreachableError within the timeout', async () => {
    const blackHole: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => blackHole.bind(0, '127.0.0.1', () => resolve()));
    let received = 0;
    blackHole.on('message', () => received++);
    try {
      const started = Date.now();
      await expect(driver({ port: blackHole.address().port, timeoutMs: 1500 }).powerState()).rejects.toThrow(BmcUnreachableError);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1400);
      expect(elapsed).toBeLessThan(1500 + 500);
      expect(received).toBeGreaterThan(1); // retransmitted
    } finally {
      blackHole.close();
    }
  });

  it('re-establishes the session after the BMC restarts', async () => {
    const d = driver({ timeoutMs: 1500 });
    expect(await d.powerState()).toBe('off');
    const port = sim.port;
    await sim.stop();
    sim = await startIpmiSim({ port, user: USER, password: PASSWORD, power: 'on', sensors: SENSORS });
    expect(await d.powerState()).toBe('on');
  }, 20_000);

  it('closes its session and can open a new one afterwards', async () => {
    const d = driver();
    await d.verify();
    const started = Date.now();
    await d.close();
    // Close Session is answered at once; waiting for its 1 s timeout would mean the answer was dropped.
    expect(Date.now() - started).toBeLessThan(500);
    await d.close(); // idempotent
    expect(await d.powerState()).toBe(sim.power());
  });
});
