import { BmcError } from '../../../errors.js';
import { NetFn } from '../session.js';
import type { IpmiRequester } from './requester.js';

export interface ChassisStatus {
  powerOn: boolean;
  powerOverload: boolean;
  powerInterlock: boolean;
  mainPowerFault: boolean;
  powerControlFault: boolean;
  chassisIntrusion: boolean;
  frontPanelLockout: boolean;
  driveFault: boolean;
  coolingFault: boolean;
}

/** Parses a Get Chassis Status response (Chassis 0x01). */
export function parseChassisStatus(data: Buffer): ChassisStatus {
  if (data.length < 3) throw new BmcError(`Get Chassis Status response is ${data.length} bytes, expected at least 3`);
  const power = data[0]!;
  const misc = data[2]!;
  return {
    powerOn: (power & 0x01) !== 0,
    powerOverload: (power & 0x02) !== 0,
    powerInterlock: (power & 0x04) !== 0,
    mainPowerFault: (power & 0x08) !== 0,
    powerControlFault: (power & 0x10) !== 0,
    chassisIntrusion: (misc & 0x01) !== 0,
    frontPanelLockout: (misc & 0x02) !== 0,
    driveFault: (misc & 0x04) !== 0,
    coolingFault: (misc & 0x08) !== 0,
  };
}

export async function getChassisStatus(request: IpmiRequester): Promise<ChassisStatus> {
  return parseChassisStatus(await request(NetFn.chassis, 0x01, new Uint8Array(0), 'Get Chassis Status'));
}

/** Chassis Control (Chassis 0x02) operations. */
export const ChassisControl = {
  powerDown: 0x00,
  powerUp: 0x01,
  powerCycle: 0x02,
  hardReset: 0x03,
  softShutdown: 0x05,
} as const;

export type ChassisControlCode = (typeof ChassisControl)[keyof typeof ChassisControl];

export async function chassisControl(request: IpmiRequester, control: ChassisControlCode): Promise<void> {
  await request(NetFn.chassis, 0x02, Uint8Array.of(control), 'Chassis Control');
}
