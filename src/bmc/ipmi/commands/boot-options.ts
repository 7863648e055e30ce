import { BmcError } from '../../../errors.js';
import type { BootDevice, BootDeviceRequest, BootDeviceState } from '../../driver.js';
import { NetFn } from '../session.js';
import type { IpmiRequester } from './requester.js';

/** Boot Flags parameter (System Boot Options parameter 5). */
const BOOT_FLAGS = 0x05;
const FLAG_VALID = 0x80;
const FLAG_PERSISTENT = 0x40;
const FLAG_EFI = 0x20;

/** Boot device selector, bits 5:2 of boot flags data byte 2. */
const SELECTOR: Readonly<Record<BootDevice, number>> = { pxe: 0x1, disk: 0x2, bios: 0x6 };

/** The five Boot Flags data bytes for a request. */
export function encodeBootFlags(req: BootDeviceRequest): Buffer {
  return Buffer.from([
    FLAG_VALID | (req.persistent ? FLAG_PERSISTENT : 0) | (req.mode === 'uefi' ? FLAG_EFI : 0),
    SELECTOR[req.device] << 2,
    0x00,
    0x00,
    0x00,
  ]);
}

/** Decodes a Get System Boot Options response for parameter 5. */
export function parseBootFlags(data: Buffer): BootDeviceState {
  if (data.length < 4 || (data[1]! & 0x7f) !== BOOT_FLAGS) {
    throw new BmcError(`Get System Boot Options (boot flags) response is malformed (${data.length} bytes)`);
  }
  const flags = data[2]!;
  const selector = (data[3]! >> 2) & 0x0f;
  let device: BootDeviceState['device'];
  // Without the valid bit the BMC will not apply the flags (e.g. a next-boot override already used):
  // nothing is pending, whatever selector is left behind. (ipmi_sim never sets this bit.)
  if ((flags & FLAG_VALID) === 0 || selector === 0) device = 'none';
  else device = (Object.keys(SELECTOR) as BootDevice[]).find((d) => SELECTOR[d] === selector) ?? 'other';
  return {
    device,
    persistent: (flags & FLAG_PERSISTENT) !== 0,
    mode: (flags & FLAG_EFI) !== 0 ? 'uefi' : 'legacy',
  };
}

export async function setBootFlags(request: IpmiRequester, req: BootDeviceRequest): Promise<void> {
  await request(NetFn.chassis, 0x08, Buffer.concat([Buffer.from([BOOT_FLAGS]), encodeBootFlags(req)]), 'Set System Boot Options');
}

export async function getBootFlags(request: IpmiRequester): Promise<BootDeviceState> {
  return parseBootFlags(await request(NetFn.chassis, 0x09, Uint8Array.of(BOOT_FLAGS, 0x00, 0x00), 'Get System Boot Options'));
}
