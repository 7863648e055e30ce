import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { MAC_INPUT_PATTERN, normaliseMac } from './mac.js';

/**
 * Wire shapes of the inventory capability: request bodies and queries (validated by the API,
 * the importer and the service itself) and responses. Field names are snake_case, every input
 * object is strict (unknown fields are refused), and regexes carry no flags so the OpenAPI
 * export keeps them valid. Names registered with `.openapi(name)` become OpenAPI components.
 */
extendZodWithOpenApi(z);

const isoTime = z.string().openapi({ format: 'date-time', example: '2026-11-26T10:55:32.123Z' });

export const SiteCode = z
  .string()
  .min(2)
  .max(32)
  .regex(/^[A-Z0-9]+(-[A-Z0-9]+)*$/, 'upper-case letters, digits and dashes, e.g. MA-NOU1')
  .openapi({ example: 'MA-NOU1' });

/** True for an IANA time zone name this Node build knows. */
export function isIanaTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz.length > 0;
  } catch {
    return false;
  }
}

const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine(isIanaTimeZone, 'not an IANA time zone (e.g. Africa/Casablanca)')
  .openapi({ example: 'Africa/Casablanca' });

const Country = z
  .string()
  .regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2 code in upper case, e.g. MA')
  .openapi({ example: 'MA' });

const SiteFields = {
  name: z.string().min(1).max(200),
  country: Country,
  city: z.string().min(1).max(200),
  timezone: TimeZone,
  delivery_window_hours: z.number().int().min(1).max(24 * 30),
};

export const SiteCreate = z
  .object({ code: SiteCode, ...SiteFields, delivery_window_hours: SiteFields.delivery_window_hours.default(24) })
  .strict()
  .openapi('SiteCreate');

export const SitePatch = z
  .object({
    name: SiteFields.name.optional(),
    country: SiteFields.country.optional(),
    city: SiteFields.city.optional(),
    timezone: SiteFields.timezone.optional(),
    delivery_window_hours: SiteFields.delivery_window_hours.optional(),
  })
  .strict()
  .openapi('SitePatch');

export const Site = z
  .object({
    id: z.string(),
    code: z.string(),
    name: z.string(),
    country: z.string(),
    city: z.string(),
    timezone: z.string(),
    delivery_window_hours: z.number().int(),
    created_at: isoTime,
    updated_at: isoTime,
  })
  .openapi('Site');

const RackName = z.string().min(1).max(64).regex(/^[^\s/]+( [^\s/]+)*$/, 'no slashes, no leading/trailing or repeated spaces');

export const RackCreate = z
  .object({
    site: SiteCode,
    name: RackName,
    row: z.string().min(1).max(64).nullish(),
    height_u: z.number().int().min(1).max(64).default(42),
  })
  .strict()
  .openapi('RackCreate');

export const RackPatch = z
  .object({
    name: RackName.optional(),
    row: z.string().min(1).max(64).nullish(),
    height_u: z.number().int().min(1).max(64).optional(),
  })
  .strict()
  .openapi('RackPatch');

export const Rack = z
  .object({
    id: z.string(),
    site: z.string(),
    name: z.string(),
    row: z.string().nullable(),
    height_u: z.number().int(),
    created_at: isoTime,
    updated_at: isoTime,
  })
  .openapi('Rack');

export const Mac = z
  .string()
  .regex(new RegExp(MAC_INPUT_PATTERN), 'not a MAC address')
  .transform((v) => normaliseMac(v)!)
  .openapi({ example: '52:54:00:12:34:56', description: 'aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabb.ccdd.eeff; stored lower-case with colons' });

/**
 * `verify` (system CAs), `insecure` (no check; lab only) or `sha256:<fingerprint>` to pin the
 * BMC's certificate (64 hex digits, colons between bytes allowed). Fingerprints are stored and
 * returned as `sha256:` + 64 lower-case hex digits.
 */
export const TlsPolicy = z
  .string()
  .regex(/^(verify|insecure|sha256:[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){31})$/, 'verify, insecure or sha256:<64 hex digits>')
  .transform((v) => (v.startsWith('sha256:') ? 'sha256:' + v.slice(7).replace(/:/g, '').toLowerCase() : v))
  .openapi({ example: 'verify' });

const Host = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$/, 'a host name, IPv4 or IPv6 address');

export const BmcProtocolSchema = z.enum(['redfish', 'ipmi']);

const BmcFields = {
  protocol: BmcProtocolSchema,
  host: Host,
  port: z.number().int().min(1).max(65535).nullish(),
  username: z.string().min(1).max(128),
  password: z.string().min(1).max(256),
  tls: TlsPolicy.default('verify'),
  system_id: z.string().min(1).max(255).nullish(),
};

export const BmcInput = z.object(BmcFields).strict().openapi('BmcInput');

/** BMC part of a machine patch: given fields replace stored ones; an absent password keeps the stored one. */
export const BmcPatch = z
  .object({
    protocol: BmcFields.protocol.optional(),
    host: BmcFields.host.optional(),
    port: BmcFields.port,
    username: BmcFields.username.optional(),
    password: BmcFields.password.optional(),
    tls: TlsPolicy.optional(),
    system_id: BmcFields.system_id,
  })
  .strict()
  .openapi('BmcPatch');

export const Bmc = z
  .object({
    protocol: z.string(),
    host: z.string(),
    port: z.number().int().nullable(),
    username: z.string(),
    password_set: z.literal(true),
    tls: z.string(),
    system_id: z.string().nullable(),
  })
  .openapi('Bmc');

export const Ipv4Reservation = z
  .object({
    address: z.ipv4(),
    prefix: z.number().int().min(1).max(32),
    gateway: z.ipv4().nullish(),
  })
  .strict()
  .openapi('Ipv4Reservation');

export const NicInput = z
  .object({
    name: z.string().min(1).max(64),
    mac: Mac,
    pxe: z.boolean().default(false),
    switch: z.string().min(1).max(128).nullish(),
    switch_port: z.string().min(1).max(64).nullish(),
    ipv4: Ipv4Reservation.nullish(),
  })
  .strict()
  .openapi('NicInput');

export const Nic = z
  .object({
    name: z.string(),
    mac: z.string(),
    pxe: z.boolean(),
    switch: z.string().nullable(),
    switch_port: z.string().nullable(),
    ipv4: z.object({ address: z.string(), prefix: z.number().int(), gateway: z.string().nullable() }).nullable(),
  })
  .openapi('Nic');

/** Every NIC of a machine has its own MAC and name. */
function uniqueNics(nics: { mac: string; name: string }[], ctx: z.RefinementCtx): void {
  const macs = new Map<string, number>();
  const names = new Map<string, number>();
  nics.forEach((nic, i) => {
    if (macs.has(nic.mac)) ctx.addIssue({ code: 'custom', path: [i, 'mac'], message: `duplicate MAC ${nic.mac} (also nics[${macs.get(nic.mac)}])` });
    else macs.set(nic.mac, i);
    if (names.has(nic.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate NIC name ${nic.name} (also nics[${names.get(nic.name)}])` });
    else names.set(nic.name, i);
  });
}

const NicList = z.array(NicInput).max(64).superRefine(uniqueNics);

const MachineFields = {
  serial: z.string().min(1).max(128),
  asset_tag: z.string().min(1).max(128).nullish(),
  vendor: z.string().min(1).max(128).nullish(),
  model: z.string().min(1).max(128).nullish(),
  hardware_profile: z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, dot, dash, underscore'),
  site: SiteCode,
  rack: RackName.nullish(),
  rack_unit: z.number().int().min(1).max(64).nullish(),
};

function rackUnitNeedsRack(m: { rack?: string | null; rack_unit?: number | null }, ctx: z.RefinementCtx): void {
  if (m.rack_unit != null && m.rack == null) ctx.addIssue({ code: 'custom', path: ['rack_unit'], message: 'rack_unit needs a rack' });
}

export const MachineCreate = z
  .object({ ...MachineFields, bmc: BmcInput, nics: NicList.default([]) })
  .strict()
  .superRefine(rackUnitNeedsRack)
  .openapi('MachineCreate');

/** Given fields replace stored ones; `nics`, when given, is the complete new list (matched by MAC). */
export const MachinePatch = z
  .object({
    asset_tag: MachineFields.asset_tag,
    vendor: MachineFields.vendor,
    model: MachineFields.model,
    hardware_profile: MachineFields.hardware_profile.optional(),
    site: MachineFields.site.optional(),
    rack: MachineFields.rack,
    rack_unit: MachineFields.rack_unit,
    bmc: BmcPatch.optional(),
    nics: NicList.optional(),
  })
  .strict()
  .openapi('MachinePatch');

export const Machine = z
  .object({
    id: z.string(),
    serial: z.string(),
    asset_tag: z.string().nullable(),
    vendor: z.string().nullable(),
    model: z.string().nullable(),
    hardware_profile: z.string(),
    site: z.string(),
    rack: z.string().nullable(),
    rack_unit: z.number().int().nullable(),
    provision_state: z.string(),
    last_error: z.string().nullable(),
    maintenance: z.boolean(),
    maintenance_reason: z.string().nullable(),
    health: z.string(),
    power_state: z.string(),
    power_state_at: isoTime.nullable(),
    hardware: z.record(z.string(), z.unknown()).nullable(),
    /** Set by inspection when the BMC reports MACs that inventory lacks, or the reverse. */
    inventory_mismatch: z.object({ missing_from_inventory: z.array(z.string()), missing_from_bmc: z.array(z.string()) }).nullable(),
    inspected_at: isoTime.nullable(),
    bmc: Bmc.nullable(),
    nics: z.array(Nic),
    created_at: isoTime,
    updated_at: isoTime,
  })
  .openapi('Machine');

/**
 * The inventory file (`anvil inventory import`, `POST /v1/inventory/import`): sites with their
 * racks, and machines. Like MachineCreate, except that racks are nested in their site and a
 * machine's BMC password may be left out when the machine already exists (the stored one is
 * kept, which is what an export without secrets relies on).
 */
export const InventoryRack = z
  .object({ name: RackName, row: z.string().min(1).max(64).nullish(), height_u: z.number().int().min(1).max(64).default(42) })
  .strict()
  .openapi('InventoryFileRack');

export const InventorySite = z
  .object({
    code: SiteCode,
    ...SiteFields,
    delivery_window_hours: SiteFields.delivery_window_hours.default(24),
    racks: z.array(InventoryRack).default([]),
  })
  .strict()
  .openapi('InventoryFileSite');

export const InventoryBmc = z.object({ ...BmcFields, password: BmcFields.password.optional() }).strict().openapi('InventoryFileBmc');

export const InventoryMachine = z
  .object({ ...MachineFields, bmc: InventoryBmc, nics: NicList.default([]) })
  .strict()
  .superRefine(rackUnitNeedsRack)
  .openapi('InventoryFileMachine');

export const InventoryDocument = z
  .object({ sites: z.array(InventorySite).default([]), machines: z.array(InventoryMachine).default([]) })
  .strict()
  .openapi('InventoryFile');

export const ImportProblem = z
  .object({ file: z.string(), line: z.number().int().optional(), field: z.string(), message: z.string() })
  .openapi('InventoryImportProblem');

export const ImportReportSchema = z
  .object({
    created: z.array(z.object({ kind: z.enum(['site', 'rack', 'machine']), key: z.string() })),
    updated: z.array(z.object({ kind: z.enum(['site', 'rack', 'machine']), key: z.string(), fields: z.array(z.string()) })),
    unchanged: z.number().int(),
    dryRun: z.boolean(),
  })
  .openapi('InventoryImportReport');

export type InventoryDocumentOutput = z.output<typeof InventoryDocument>;

const Limit = z.coerce.number().int().min(1).max(500).default(50);
const Cursor = z.string().min(1).max(1024);
const BoolQuery = z.union([z.boolean(), z.stringbool()]);
const StateName = z.string().min(1).max(32).regex(/^[a-z][a-z_-]*$/, 'a state name such as available');

export const MachineListQuery = z
  .object({
    site: SiteCode.optional(),
    /** Rack id, or rack name (combine with `site` when names repeat across sites). */
    rack: z.string().min(1).max(64).optional(),
    state: StateName.optional(),
    health: StateName.optional(),
    profile: z.string().min(1).max(64).optional(),
    maintenance: BoolQuery.optional(),
    limit: Limit,
    cursor: Cursor.optional(),
  })
  .strict()
  .openapi('MachineListQuery');

export const SiteListQuery = z.object({ limit: Limit, cursor: Cursor.optional() }).strict().openapi('SiteListQuery');

export const RackListQuery = z
  .object({ site: SiteCode.optional(), limit: Limit, cursor: Cursor.optional() })
  .strict()
  .openapi('RackListQuery');

export const MaintenanceRequest = z
  .object({ enabled: z.boolean(), reason: z.string().trim().min(1).max(1000).optional() })
  .strict()
  .superRefine((r, ctx) => {
    if (r.enabled && !r.reason) ctx.addIssue({ code: 'custom', path: ['reason'], message: 'a reason is required when enabling maintenance' });
  })
  .openapi('MaintenanceRequest');

/** `{items, next_cursor}`: build a page schema for any item schema (OpenAPI gets one per name). */
export function Page<T extends z.ZodType>(item: T, name: string) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() }).openapi(name);
}
export const SitePage = Page(Site, 'SitePage');
export const RackPage = Page(Rack, 'RackPage');
export const MachinePage = Page(Machine, 'MachinePage');

export type SiteCreateInput = z.input<typeof SiteCreate>;
export type SitePatchInput = z.input<typeof SitePatch>;
export type SiteOutput = z.output<typeof Site>;
export type RackCreateInput = z.input<typeof RackCreate>;
export type RackPatchInput = z.input<typeof RackPatch>;
export type RackOutput = z.output<typeof Rack>;
export type BmcInputType = z.input<typeof BmcInput>;
export type BmcOutput = z.output<typeof Bmc>;
export type NicInputType = z.input<typeof NicInput>;
export type NicOutput = z.output<typeof Nic>;
export type MachineCreateInput = z.input<typeof MachineCreate>;
export type MachinePatchInput = z.input<typeof MachinePatch>;
export type MachineOutput = z.output<typeof Machine>;
export type MachineListQueryInput = z.input<typeof MachineListQuery>;
export type SiteListQueryInput = z.input<typeof SiteListQuery>;
export type RackListQueryInput = z.input<typeof RackListQuery>;
export type MaintenanceRequestInput = z.input<typeof MaintenanceRequest>;
