/** Sends one IPMI command and returns the response data after a zero completion code. */
export type IpmiRequester = (netFn: number, cmd: number, data: Uint8Array, name: string) => Promise<Buffer>;
