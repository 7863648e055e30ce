import { ipToBuffer } from './options.js';

/** An IPv4 network parsed from CIDR notation. */
export interface Ipv4Network {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefixLength: number;
  cidr: string;
}

export function ipToInt(ip: string): number {
  return ipToBuffer(ip).readUInt32BE(0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function prefixToMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function maskToIp(prefixLength: number): string {
  return intToIp(prefixToMask(prefixLength));
}

/** Parses `a.b.c.d/len`; throws RangeError naming the value. Host bits are cleared. */
export function parseCidr(cidr: string): Ipv4Network {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(String(cidr ?? '').trim());
  if (!m || Number(m[2]) > 32) throw new RangeError(`"${cidr}" is not an IPv4 network in CIDR form`);
  const prefixLength = Number(m[2]);
  const base = (ipToInt(m[1]!) & prefixToMask(prefixLength)) >>> 0;
  return { base, prefixLength, cidr: `${intToIp(base)}/${prefixLength}` };
}

export function inNetwork(ip: string, net: Ipv4Network): boolean {
  return ((ipToInt(ip) & prefixToMask(net.prefixLength)) >>> 0) === net.base;
}

export function broadcastOf(net: Ipv4Network): string {
  return intToIp((net.base | (~prefixToMask(net.prefixLength) >>> 0)) >>> 0);
}
