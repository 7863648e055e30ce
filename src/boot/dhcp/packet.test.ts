import { DhcpDecodeError, decodePacket, encodePacket, macOf, macToChaddr, newPacket, BOOTREQUEST, type DhcpPacket } from './packet.js';
import {
  DhcpOptions,
  MessageType,
  OPT_CLIENT_ARCH,
  OPT_CLIENT_GUID,
  OPT_CLIENT_NDI,
  OPT_HOSTNAME,
  OPT_MESSAGE_TYPE,
  OPT_PARAMETER_REQUEST_LIST,
  OPT_RELAY_AGENT_INFO,
  OPT_USER_CLASS,
  OPT_VENDOR_CLASS_ID,
  encodeRelaySubOptions,
  encodeUserClasses,
} from './options.js';
import { prng } from '../../../test/support/prng.js';

const MAC = '52:54:00:12:34:56';
const COOKIE = [99, 130, 83, 99];

function request(opts: Array<[number, Buffer]>, fields: Partial<DhcpPacket> = {}): DhcpPacket {
  return newPacket({ op: BOOTREQUEST, xid: 0x1234abcd, chaddr: macToChaddr(MAC), options: DhcpOptions.from(opts), ...fields });
}

/** Builds raw bytes by hand so the decoder is tested against the wire format, not our encoder. */
function raw(options: number[], patch: (b: Buffer) => void = () => {}): Buffer {
  const b = Buffer.alloc(240 + options.length);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(0xdeadbeef, 4);
  Buffer.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]).copy(b, 28);
  Buffer.from(COOKIE).copy(b, 236);
  Buffer.from(options).copy(b, 240);
  patch(b);
  return b;
}

describe('DHCP packet codec', () => {
  const guid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0xab)]);
  const roundTrips: Array<[string, DhcpPacket]> = [
    ['a bare DISCOVER', request([[OPT_MESSAGE_TYPE, Buffer.from([1])]])],
    [
      'a PXE DISCOVER with 55/60/77/93/94/97',
      request([
        [OPT_MESSAGE_TYPE, Buffer.from([1])],
        [OPT_PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 43, 60, 66, 67, 97])],
        [OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00007:UNDI:003016')],
        [OPT_USER_CLASS, Buffer.from('iPXE')],
        [OPT_CLIENT_ARCH, Buffer.from([0, 7])],
        [OPT_CLIENT_NDI, Buffer.from([1, 3, 16])],
        [OPT_CLIENT_GUID, guid],
      ]),
    ],
    ['a relayed REQUEST with option 82', request([[OPT_MESSAGE_TYPE, Buffer.from([3])], [OPT_RELAY_AGENT_INFO, encodeRelaySubOptions([{ code: 1, data: Buffer.from('eth0/1') }])]], { giaddr: '10.9.0.1', hops: 1 })],
    ['unknown options (raw passthrough) and an empty option', request([[OPT_MESSAGE_TYPE, Buffer.from([8])], [224, Buffer.from([1, 2, 3])], [250, Buffer.alloc(0)]])],
    ['a 700-byte option (split on encode, concatenated on decode)', request([[OPT_MESSAGE_TYPE, Buffer.from([2])], [224, Buffer.alloc(700, 7)]])],
    ['sname and file strings', request([[OPT_MESSAGE_TYPE, Buffer.from([5])]], { sname: 'boot1', file: 'undionly.kpxe', siaddr: '10.0.0.1', yiaddr: '10.0.0.9', flags: 0x8000, secs: 4 })],
  ];

  it.each(roundTrips)('round-trips %s', (_name, pkt) => {
    const decoded = decodePacket(encodePacket(pkt, { maxMessageSize: 1500 }));
    expect(decoded).toEqual(pkt);
  });

  it('uses file and sname (option 52) when the options field is too small, and reads them back', () => {
    const pkt = request([
      [OPT_MESSAGE_TYPE, Buffer.from([2])],
      [224, Buffer.alloc(250, 1)],
      [225, Buffer.alloc(100, 2)],
      [226, Buffer.alloc(40, 3)],
    ]);
    const wire = encodePacket(pkt);
    expect(wire.length).toBeLessThanOrEqual(548);
    expect([...wire.subarray(240, 243)]).toEqual([52, 1, 3]);
    const decoded = decodePacket(wire);
    expect(decoded.options.get(224)).toEqual(Buffer.alloc(250, 1));
    expect(decoded.options.get(225)).toEqual(Buffer.alloc(100, 2));
    expect(decoded.options.get(226)).toEqual(Buffer.alloc(40, 3));
    expect(decoded.options.has(52)).toBe(false);
  });

  it('refuses to encode options that cannot fit even with overload', () => {
    expect(() => encodePacket(request([[224, Buffer.alloc(900)]]))).toThrow(RangeError);
  });

  it('pads replies to the 300-byte BOOTP minimum', () => {
    expect(encodePacket(request([[OPT_MESSAGE_TYPE, Buffer.from([1])]])).length).toBe(300);
  });

  const decodeCases: Array<[string, Buffer, (p: DhcpPacket) => void]> = [
    ['skips pad options', raw([0, 0, 53, 1, 1, 0, 255]), (p) => expect(p.options.messageType).toBe(MessageType.DISCOVER)],
    ['concatenates a repeated option (RFC 3396)', raw([12, 2, 0x61, 0x62, 12, 1, 0x63, 255]), (p) => expect(p.options.string(OPT_HOSTNAME)).toBe('abc')],
    [
      'reads options from file then sname under overload 3',
      raw([52, 1, 3, 53, 1, 3, 255], (b) => {
        Buffer.from([12, 1, 0x61, 255]).copy(b, 108);
        Buffer.from([12, 1, 0x62, 255]).copy(b, 44);
      }),
      (p) => {
        expect(p.options.string(OPT_HOSTNAME)).toBe('ab');
        expect(p.file).toBe('');
        expect(p.sname).toBe('');
      },
    ],
    ['reads a NUL-terminated file name', raw([255], (b) => Buffer.from('pxelinux.0\0junk').copy(b, 108)), (p) => expect(p.file).toBe('pxelinux.0')],
    ['lower-cases the MAC', raw([255]), (p) => expect(macOf(p)).toBe(MAC)],
  ];
  it.each(decodeCases)('decoder %s', (_n, wire, check) => check(decodePacket(wire)));

  const malformed: Array<[string, Buffer, string]> = [
    ['an empty datagram', Buffer.alloc(0), 'too_short'],
    ['a header without cookie', Buffer.alloc(239), 'too_short'],
    ['op 3', raw([255], (b) => (b[0] = 3)), 'bad_op'],
    ['hlen 17', raw([255], (b) => (b[2] = 17)), 'bad_hlen'],
    ['a wrong cookie', raw([255], (b) => (b[236] = 0)), 'bad_cookie'],
    ['an option running past the end', raw([53, 5, 1]), 'truncated_option'],
    ['an option code without length', raw([53]), 'truncated_option'],
    ['options without end', raw([53, 1, 1]), 'missing_end'],
    ['overload value 4', raw([52, 1, 4, 255]), 'bad_overload'],
    ['overloaded file without end', raw([52, 1, 1, 255], (b) => b.fill(1, 108, 236)), 'truncated_option'],
    ['option 52 inside the file field', raw([52, 1, 1, 255], (b) => Buffer.from([52, 1, 1, 255]).copy(b, 108)), 'bad_overload'],
  ];
  it.each(malformed)('drops %s', (_n, wire, reason) => {
    expect(() => decodePacket(wire)).toThrow(DhcpDecodeError);
    try {
      decodePacket(wire);
    } catch (e) {
      expect((e as DhcpDecodeError).reason).toBe(reason);
    }
  });
});

describe('typed option accessors', () => {
  it.each([
    ['RFC 3004 length-prefixed', encodeUserClasses(['iPXE']), ['iPXE']],
    ['RFC 3004 with two classes', encodeUserClasses(['iPXE', 'rack7']), ['iPXE', 'rack7']],
    ['bare bytes as real iPXE sends them', Buffer.from('iPXE'), ['iPXE']],
    ['a zero length prefix (not RFC 3004, so bare)', Buffer.from([0, 0x41]), ['\u0000A']],
  ])('reads user class (77) %s', (_n, value, expected) => {
    expect(DhcpOptions.from([[OPT_USER_CLASS, value]]).userClasses).toEqual(expected);
  });

  it('reads arch (93), NDI (94), GUID (97), 55, 60, 61 and 82', () => {
    const guid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 5)]);
    const o = DhcpOptions.from([
      [OPT_CLIENT_ARCH, Buffer.from([0, 11, 0, 7])],
      [OPT_CLIENT_NDI, Buffer.from([1, 2, 1])],
      [OPT_CLIENT_GUID, guid],
      [OPT_PARAMETER_REQUEST_LIST, Buffer.from([1, 3])],
      [OPT_VENDOR_CLASS_ID, Buffer.from('HTTPClient:Arch:00016')],
      [61, Buffer.from([1, 1, 2, 3, 4, 5, 6])],
      [OPT_RELAY_AGENT_INFO, Buffer.from([1, 2, 0xaa, 0xbb, 2, 0])],
    ]);
    expect(o.clientArchitectures).toEqual([11, 7]);
    expect(o.clientNdi).toEqual({ type: 1, major: 2, minor: 1 });
    expect(o.clientGuid).toEqual(guid);
    expect(o.parameterRequestList).toEqual([1, 3]);
    expect(o.vendorClassId).toBe('HTTPClient:Arch:00016');
    expect(o.clientId).toEqual(Buffer.from([1, 1, 2, 3, 4, 5, 6]));
    expect(o.relayAgentInfo).toEqual([
      { code: 1, data: Buffer.from([0xaa, 0xbb]) },
      { code: 2, data: Buffer.alloc(0) },
    ]);
  });

  it('returns null or empty for wrong-length values instead of guessing', () => {
    const o = DhcpOptions.from([
      [OPT_MESSAGE_TYPE, Buffer.from([1, 1])],
      [OPT_CLIENT_ARCH, Buffer.from([0])],
      [OPT_CLIENT_GUID, Buffer.alloc(5)],
      [OPT_RELAY_AGENT_INFO, Buffer.from([1, 9, 0])],
      [50, Buffer.from([10, 0, 0])],
    ]);
    expect(o.messageType).toBeNull();
    expect(o.clientArchitectures).toEqual([]);
    expect(o.clientGuid).toBeNull();
    expect(o.relayAgentInfo).toBeNull();
    expect(o.requestedIp).toBeNull();
  });
});


describe('DHCP decoder fuzzing', () => {
  const seeds = [1, 42, 20261126];
  const base = encodePacket(
    request([
      [OPT_MESSAGE_TYPE, Buffer.from([1])],
      [OPT_PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 43, 60, 66, 67])],
      [OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
      [OPT_CLIENT_ARCH, Buffer.from([0, 0])],
      [OPT_USER_CLASS, Buffer.from('iPXE')],
      [OPT_CLIENT_GUID, Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 3)])],
    ]),
  );

  it.each(seeds)('random and mutated datagrams either decode consistently or fail with DhcpDecodeError (seed %i)', (seed) => {
    const rnd = prng(seed);
    const int = (n: number) => Math.floor(rnd() * n);
    const counts = { decoded: 0, rejected: 0 };
    for (let iter = 0; iter < 3000; iter++) {
      let wire: Buffer;
      const kind = iter % 4;
      if (kind === 0) {
        wire = Buffer.alloc(int(700));
        for (let i = 0; i < wire.length; i++) wire[i] = int(256);
      } else {
        wire = Buffer.from(base);
        // Random bytes over the whole datagram, biased to the option area where parsing is hard.
        const flips = 1 + int(8);
        for (let f = 0; f < flips; f++) wire[(kind === 1 ? 0 : 236) + int(wire.length - (kind === 1 ? 0 : 236))] = int(256);
        if (kind === 3) wire = wire.subarray(0, int(wire.length + 1));
        if (kind === 2 && rnd() < 0.3) wire[242] = 52; // provoke overload handling
      }
      let decoded: DhcpPacket;
      try {
        decoded = decodePacket(wire);
      } catch (err) {
        if (!(err instanceof DhcpDecodeError)) throw new Error(`seed ${seed} iteration ${iter}: ${String(err)} for ${wire.toString('hex')}`);
        counts.rejected++;
        continue;
      }
      counts.decoded++;
      // Whatever decodes must re-encode and decode to the same thing.
      const again = decodePacket(encodePacket(decoded, { maxMessageSize: 65000 }));
      expect(again).toEqual(decoded);
    }
    expect(counts.decoded).toBeGreaterThan(0);
    expect(counts.rejected).toBeGreaterThan(0);
  });
});
