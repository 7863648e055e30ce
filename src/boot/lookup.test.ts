import { BatchWriter, InMemoryBootLookup, hostnameFromSerial, normalizeMac, type Reservation } from './lookup.js';

const r: Reservation = { machineId: 'm1', mac: '52:54:00:AA:00:01', hostname: 'h', siteCode: 'S', ipv4: '10.0.0.5', prefixLength: 24, gateway: null, dnsServers: [], domain: null, leaseSeconds: 60, pxe: true };

describe('boot lookup (in memory)', () => {
  it.each([
    ['52:54:00:AA:00:01', '52:54:00:aa:00:01'],
    ['52-54-00-aa-00-01', '52:54:00:aa:00:01'],
    ['5254.00aa.0001', '52:54:00:aa:00:01'],
  ])('normalizes MAC %s', (input, out) => expect(normalizeMac(input)).toBe(out));

  it('finds a reservation by MAC in any notation and by address; unknown is null', () => {
    const l = new InMemoryBootLookup([r]);
    expect(l.byMac('52-54-00-aa-00-01')).toMatchObject({ machineId: 'm1', mac: '52:54:00:aa:00:01' });
    expect(l.byIp('10.0.0.5')).toMatchObject({ machineId: 'm1' });
    expect(l.byMac('52:54:00:aa:00:02')).toBeNull();
    expect(l.byIp('10.0.0.6')).toBeNull();
  });

  it('replaces the snapshot as a whole', () => {
    const l = new InMemoryBootLookup([r]);
    l.replace([{ ...r, mac: '52:54:00:aa:00:09', ipv4: '10.0.0.9' }]);
    expect(l.byMac(r.mac)).toBeNull();
    expect(l.byIp('10.0.0.9')).not.toBeNull();
  });

  it.each([
    ['SRV-0001', 'srv-0001'],
    ['CZ 123/45_A', 'cz-123-45-a'],
    ['***', 'machine'],
  ])('derives hostname from serial %s', (serial, host) => expect(hostnameFromSerial(serial)).toBe(host));
});

describe('BatchWriter', () => {
  it('writes queued items in one batch on flush and keeps going after a failed batch', async () => {
    const batches: number[][] = [];
    let fail = true;
    const w = new BatchWriter<number>(async (items) => {
      if (fail) {
        fail = false;
        throw new Error('db down');
      }
      batches.push(items);
    }, { name: 't', flushMs: 60_000 });
    w.push(1);
    await w.flush();
    w.push(2);
    w.push(3);
    await w.flush();
    expect(batches).toEqual([[2, 3]]);
    expect(w.failed).toBe(1);
    expect(w.written).toBe(2);
  });

  it('drops the oldest items beyond the backlog limit', async () => {
    const seen: number[] = [];
    const w = new BatchWriter<number>(async (items) => void seen.push(...items), { name: 't', flushMs: 60_000, batchSize: 1000, maxBacklog: 3 });
    for (let i = 1; i <= 5; i++) w.push(i);
    await w.close();
    expect(seen).toEqual([3, 4, 5]);
    expect(w.dropped).toBe(2);
  });
});
