import { jest } from '@jest/globals';
import { startLab, type Lab, type LabEvent, type LabReport } from '../../src/lab/lab.js';
import { pollUntil } from '../support/wait.js';

/**
 * The whole lifecycle, headless: the same lab `anvil lab` runs (simulated Redfish BMCs, simulated
 * servers doing real DHCP/TFTP/HTTP against Anvil's boot services on loopback, every role in
 * process), driven through the HTTP API the way the order pipeline drives it.
 */
jest.setTimeout(120_000);

describe('anvil lab, end to end', () => {
  let lab: Lab;
  let report: LabReport;
  const events: LabEvent[] = [];

  beforeAll(async () => {
    // ipmi: true, not "when installed": CI installs openipmi, and the IPMI path must not silently drop out.
    // The built-in Redfish mockup, as on a machine without ../shared (the integration tests use ../shared).
    lab = await startLab({ orders: 5, speed: 10, installSeconds: 3, logLevel: 'warn', ipmi: true, mockupsDir: 'builtin', onEvent: (e) => events.push(e) });
    report = await lab.runScenario();
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('runs on the Redfish mockup shipped with Anvil', () => {
    expect(lab.fleet.mockup.dir.endsWith('builtin/public-rackmount1.json')).toBe(true);
    expect(lab.notes.join('\n')).toContain("Anvil's built-in copy of the DMTF mockup");
  });

  it('delivers every order with its clock met, after real network boots', () => {
    expect(report.orders).toHaveLength(5);
    for (const o of report.orders) {
      expect(o.status).toBe('delivered');
      expect((o.delivery_clock as { status: string }).status).toBe('met');
    }
    // The boot traffic really happened: DHCP, TFTP of the iPXE binary, the script, the answer file, callbacks.
    const kinds = new Set(events.map((e) => e.message.split(' ')[0]));
    for (const k of ['dhcp', 'tftp', 'ipxe_script', 'answer_file', 'callback']) expect(kinds).toContain(k);
    const callbacks = events.filter((e) => e.message.startsWith('callback')).map((e) => e.message);
    expect(callbacks.filter((c) => c === 'callback first_boot')).toHaveLength(5);
    expect(report.delivery).toMatchObject({ counts: { orders: 5, delivered: 5, met: 5, missed: 0 }, on_time_percentage: 100, misses: [] });
  });

  it('deploys IPMI machines too: ipmi_sim BMCs power them and set PXE, and the servers boot from Anvil', async () => {
    const onIpmi = report.orders.filter((o) => lab.machines.find((m) => m.id === o.machine_id)?.protocol === 'ipmi');
    expect(onIpmi.length).toBeGreaterThanOrEqual(1);
    for (const o of onIpmi) {
      const m = lab.machines.find((x) => x.id === o.machine_id)!;
      expect(m.ipmiSim).not.toBeNull();
      const mine = events.filter((e) => e.source === m.serial).map((e) => e.message.split(' ')[0]);
      for (const k of ['power_on', 'dhcp', 'tftp', 'ipxe_script', 'answer_file', 'callback', 'disk_boot']) expect(mine).toContain(k);
      // After delivery the server runs from its disk, as ipmi_sim's boot device says.
      expect(m.ipmiSim!.power()).toBe('on');
      expect(m.ipmiSim!.bootDevice()).toBe('default');
    }
    // Every IPMI machine was verified through its BMC and took part in the sweeps without an incident.
    for (const m of lab.machines.filter((x) => x.protocol === 'ipmi')) {
      const row = await lab.ctx.knex('machines').where({ id: m.id }).first('provision_state', 'health');
      expect(['available', 'active']).toContain(row.provision_state);
      expect(row.health).toBe('ok');
    }
  });

  it('keeps data residency: Moroccan orders on Moroccan machines, Canadian on Canadian', async () => {
    for (const o of report.orders) {
      const machine = lab.machines.find((m) => m.id === o.machine_id);
      expect(machine).toBeDefined();
      expect(machine!.country).toBe(o.country);
    }
    const countries = new Set(report.orders.map((o) => o.country));
    expect(countries).toEqual(new Set(['MA', 'CA']));
  });

  it('detects the injected drive fault, opens an incident with tier deadlines and notifies the customer', async () => {
    expect(report.faultMachine).not.toBeNull();
    const victim = lab.machines.find((m) => m.serial === report.faultMachine)!;
    // A healthy fleet before the fault: the only open incident is the injected drive.
    expect(report.incidents).toHaveLength(1);
    const incident = report.incidents[0];
    expect(incident!.machine_id).toBe(victim.id);
    expect(String(incident!.component)).toContain(String(report.faultDrive));
    expect(incident!.status).toBe('open');
    expect(incident!.order_id).not.toBeNull();
    expect(incident!.support_tier).not.toBeNull();
    // Contract: the customer is informed within 30 minutes; resolution has a tier deadline.
    expect(Date.parse(String(incident!.notify_by)) - Date.parse(String(incident!.opened_at))).toBe(30 * 60_000);
    expect(incident!.resolve_by).not.toBeNull();
    const row = await lab.ctx.knex('notifications').where({ event: 'incident.opened', subject_id: incident!.id }).first();
    expect(row).toBeDefined();
  });

  it('terminates a delivered order at the customer\'s request: wiped through PXE and back to available', async () => {
    const order = report.orders.find((o) => lab.machines.find((m) => m.id === o.machine_id)?.serial !== report.faultMachine)!;
    const machineId = String(order.machine_id);
    const refused = await lab.api('POST', `/api/v1/orders/${String(order.id)}/terminate`, {}, { token: lab.pipelineToken });
    expect(refused.status).toBe(422);
    const accepted = await lab.api('POST', `/api/v1/orders/${String(order.id)}/terminate`, { customer_request_ref: 'TICKET-4242', reason: 'customer cancels' }, { token: lab.pipelineToken });
    expect(accepted.status).toBe(202);
    let machine: Record<string, unknown> = {};
    await pollUntil(async () => {
      machine = (await lab.api('GET', `/api/v1/machines/${machineId}`)).body;
      return machine.provision_state === 'available' || machine.provision_state === 'failed';
    }, 40_000, 200);
    expect(machine.provision_state).toBe('available');
    const wf = await lab.ctx.knex('workflows').where({ machine_id: machineId, kind: 'release' }).first();
    expect(wf.status).toBe('succeeded');
    const serial = lab.machines.find((m) => m.id === machineId)!.serial;
    const wipeScript = events.find((e) => e.source === serial && e.message === 'ipxe_script wipe');
    expect(wipeScript).toBeDefined();
  });

  it('records the audit trail: imports, orders, deliveries, terminations', async () => {
    const actions = new Set((await lab.ctx.knex('audit_log').pluck('action')) as string[]);
    for (const a of ['site.create', 'rack.create', 'machine.create', 'machine.verify', 'order.create', 'machine.allocate', 'machine.deploy', 'order.deliver', 'order.terminate', 'machine.release', 'incident.open']) {
      expect(actions).toContain(a);
    }
    const deliveries = await lab.ctx.knex('audit_log').where({ action: 'order.deliver' }).count({ n: '*' }).first();
    expect(Number(deliveries!.n)).toBe(5);
  });
});
