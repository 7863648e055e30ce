import {
  encodeAck, encodeData, encodeError, encodeOack, encodeRequest, Opcode, parsePacket, TftpErrorCode, TftpPacketError,
} from './packet.js';

function raw(...parts: (string | number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

describe('TFTP packet codec', () => {
  it('parses a read request with lower-cased mode and options, first duplicate winning', () => {
    const packet = parsePacket(raw([0, 1], 'pxe/undionly.kpxe\0', 'OCTET\0', 'BlkSize\0', '1468\0', 'tsize\0', '0\0', 'blksize\0', '9\0'));
    expect(packet).toEqual({
      opcode: Opcode.RRQ,
      filename: Buffer.from('pxe/undionly.kpxe'),
      mode: 'octet',
      options: new Map([['blksize', '1468'], ['tsize', '0']]),
    });
  });

  it('round-trips requests, DATA, ACK, ERROR and OACK', () => {
    expect(parsePacket(encodeRequest(Opcode.WRQ, 'a', 'netascii', { windowsize: 16 }))).toMatchObject({
      opcode: Opcode.WRQ, mode: 'netascii', options: new Map([['windowsize', '16']]),
    });
    expect(parsePacket(encodeData(70000, Buffer.from('xyz')))).toEqual({ opcode: Opcode.DATA, block: 70000 & 0xffff, payload: Buffer.from('xyz') });
    expect(parsePacket(encodeAck(65535))).toEqual({ opcode: Opcode.ACK, block: 65535 });
    expect(parsePacket(encodeError(TftpErrorCode.FILE_NOT_FOUND, 'file not found'))).toEqual({
      opcode: Opcode.ERROR, code: 1, message: 'file not found',
    });
    expect(parsePacket(encodeOack(new Map([['blksize', '1468'], ['tsize', '42']])))).toEqual({
      opcode: Opcode.OACK, options: new Map([['blksize', '1468'], ['tsize', '42']]),
    });
  });

  it('encodes an empty DATA block as a bare 4-byte header', () => {
    expect(encodeData(3, Buffer.alloc(0))).toEqual(Buffer.from([0, 3, 0, 3]));
  });

  it('keeps error messages ASCII, NUL-terminated and short', () => {
    const packet = encodeError(0, `bad \u00e9 ${'x'.repeat(500)}`);
    expect(packet.length).toBeLessThanOrEqual(4 + 200 + 1);
    expect(packet[packet.length - 1]).toBe(0);
    expect(packet.subarray(4, -1).every((b) => b >= 0x20 && b < 0x7f)).toBe(true);
  });

  it.each([
    ['too short', raw([0, 1, 0])],
    ['unknown opcode', raw([0, 9], 'x\0octet\0')],
    ['unterminated filename', raw([0, 1], 'abc')],
    ['missing mode', raw([0, 1], 'abc\0')],
    ['unterminated mode', raw([0, 1], 'abc\0octet')],
    ['option without value', raw([0, 1], 'abc\0octet\0blksize\0')],
    ['non-printable mode', raw([0, 1], 'abc\0oc\x01tet\0')],
    ['empty option name', raw([0, 1], 'abc\0octet\0\0', '5\0')],
    ['oversized request', Buffer.concat([raw([0, 1], 'a'.repeat(1100), '\0octet\0')])],
  ])('refuses a request that is %s', (_name, packet) => {
    expect(() => parsePacket(packet)).toThrow(TftpPacketError);
  });

  it('answers an empty filename with "file not found" rather than "illegal operation"', () => {
    try {
      parsePacket(raw([0, 1], '\0octet\0'));
      throw new Error('expected a TftpPacketError');
    } catch (err) {
      expect(err).toBeInstanceOf(TftpPacketError);
      expect((err as TftpPacketError).tftpCode).toBe(TftpErrorCode.FILE_NOT_FOUND);
    }
  });
});
