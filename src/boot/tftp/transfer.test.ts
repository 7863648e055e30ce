import { encodeAck, encodeError, encodeOack, encodeData, Opcode, parsePacket } from './packet.js';
import { BufferSource } from './source.js';
import { TransferState } from './transfer.js';
import type { TransferStep } from './transfer.js';
import { prng } from '../../../test/support/prng.js';

function content(size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + 7) & 0xff;
  return buf;
}

function machine(size: number, opts: Partial<{ blksize: number; windowsize: number; retries: number; oack: Buffer | null }> = {}) {
  const data = content(size);
  const state = new TransferState(new BufferSource(data), {
    blksize: opts.blksize ?? 512, windowsize: opts.windowsize ?? 1, retries: opts.retries ?? 3, oack: opts.oack ?? null,
  });
  return { data, state };
}

/** Wire block numbers of the DATA packets in a step. */
function blocks(step: TransferStep): number[] {
  if (step.kind !== 'send') return [];
  return step.packets.map((p) => {
    const packet = parsePacket(p);
    if (packet.opcode !== Opcode.DATA) throw new Error(`expected DATA, got opcode ${packet.opcode}`);
    return packet.block;
  });
}

function payloads(step: TransferStep): Buffer[] {
  if (step.kind !== 'send') return [];
  return step.packets.map((p) => p.subarray(4));
}

describe('TransferState', () => {
  it('sends block 1 at once without options and finishes with a short final block', () => {
    const { data, state } = machine(1000);
    const first = state.start();
    expect(blocks(first)).toEqual([1]);
    const second = state.onDatagram(encodeAck(1));
    expect(blocks(second)).toEqual([2]);
    expect(Buffer.concat([...payloads(first), ...payloads(second)])).toEqual(data);
    expect(state.onDatagram(encodeAck(2))).toEqual({ kind: 'completed' });
    expect(state.finished).toBe(true);
  });

  it('ends a file that is an exact multiple of blksize with an empty block', () => {
    const { state } = machine(1024);
    state.start();
    state.onDatagram(encodeAck(1));
    const last = state.onDatagram(encodeAck(2));
    expect(blocks(last)).toEqual([3]);
    expect(payloads(last)[0]!.length).toBe(0);
    expect(state.onDatagram(encodeAck(3)).kind).toBe('completed');
  });

  it('serves an empty file as one empty block', () => {
    const { state } = machine(0);
    const step = state.start();
    expect(blocks(step)).toEqual([1]);
    expect(payloads(step)[0]!.length).toBe(0);
    expect(state.onDatagram(encodeAck(1)).kind).toBe('completed');
  });

  it('sends the OACK first and data only after ACK 0, resending the OACK on timeout', () => {
    const oack = encodeOack(new Map([['blksize', '1468']]));
    const { state } = machine(3000, { blksize: 1468, oack });
    expect(state.start()).toEqual({ kind: 'send', packets: [oack] });
    expect(state.onDatagram(encodeAck(1)).kind).toBe('ignore');
    expect(state.onTimeout()).toEqual({ kind: 'send', packets: [oack] });
    const step = state.onDatagram(encodeAck(0));
    expect(blocks(step)).toEqual([1]);
    expect(payloads(step)[0]!.length).toBe(1468);
  });

  it('ignores duplicate ACKs instead of resending (no Sorcerer\'s Apprentice)', () => {
    const { state } = machine(5000);
    state.start();
    expect(blocks(state.onDatagram(encodeAck(1)))).toEqual([2]);
    expect(state.onDatagram(encodeAck(1)).kind).toBe('ignore');
    expect(state.onDatagram(encodeAck(1)).kind).toBe('ignore');
    expect(blocks(state.onDatagram(encodeAck(2)))).toEqual([3]);
    expect(state.retransmits).toBe(0);
  });

  it('retransmits the outstanding block on timeout after a lost DATA, then carries on', () => {
    const { state } = machine(2000);
    state.start();
    state.onDatagram(encodeAck(1));
    // Block 2 is lost: the client never ACKs it and the timer fires.
    expect(blocks(state.onTimeout())).toEqual([2]);
    expect(state.retransmits).toBe(1);
    expect(blocks(state.onDatagram(encodeAck(2)))).toEqual([3]);
  });

  it('gives up with an ERROR packet after the retry limit, counting only consecutive timeouts', () => {
    const { state } = machine(5000, { retries: 2 });
    state.start();
    state.onTimeout();
    state.onTimeout();
    state.onDatagram(encodeAck(1)); // progress resets the count
    expect(state.onTimeout().kind).toBe('send');
    expect(state.onTimeout().kind).toBe('send');
    const failed = state.onTimeout();
    expect(failed.kind).toBe('failed');
    if (failed.kind !== 'failed') throw new Error('unreachable');
    expect(parsePacket(failed.packets[0]!)).toMatchObject({ opcode: Opcode.ERROR, code: 0 });
    expect(state.onDatagram(encodeAck(2)).kind).toBe('ignore');
  });

  it('backs off the retransmission timeout on consecutive timeouts and resets it on progress', () => {
    const { state } = machine(5000, { retries: 10 });
    state.start();
    expect(state.backoffFactor).toBe(1);
    const factors = [1, 2, 3, 4, 5].map(() => (state.onTimeout(), state.backoffFactor));
    expect(factors).toEqual([2, 4, 8, 8, 8]);
    state.onDatagram(encodeAck(1));
    expect(state.backoffFactor).toBe(1);
  });

  it('stops on an ERROR from the client without answering it', () => {
    const { state } = machine(5000);
    state.start();
    const step = state.onDatagram(encodeError(0, 'user abort'));
    expect(step).toMatchObject({ kind: 'failed', packets: [] });
    expect(step.kind === 'failed' && step.reason).toContain('user abort');
  });

  it('ignores garbage, DATA and ACKs for blocks never sent', () => {
    const { state } = machine(5000);
    state.start();
    expect(state.onDatagram(Buffer.from([0xff])).kind).toBe('ignore');
    expect(state.onDatagram(encodeData(1, Buffer.from('x'))).kind).toBe('ignore');
    expect(state.onDatagram(encodeAck(7)).kind).toBe('ignore');
    expect(state.onDatagram(encodeAck(65535)).kind).toBe('ignore');
    expect(blocks(state.onDatagram(encodeAck(1)))).toEqual([2]);
  });

  describe('windowed (RFC 7440)', () => {
    it('sends a whole window per ACK', () => {
      const { state } = machine(512 * 10 + 1, { windowsize: 4 });
      expect(blocks(state.start())).toEqual([1, 2, 3, 4]);
      expect(blocks(state.onDatagram(encodeAck(4)))).toEqual([5, 6, 7, 8]);
      expect(blocks(state.onDatagram(encodeAck(8)))).toEqual([9, 10, 11]);
      expect(state.onDatagram(encodeAck(11)).kind).toBe('completed');
    });

    it('rolls back to the block after an earlier ACK and resends from there', () => {
      const { data, state } = machine(512 * 20, { windowsize: 4 });
      state.start();
      state.onDatagram(encodeAck(4)); // window 5..8 sent
      // The client got 5 and 6, lost 7: it ACKs 6.
      const rollback = state.onDatagram(encodeAck(6));
      expect(blocks(rollback)).toEqual([7, 8, 9, 10]);
      expect(payloads(rollback)[0]).toEqual(data.subarray(6 * 512, 7 * 512));
      expect(state.retransmits).toBe(2); // 7 and 8 went out before
      // A late ACK for 5 (before the current base) is stale and ignored.
      expect(state.onDatagram(encodeAck(5)).kind).toBe('ignore');
      expect(blocks(state.onDatagram(encodeAck(10)))).toEqual([11, 12, 13, 14]);
    });

    it('does not resend a window for duplicate ACKs of the window base', () => {
      const { state } = machine(512 * 20, { windowsize: 4 });
      state.start();
      state.onDatagram(encodeAck(4));
      expect(state.onDatagram(encodeAck(4)).kind).toBe('ignore');
      expect(state.onDatagram(encodeAck(4)).kind).toBe('ignore');
      expect(blocks(state.onTimeout())).toEqual([5, 6, 7, 8]);
    });

    it('resends the whole window after the base on timeout', () => {
      const { state } = machine(512 * 20, { windowsize: 8 });
      state.start();
      state.onDatagram(encodeAck(3));
      expect(blocks(state.onTimeout())).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    });
  });

  describe('block number rollover', () => {
    it('wraps the wire block number to 0 after 65535 and keeps the right payload', () => {
      const blksize = 8;
      const total = 65540; // blocks; the file ends with a short block 65540
      const { data, state } = machine(blksize * (total - 1) + 3, { blksize });
      state.start();
      let step: TransferStep = { kind: 'ignore' };
      for (let block = 1; block <= 65534; block++) step = state.onDatagram(encodeAck(block));
      expect(blocks(step)).toEqual([65535]);
      step = state.onDatagram(encodeAck(65535));
      expect(blocks(step)).toEqual([0]);
      expect(payloads(step)[0]).toEqual(data.subarray(65535 * blksize, 65536 * blksize));
      // A stale ACK 65534 arriving after the wrap is not mistaken for a future block.
      expect(state.onDatagram(encodeAck(65534)).kind).toBe('ignore');
      expect(blocks(state.onDatagram(encodeAck(0)))).toEqual([1]);
      expect(blocks(state.onDatagram(encodeAck(1)))).toEqual([2]);
      expect(blocks(state.onDatagram(encodeAck(2)))).toEqual([3]);
      const last = state.onDatagram(encodeAck(3));
      expect(blocks(last)).toEqual([4]);
      expect(payloads(last)[0]!.length).toBe(3);
      expect(state.onDatagram(encodeAck(4)).kind).toBe('completed');
      expect(state.lastBlock).toBe(total);
    });

    it('handles a window that straddles the wrap, including a rollback across it', () => {
      const blksize = 8;
      const { data, state } = machine(blksize * 65600, { blksize, windowsize: 16 });
      state.start();
      let base = 0;
      while (base + 16 <= 65528) {
        base += 16;
        state.onDatagram(encodeAck(base & 0xffff));
      }
      expect(base).toBe(65520); // window 65521..65536 (wire 65521..65535, 0) is out
      const step = state.onDatagram(encodeAck(65535)); // client lost the block numbered 0 on the wire
      expect(blocks(step)).toEqual([0, ...Array.from({ length: 15 }, (_, i) => i + 1)]);
      expect(payloads(step)[0]).toEqual(data.subarray(65535 * blksize, 65536 * blksize));
      expect(state.acknowledgedBlock).toBe(65535);
      expect(blocks(state.onDatagram(encodeAck(15)))[0]).toBe(16);
      expect(state.acknowledgedBlock).toBe(65551);
    });
  });

  describe('over a lossy, duplicating channel (seeded simulation)', () => {

    it.each([
      // The last column bounds DATA packets per block: go-back-N (RFC 7440 has no selective ACK) pays
      // heavily at 30% loss, but duplicates must never multiply traffic.
      [1, 1, 0.1, 0.05, 1.5],
      [2, 4, 0.1, 0.05, 2],
      [3, 16, 0.05, 0.1, 2.5],
      [4, 16, 0.3, 0.0, 8],
      [5, 1, 0.3, 0.3, 2],
      [6, 16, 0.0, 0.3, 1.1],
    ])('seed %i, windowsize %i, loss %f, duplication %f: delivers every byte in order', (seed, windowsize, loss, dup, maxPerBlock) => {
      const random = prng(seed);
      const blksize = 64;
      const { data, state } = machine(blksize * 300 + 17, { blksize, windowsize, retries: 50 });
      // Receiver per RFC 1350 / RFC 7440: ACK after a full window and after the final block; ACK the last
      // in-order block once on a gap; in lock-step re-ACK a duplicate; on silence repeat the last ACK.
      const received: Buffer[] = [];
      let expected = 1;
      let sinceAck = 0;
      let gapAcked = false;
      let done = false;
      const toClient: Buffer[] = [];
      const toServer: Buffer[] = [];
      const channel = (queue: Buffer[], packets: Buffer[]): void => {
        for (const p of packets) {
          if (random() < loss) continue;
          queue.push(p);
          if (random() < dup) queue.push(p);
        }
      };
      const apply = (step: TransferStep): void => {
        if (step.kind === 'send') channel(toClient, step.packets);
        if (step.kind === 'completed') done = true;
        if (step.kind === 'failed') throw new Error(`transfer failed: ${step.reason}`);
      };
      apply(state.start());
      for (let rounds = 0; !done && rounds < 100_000; rounds++) {
        const toDeliver = toClient.splice(0);
        for (const packet of toDeliver) {
          const delta = (packet.readUInt16BE(2) - expected) & 0xffff;
          if (delta === 0) {
            received.push(packet.subarray(4));
            const final = packet.length - 4 < blksize;
            expected++;
            sinceAck++;
            gapAcked = false;
            if (sinceAck >= windowsize || final) {
              sinceAck = 0;
              channel(toServer, [encodeAck(expected - 1)]);
            }
          } else if (delta < 0x8000 ? !gapAcked : windowsize === 1) {
            gapAcked = delta < 0x8000;
            sinceAck = 0;
            channel(toServer, [encodeAck(expected - 1)]);
          }
        }
        const acks = toServer.splice(0);
        for (const ack of acks) apply(state.onDatagram(ack));
        if (toDeliver.length === 0 && acks.length === 0 && !done) {
          channel(toServer, [encodeAck(expected - 1)]);
          apply(state.onTimeout());
        }
      }
      expect(done).toBe(true);
      expect(Buffer.concat(received)).toEqual(data);
      // Loss costs retransmissions, duplicates must not multiply them (no Sorcerer's Apprentice).
      expect(state.packetsSent).toBeLessThan(state.lastBlock * maxPerBlock);
    });
  });
});
