import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { BmcEndpoint } from '../../../src/bmc/driver.js';
import { createRedfishDriver, type RedfishDriver, type RedfishDriverOptions } from '../../../src/bmc/redfish/driver.js';
import { InputError, UnsupportedOperationError } from '../../../src/errors.js';
import { startRedfishSimFleet, type RedfishSimFleet } from '../../../src/lab/redfish-sim/index.js';

// Real driver against the simulator serving the DMTF mockups over HTTPS on loopback.
const FAST: RedfishDriverOptions = { pollIntervalMs: 20, powerSettleMs: 3000, softOffTimeoutMs: 300, requestTimeoutMs: 2000, taskPollMs: 20 };

describe('Redfish driver against the simulator (public-rackmount1)', () => {
  let fleet: RedfishSimFleet;
  const drivers: RedfishDriver[] = [];
  const driver = (i: number, overrides: Partial<BmcEndpoint> = {}, opts: RedfishDriverOptions = {}): RedfishDriver => {
    const d = createRedfishDriver(fleet.endpoint(i, overrides), { ...FAST, ...opts });
    drivers.push(d);
    return d;
  };

  beforeAll(async () => {
    fleet = await startRedfishSimFleet({ count: 6, powerDelayMs: 80 });
  });
  afterAll(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await fleet.stop();
  });

  it('reads power state and powers off, on and cycles, polling until PowerState settles', async () => {
    const sim = fleet.instances[0]!;
    const d = driver(0);
    expect(await d.powerState()).toBe('on');
    await d.setPower('off');
    expect(sim.powerState()).toBe('Off');
    expect(await d.powerState()).toBe('off');
    await d.setPower('off'); // already off: success, no reset sent
    await d.setPower('on');
    expect(sim.powerState()).toBe('On');
    await d.setPower('cycle');
    expect(sim.powerState()).toBe('On');
    await d.setPower('reset');
    expect(sim.stats.resets).toEqual(['ForceOff', 'On', 'ForceRestart', 'ForceRestart']);
  });

  it('soft-off uses GracefulShutdown and falls back to ForceOff when the OS ignores it', async () => {
    const polite = driver(1);
    await polite.setPower('soft-off');
    expect(fleet.instances[1]!.stats.resets).toEqual(['GracefulShutdown']);
    expect(fleet.instances[1]!.powerState()).toBe('Off');

    const stubborn = await startRedfishSimFleet({ count: 1, ignoreGracefulShutdown: true, powerDelayMs: 20, certificate: fleet.certificate! });
    try {
      const d = createRedfishDriver(stubborn.endpoint(0), FAST);
      await d.setPower('soft-off');
      expect(stubborn.instances[0]!.stats.resets).toEqual(['GracefulShutdown', 'ForceOff']);
      expect(stubborn.instances[0]!.powerState()).toBe('Off');
      await d.close();
    } finally {
      await stubborn.stop();
    }
  });

  it('a BMC that allows only On/ForceOff: cycle is Off then On, soft-off forces, reset is unsupported', async () => {
    const minimal = await startRedfishSimFleet({ count: 1, allowedResetTypes: ['On', 'ForceOff'], powerDelayMs: 20, certificate: fleet.certificate! });
    try {
      const d = createRedfishDriver(minimal.endpoint(0), FAST);
      const sim = minimal.instances[0]!;
      await d.setPower('cycle');
      expect(sim.stats.resets).toEqual(['ForceOff', 'On']);
      expect(sim.powerState()).toBe('On');
      const err = await d.setPower('reset').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsupportedOperationError);
      expect((err as Error).message).toMatch(/allows ResetType On, ForceOff/);
      await d.setPower('soft-off');
      expect(sim.stats.resets).toEqual(['ForceOff', 'On', 'ForceOff']);
      await d.close();
    } finally {
      await minimal.stop();
    }
  });

  it('vendor adapters against vendor-like simulators: weak ETags (iLO) and required If-Match (XCC)', async () => {
    const cert = fleet.certificate!;
    const weakGeneric = await startRedfishSimFleet({ count: 1, etagStyle: 'weak', certificate: cert });
    const weakHpe = await startRedfishSimFleet({ count: 1, etagStyle: 'weak', vendor: 'HPE', certificate: cert });
    const xcc = await startRedfishSimFleet({ count: 1, requireIfMatch: true, vendor: 'Lenovo', certificate: cert });
    const req = { device: 'pxe', persistent: false, mode: 'uefi' } as const;
    try {
      const generic = createRedfishDriver(weakGeneric.endpoint(0), FAST);
      await expect(generic.setBootDevice(req)).rejects.toThrow(/HTTP 412: The ETag supplied did not match.*\(PreconditionFailed\)/);
      await generic.close();
      const hpe = createRedfishDriver(weakHpe.endpoint(0), FAST);
      await hpe.setBootDevice(req);
      expect(hpe.vendor).toBe('hpe');
      expect(weakHpe.instances[0]!.bootOverride().BootSourceOverrideTarget).toBe('Pxe');
      await hpe.close();
      const lenovo = createRedfishDriver(xcc.endpoint(0), FAST);
      await lenovo.setBootDevice(req);
      expect(lenovo.vendor).toBe('lenovo');
      expect(xcc.instances[0]!.bootOverride().BootSourceOverrideTarget).toBe('Pxe');
      await lenovo.close();
    } finally {
      await Promise.all([weakGeneric.stop(), weakHpe.stop(), xcc.stop()]);
    }
  });

  it('one process serves a fleet of 200 distinct BMCs on their own ports', async () => {
    const big = await startRedfishSimFleet({ count: 200, certificate: fleet.certificate! });
    try {
      expect(new Set(big.instances.map((i) => i.port)).size).toBe(200);
      expect(new Set(big.instances.map((i) => i.serial)).size).toBe(200);
      expect(new Set(big.instances.flatMap((i) => i.macs)).size).toBe(big.instances.reduce((n, i) => n + i.macs.length, 0));
      const last = createRedfishDriver(big.endpoint(199), FAST);
      expect((await last.inspect()).serial).toBe(big.instances[199]!.serial);
      await last.close();
    } finally {
      await big.stop();
    }
  });

  it('sets PXE once and disk persistently with If-Match, and reads them back', async () => {
    const sim = fleet.instances[2]!;
    const d = driver(2);
    const before = sim.etag();
    await d.setBootDevice({ device: 'pxe', persistent: false, mode: 'uefi' });
    expect(sim.bootOverride()).toMatchObject({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' });
    expect(sim.etag()).not.toBe(before);
    expect(await d.getBootDevice()).toEqual({ device: 'pxe', persistent: false, mode: 'uefi' });
    await d.setBootDevice({ device: 'disk', persistent: true, mode: 'legacy' });
    expect(await d.getBootDevice()).toEqual({ device: 'disk', persistent: true, mode: 'legacy' });
    expect(sim.stats.patches).toBe(2);
    // A one-time override is consumed by the next boot; a persistent one stays.
    await d.setPower('cycle');
    expect((await d.getBootDevice()).device).toBe('disk');
  });

  it('a PATCH with a stale ETag is refused with 412 by the simulator and retried once by the driver', async () => {
    const sim = fleet.instances[3]!;
    const res = await fetchRaw(fleet, 3, 'PATCH', '/redfish/v1/Systems/437XR1138R2', { Boot: { BootSourceOverrideTarget: 'Pxe' } }, { 'if-match': '"stale"' });
    expect(res.status).toBe(412);
    expect(res.body).toContain('PreconditionFailed');
    // Someone else changed the system between the driver's GET and PATCH: the driver re-reads once.
    sim.injectFault({ kind: 'http-error', status: 412 }, { path: '/Systems/437XR1138R2', method: 'PATCH', times: 1 });
    const d = driver(3);
    await d.setBootDevice({ device: 'bios', persistent: false, mode: 'uefi' });
    expect(sim.bootOverride().BootSourceOverrideTarget).toBe('BiosSetup');
    expect(sim.stats.patches).toBe(1);
  });

  it('omits BootSourceOverrideMode where the system has none and targets the named blade', async () => {
    const bladed = await startRedfishSimFleet({ count: 1, mockup: 'public-bladed', certificate: fleet.certificate! });
    try {
      const d = createRedfishDriver(bladed.endpoint(0, { systemId: '529QB9451R6' }), FAST);
      // The bladed system lists no BootSourceOverrideMode: the driver must not send it.
      await d.setBootDevice({ device: 'pxe', persistent: false, mode: 'uefi' });
      expect(bladed.instances[0]!.bootOverride('529QB9451R6')).toMatchObject({ BootSourceOverrideTarget: 'Pxe' });
      expect(bladed.instances[0]!.bootOverride('529QB9450R6')).toMatchObject({ BootSourceOverrideTarget: 'None' });
      await d.close();
    } finally {
      await bladed.stop();
    }
  });

  it('inspects public-rackmount1: CPUs, memory, SimpleStorage disks, MACs, BIOS and BMC firmware', async () => {
    const sim = fleet.instances[4]!;
    const inv = await driver(4).inspect();
    expect(inv).toMatchObject({ vendor: 'Contoso', model: '3500', serial: sim.serial, biosVersion: 'P79 v1.45 (12/06/2017)', bmcFirmwareVersion: '1.45.455b66-rev4', memoryGiB: 96 });
    // CPU2 is Status.State Absent in the mockup (ProcessorSummary still says 2): count installed CPUs.
    expect(inv.cpus).toMatchObject({ model: 'Multi-Core Intel(R) Xeon(R) processor 7xxx Series', count: 1, coresTotal: 8 });
    expect(inv.disks.map((x) => x.name)).toEqual(['SATA Bay 1', 'SATA Bay 2']);
    expect(inv.disks[0]!.sizeGiB).toBeCloseTo(8e12 / 2 ** 30, 0);
    // The two physical NICs only: not the VLAN (same MAC as NIC 1) nor the host interface to the BMC.
    const macs = inv.nics.map((n) => n.mac);
    expect(inv.nics.map((n) => n.name)).toEqual(['12446A3B0411', '12446A3B8890']);
    expect(macs).toEqual(sim.macs);
    for (const mac of macs) expect(mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    // Every instance is a distinct machine.
    const other = await driver(5).inspect();
    expect(other.serial).not.toBe(inv.serial);
    expect(other.nics.map((n) => n.mac)).not.toEqual(macs);
  });

  it('reports health: the mockup baseline, then a failed drive, a hot CPU, a dead PSU and new log entries', async () => {
    const sim = fleet.instances[5]!;
    const d = driver(5);
    const since = new Date().toISOString();
    const base = await d.health({ since });
    const byId = (r: typeof base, id: string) => r.components.find((c) => c.component === id);
    expect(byId(base, 'system:437XR1138R2')?.status).toBe('ok');
    expect(byId(base, 'sensor:1U:CPU1 Temp')).toMatchObject({ status: 'ok', reading: { value: 41, unit: 'Cel' } });
    expect(byId(base, 'cpu:CPU1')?.status).toBe('ok');
    expect(base.logEntries).toEqual([]);

    sim.setHealth({ kind: 'drive', drive: 'SATA Bay 1', state: 'failed' });
    sim.setHealth({ kind: 'cpu-temperature', celsius: 47 });
    sim.setHealth({ kind: 'psu', index: 0, state: 'failed' });
    const bad = await d.health({ since });
    expect(byId(bad, 'drive:SATA Bay 1')?.status).toBe('critical');
    expect(byId(bad, 'sensor:1U:CPU1 Temp')).toMatchObject({ status: 'critical', reading: { value: 47, unit: 'Cel' } });
    expect(byId(bad, 'psu:1U:0')?.status).toBe('critical');
    expect(bad.logEntries!.map((e) => e.severity)).toEqual(['critical', 'critical']);
    expect(bad.components.filter((c) => c.kind === 'log')).toHaveLength(2);

    sim.setHealth({ kind: 'cpu-temperature', celsius: 43 });
    expect(byId(await d.health({ since }), 'sensor:1U:CPU1 Temp')?.status).toBe('warning');
  });

  it('reads Sensors, ThermalSubsystem and PowerSubsystem where Chassis Thermal/Power are absent', async () => {
    const modern = await startRedfishSimFleet({ count: 1, legacyThermalPower: false, certificate: fleet.certificate! });
    try {
      const sim = modern.instances[0]!;
      const d = createRedfishDriver(modern.endpoint(0), FAST);
      const byId = (r: Awaited<ReturnType<typeof d.health>>, id: string) => r.components.find((c) => c.component === id);
      const base = await d.health();
      expect(byId(base, 'sensor:1U:Chassis Intake Temp')).toBeUndefined();
      // The mockup's own CPU sensor reads 44 °C against a 42 caution threshold.
      expect(byId(base, 'sensor:1U:CPU #1 Temperature')).toMatchObject({ kind: 'temperature', status: 'warning', reading: { value: 44, unit: 'Cel' } });
      expect(byId(base, 'fan:1U:Fan Bay 1')?.status).toBe('ok');
      // Bay1 carries a predictive-failure condition in the mockup; Bay2 is an empty bay (not reported).
      expect(byId(base, 'psu:1U:Bay1')?.status).toBe('warning');
      expect(byId(base, 'psu:1U:Bay2')).toBeUndefined();
      sim.setHealth({ kind: 'cpu-temperature', celsius: 50 });
      sim.setHealth({ kind: 'psu', index: 0, state: 'failed' });
      const bad = await d.health();
      expect(byId(bad, 'sensor:1U:CPU #1 Temperature')).toMatchObject({ status: 'critical', reading: { value: 50, unit: 'Cel' } });
      expect(byId(bad, 'psu:1U:Bay1')?.status).toBe('critical');
      await d.close();
    } finally {
      await modern.stop();
    }
  });

  it('reports predictive drive failure from Storage drives (public-localstorage) and inspects them', async () => {
    const local = await startRedfishSimFleet({ count: 1, mockup: 'public-localstorage', certificate: fleet.certificate! });
    try {
      const d = createRedfishDriver(local.endpoint(0), FAST);
      const inv = await d.inspect();
      expect(inv.disks).toHaveLength(4);
      expect(inv.disks.every((x) => x.mediaType === 'hdd' || x.mediaType === 'ssd')).toBe(true);
      expect(inv.disks.map((x) => x.serial)).toContain('1234570');
      const drive = local.instances[0]!.driveNames()[0]!;
      local.instances[0]!.setHealth({ kind: 'drive', drive, state: 'predictive' });
      const report = await d.health();
      const c = report.components.find((x) => x.component === `drive:${drive}`);
      expect(c?.status).toBe('warning');
      expect(c?.message).toMatch(/predictive failure/);
      await d.close();
    } finally {
      await local.stop();
    }
  });

  it('public-bladed has 4 systems: an error naming them unless systemId is set', async () => {
    const bladed = await startRedfishSimFleet({ count: 1, mockup: 'public-bladed', certificate: fleet.certificate! });
    try {
      const ambiguous = createRedfishDriver(bladed.endpoint(0), FAST);
      const err = await ambiguous.inspect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/4 systems .*529QB9450R6.*529QB9453R6/);
      await ambiguous.close();
      const one = createRedfishDriver(bladed.endpoint(0, { systemId: '529QB9452R6' }), FAST);
      const inv = await one.inspect();
      expect(inv.serial).toBe(`${bladed.instances[0]!.serial}-2`);
      await one.close();
      const missing = createRedfishDriver(bladed.endpoint(0, { systemId: 'nope' }), FAST);
      await expect(missing.powerState()).rejects.toThrow(/does not exist/);
      await missing.close();
    } finally {
      await bladed.stop();
    }
  });
});

async function fetchRaw(fleet: RedfishSimFleet, i: number, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const inst = fleet.instances[i]!;
    const auth = Buffer.from('admin:password').toString('base64');
    const res = await request(`https://127.0.0.1:${inst.port}${path}`, {
      method: method as 'PATCH',
      dispatcher: agent,
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await agent.close();
  }
}
