import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { answerFileCallback, parseIpxeScript, redact } from './pxe-machine.js';
import { countdown } from './view.js';

const golden = (name: string): string => readFileSync(join(packageRoot, 'src', 'boot', 'http', '__golden__', name), 'utf8');
const TOKEN = 'tok_0123456789abcdefghijklmnopqrstuvwxyzABCD';

describe('the simulated machine reads rendered boot files like the real clients', () => {
  it.each([
    ['install-debian.ipxe', `http://10.20.0.2:8080/boot/config/${TOKEN}/preseed.cfg`],
    ['install-rhel.ipxe', `http://10.20.0.2:8080/boot/config/${TOKEN}/ks.cfg`],
    ['install-ubuntu.ipxe', `http://10.20.0.2:8080/boot/config/${TOKEN}/user-data`],
    ['install-cloud.ipxe', `http://10.20.0.2:8080/boot/config/${TOKEN}/user-data`],
  ])('%s names its answer file', (file, url) => {
    expect(parseIpxeScript(golden(file))).toEqual({ kind: 'install', answerFileUrl: url });
  });

  it('reads the wipe callback from the wipe script', () => {
    expect(parseIpxeScript(golden('wipe.ipxe'))).toEqual({ kind: 'wipe', callbackUrl: `http://10.20.0.2:8080/boot/callback/${TOKEN}` });
  });

  it('treats localboot, nothing and non-scripts as "exit to disk"', () => {
    expect(parseIpxeScript(golden('localboot.ipxe')).kind).toBe('exit');
    expect(parseIpxeScript(golden('nothing.ipxe')).kind).toBe('exit');
    expect(parseIpxeScript('<html>not a script</html>')).toEqual({ kind: 'exit', reason: 'not an iPXE script' });
  });

  it.each(['debian12.cfg', 'rhel9-static.ks', 'ubuntu-user-data.yaml', 'cloud-user-data.yaml'])('finds the callback URL in %s', (file) => {
    expect(answerFileCallback(golden(file))).toBe(`http://10.20.0.2:8080/boot/callback/${TOKEN}`);
  });

  it('never prints callback or config tokens', () => {
    expect(redact(`GET http://h/boot/config/${TOKEN}/ks.cfg`)).toBe('GET http://h/boot/config/[token]/ks.cfg');
    expect(redact(`http://h/boot/callback/${TOKEN}`)).toBe('http://h/boot/callback/[token]');
  });

  it('counts a delivery clock down, and past the deadline', () => {
    const now = new Date('2026-11-26T12:00:00Z');
    expect(countdown('2026-11-27T12:00:00Z', now)).toBe('24h00m00s');
    expect(countdown('2026-11-26T11:58:30Z', now)).toBe('-0h01m30s');
  });
});
