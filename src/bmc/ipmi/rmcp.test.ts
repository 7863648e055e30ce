import { decodeIpmiResponse, decodePacket, encodeIpmiRequest, encodeV15Packet, encodeV20Packet, ipmiChecksum } from './rmcp.js';

describe('IPMI LAN messages', () => {
  it('encodes Get Channel Authentication Capabilities exactly as ipmitool sends it', () => {
    const msg = encodeIpmiRequest({ netFn: 0x06, cmd: 0x38, rqSeq: 1, data: Uint8Array.of(0x8e, 0x04) });
    expect(msg.toString('hex')).toBe('2018c881043' + '88e04b1');
    expect(encodeV15Packet(msg).toString('hex')).toBe('0600ff07' + '00' + '00000000' + '00000000' + '09' + msg.toString('hex'));
  });

  it('computes two\'s-complement checksums', () => {
    expect(ipmiChecksum(Uint8Array.of(0x20, 0x18))).toBe(0xc8);
    expect(ipmiChecksum(Uint8Array.of())).toBe(0);
  });

  it('decodes a response and rejects bad checksums, requests and short messages', () => {
    // Get Chassis Status response: power on
    const good = Buffer.from('811c632004010001000000', 'hex');
    good[good.length - 1] = ipmiChecksum(good, 3, good.length - 1);
    expect(decodeIpmiResponse(good)).toEqual({ netFn: 0x00 | 0x06, cmd: 0x01, rqSeq: 1, completionCode: 0, data: Buffer.from([0x01, 0x00, 0x00]) });
    const badChecksum = Buffer.from(good);
    badChecksum[2] ^= 1;
    expect(decodeIpmiResponse(badChecksum)).toBeNull();
    const request = encodeIpmiRequest({ netFn: 0x00, cmd: 0x01, rqSeq: 1, data: new Uint8Array(0) });
    expect(decodeIpmiResponse(Buffer.concat([request, Buffer.from([0])]))).toBeNull();
    expect(decodeIpmiResponse(Buffer.from([0x81, 0x1c]))).toBeNull();
  });
});

describe('RMCP+ packets', () => {
  const sign = (signed: Buffer): Buffer => Buffer.alloc(12, signed.length);

  it.each([0, 1, 2, 3, 4, 5, 17])('pads a %i-byte authenticated payload so the signed part is 4-byte aligned', (length) => {
    const packet = encodeV20Packet({ payloadType: 0, sessionId: 0x01020304, sequence: 7, payload: Buffer.alloc(length, 0xaa), encrypted: true, sign });
    const decoded = decodePacket(packet, 12);
    expect(decoded).toMatchObject({ format: 'v2.0', encrypted: true, authenticated: true, sessionId: 0x01020304, sequence: 7 });
    if (decoded?.format !== 'v2.0') throw new Error('not v2.0');
    expect(decoded.payload).toEqual(Buffer.alloc(length, 0xaa));
    expect(decoded.signedPart.length % 4).toBe(0);
    expect(decoded.authCode).toEqual(Buffer.alloc(12, decoded.signedPart.length));
  });

  it('frames an unauthenticated Open Session request', () => {
    const packet = encodeV20Packet({ payloadType: 0x10, sessionId: 0, sequence: 0, payload: Buffer.alloc(32), encrypted: false });
    expect(packet.subarray(0, 16).toString('hex')).toBe('0600ff07' + '06' + '10' + '00000000' + '00000000' + '2000');
    expect(packet).toHaveLength(48);
  });

  it.each([
    ['empty', ''],
    ['RMCP header only', '0600ff07'],
    ['not IPMI class', '0600ff06' + '00'.repeat(12)],
    ['RMCP ACK', '0600ff87' + '00'.repeat(12)],
    ['payload length beyond datagram', '0600ff0706000000000000000000ff00'],
    ['authenticated without a session', '0600ff0706400000000000000000000000'],
    ['v1.5 length beyond datagram', '0600ff070000000000000000003001'],
    ['v1.5 zero length', '0600ff0700000000000000000000'],
    ['OEM payload', '0600ff0706020000000000000000000000'],
  ])('returns null for a malformed datagram: %s', (_name, hexText) => {
    expect(decodePacket(Buffer.from(hexText, 'hex'), 0)).toBeNull();
  });

  it('rejects an authenticated trailer with a wrong next-header byte or pad length', () => {
    const packet = encodeV20Packet({ payloadType: 0, sessionId: 1, sequence: 1, payload: Buffer.alloc(16), encrypted: true, sign });
    const wrongNext = Buffer.from(packet);
    wrongNext[wrongNext.length - 13] = 0x06;
    expect(decodePacket(wrongNext, 12)).toBeNull();
    const wrongPad = Buffer.from(packet);
    wrongPad[wrongPad.length - 14] = 3;
    expect(decodePacket(wrongPad, 12)).toBeNull();
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const length = i % 80;
      const bytes = Buffer.alloc(length);
      for (let j = 0; j < length; j++) bytes[j] = (i * 131 + j * 17 + (j === 0 ? 6 : 0)) & 0xff;
      if (length > 4) bytes.set([0x06, 0x00, 0xff, 0x07], 0);
      expect(() => decodePacket(bytes, i % 2 ? 12 : 0)).not.toThrow();
    }
  });
});
