/**
 * A scripted PXE client for proxyDHCP tests (firmware PXE ROMs cannot be driven from a test).
 * argv[2] is JSON `{ mac, arch, userClass?, ciaddr, wait_ms, bootServer? }`. It broadcasts a
 * DISCOVER with PXE options 60/93/94/97 from port 68, collects every reply for `wait_ms`, then, if
 * `bootServer` is set, sends a REQUEST to bootServer:4011 (as a PXE client does after a proxy
 * offer) and collects again. Prints one JSON line: { offers: [...], acks: [...] }.
 */
import { createSocket } from 'node:dgram';
import { DhcpOptions, MessageType, OPT_CLIENT_ARCH, OPT_CLIENT_GUID, OPT_CLIENT_NDI, OPT_MESSAGE_TYPE, OPT_PARAMETER_REQUEST_LIST, OPT_USER_CLASS, OPT_VENDOR_CLASS_ID, OPT_VENDOR_SPECIFIC } from '../../../src/boot/dhcp/options.js';
import { BOOTREQUEST, decodePacket, encodePacket, macToChaddr, newPacket, type DhcpPacket } from '../../../src/boot/dhcp/packet.js';

const args = JSON.parse(process.argv[2]!) as { mac: string; arch: number; userClass?: string; ciaddr: string; wait_ms: number; bootServer?: string };
const guid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x5a)]);
const xid = Math.floor(Math.random() * 0xffffffff);

function request(type: MessageType, ciaddr: string): Buffer {
  const arch = Buffer.alloc(2);
  arch.writeUInt16BE(args.arch);
  const opts: Array<[number, Buffer]> = [
    [OPT_MESSAGE_TYPE, Buffer.from([type])],
    [OPT_PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 43, 54, 60, 66, 67, 97])],
    [OPT_VENDOR_CLASS_ID, Buffer.from(`PXEClient:Arch:${String(args.arch).padStart(5, '0')}:UNDI:002001`)],
    [OPT_CLIENT_ARCH, arch],
    [OPT_CLIENT_NDI, Buffer.from([1, 2, 1])],
    [OPT_CLIENT_GUID, guid],
  ];
  if (args.userClass) opts.push([OPT_USER_CLASS, Buffer.from(args.userClass)]);
  return encodePacket(newPacket({ op: BOOTREQUEST, xid, ciaddr, flags: 0x8000, chaddr: macToChaddr(args.mac), options: DhcpOptions.from(opts) }));
}

function summary(p: DhcpPacket, from: string) {
  return {
    from,
    type: MessageType[p.options.messageType ?? 0] ?? null,
    yiaddr: p.yiaddr,
    siaddr: p.siaddr,
    ciaddr: p.ciaddr,
    file: p.file,
    vendorClass: p.options.vendorClassId,
    option43: p.options.get(OPT_VENDOR_SPECIFIC)?.toString('hex') ?? null,
    guidEchoed: p.options.clientGuid?.equals(guid) ?? false,
    serverId: p.options.serverId,
  };
}

const socket = createSocket({ type: 'udp4', reuseAddr: true });
const seen: Array<ReturnType<typeof summary>> = [];
socket.on('message', (msg, rinfo) => {
  try {
    const p = decodePacket(msg);
    if (p.xid === xid && p.op === 2) seen.push(summary(p, rinfo.address));
  } catch {
    /* not DHCP */
  }
});
await new Promise<void>((r) => socket.bind(68, '0.0.0.0', () => r()));
socket.setBroadcast(true);
const pause = () => new Promise((r) => setTimeout(r, args.wait_ms));
socket.send(request(MessageType.DISCOVER, '0.0.0.0'), 67, '255.255.255.255');
await pause();
const offers = seen.splice(0);
if (args.bootServer) {
  socket.send(request(MessageType.REQUEST, args.ciaddr), 4011, args.bootServer);
  await pause();
}
process.stdout.write(JSON.stringify({ offers, acks: seen.splice(0) }) + '\n');
socket.close();
