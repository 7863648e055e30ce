import type { Knex } from 'knex';
import { Document } from 'yaml';
import type { SecretBox } from '../secrets/secret-box.js';
import { bmcFromRow, machineFromRow, nicFromRow, rackFromRow, siteFromRow } from './rows.js';

type Row = Record<string, unknown>;

/**
 * The whole inventory as an import document: importing the output into the same database
 * reports no changes, and into an empty one recreates the sites, racks and machines (BMC
 * passwords included only with `withSecrets`; without them the import keeps stored passwords,
 * and new machines need them added). Operational state (provision state, maintenance, health,
 * inspected hardware) is not part of the inventory file and is not exported.
 */
export async function exportInventory(knex: Knex, secrets: SecretBox, opts: { withSecrets: boolean; now: string }): Promise<string> {
  const sites = (await knex('sites').orderBy('code')).map(siteFromRow);
  const racks = (await knex('racks as r').join('sites as s', 's.id', 'r.site_id').select('r.*', 's.code as site_code').orderBy([{ column: 's.code' }, { column: 'r.name' }])).map(rackFromRow);
  const machineRows: Row[] = await knex('machines as m')
    .join('sites as s', 's.id', 'm.site_id')
    .leftJoin('racks as r', 'r.id', 'm.rack_id')
    .select('m.*', 's.code as site_code', 'r.name as rack_name')
    .orderBy('m.serial');
  const bmcs = new Map<string, Row>((await knex('machine_bmcs').select('*')).map((b: Row) => [String(b.machine_id), b]));
  const nics = new Map<string, Row[]>();
  for (const n of await knex('nics').orderBy([{ column: 'machine_id' }, { column: 'name' }, { column: 'mac' }])) {
    const list = nics.get(String(n.machine_id)) ?? [];
    list.push(n);
    nics.set(String(n.machine_id), list);
  }

  const data = {
    sites: sites.map((s) => ({
      code: s.code,
      name: s.name,
      country: s.country,
      city: s.city,
      timezone: s.timezone,
      delivery_window_hours: s.delivery_window_hours,
      racks: racks.filter((r) => r.site === s.code).map((r) => compact({ name: r.name, row: r.row, height_u: r.height_u })),
    })),
    machines: machineRows.map((row) => {
      const m = machineFromRow(row, undefined, []);
      const bmcRow = bmcs.get(m.id);
      const bmc = bmcRow ? bmcFromRow(bmcRow) : null;
      return compact({
        serial: m.serial,
        asset_tag: m.asset_tag,
        vendor: m.vendor,
        model: m.model,
        hardware_profile: m.hardware_profile,
        site: m.site,
        rack: m.rack,
        rack_unit: m.rack_unit,
        bmc: bmc
          ? compact({
              protocol: bmc.protocol,
              host: bmc.host,
              port: bmc.port,
              username: bmc.username,
              password: opts.withSecrets ? secrets.open(String(bmcRow!.password_enc)) : null,
              tls: bmc.tls,
              system_id: bmc.system_id,
            })
          : null,
        nics: (nics.get(m.id) ?? []).map(nicFromRow).map((n) =>
          compact({ name: n.name, mac: n.mac, pxe: n.pxe, switch: n.switch, switch_port: n.switch_port, ipv4: n.ipv4 ? compact(n.ipv4) : null }),
        ),
      });
    }),
  };

  const doc = new Document(data);
  doc.commentBefore = [
    ` Anvil inventory, exported ${opts.now}.`,
    opts.withSecrets
      ? ' CONTAINS BMC PASSWORDS: store this file like a secret.'
      : ' BMC passwords are omitted; re-importing keeps the stored ones (new machines need a bmc.password).',
    ' Re-import with: anvil inventory import FILE [--dry-run]',
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}

/** Drops null/undefined fields so the file only says what is set. */
function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as Partial<T>;
}
