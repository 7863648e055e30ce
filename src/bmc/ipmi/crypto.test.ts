import { createCipheriv } from 'node:crypto';
import {
  CIPHER_SUITES,
  decryptPayload,
  deriveSessionKeys,
  encryptPayload,
  integrityCode,
  rakp2Code,
  rakp3Code,
  rakp4Code,
  sessionIntegrityKey,
  userKey,
  type CipherSuiteId,
  type RakpExchange,
} from './crypto.js';

const hex = (b: Buffer): string => b.toString('hex');

function exchange(suite: CipherSuiteId): RakpExchange {
  return {
    suite: CIPHER_SUITES[suite],
    userKey: userKey('secret'),
    consoleSessionId: 0x11223344,
    bmcSessionId: 0x55667788,
    consoleRandom: Buffer.from([...Array(16).keys()]),
    bmcRandom: Buffer.from([...Array(16).keys()].map((i) => i + 16)),
    bmcGuid: Buffer.from([...Array(16).keys()].map((i) => i + 32)),
    role: 0x14,
    username: Buffer.from('admin'),
  };
}

// Expected values computed independently with Python's hmac/hashlib from the IPMI v2.0 formulas
// (section 13.31/13.32), for the inputs in exchange() above.
const VECTORS = {
  3: {
    rakp2: 'c307e86508810439e58295aecb362738d0ba7e15',
    rakp3: '2e873fbfcd9caa8c56a77cc6897b3b5b724abfd1',
    sik: 'a39ae2b160a1e5efe017ffd6ec1a4ff8eeac6f54',
    rakp4: '97b1319ba3566ab52fc1cf11',
    k1: '58dbc1afa00eb3f9487c9eaef0dc7892cc43e496',
    aesKey: '8bd9b8ce0674b5d745ced91e728ac1a5',
    integrity: 'e289be398e4eba8513041051',
  },
  17: {
    rakp2: 'fcca6bf2d339ec8e1b7f247da5701edaec2039b3a59abcdd349b2035928a6c08',
    rakp3: '527c55f92c665789ad8987dd83cdc2d91ad4abb48e5e02dbe843905147533f93',
    sik: '0c4b7464110cf18fd94ec46aa0242c66ab06157709c02ea7db1653aac04b1023',
    rakp4: '9ec8accfd5669b5355d235d37e31f969',
    k1: '6156285b8edfe6df8bb994483a8a76c26b587a3fc6c0b5ec6b2d7ad1fb4f5d35',
    aesKey: 'af7f7d6eea3e7abc029e14501226c23d',
    integrity: '840d55d7858017dba4e2541a256dfcfc',
  },
} as const;

describe.each([3, 17] as const)('cipher suite %i key exchange', (suite) => {
  const x = exchange(suite);
  const v = VECTORS[suite];

  it('computes the RAKP 2 and RAKP 3 key-exchange codes', () => {
    expect(hex(rakp2Code(x))).toBe(v.rakp2);
    expect(hex(rakp3Code(x))).toBe(v.rakp3);
  });

  it('derives SIK, the RAKP 4 check value, K1 and the AES key', () => {
    const sik = sessionIntegrityKey(x);
    expect(hex(sik)).toBe(v.sik);
    expect(hex(rakp4Code(x, sik))).toBe(v.rakp4);
    const keys = deriveSessionKeys(CIPHER_SUITES[suite], sik);
    expect(hex(keys.k1)).toBe(v.k1);
    expect(hex(keys.aesKey)).toBe(v.aesKey);
  });

  it('computes the truncated per-packet integrity code', () => {
    const keys = deriveSessionKeys(CIPHER_SUITES[suite], sessionIntegrityKey(x));
    const code = integrityCode(keys, Buffer.from([...Array(40).keys()]));
    expect(code).toHaveLength(suite === 3 ? 12 : 16);
    expect(hex(code)).toBe(v.integrity);
  });

  it('round-trips payloads of every padding length through AES-CBC-128', () => {
    const keys = deriveSessionKeys(CIPHER_SUITES[suite], sessionIntegrityKey(x));
    for (let length = 0; length <= 33; length++) {
      const payload = Buffer.from([...Array(length).keys()]);
      const encrypted = encryptPayload(keys, payload);
      expect(encrypted.length % 16).toBe(0);
      expect(decryptPayload(keys, encrypted)).toEqual(payload);
    }
  });
});

describe('AES-CBC-128 payload encryption', () => {
  const keys = deriveSessionKeys(CIPHER_SUITES[3], sessionIntegrityKey(exchange(3)));
  const iv = Buffer.from([...Array(16).keys()]);

  it('pads with 1..N and the pad length, as the spec (and openssl -nopad) agree', () => {
    // expected ciphertext from: openssl enc -aes-128-cbc -K <aesKey> -iv 000102..0f -nopad
    const encrypted = encryptPayload(keys, Buffer.from([0x20, 0x00, 0xe0, 0x81, 0x04, 0x01, 0x7a]), iv);
    expect(hex(encrypted)).toBe(`${hex(iv)}510ff42e972f98510c43887fd2abd96a`);
  });

  it('rejects ciphertexts of a wrong length or with impossible padding', () => {
    expect(decryptPayload(keys, Buffer.alloc(16))).toBeNull();
    expect(decryptPayload(keys, Buffer.alloc(40))).toBeNull();
    // one block whose last plaintext byte claims 32 bytes of padding
    const plain = Buffer.alloc(16, 0x20);
    const cipher = createCipheriv('aes-128-cbc', keys.aesKey, iv).setAutoPadding(false);
    const block = Buffer.concat([iv, cipher.update(plain), cipher.final()]);
    expect(decryptPayload(keys, block)).toBeNull();
  });
});

describe('userKey', () => {
  it('zero-pads the password to 20 bytes and refuses longer ones', () => {
    expect(userKey('abc')).toEqual(Buffer.concat([Buffer.from('abc'), Buffer.alloc(17)]));
    expect(() => userKey('x'.repeat(21))).toThrow(RangeError);
  });
});
