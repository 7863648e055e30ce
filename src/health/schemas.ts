import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

/** Request and response shapes of the health API (sweeps, machine health, incidents, maintenance). */

const Iso = z.string().openapi({ description: 'ISO 8601 UTC time', example: '2026-11-26T10:00:00.000Z' });
const Id = z.string().min(1).max(128);
const DeadlineStatusEnum = z.enum(['on_track', 'at_risk', 'breached', 'met', 'missed']);
const SeverityEnum = z.enum(['major', 'minor']);
const Limit = z.coerce.number().int().min(1).max(1000).default(100);

export const IdParams = z.object({ id: Id }).strict();

export const SweepCreate = z
  .object({
    site: z.string().min(1).max(32).optional().openapi({ description: 'Site code; omit (and machine) to sweep every site' }),
    machine: Id.optional().openapi({ description: 'Machine id or serial: sweep only this machine' }),
  })
  .strict()
  .openapi('SweepCreate');

export const Sweep = z
  .object({
    id: z.string(),
    site_code: z.string().nullable(),
    machine_id: z.string().nullable(),
    trigger: z.enum(['schedule', 'demand']),
    status: z.enum(['running', 'done', 'failed']),
    total: z.number().int(),
    done: z.number().int(),
    errors: z.number().int().openapi({ description: 'Machines whose BMC could not be checked (reported unknown)' }),
    error: z.string().nullable(),
    started_at: Iso,
    finished_at: Iso.nullable(),
    duration_ms: z.number().int().nullable(),
    requested_by: z.string(),
  })
  .openapi('Sweep');

export const SweepList = z.object({ items: z.array(Sweep) }).openapi('SweepList');
export const SweepListQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(20) }).strict();

const Component = z.object({
  component: z.string(),
  kind: z.string(),
  status: z.enum(['ok', 'warning', 'critical', 'unknown']),
  reading: z.object({ value: z.number(), unit: z.string() }).nullable(),
  message: z.string(),
  consecutive_ok: z.number().int(),
  last_seen_at: Iso,
  changed_at: Iso,
});

export const MachineHealthQuery = z.object({ history_limit: z.coerce.number().int().min(0).max(1000).default(100) }).strict();

export const MachineHealth = z
  .object({
    machine_id: z.string(),
    serial: z.string(),
    health: z.enum(['ok', 'degraded', 'failed', 'unknown']),
    power_state: z.string(),
    maintenance: z.boolean(),
    last_checked_at: Iso.nullable(),
    last_sweep_id: z.string().nullable(),
    components: z.array(Component),
    history: z.array(
      z.object({
        sweep_id: z.string().nullable(),
        component: z.string(),
        kind: z.string(),
        status: z.string(),
        reading: z.object({ value: z.number(), unit: z.string() }).nullable(),
        message: z.string(),
        at: Iso,
      }),
    ),
  })
  .openapi('MachineHealth');

export const Incident = z
  .object({
    id: z.string(),
    machine_id: z.string(),
    machine_serial: z.string(),
    component: z.string(),
    order_id: z.string().nullable(),
    customer_id: z.string().nullable(),
    support_tier: z.enum(['unmanaged', 'managed', 'fully_managed']).nullable(),
    severity: SeverityEnum,
    status: z.enum(['open', 'acknowledged', 'resolved']),
    source: z.enum(['auto', 'technician']),
    title: z.string(),
    message: z.string().nullable(),
    opened_at: Iso,
    acknowledged_at: Iso.nullable(),
    resolved_at: Iso.nullable(),
    notify_by: Iso.nullable().openapi({ description: 'Contract: customer informed within 30 minutes' }),
    process_by: Iso.nullable().openapi({ description: 'Contract: major incident processed (managed 2 h, fully managed 30 min)' }),
    resolve_by: Iso.nullable().openapi({ description: 'Contract: resolved (managed 4 h, fully managed 2 h)' }),
    notified_at: Iso.nullable(),
    deadline_status: DeadlineStatusEnum.nullable(),
    healthy_sweeps: z.number().int(),
    resolved_reason: z.string().nullable(),
    opened_by: z.string(),
    resolved_by: z.string().nullable(),
  })
  .openapi('Incident');

export const IncidentDetail = Incident.extend({
  notes: z.array(z.object({ at: Iso, author: z.string(), text: z.string() })),
  interventions: z.array(z.object({ minutes: z.number().int(), by: z.string(), at: Iso, note: z.string().nullable() })),
  intervention_minutes: z.number().int(),
}).openapi('IncidentDetail');

export const IncidentList = z.object({ items: z.array(Incident) }).openapi('IncidentList');

export const IncidentListQuery = z
  .object({
    status: z.enum(['open', 'acknowledged', 'resolved', 'unresolved']).optional(),
    severity: SeverityEnum.optional(),
    deadline_status: DeadlineStatusEnum.optional(),
    machine: Id.optional(),
    customer: z.string().min(1).max(200).optional(),
    limit: Limit,
  })
  .strict();

export const IncidentCreate = z
  .object({
    machine: Id.openapi({ description: 'Machine id or serial' }),
    severity: SeverityEnum,
    title: z.string().trim().min(1).max(300),
    message: z.string().max(4000).optional(),
    component: z.string().trim().min(1).max(200).optional().openapi({ description: 'Defaults to a unique manual:<id>' }),
  })
  .strict()
  .openapi('IncidentCreate');

export const AcknowledgeBody = z.object({ note: z.string().max(4000).optional() }).strict();
export const NoteBody = z.object({ text: z.string().trim().min(1).max(4000) }).strict();
export const InterventionBody = z
  .object({
    minutes: z.number().int().min(1).max(1440),
    note: z.string().max(4000).optional(),
    at: z.iso.datetime({ offset: true }).optional().openapi({ description: 'When the work was done (default now)' }),
  })
  .strict();
export const ResolveBody = z.object({ reason: z.string().trim().min(1).max(4000) }).strict();

export const InterventionReportQuery = z.object({ month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'YYYY-MM') }).strict();
export const InterventionReport = z
  .object({
    month: z.string(),
    customers: z.array(
      z.object({
        customer_id: z.string(),
        support_tier: z.enum(['unmanaged', 'managed', 'fully_managed']),
        incidents: z.number().int(),
        intervention_minutes: z.number().int(),
        allowance_minutes: z.number().int(),
        over_allowance_minutes: z.number().int(),
      }),
    ),
  })
  .openapi('InterventionReport');

export const MaintenanceWindowCreate = z
  .object({
    scope: z.enum(['machine', 'rack', 'site']),
    target: z.string().min(1).max(200).openapi({ description: 'Machine id or serial; rack id or SITE/rack-name; site code' }),
    starts_at: z.iso.datetime({ offset: true }),
    ends_at: z.iso.datetime({ offset: true }),
    reason: z.string().trim().min(1).max(2000),
  })
  .strict()
  .openapi('MaintenanceWindowCreate');

export const MaintenanceWindow = z
  .object({
    id: z.string(),
    scope: z.enum(['machine', 'rack', 'site']),
    target_id: z.string(),
    target_name: z.string(),
    starts_at: Iso,
    ends_at: Iso,
    reason: z.string(),
    notified: z.boolean(),
    notified_customers: z.number().int(),
    created_by: z.string(),
    created_at: Iso,
    cancelled_at: Iso.nullable(),
  })
  .openapi('MaintenanceWindow');

export const MaintenanceWindowList = z.object({ items: z.array(MaintenanceWindow) }).openapi('MaintenanceWindowList');
export const MaintenanceListQuery = z.object({ include_past: z.stringbool().optional() }).strict();
