import { BmcError } from '../../errors.js';

/** Generic IPMI completion codes (IPMI v2.0 table 5-2); command-specific codes are 0x80-0xBE. */
const COMPLETION_CODES: Readonly<Record<number, string>> = {
  0xc0: 'node busy',
  0xc1: 'invalid command',
  0xc2: 'command invalid for given LUN',
  0xc3: 'timeout while processing command',
  0xc4: 'out of space',
  0xc5: 'reservation cancelled or invalid reservation ID',
  0xc6: 'request data truncated',
  0xc7: 'request data length invalid',
  0xc8: 'request data field length limit exceeded',
  0xc9: 'parameter out of range',
  0xca: 'cannot return number of requested data bytes',
  0xcb: 'requested sensor, data, or record not present',
  0xcc: 'invalid data field in request',
  0xcd: 'command illegal for specified sensor or record type',
  0xce: 'command response could not be provided',
  0xcf: 'cannot execute duplicated request',
  0xd0: 'SDR repository in update mode',
  0xd1: 'device in firmware update mode',
  0xd2: 'BMC initialization in progress',
  0xd3: 'destination unavailable',
  0xd4: 'insufficient privilege level',
  0xd5: 'command not supported in present state',
  0xd6: 'command sub-function disabled or unavailable',
  0xff: 'unspecified error',
};

export function describeCompletionCode(code: number): string {
  return COMPLETION_CODES[code] ?? `command-specific error`;
}

/** The BMC answered an IPMI command with a non-zero completion code. */
export class IpmiCompletionCodeError extends BmcError {
  readonly completionCode: number;
  constructor(readonly command: string, completionCode: number) {
    super(`BMC rejected ${command}: completion code 0x${completionCode.toString(16).padStart(2, '0')} (${describeCompletionCode(completionCode)})`, {
      details: { completionCode, command },
    });
    this.completionCode = completionCode;
  }
}

/** RMCP+ status codes carried by Open Session Response and RAKP 2/4 (IPMI v2.0 table 13-15). */
const RMCP_PLUS_STATUS: Readonly<Record<number, string>> = {
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session ID',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session ID',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

export function describeRmcpPlusStatus(status: number): string {
  return RMCP_PLUS_STATUS[status] ?? `unknown RMCP+ status 0x${status.toString(16)}`;
}

/** Statuses that mean "this cipher suite is not offered": try the next one. */
export const CIPHER_SUITE_REJECTED_STATUSES: ReadonlySet<number> = new Set([0x04, 0x05, 0x06, 0x07, 0x10, 0x11, 0x12]);

/** Statuses that mean the credentials or the requested privilege were refused. */
export const AUTH_REJECTED_STATUSES: ReadonlySet<number> = new Set([0x09, 0x0a, 0x0c, 0x0d, 0x0e, 0x0f]);
