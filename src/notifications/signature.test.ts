import { signPayload, verifySignature } from './signature.js';
import { backoffMs } from './backoff.js';

describe('webhook signature', () => {
  it('verifies what it signed and rejects a changed body, a wrong secret or a stale timestamp', () => {
    const header = signPayload('s3cret', '{"a":1}', 1_800_000_000);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature('s3cret', '{"a":1}', header, 1_800_000_010)).toBe(true);
    expect(verifySignature('s3cret', '{"a":2}', header, 1_800_000_010)).toBe(false);
    expect(verifySignature('other', '{"a":1}', header, 1_800_000_010)).toBe(false);
    expect(verifySignature('s3cret', '{"a":1}', header, 1_800_001_000)).toBe(false);
  });

  it('matches an independently computed HMAC-SHA256 over "t.body"', () => {
    // echo -n '1700000000.hello' | openssl dgst -sha256 -hmac key
    expect(signPayload('key', 'hello', 1_700_000_000)).toBe('t=1700000000,v1=4d583a269f4f276a3fa80ff31b5a01879a848096983222a17893d198418939aa');
  });
});

describe('backoff', () => {
  it('doubles up to the cap and never retries sooner than half the ceiling', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(backoffMs(30, 1000, 60_000, () => 1)).toBe(60_000);
  });
});
