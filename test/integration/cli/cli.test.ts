import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.js';
import { testDatabases } from '../../support/databases.js';
import { waitFor } from '../../support/wait.js';
import { recordingIo, runCli, useCliDatabase, type CliRun } from '../../support/cli.js';

describe('anvil CLI without a database', () => {
  const run = (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> => runCli(argv, env);

  it('prints usage for --help and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: anvil <command>/);
    for (const cmd of ['serve', 'migrate', 'token', 'inventory']) expect(r.stdout).toContain(`  ${cmd} `);
  });

  it('prints per-command help', async () => {
    expect((await run(['token', '--help'])).stdout).toContain('anvil token create --role ROLE --name NAME');
    expect((await run(['help', 'serve'])).stdout).toContain('--listen HOST:PORT');
    expect((await run(['migrate', '-h'])).stdout).toContain('latest|rollback|status');
  });

  it('exits 2 with usage for no command and for an unknown command', async () => {
    expect((await run([])).code).toBe(2);
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.messages[0]).toBe('anvil: unknown command "frobnicate"');
    expect(r.stderr).toContain('Usage: anvil <command>');
  });

  it('exits 2 for an unknown option or a missing argument', async () => {
    const a = await run(['serve', '--colour', 'blue']);
    expect(a.code).toBe(2);
    expect(a.messages[0]).toMatch(/^anvil: Unknown option '--colour'/);
    const b = await run(['token', 'create', '--name', 'x']);
    expect(b.code).toBe(2);
    expect(b.messages[0]).toBe('anvil: token create needs --role (admin, technician, pipeline, viewer)');
  });

  it('prints a config error as one line and exits 2', async () => {
    const r = await run(['serve'], { ANVIL_LISTEN: 'everywhere' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('anvil: ANVIL_LISTEN: expected HOST:PORT (e.g. 127.0.0.1:8080), got "everywhere"\n');
  });

  it('fails with one line and exit 1 when the database is unreachable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-cli-'));
    try {
      // Port 1 on loopback: the connection is refused at once.
      const r = await run(['token', 'list'], { DATABASE_URL: 'postgres://anvil@127.0.0.1:1/anvil', ANVIL_DATA_DIR: dir, ANVIL_LOG_LEVEL: 'error' });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('anvil: cannot use the database: connect ECONNREFUSED 127.0.0.1:1\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the file and line of a bad setting in --config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-cli-'));
    try {
      const file = join(dir, 'anvil.yaml');
      writeFileSync(file, 'listen: 127.0.0.1:8080\nlog_level: chatty\n');
      const r = await run(['token', 'list', '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`anvil: ${file}:2: log_level: Invalid option: expected one of "trace"|"debug"|"info"|"warn"|"error"|"fatal"\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(testDatabases())('anvil CLI on %s', (dialect) => {
  const cli = useCliDatabase(dialect, 'anvil-cli-');
  const run = cli.run;

  it('creates a token, printing it once, and generates a 0600 secret key with a warning', async () => {
    const r = await run(['token', 'create', '--role', 'admin', '--name', 'ops']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^anv_[A-Za-z0-9_-]{43}\n$/);
    expect(r.messages).toEqual(['created token "ops" (admin); store it now, it cannot be shown again']);
    expect(r.stderr).toContain('generated a new secret key file');
    expect(statSync(join(cli.dir, 'data', 'secret.key')).mode & 0o777).toBe(0o600);
    const audit = await cli.db.knex('audit_log').where({ action: 'token.create', target_id: 'ops' });
    expect(audit).toHaveLength(1);
    expect(audit[0].actor).toMatch(/^cli:/);
  });

  it('lists and revokes tokens; a second revoke fails with one line and exit 1', async () => {
    await run(['token', 'create', '--role=viewer', '--name=dashboard']);
    const list = await run(['token', 'list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ROLE\s+PREFIX\s+CREATED\s+LAST USED\s+REVOKED$/);
    expect(lines.some((l) => /^dashboard\s+viewer\s+anv_\S{8}\s+\S+Z\s+-\s+-$/.test(l))).toBe(true);
    const revoke = await run(['token', 'revoke', 'dashboard']);
    expect(revoke).toMatchObject({ code: 0, stdout: 'revoked token "dashboard"\n' });
    const again = await run(['token', 'revoke', 'dashboard']);
    expect(again.code).toBe(1);
    expect(again.messages).toEqual(['anvil: token "dashboard" is already revoked']);
    const unknown = await run(['token', 'revoke', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.messages).toEqual(['anvil: token "nobody" not found']);
  });

  it('reports migration status', async () => {
    const r = await run(['migrate', 'status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^applied {2}20261126000001_foundation$/m);
    expect(r.stdout).not.toContain('pending');
    expect((await run(['migrate', 'latest'])).stdout).toBe('already up to date\n');
    expect((await run(['migrate', 'sideways'])).code).toBe(2);
  });

  it('imports an inventory file through the inventory command', async () => {
    const file = join(cli.dir, 'inventory.yaml');
    writeFileSync(file, 'sites:\n  - { code: MA-CLI1, name: CLI, country: MA, city: Rabat, timezone: Africa/Casablanca }\n');
    const r = await run(['inventory', 'import', file]);
    expect(r.code).toBe(0);
    expect(await cli.db.knex('sites').where({ code: 'MA-CLI1' }).first()).toBeDefined();
  });

  it('serves the API on the listen address until stopped, then closes cleanly', async () => {
    const token = (await run(['token', 'create', '--role', 'viewer', '--name', 'serve-test'])).stdout.trim();
    const stop = new AbortController();
    const { io, out, err } = recordingIo(cli.env, stop.signal);
    const serving = main(['serve', '--listen', '127.0.0.1:0', '--roles', 'api'], io);
    // The line serve prints once it listens; the port is chosen by the OS.
    const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(out.join(''))?.[1], 10_000, 'serve to listen', 50);
    expect(url).toBeDefined();
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const sites = await fetch(`${url}/api/v1/sites`, { headers: { authorization: `Bearer ${token}` } });
    expect(sites.status).toBe(200);
    stop.abort();
    expect(await serving).toBe(0);
    expect(err.join('')).not.toContain(token);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('takes a metrics token without a listener of its own: the API\'s /metrics accepts it', async () => {
    const config = join(cli.dir, 'metrics-token.yaml');
    writeFileSync(config, 'metrics:\n  token: scrape-0123456789abcdef\n');
    const stop = new AbortController();
    const { io, out } = recordingIo(cli.env, stop.signal);
    const serving = main(['serve', '--listen', '127.0.0.1:0', '--roles', 'api', '--config', config], io);
    const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(out.join(''))?.[1], 10_000, 'serve to listen', 50);
    const scraped = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer scrape-0123456789abcdef' } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^# HELP /m);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong-0123456789abcdef' } })).status).toBe(401);
    stop.abort();
    expect(await serving).toBe(0);
  });

  it('stops before any role starts, with exit 2, when the boot interface is not on this host', async () => {
    const config = join(cli.dir, 'boot-nosuch.yaml');
    writeFileSync(config, 'boot:\n  interface: nosuch0\n  subnets: [{ site: MA-NOU1, network: 10.20.0.0/24 }]\n');
    const r = await run(['serve', '--listen', '127.0.0.1:0', '--roles', 'api,boot', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.messages).toEqual(['anvil: boot.interface: no running interface named "nosuch0" on this host (missing, down, or without carrier)']);
  });

  it('fails with one line and exit 1 when the listen address is taken', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await run(['serve', '--listen', `127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.messages).toEqual([`anvil: cannot listen on 127.0.0.1:${port}: address already in use`]);
    } finally {
      blocker.close();
    }
  });
});
