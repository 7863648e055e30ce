import { DeploymentSpecSchema, hashToken, isWellFormedToken, selectIntent, statusAfter, type Deployment } from './deployments.js';

function dep(id: string, kind: Deployment['kind'], status: Deployment['status'], createdAt: string): Deployment {
  return {
    id, machineId: 'm1', kind, status, osImage: kind === 'localboot' ? null : 'rocky-9', hostname: 'web-01', bootMac: null,
    config: { sshKeys: [], rootPasswordHash: null, network: {} }, tokenExpiresAt: null, lastError: null, createdAt, updatedAt: createdAt,
  };
}

describe('selectIntent', () => {
  it('is none without an active deployment', () => {
    expect(selectIntent([]).kind).toBe('none');
    expect(selectIntent([dep('a', 'install', 'done', '2026-01-01T00:00:00.000Z'), dep('b', 'install', 'cancelled', '2026-01-02T00:00:00.000Z')]).kind).toBe('none');
  });

  it('installs or wipes while the deployment is pending, booting or installing', () => {
    for (const status of ['pending', 'booting', 'installing'] as const) {
      expect(selectIntent([dep('a', 'install', status, '2026-01-01T00:00:00.000Z')])).toMatchObject({ kind: 'install', deployment: { id: 'a' } });
      expect(selectIntent([dep('w', 'wipe', status, '2026-01-01T00:00:00.000Z')])).toMatchObject({ kind: 'wipe' });
    }
  });

  it('boots from disk once the installer reported "installed", so a reboot does not reinstall', () => {
    expect(selectIntent([dep('a', 'install', 'installed', '2026-01-01T00:00:00.000Z')])).toMatchObject({ kind: 'localboot', deployment: { id: 'a' } });
  });

  it('honours an explicit localboot and prefers the newest active deployment', () => {
    expect(selectIntent([dep('l', 'localboot', 'pending', '2026-01-01T00:00:00.000Z')]).kind).toBe('localboot');
    const intent = selectIntent([dep('old', 'install', 'installed', '2026-01-01T00:00:00.000Z'), dep('new', 'wipe', 'pending', '2026-01-03T00:00:00.000Z'), dep('x', 'install', 'failed', '2026-01-04T00:00:00.000Z')]);
    expect(intent).toMatchObject({ kind: 'wipe', deployment: { id: 'new' } });
  });
});

describe('statusAfter', () => {
  it('follows the installer through its events', () => {
    expect(statusAfter('booting', 'install', 'started')).toBe('installing');
    expect(statusAfter('installing', 'install', 'installed')).toBe('installed');
    expect(statusAfter('installed', 'install', 'first_boot')).toBe('done');
    expect(statusAfter('installing', 'install', 'failed')).toBe('failed');
  });

  it('never moves backwards and never leaves a terminal status', () => {
    expect(statusAfter('installed', 'install', 'started')).toBe('installed');
    expect(statusAfter('done', 'install', 'failed')).toBe('done');
    expect(statusAfter('cancelled', 'install', 'installed')).toBe('cancelled');
  });

  it('finishes a wipe on "installed"', () => {
    expect(statusAfter('installing', 'wipe', 'installed')).toBe('done');
  });
});

describe('deployment spec', () => {
  it('requires an image and a hostname to install, and refuses two kinds of password', () => {
    const r = DeploymentSpecSchema.safeParse({ kind: 'install', root_password: 'longenough', root_password_hash: '$6$x$y' });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['hostname', 'os_image', 'root_password', 'root_password_hash']);
    expect(DeploymentSpecSchema.safeParse({ kind: 'localboot' }).success).toBe(true);
  });

  it('refuses hostnames and SSH keys that could break an answer file', () => {
    const base = { kind: 'install', os_image: 'rocky-9' } as const;
    expect(DeploymentSpecSchema.safeParse({ ...base, hostname: 'web 01' }).success).toBe(false);
    expect(DeploymentSpecSchema.safeParse({ ...base, hostname: 'web-01', ssh_keys: ['ssh-ed25519 AAAA x\nrm -rf /'] }).success).toBe(false);
    expect(DeploymentSpecSchema.safeParse({ ...base, hostname: 'web-01', ssh_keys: ['ssh-ed25519 AAAAC3Nza= ops@x'] }).success).toBe(true);
  });
});

describe('tokens', () => {
  it('stores a SHA-256 hex digest and accepts only the shape it issues', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(isWellFormedToken('a'.repeat(43))).toBe(true);
    expect(isWellFormedToken('a'.repeat(42))).toBe(false);
    expect(isWellFormedToken('../../etc/passwd'.padEnd(43, 'a'))).toBe(false);
  });
});
