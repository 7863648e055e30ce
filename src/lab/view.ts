import type { Lab, LabEvent, LabReport } from './lab.js';

/**
 * The lab's terminal view: machines with their states, orders with their delivery clocks
 * counting down, and the latest events. On a TTY the screen is redrawn in place; otherwise every
 * event is printed as one plain line (CI logs, `| tee`).
 */

interface MachineRow {
  serial: string;
  site: string;
  provision_state: string;
  health: string;
  power_state: string | null;
}

interface OrderRow {
  external_id: string;
  country: string;
  status: string;
  machine_id: string | null;
  delivery_clock: { deadline_at: string; delivered_at: string | null; status: string };
}

const ESC = '\x1b[';
const COLOR: Record<string, string> = { met: '32', on_track: '36', at_risk: '33', breached: '31', missed: '31', available: '32', active: '32', deploying: '36', allocated: '36', wiping: '35', releasing: '35', failed: '31', enrolled: '90' };
const paint = (tty: boolean, s: string, key: string): string => (tty && COLOR[key] ? `${ESC}${COLOR[key]}m${s}${ESC}0m` : s);

/** `23h59m58s` until (or `-…` past) `deadline`. */
export function countdown(deadlineIso: string, now: Date): string {
  let s = Math.round((Date.parse(deadlineIso) - now.getTime()) / 1000);
  const sign = s < 0 ? '-' : '';
  s = Math.abs(s);
  return `${sign}${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m${String(s % 60).padStart(2, '0')}s`;
}

export class LabView {
  private readonly events: string[] = [];
  private machines: MachineRow[] = [];
  private orders: OrderRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lab: Lab | null = null;
  private phase = 'starting';
  private readonly started = Date.now();

  constructor(private readonly out: (s: string) => void, private readonly tty: boolean) {}

  event = (e: LabEvent): void => {
    const line = `${e.at.toISOString().slice(11, 23)}  ${e.source.padEnd(10)} ${e.message}`;
    if (!this.tty) {
      this.out(`${line}\n`);
      return;
    }
    this.events.push(line);
    if (this.events.length > 14) this.events.shift();
  };

  setPhase(phase: string): void {
    this.phase = phase;
    if (!this.tty) this.out(`== ${phase}\n`);
  }

  attach(lab: Lab): void {
    this.lab = lab;
    const refresh = async (): Promise<void> => {
      try {
        const [m, o] = await Promise.all([lab.api<{ items: MachineRow[] }>('GET', '/api/v1/machines?limit=200'), lab.api<{ items: OrderRow[] }>('GET', '/api/v1/orders?limit=200')]);
        if (m.status === 200) this.machines = [...m.body.items].sort((x, y) => x.site.localeCompare(y.site) || x.serial.localeCompare(y.serial));
        if (o.status === 200) this.orders = o.body.items;
      } catch {
        /* the lab is stopping */
      }
      if (this.tty) this.draw();
    };
    this.timer = setInterval(() => void refresh(), this.tty ? 250 : 1000);
    this.timer.unref();
  }

  detach(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private draw(): void {
    const now = new Date();
    const lines: string[] = [];
    lines.push(`anvil lab — ${this.phase}   (${((Date.now() - this.started) / 1000).toFixed(0)} s)   API ${this.lab?.apiUrl ?? ''}`);
    lines.push('');
    lines.push('MACHINE     SITE      STATE       HEALTH    POWER');
    for (const m of this.machines) {
      lines.push(`${m.serial.padEnd(11)} ${m.site.padEnd(9)} ${paint(this.tty, m.provision_state.padEnd(11), m.provision_state)} ${String(m.health).padEnd(9)} ${m.power_state ?? '-'}`);
    }
    lines.push('');
    lines.push('ORDER      COUNTRY  STATUS        CLOCK      DELIVERY CLOCK');
    for (const o of this.orders) {
      const c = o.delivery_clock;
      const clock = c.delivered_at ? `delivered ${countdown(c.deadline_at, new Date(c.delivered_at))} before the deadline` : `${countdown(c.deadline_at, now)} left`;
      lines.push(`${o.external_id.padEnd(10)} ${o.country.padEnd(8)} ${o.status.padEnd(13)} ${paint(this.tty, c.status.padEnd(10), c.status)} ${clock}`);
    }
    lines.push('');
    lines.push('EVENTS');
    lines.push(...this.events);
    this.out(`${ESC}H${ESC}2J${lines.join('\n')}\n`);
  }

  /** The closing summary: the delivery report and the open incidents. */
  report(r: LabReport): void {
    this.detach();
    if (this.tty) this.draw();
    const d = r.delivery as { counts?: Record<string, number>; on_time_percentage?: number | null; delivery_time_seconds?: { p50: number | null; p95: number | null; max: number | null }; misses?: unknown[] };
    const t = d.delivery_time_seconds;
    const out: string[] = [
      '',
      'DELIVERY REPORT',
      `  orders ${d.counts?.orders ?? 0}, delivered ${d.counts?.delivered ?? 0}, met ${d.counts?.met ?? 0}, missed ${d.counts?.missed ?? 0}, on time ${d.on_time_percentage ?? '-'} %`,
      `  delivery time p50 ${t?.p50 ?? '-'} s, p95 ${t?.p95 ?? '-'} s, max ${t?.max ?? '-'} s`,
      `  misses: ${d.misses?.length ? JSON.stringify(d.misses) : 'none'}`,
      '',
      `OPEN INCIDENTS (${r.incidents.length})`,
    ];
    for (const i of r.incidents) {
      out.push(`  ${String(i.machine_serial)} ${String(i.severity)} ${String(i.title)} — tier ${String(i.support_tier ?? '-')}, notify by ${String(i.notify_by ?? '-')}, resolve by ${String(i.resolve_by ?? '-')}`);
    }
    if (r.incidents.length === 0) out.push('  none');
    this.out(`${out.join('\n')}\n`);
  }
}
