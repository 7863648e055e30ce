import { CONFIG_FLAGS_HELP, parseCommandArgs } from '../args.js';
import { openCliContext } from '../context.js';
import { UsageError } from '../io.js';
import { buildRuntime } from '../runtime.js';
import { formatTable } from './token.js';
import type { CommandRun } from './types.js';

export const MACHINE_USAGE = `Usage:
  anvil machine power ID on|off|soft-off|cycle|reset [--reason TEXT]   change power through the BMC
  anvil machine power ID status                                        read the power state from the BMC
  anvil machine boot ID pxe|disk|bios [--persistent] [--legacy]        set the next (or every) boot device
  anvil machine inspect ID                                             read CPUs, memory, disks, NICs; store them
  anvil machine verify ID | --all                                      enrolled → available when the BMC answers

ID is a machine id or serial number. A machine serving a customer needs --reason to change power.

${CONFIG_FLAGS_HELP}`;

export const runMachine: CommandRun = async (argv, flags, env) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    { reason: { type: 'string' }, persistent: { type: 'boolean' }, legacy: { type: 'boolean' }, all: { type: 'boolean' } },
    MACHINE_USAGE,
  );
  const [action, id, arg, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, MACHINE_USAGE);
  const need = (ok: boolean, message: string): void => {
    if (!ok) throw new UsageError(message, MACHINE_USAGE);
  };
  switch (action) {
    case 'power':
      need(!!id && !!arg && ['on', 'off', 'soft-off', 'cycle', 'reset', 'status'].includes(arg), 'machine power needs ID and on|off|soft-off|cycle|reset|status');
      break;
    case 'boot':
      need(!!id && !!arg && ['pxe', 'disk', 'bios'].includes(arg), 'machine boot needs ID and pxe|disk|bios');
      break;
    case 'inspect':
      need(!!id && !arg, 'machine inspect needs exactly one ID');
      break;
    case 'verify':
      need(values.all ? !id : !!id && !arg, 'machine verify needs one ID, or --all');
      break;
    default:
      throw new UsageError(action ? `unknown machine action "${action}"` : 'machine needs an action: power, boot, inspect or verify', MACHINE_USAGE);
  }

  const ctx = await openCliContext(env.loadConfig(flags), { io: env.io });
  const rt = buildRuntime(ctx);
  try {
    if (action === 'power' && arg === 'status') {
      const s = await rt.machines.powerState(id!);
      ctx.stdout(`${s.power_state}\n`);
    } else if (action === 'power') {
      const s = await rt.machines.power(id!, { action: arg, ...(values.reason ? { reason: String(values.reason) } : {}) }, ctx.actor);
      ctx.stdout(`${arg}: power is now ${s.power_state}\n`);
    } else if (action === 'boot') {
      const b = await rt.machines.setBootDevice(id!, { device: arg, persistent: !!values.persistent, mode: values.legacy ? 'legacy' : 'uefi' }, ctx.actor);
      ctx.stdout(`boot device ${b.device} (${b.persistent ? 'every boot' : 'next boot only'}, ${b.mode})\n`);
    } else if (action === 'inspect') {
      const m = await rt.machines.inspect(id!, ctx.actor);
      const hw = (m.hardware ?? {}) as { vendor?: string; model?: string; cpus?: { model?: string; count?: number }; memoryGiB?: number; disks?: unknown[]; nics?: { mac: string }[] };
      ctx.stdout(`${m.serial}: ${hw.vendor ?? '?'} ${hw.model ?? '?'}; CPU ${hw.cpus?.count ?? '?'} × ${hw.cpus?.model ?? '?'}; memory ${hw.memoryGiB ?? '?'} GiB; ${hw.disks?.length ?? 0} disks; NICs ${(hw.nics ?? []).map((n) => n.mac).join(' ') || '-'}\n`);
      if (m.inventory_mismatch) {
        ctx.stdout(`MAC mismatch: the BMC reports ${m.inventory_mismatch.missing_from_inventory.join(' ') || 'nothing'} that inventory lacks; inventory has ${m.inventory_mismatch.missing_from_bmc.join(' ') || 'nothing'} the BMC does not report\n`);
      }
    } else if (values.all) {
      const results = await rt.machines.verifyAll(ctx.actor);
      ctx.stdout(formatTable(['SERIAL', 'STATE', 'PROBLEM'], results.map((r) => [r.serial, r.provision_state, r.last_error ?? '-'])));
      if (results.some((r) => r.last_error)) return 1;
    } else {
      const r = await rt.machines.verify(id!, ctx.actor);
      ctx.stdout(`${r.provision_state}${r.last_error ? `: ${r.last_error}` : ''}\n`);
      if (r.last_error) return 1;
    }
    return 0;
  } finally {
    await rt.registry.closeAll();
    await ctx.close();
  }
};
