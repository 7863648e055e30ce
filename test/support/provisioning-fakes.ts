import type { BootIntents, DeploymentCallback, DeploymentSpec } from '../../src/provisioning/ports.js';
import type { BmcDriver, PowerAction, BootDeviceRequest } from '../../src/bmc/driver.js';
import type { ManualClock } from '../../src/clock.js';

/** Records what the workflow asked of each BMC. */
export class RecordingBmcs {
  readonly calls: string[] = [];
  power = new Map<string, 'on' | 'off'>();
  driverFor = async (machineId: string): Promise<BmcDriver> => {
    const self = this;
    return {
      protocol: 'fake',
      async verify() {},
      async powerState() { return self.power.get(machineId) ?? 'off'; },
      async setPower(action: PowerAction) { self.calls.push(`${machineId}:power:${action}`); self.power.set(machineId, action === 'off' || action === 'soft-off' ? 'off' : 'on'); },
      async setBootDevice(req: BootDeviceRequest) { self.calls.push(`${machineId}:boot:${req.device}:${req.persistent ? 'persistent' : 'once'}`); },
      async getBootDevice() { return { device: 'none', persistent: false, mode: 'unknown' }; },
      async inspect() { throw new Error('not used'); },
      async health() { return { components: [] }; },
      async close() {},
    };
  };
}

/** Boot intents with installer behaviour the test scripts: machines "boot" when powered on. */
export class ScriptedBoot implements BootIntents {
  deployments = new Map<string, { machineId: string; spec: DeploymentSpec; callbacks: DeploymentCallback[]; outcome?: string }>();
  pxe = new Map<string, string>();
  failInstallOn = new Set<string>();
  constructor(private readonly clock: ManualClock) {}
  async prepare(machineId: string, spec: DeploymentSpec) {
    const id = `dep-${this.deployments.size + 1}`;
    this.deployments.set(id, { machineId, spec, callbacks: [] });
    return { deploymentId: id };
  }
  async callbacks(id: string) { return this.deployments.get(id)!.callbacks; }
  async pxeSeenSince(machineId: string, since: string) { const at = this.pxe.get(machineId); return !!at && at >= since; }
  async finish(id: string, outcome: string) { this.deployments.get(id)!.outcome = outcome; }
  /** What a machine does once powered on with PXE set: network boot, install, reboot, first boot. */
  playInstaller(machineId: string) {
    const now = this.clock.now().toISOString();
    this.pxe.set(machineId, now);
    for (const d of this.deployments.values()) {
      if (d.machineId !== machineId || d.outcome) continue;
      if (this.failInstallOn.has(machineId)) d.callbacks.push({ event: 'failed', at: now, detail: { reason: 'disk not found' } });
      else d.callbacks.push({ event: 'started', at: now, detail: null }, { event: 'installed', at: now, detail: null }, { event: 'first_boot', at: now, detail: null });
    }
  }
}

