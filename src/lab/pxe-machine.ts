import { createSocket, type Socket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  DhcpOptions,
  MessageType,
  OPT_BOOTFILE_NAME,
  OPT_CLIENT_ARCH,
  OPT_CLIENT_GUID,
  OPT_CLIENT_NDI,
  OPT_MESSAGE_TYPE,
  OPT_PARAMETER_REQUEST_LIST,
  OPT_REQUESTED_IP,
  OPT_SERVER_ID,
  OPT_USER_CLASS,
  OPT_VENDOR_CLASS_ID,
  ipToBuffer,
} from '../boot/dhcp/options.js';
import { BOOTREPLY, BOOTREQUEST, FLAG_BROADCAST, decodePacket, encodePacket, macToChaddr, newPacket, type DhcpPacket } from '../boot/dhcp/packet.js';
import { Opcode, encodeAck, encodeRequest, parsePacket } from '../boot/tftp/packet.js';
import type { SimPowerChange } from './redfish-sim/index.js';

/**
 * Simulated bare-metal machines for the lab, tests and benchmarks. A machine sits behind one
 * simulated BMC; when the BMC powers it on it boots the way a server's firmware does and talks to
 * Anvil's boot services with real packets on loopback:
 *
 *   firmware PXE:  DHCP DISCOVER/REQUEST (PXEClient, arch 7) → TFTP RRQ of the offered iPXE binary
 *   iPXE:          DHCP again with user class "iPXE" → GET /boot/ipxe?mac=… → GET the answer file
 *   "installer":   POST started → (install time) → POST installed — URLs taken from the rendered files
 *   installed OS:  on the next power-on from disk, POST first_boot (from the answer file's unit)
 *   wipe image:    POST installed to the `anvil.callback=` URL of the wipe script
 *
 * Nothing here touches the database; everything goes through the URLs Anvil rendered.
 */

/** Where the machines find Anvil's boot services (all on loopback). */
export interface LabBootEndpoints {
  /** Address DHCP and TFTP listen on (127.0.0.1). */
  serverAddress: string;
  dhcpPort: number;
  tftpPort: number;
}

/** What a machine reports as it goes; the lab prints these. */
export interface MachineEvent {
  serial: string;
  at: Date;
  event: 'power_on' | 'power_off' | 'dhcp' | 'tftp' | 'ipxe_script' | 'answer_file' | 'callback' | 'disk_boot' | 'idle' | 'error';
  detail: string;
}

/**
 * The broadcast domain of the simulated machines: one UDP socket on the DHCP client port that
 * every reply reaches (the server broadcasts to address-less clients, as on a real segment), with
 * replies handed to the machine waiting for that transaction id.
 */
export class LabDhcpSegment {
  private socket: Socket | null = null;
  private readonly waiting = new Map<number, (p: DhcpPacket) => void>();

  /** Binds the client port (0 = any free port); returns it so the DHCP server can be told. */
  async open(port = 0): Promise<number> {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.on('message', (msg) => {
      let p: DhcpPacket;
      try {
        p = decodePacket(msg);
      } catch {
        return; // not DHCP: a real client ignores it too
      }
      if (p.op !== BOOTREPLY) return;
      this.waiting.get(p.xid)?.(p);
    });
    socket.on('error', () => undefined);
    // 0.0.0.0: limited broadcasts (255.255.255.255) are delivered only to wildcard-bound sockets.
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '0.0.0.0', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.socket = socket;
    return socket.address().port;
  }

  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  /** Sends `packet` to the server and resolves with the first reply of `wantType` for its xid. */
  async exchange(packet: DhcpPacket, to: { address: string; port: number }, wantType: MessageType, firstTimeoutMs = 1000, tries = 5): Promise<DhcpPacket> {
    const socket = this.socket;
    if (!socket) throw new Error('lab DHCP segment is not open');
    for (let attempt = 1; attempt <= tries; attempt++) {
      // PXE ROMs back off between DISCOVERs (4, 8, 16, 32 s in the spec); here 1, 2, 4, 8, 8 s.
      const timeoutMs = Math.min(8000, firstTimeoutMs * 2 ** (attempt - 1));
      const reply = await new Promise<DhcpPacket | null>((resolve) => {
        const timer = setTimeout(() => {
          this.waiting.delete(packet.xid);
          resolve(null);
        }, timeoutMs);
        this.waiting.set(packet.xid, (p) => {
          if (p.options.messageType !== wantType && p.options.messageType !== MessageType.NAK) return;
          clearTimeout(timer);
          this.waiting.delete(packet.xid);
          resolve(p);
        });
        socket.send(encodePacket(packet), to.port, to.address);
      });
      if (reply?.options.messageType === MessageType.NAK) throw new Error(`DHCP NAK: ${reply.options.get(56)?.toString('latin1') ?? 'no message'}`);
      if (reply) return reply;
    }
    throw new Error(`no DHCP ${MessageType[wantType]} after ${tries} tries`);
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
    this.waiting.clear();
  }
}

/** Lease a DHCP exchange produced: the machine's address and what to boot next. */
interface Lease {
  ip: string;
  bootFile: string;
  nextServer: string;
}

/** Downloads `file` over TFTP from a socket bound to `localAddress`; returns its size in bytes. */
export async function tftpGet(server: { address: string; port: number }, file: string, localAddress: string, opts: { blksize?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<number> {
  const blksize = opts.blksize ?? 1428;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, localAddress, () => resolve()));
  try {
    return await new Promise<number>((resolve, reject) => {
      let peer: { address: string; port: number } | null = null;
      let expected = 1;
      let size = 0;
      let negotiated = 512;
      let lastSent: Buffer = encodeRequest(Opcode.RRQ, file, 'octet', { blksize, tsize: 0 });
      let retries = 0;
      let timer: NodeJS.Timeout;
      const send = (buf: Buffer): void => {
        lastSent = buf;
        const to = peer ?? server;
        socket.send(buf, to.port, to.address);
        clearTimeout(timer);
        timer = setTimeout(onTimeout, timeoutMs);
      };
      const finish = (err: Error | null): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(size);
      };
      const onTimeout = (): void => {
        if (++retries > 5) return finish(new Error(`TFTP ${file}: no answer from ${server.address}:${server.port}`));
        send(lastSent);
      };
      const onAbort = (): void => finish(new Error('TFTP transfer aborted'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('message', (msg, rinfo) => {
        if (peer && (rinfo.port !== peer.port || rinfo.address !== peer.address)) return; // RFC 1350: wrong TID
        let p;
        try {
          p = parsePacket(msg);
        } catch {
          return;
        }
        peer ??= { address: rinfo.address, port: rinfo.port };
        retries = 0;
        if (p.opcode === Opcode.ERROR) return finish(new Error(`TFTP ${file}: error ${p.code} ${p.message}`));
        if (p.opcode === Opcode.OACK) {
          negotiated = Number(p.options.get('blksize') ?? 512);
          return send(encodeAck(0));
        }
        if (p.opcode === Opcode.DATA) {
          if (p.block !== (expected & 0xffff)) return send(encodeAck((expected - 1) & 0xffff));
          size += p.payload.length;
          expected += 1;
          const ack = encodeAck(p.block);
          if (p.payload.length < negotiated) {
            socket.send(ack, rinfo.port, rinfo.address);
            return finish(null);
          }
          return send(ack);
        }
      });
      send(lastSent);
    });
  } finally {
    socket.close();
  }
}

/** One HTTP request from `localAddress` (the machine's leased address); text body back. */
export function httpText(method: 'GET' | 'POST', url: string, localAddress: string, form?: Record<string, string>, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  const body = form ? new URLSearchParams(form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        localAddress,
        timeout: timeoutMs,
        headers: { 'user-agent': 'iPXE/1.21.1 (anvil-lab)', ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${redact(url)}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Callback tokens are secrets: never print them. */
export function redact(url: string): string {
  return url.replace(/\/boot\/(config|callback)\/[^/\s]+/, '/boot/$1/[token]');
}

const ANSWER_FILE_URL = /(https?:\/\/[^\s'"]+\/boot\/config\/[^/\s'"]+\/)([A-Za-z.-]*)/;
const CALLBACK_URL = /(https?:\/\/[^\s'"]+\/boot\/callback\/[A-Za-z0-9_-]+)/;
const WIPE_CALLBACK = /anvil\.callback=(\S+)/;

/** What an iPXE script asks for, as far as a simulated machine cares. */
export type ScriptAction = { kind: 'install'; answerFileUrl: string } | { kind: 'wipe'; callbackUrl: string } | { kind: 'exit'; reason: string };

/** Reads a rendered iPXE script the way the lab's machine "runs" it. */
export function parseIpxeScript(script: string): ScriptAction {
  if (!script.startsWith('#!ipxe')) return { kind: 'exit', reason: 'not an iPXE script' };
  const wipe = WIPE_CALLBACK.exec(script);
  if (wipe) return { kind: 'wipe', callbackUrl: wipe[1]! };
  const answer = ANSWER_FILE_URL.exec(script);
  // nocloud's `s=` names a directory: the data source reads user-data from it.
  if (answer) return { kind: 'install', answerFileUrl: `${answer[1]}${answer[2] || 'user-data'}` };
  const comment = script.split('\n').find((l) => l.startsWith('# Anvil:'));
  return { kind: 'exit', reason: comment ? comment.slice(2) : 'boot from disk' };
}

/** The callback URL of an answer file (started/installed/first_boot all use it). */
export function answerFileCallback(answerFile: string): string | null {
  return CALLBACK_URL.exec(answerFile)?.[1] ?? null;
}

/** What a simulated server needs of its BMC: the Redfish simulator and ipmi_sim both provide it. */
export interface SimulatedBmc {
  onPowerChange(listener: (change: SimPowerChange) => void): () => void;
  /** A machine behind a broken BMC does nothing. */
  readonly hasFaults: boolean;
}

export interface SimulatedMachineOptions {
  serial: string;
  /** The NIC that network-boots. */
  mac: string;
  bmc: SimulatedBmc;
  segment: LabDhcpSegment;
  boot: () => LabBootEndpoints;
  /** Time the "installer" (and the wipe image) takes between started and installed. */
  installMs: number;
  /** Firmware initialisation (POST) before the first packet after power-on. Default 300 ms. */
  firmwareMs?: number;
  /** TFTP block size the ROM asks for. Default 1428 (Ethernet MTU); loopback allows far more. */
  tftpBlksize?: number;
  onEvent?: (e: MachineEvent) => void;
}

/** A simulated server behind a simulated BMC (Redfish simulator or ipmi_sim). */
export class SimulatedMachine {
  readonly serial: string;
  readonly mac: string;
  private readonly guid = Buffer.concat([Buffer.from([0]), randomBytes(16)]);
  /** What is on the disk: an installed OS that has not yet reported its first boot, or nothing. */
  private disk: { os: boolean; firstBootUrl: string | null } = { os: false, firstBootUrl: null };
  /** Incremented on every power change so a boot in progress stops when the power goes. */
  private generation = 0;
  private readonly unsubscribe: () => void;
  /** Boots that ran to a result (tests and the benchmark). */
  readonly stats = { networkBoots: 0, diskBoots: 0, callbacks: 0, errors: 0 };
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SimulatedMachineOptions) {
    this.serial = opts.serial;
    this.mac = opts.mac.toLowerCase();
    this.unsubscribe = opts.bmc.onPowerChange((c) => this.onPower(c));
  }

  /** The last boot's work (tests await it). */
  get idle(): Promise<void> {
    return this.running;
  }

  detach(): void {
    this.unsubscribe();
    this.generation++;
  }

  private emit(event: MachineEvent['event'], detail: string): void {
    this.opts.onEvent?.({ serial: this.serial, at: new Date(), event, detail });
  }

  private onPower(change: SimPowerChange): void {
    const gen = ++this.generation;
    if (change.power !== 'On') {
      this.emit('power_off', change.cause);
      return;
    }
    this.emit('power_on', `${change.cause}, boot override ${String(change.boot.BootSourceOverrideTarget ?? 'None')}/${String(change.boot.BootSourceOverrideEnabled ?? 'Disabled')}`);
    const target = change.boot.BootSourceOverrideEnabled !== 'Disabled' ? String(change.boot.BootSourceOverrideTarget ?? 'None') : 'None';
    // Let the BMC answer its reset request before the "firmware" starts.
    this.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.boot(gen, target)).catch((err: unknown) => {
      if (gen !== this.generation) return;
      this.stats.errors++;
      this.emit('error', err instanceof Error ? redact(err.message) : String(err));
    });
  }

  private alive(gen: number): boolean {
    return gen === this.generation && !this.opts.bmc.hasFaults;
  }

  private async boot(gen: number, target: string): Promise<void> {
    // A machine behind a broken BMC is the broken machine: it does nothing.
    if (!this.alive(gen)) return;
    await this.sleep(this.opts.firmwareMs ?? 300);
    if (!this.alive(gen)) return;
    if (target === 'Pxe') return this.networkBoot(gen);
    if (this.disk.os) return this.diskBoot(gen);
    // Empty disk: the firmware's boot order falls through to the network.
    return this.networkBoot(gen);
  }

  private async diskBoot(gen: number): Promise<void> {
    this.stats.diskBoots++;
    const url = this.disk.firstBootUrl;
    if (!url) {
      this.emit('disk_boot', 'installed OS running');
      return;
    }
    this.emit('disk_boot', 'installed OS boots for the first time');
    const ip = await this.dhcp(gen, 'os');
    if (!this.alive(gen)) return;
    await this.callback(url, 'first_boot', ip.ip);
    this.disk.firstBootUrl = null;
  }

  private async networkBoot(gen: number): Promise<void> {
    const { serverAddress, tftpPort } = this.opts.boot();
    // Stage 1: the NIC's PXE ROM gets an address and the iPXE binary.
    const pxe = await this.dhcp(gen, 'pxe');
    if (!this.alive(gen)) return;
    if (!pxe.bootFile) {
      this.emit('idle', 'no boot file offered; nothing to boot');
      return;
    }
    // A busy TFTP server (transfer limit) makes the ROM try again, as firmware retries its boot.
    let bytes = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        bytes = await tftpGet({ address: pxe.nextServer || serverAddress, port: tftpPort }, pxe.bootFile, pxe.ip, { blksize: this.opts.tftpBlksize ?? 1428 });
        break;
      } catch (err) {
        if (attempt >= 8 || !this.alive(gen)) throw err;
        await this.sleep(250 * attempt + Math.floor(Math.random() * 250));
      }
    }
    this.emit('tftp', `${pxe.bootFile} (${bytes} bytes)`);
    if (!this.alive(gen)) return;
    // Stage 2: iPXE asks again and is pointed at Anvil's HTTP script.
    const ipxe = await this.dhcp(gen, 'ipxe');
    if (!this.alive(gen)) return;
    if (!/^https?:\/\//.test(ipxe.bootFile)) throw new Error(`iPXE was offered "${ipxe.bootFile}", not a script URL`);
    const script = await httpText('GET', ipxe.bootFile, ipxe.ip);
    if (script.status !== 200) throw new Error(`GET ${ipxe.bootFile}: HTTP ${script.status}`);
    const action = parseIpxeScript(script.body);
    this.emit('ipxe_script', action.kind === 'exit' ? action.reason : action.kind);
    this.stats.networkBoots++;
    if (action.kind === 'exit') {
      // "nothing"/"localboot": iPXE exits and the firmware tries the disk.
      if (this.disk.os && this.alive(gen)) await this.diskBoot(gen);
      return;
    }
    if (action.kind === 'wipe') {
      await this.sleep(this.opts.installMs);
      if (!this.alive(gen)) return;
      this.disk = { os: false, firstBootUrl: null };
      await this.callback(action.callbackUrl, 'installed', ipxe.ip);
      return;
    }
    const answer = await httpText('GET', action.answerFileUrl, ipxe.ip);
    if (answer.status !== 200) throw new Error(`GET ${redact(action.answerFileUrl)}: HTTP ${answer.status}`);
    this.emit('answer_file', `${redact(action.answerFileUrl)} (${answer.body.length} bytes)`);
    const callbackUrl = answerFileCallback(answer.body);
    if (!callbackUrl) throw new Error('the answer file names no callback URL');
    if (!this.alive(gen)) return;
    await this.callback(callbackUrl, 'started', ipxe.ip);
    this.disk = { os: false, firstBootUrl: null };
    await this.sleep(this.opts.installMs);
    if (!this.alive(gen)) return;
    this.disk = { os: true, firstBootUrl: callbackUrl };
    await this.callback(callbackUrl, 'installed', ipxe.ip);
  }

  private async callback(url: string, event: string, from: string): Promise<void> {
    const res = await httpText('POST', url, from, { event });
    if (res.status !== 200) throw new Error(`callback ${event}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
    this.stats.callbacks++;
    this.emit('callback', event);
  }

  private sleep(ms: number): Promise<void> {
    return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
  }

  /**
   * DISCOVER → OFFER → REQUEST → ACK, as a PXE ROM, iPXE (with its user class) or the installed
   * OS (no PXE options, so Anvil does not count it as a network boot) does it.
   */
  private async dhcp(gen: number, stage: 'pxe' | 'ipxe' | 'os'): Promise<Lease> {
    const ipxe = stage === 'ipxe';
    const { serverAddress, dhcpPort } = this.opts.boot();
    const to = { address: serverAddress, port: dhcpPort };
    const xid = randomBytes(4).readUInt32BE(0);
    const arch = Buffer.from([0, 7]);
    const base: Array<[number, Buffer]> = stage === 'os' ? [[OPT_PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 12, 15, 28])]] : [
      [OPT_PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 12, 15, 43, 54, 60, 66, 67, 97])],
      [OPT_VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00007:UNDI:003016')],
      [OPT_CLIENT_ARCH, arch],
      [OPT_CLIENT_NDI, Buffer.from([1, 3, 16])],
      [OPT_CLIENT_GUID, this.guid],
      ...(ipxe ? ([[OPT_USER_CLASS, Buffer.from('iPXE')]] as Array<[number, Buffer]>) : []),
    ];
    const packet = (type: MessageType, extra: Array<[number, Buffer]> = []): DhcpPacket =>
      newPacket({ op: BOOTREQUEST, xid, flags: FLAG_BROADCAST, chaddr: macToChaddr(this.mac), options: DhcpOptions.from([[OPT_MESSAGE_TYPE, Buffer.from([type])], ...extra, ...base]) });
    const offer = await this.opts.segment.exchange(packet(MessageType.DISCOVER), to, MessageType.OFFER);
    if (!this.alive(gen)) throw new Error('powered off during DHCP');
    const serverId = offer.options.serverId ?? serverAddress;
    const ack = await this.opts.segment.exchange(
      packet(MessageType.REQUEST, [
        [OPT_REQUESTED_IP, ipToBuffer(offer.yiaddr)],
        [OPT_SERVER_ID, ipToBuffer(serverId)],
      ]),
      to,
      MessageType.ACK,
    );
    const bootFile = ack.options.get(OPT_BOOTFILE_NAME)?.toString('latin1') ?? ack.file ?? '';
    this.emit('dhcp', `${stage === 'ipxe' ? 'iPXE' : stage === 'pxe' ? 'PXE' : 'OS'} ${ack.yiaddr}${bootFile ? ` → ${redact(bootFile)}` : ''}`);
    return { ip: ack.yiaddr, bootFile: bootFile.replace(/\0+$/, ''), nextServer: ack.siaddr === '0.0.0.0' ? '' : ack.siaddr };
  }
}
