import { BmcError } from '../../../errors.js';
import { NetFn } from '../session.js';
import type { IpmiRequester } from './requester.js';

export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  /** `major.minor` as ipmitool prints it (minor is two BCD digits), e.g. `9.08`. */
  firmwareVersion: string;
  ipmiVersion: string;
  manufacturerId: number;
  productId: number;
  deviceAvailable: boolean;
}

/** Parses a Get Device ID response (App 0x01). */
export function parseDeviceId(data: Buffer): DeviceId {
  if (data.length < 11) throw new BmcError(`Get Device ID response is ${data.length} bytes, expected at least 11`);
  const minor = data[3]!;
  const minorText = ((minor >> 4) & 0x0f) <= 9 && (minor & 0x0f) <= 9 ? minor.toString(16).padStart(2, '0') : String(minor);
  return {
    deviceId: data[0]!,
    deviceRevision: data[1]! & 0x0f,
    firmwareVersion: `${data[2]! & 0x7f}.${minorText}`,
    ipmiVersion: `${data[4]! & 0x0f}.${data[4]! >> 4}`,
    manufacturerId: data[6]! | (data[7]! << 8) | ((data[8]! & 0x0f) << 16),
    productId: data.readUInt16LE(9),
    // bit 7 of the firmware revision is "device firmware, SDR update or self-initialization in progress"
    deviceAvailable: (data[2]! & 0x80) === 0,
  };
}

export async function getDeviceId(request: IpmiRequester): Promise<DeviceId> {
  return parseDeviceId(await request(NetFn.app, 0x01, new Uint8Array(0), 'Get Device ID'));
}

/** IANA enterprise numbers of common server vendors, for when the FRU names none. */
const VENDORS: Readonly<Record<number, string>> = {
  2: 'IBM',
  11: 'HPE',
  343: 'Intel',
  674: 'Dell',
  2011: 'Huawei',
  4753: 'MontaVista',
  7244: 'Quanta',
  8554: 'Inventec',
  10368: 'Fujitsu',
  10876: 'Supermicro',
  19046: 'Lenovo',
  20974: 'American Megatrends',
  40981: 'Wiwynn',
  42385: 'Inspur',
  49622: 'OpenBMC',
};

export function vendorName(manufacturerId: number): string | null {
  return VENDORS[manufacturerId] ?? null;
}
