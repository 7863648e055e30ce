import { startLab } from '../../lab/lab.js';
import { LabView } from '../../lab/view.js';
import { intOption, parseCommandArgs } from '../args.js';
import { stopSignal, UsageError } from '../io.js';
import type { CommandRun } from './types.js';
import { untilAborted } from '../../clock.js';

export const LAB_USAGE = `Usage: anvil lab [--orders N] [--speed X] [--keep] [--plain]

Runs the whole lifecycle on this machine: a temporary data directory with embedded SQLite,
simulated Redfish BMCs with simulated servers that network-boot from Anvil's real DHCP, TFTP and
HTTP boot services on loopback, and the api, worker, boot and sweeper roles in this process.
Imports inventory.example.yaml, verifies the machines, places orders through the HTTP API, runs
a health sweep, injects a predictive drive failure on a delivered server, sweeps again, and ends
with the delivery report and the open incidents.
  --orders N   orders to place, alternately Morocco and Canada (default 5)
  --speed X    time compression of install time and deploy timeouts (default 1)
  --keep       leave the server running afterwards and print the API URL and tokens for curl
  --plain      one line per event even on a terminal (no screen redraw)`;

export const runLab: CommandRun = async (argv, _flags, env) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    { orders: { type: 'string' }, speed: { type: 'string' }, keep: { type: 'boolean' }, plain: { type: 'boolean' } },
    LAB_USAGE,
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, LAB_USAGE);
  const orders = intOption(values.orders, '--orders', { min: 1, max: 500 }, LAB_USAGE) ?? 5;
  const speed = values.speed === undefined ? 1 : Number(values.speed);
  if (!Number.isFinite(speed) || speed <= 0 || speed > 1000) throw new UsageError(`--speed must be a number in (0, 1000] (got ${String(values.speed)})`, LAB_USAGE);
  const io = env.io;
  const tty = !values.plain && Boolean(process.stdout.isTTY) && !io.env.CI;
  const view = new LabView(io.stdout, tty);

  view.setPhase('starting simulators and roles');
  const lab = await startLab({ orders, speed, onEvent: view.event });
  try {
    for (const note of lab.notes) io.stdout(`note: ${note}\n`);
    view.attach(lab);
    view.setPhase(`placing ${orders} orders, waiting for delivery, sweeping, injecting a drive fault`);
    const report = await lab.runScenario();
    view.setPhase('done');
    view.report(report);
    if (!values.keep) return 0;
    io.stdout(`\nAnvil's log: ${lab.dataDir}/anvil.log\n`);
    io.stdout(
      [
        '',
        'The lab keeps running (Ctrl-C stops it and deletes its data directory).',
        `  API:             ${lab.apiUrl}`,
        `  admin token:     ${lab.adminToken}`,
        `  pipeline token:  ${lab.pipelineToken}`,
        `  try:  curl -s -H "Authorization: Bearer ${lab.adminToken}" ${lab.apiUrl}/api/v1/machines`,
        `        curl -s -H "Authorization: Bearer ${lab.pipelineToken}" ${lab.apiUrl}/api/v1/orders`,
        '',
      ].join('\n'),
    );
    const stop = stopSignal(io);
    try {
      await untilAborted(stop.signal);
    } finally {
      stop.dispose();
    }
    return 0;
  } finally {
    view.detach();
    await lab.stop();
  }
};
