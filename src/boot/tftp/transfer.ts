import { allocateData, encodeError, Opcode, parsePacket, TftpErrorCode, TftpPacketError } from './packet.js';
import type { BlockSource } from './source.js';

/**
 * What the socket shell must do after feeding the state machine one event.
 * - `send`: send the packets, then (re)start the retransmission timer.
 * - `ignore`: nothing; leave the timer running as it is (so duplicates cannot postpone a timeout).
 * - `completed`: the last block was acknowledged; close the transfer.
 * - `failed`: send the packets (usually one ERROR) and close the transfer.
 */
export type TransferStep =
  | { kind: 'send'; packets: Buffer[] }
  | { kind: 'ignore' }
  | { kind: 'completed' }
  | { kind: 'failed'; packets: Buffer[]; reason: string };

export interface TransferSettings {
  blksize: number;
  windowsize: number;
  /** Consecutive timeouts tolerated before the transfer is abandoned. */
  retries: number;
  /** OACK to send first and have acknowledged with ACK 0; null starts with DATA block 1. */
  oack: Buffer | null;
}

const IGNORE: TransferStep = { kind: 'ignore' };
const MAX_BACKOFF_FACTOR = 8;

/**
 * The sending side of one RRQ as a pure state machine (no sockets, no timers). Blocks are tracked by an
 * absolute number (1, 2, ... `lastBlock`); only the wire form is truncated to 16 bits, so transfers past
 * block 65535 roll over to block 0, as tftp-hpa, atftp, curl and iPXE expect.
 *
 * ACK handling, the part RFCs leave to implementations:
 * - An ACK is mapped to the one absolute block in [acked, sentUpTo] with the same low 16 bits; anything
 *   else (a stale ACK from before a rollover, an ACK for a block never sent) is ignored.
 * - An ACK for a block before the last one sent is a window rollback (RFC 7440 section 4): the client
 *   missed the next block, so the window is re-sent starting right after the acknowledged block.
 * - A duplicate of the latest ACK is ignored, never answered with a resend: answering duplicates is the
 *   Sorcerer's Apprentice bug (RFC 1123 4.2.3.1), where every duplicate doubles the traffic. In windowed
 *   mode this holds too, although a repeated ACK can mean "the first block of the window was lost": a
 *   resent window makes the client repeat its ACK, which would resend the next window, and so on, so
 *   that case is left to the retransmission timer.
 */
export class TransferState {
  readonly lastBlock: number;
  private phase: 'oack' | 'data' | 'finished' = 'oack';
  private acked = 0;
  private sentUpTo = 0;
  private timeouts = 0;
  /** DATA packets sent, including retransmissions. */
  packetsSent = 0;
  /** DATA packets sent again (timeouts and rollbacks). */
  retransmits = 0;

  constructor(
    private readonly source: BlockSource,
    private readonly settings: TransferSettings,
  ) {
    // A file that is an exact multiple of blksize still ends with an empty block.
    this.lastBlock = Math.floor(source.size / settings.blksize) + 1;
  }

  /**
   * Multiplier for the retransmission timeout: doubles with each consecutive timeout, up to 8x, and
   * drops back to 1 on progress. Backing off spreads the retries over longer than clients' own
   * timeouts (atftp re-ACKs a duplicate block only once and then waits 5 s), so one lost ACK does not
   * end a transfer, and it eases a congested link.
   */
  get backoffFactor(): number {
    return Math.min(2 ** this.timeouts, MAX_BACKOFF_FACTOR);
  }

  get finished(): boolean {
    return this.phase === 'finished';
  }

  /** Highest block the client has acknowledged (absolute numbering). */
  get acknowledgedBlock(): number {
    return this.acked;
  }

  start(): TransferStep {
    if (this.settings.oack) return { kind: 'send', packets: [this.settings.oack] };
    this.phase = 'data';
    return this.sendWindow();
  }

  /** A datagram from the client's TID. */
  onDatagram(datagram: Buffer): TransferStep {
    if (this.phase === 'finished') return IGNORE;
    // Fast path for the one packet type a transfer lives on.
    if (datagram.length >= 4 && datagram.readUInt16BE(0) === Opcode.ACK) return this.onAck(datagram.readUInt16BE(2));
    let packet;
    try {
      packet = parsePacket(datagram);
    } catch (err) {
      if (err instanceof TftpPacketError) return IGNORE;
      throw err;
    }
    if (packet.opcode === Opcode.ERROR) {
      this.phase = 'finished';
      return { kind: 'failed', packets: [], reason: `client sent error ${packet.code}: ${packet.message}` };
    }
    if (packet.opcode !== Opcode.ACK) return IGNORE;
    return this.onAck(packet.block);
  }

  onTimeout(): TransferStep {
    if (this.phase === 'finished') return IGNORE;
    this.timeouts++;
    if (this.timeouts > this.settings.retries) {
      this.phase = 'finished';
      return {
        kind: 'failed',
        packets: [encodeError(TftpErrorCode.NOT_DEFINED, 'transfer timed out')],
        reason: `no acknowledgement after ${this.settings.retries} retransmissions`,
      };
    }
    if (this.phase === 'oack') return { kind: 'send', packets: [this.settings.oack!] };
    return this.sendWindow(true);
  }

  private onAck(wireBlock: number): TransferStep {
    if (this.phase === 'oack') {
      if (wireBlock !== 0) return IGNORE;
      this.phase = 'data';
      this.timeouts = 0;
      return this.sendWindow();
    }
    const block = this.acked + ((wireBlock - (this.acked & 0xffff)) & 0xffff);
    if (block > this.sentUpTo) return IGNORE;
    if (block === this.acked) return IGNORE;
    this.acked = block;
    this.timeouts = 0;
    if (block === this.lastBlock) {
      this.phase = 'finished';
      return { kind: 'completed' };
    }
    // An ACK short of the last block sent is a rollback: resend from the block after it.
    return this.sendWindow(block < this.sentUpTo);
  }

  /** Sends `windowsize` blocks starting after the last acknowledged one. */
  private sendWindow(isResend = false): TransferStep {
    const { blksize, windowsize } = this.settings;
    const first = this.acked + 1;
    const last = Math.min(this.acked + windowsize, this.lastBlock);
    const packets: Buffer[] = [];
    try {
      for (let block = first; block <= last; block++) {
        const position = (block - 1) * blksize;
        const length = Math.min(blksize, this.source.size - position);
        const packet = allocateData(block, length);
        this.source.readInto(packet, 4, length, position);
        packets.push(packet);
        if (isResend && block <= this.sentUpTo) this.retransmits++;
      }
    } catch (err) {
      this.phase = 'finished';
      return {
        kind: 'failed',
        packets: [encodeError(TftpErrorCode.NOT_DEFINED, 'read error')],
        reason: `read failed: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    this.sentUpTo = Math.max(this.sentUpTo, last);
    this.packetsSent += packets.length;
    return { kind: 'send', packets };
  }
}
