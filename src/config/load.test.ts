import { ConfigError, loadConfig, parseListen, parseRoles } from './load.js';

const files = (map: Record<string, string>) => (path: string): string => {
  if (!(path in map)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return map[path]!;
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('uses the documented defaults with an empty environment', () => {
    const c = loadConfig({ env: {} });
    expect(c.database.target).toEqual({ dialect: 'sqlite', location: './data/anvil.sqlite' });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.logLevel).toBe('info');
    expect(c.roles).toEqual(['api', 'worker', 'boot', 'sweeper']);
    expect(c.site).toBeNull();
    expect(c.secretKey).toBeUndefined();
    expect(c.dataDir.endsWith('/data')).toBe(true);
    expect(c.configFile).toBeNull();
  });

  it('reads previous secret keys from ANVIL_SECRET_KEYS_PREVIOUS or secret_keys_previous, naming a bad one', () => {
    const k1 = Buffer.alloc(32, 1).toString('base64');
    const k2 = Buffer.alloc(32, 2).toString('base64');
    expect(loadConfig({ env: { ANVIL_SECRET_KEYS_PREVIOUS: `${k1}, ${k2}` } }).previousSecretKeys).toEqual([k1, k2]);
    expect(loadConfig({ env: {} }).previousSecretKeys).toEqual([]);
    const readFile = files({ '/etc/anvil.yaml': `secret_keys_previous:\n  - ${k1}\n  - not-a-key\n` });
    expect(configError(() => loadConfig({ env: { ANVIL_CONFIG: '/etc/anvil.yaml' }, readFile })).message).toMatch(/^\/etc\/anvil\.yaml:3.*secret_keys_previous.*not base64/);
    expect(configError(() => loadConfig({ env: { ANVIL_SECRET_KEYS_PREVIOUS: `${k1},${Buffer.alloc(16).toString('base64')}` } })).message).toBe('ANVIL_SECRET_KEYS_PREVIOUS[1]: must decode to 32 bytes, got 16 (generate one with: openssl rand -base64 32)');
  });

  it('takes the data directory from the SQLite file, and ANVIL_DATA_DIR for PostgreSQL', () => {
    expect(loadConfig({ env: { DATABASE_URL: 'sqlite:/var/lib/anvil/db.sqlite' } }).dataDir).toBe('/var/lib/anvil');
    const pg = loadConfig({ env: { DATABASE_URL: 'postgres://u:p@db:5432/anvil', ANVIL_DATA_DIR: '/srv/anvil' } });
    expect(pg.database.target.dialect).toBe('postgres');
    expect(pg.dataDir).toBe('/srv/anvil');
  });

  it('lets flags win over the environment, and the environment over the file', () => {
    const readFile = files({ '/etc/anvil.yaml': 'listen: 0.0.0.0:9000\nlog_level: debug\nsite: MA-NOU1\n' });
    const env = { ANVIL_CONFIG: '/etc/anvil.yaml', ANVIL_LISTEN: '10.0.0.1:8081' };
    const fromEnv = loadConfig({ env, readFile });
    expect(fromEnv.listen).toEqual({ host: '10.0.0.1', port: 8081 });
    expect(fromEnv.logLevel).toBe('debug');
    expect(fromEnv.site).toBe('MA-NOU1');
    const fromFlag = loadConfig({ env, readFile, flags: { listen: '[::1]:7000', roles: 'api,boot' } });
    expect(fromFlag.listen).toEqual({ host: '::1', port: 7000 });
    expect(fromFlag.roles).toEqual(['api', 'boot']);
  });

  it('reads the optional notifications and metrics sections', () => {
    const yaml = [
      'notifications:',
      '  webhook:',
      '    url: https://hooks.example.net/anvil',
      '    secret: 0123456789abcdef0123',
      'metrics:',
      '  listen: 127.0.0.1:9100',
      'boot:',
      '  interface: eth1',
      '  subnets: [{ site: MA-NOU1, network: 10.20.0.0/24 }]',
    ].join('\n');
    const c = loadConfig({ env: {}, flags: { config: 'a.yaml' }, readFile: files({ 'a.yaml': yaml }) });
    expect(c.notifications?.webhook?.url).toBe('https://hooks.example.net/anvil');
    expect(c.metrics?.listen).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(c.boot).toEqual({ interface: 'eth1', subnets: [{ site: 'MA-NOU1', network: '10.20.0.0/24' }] });
  });

  it('stops on a bad boot: section with the file line of the key (the boot module checks its shape)', () => {
    const load = (yaml: string) => configError(() => loadConfig({ env: {}, flags: { config: 'b.yaml' }, readFile: files({ 'b.yaml': yaml }) })).message;
    expect(load('boot:\n  dhcp: { mode: authoritative }\n')).toBe('b.yaml:1: boot.interface: is required');
    expect(load('boot:\n  interface: eth1\n  subnets: [{ site: A, network: 10.0.0.0/8 }]\n  dhcp: { mode: proxy, interfaces: [eth1] }\n')).toBe('b.yaml:4: boot.dhcp.interfaces: unknown key');
  });

  it('reads the worker section (workflows driven at once), 32 when absent; refuses 0', () => {
    expect(loadConfig({ env: {}, flags: {} }).worker).toEqual({ concurrency: 32 });
    const c = loadConfig({ env: {}, flags: { config: 'a.yaml' }, readFile: files({ 'a.yaml': 'worker:\n  concurrency: 128\n' }) });
    expect(c.worker).toEqual({ concurrency: 128 });
    expect(() => loadConfig({ env: {}, flags: { config: 'a.yaml' }, readFile: files({ 'a.yaml': 'worker:\n  concurrency: 0\n' }) })).toThrow(/a\.yaml:2: worker\.concurrency/);
  });

  it('reads the health section, with the contract defaults when it is absent', () => {
    const none = loadConfig({ env: {}, flags: {} });
    expect(none.health).toEqual({ intervalMinutes: 15, concurrency: 64, machineBudgetMs: 30_000, retentionDays: 30, autoResolveAfter: 2 });
    const yaml = 'health:\n  interval_minutes: 5\n  machine_budget_seconds: 10\n';
    const c = loadConfig({ env: {}, flags: { config: 'h.yaml' }, readFile: files({ 'h.yaml': yaml }) });
    expect(c.health).toMatchObject({ intervalMinutes: 5, machineBudgetMs: 10_000, concurrency: 64 });
    const bad = configError(() => loadConfig({ env: {}, flags: { config: 'h.yaml' }, readFile: files({ 'h.yaml': 'health:\n  concurrency: 0\n' }) }));
    expect(bad.message).toMatch(/^h\.yaml:2: health\.concurrency/);
  });

  it.each([
    [{ flags: { listen: 'localhost' } }, '--listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got "localhost"'],
    [{ env: { ANVIL_LISTEN: '1.2.3.4:99999' } }, 'ANVIL_LISTEN: port 99999 is out of range 0-65535'],
    [{ env: { ANVIL_LOG_LEVEL: 'verbose' } }, 'ANVIL_LOG_LEVEL: unknown log level "verbose" (use one of trace, debug, info, warn, error, fatal)'],
    [{ flags: { roles: 'api,dns' } }, '--roles: unknown role "dns" (use api, worker, boot, sweeper or all)'],
    [{ env: { DATABASE_URL: 'mysql://x/y' } }, 'DATABASE_URL: unsupported scheme in "mysql://…" (use postgres:// or sqlite:PATH)'],
    [{ flags: { databaseUrl: 'redis://x' } }, '--database-url: unsupported scheme in "redis://…" (use postgres:// or sqlite:PATH)'],
    [{ env: { ANVIL_SECRET_KEY: 'c2hvcnQ=' } }, 'ANVIL_SECRET_KEY: must decode to 32 bytes, got 5 (generate one with: openssl rand -base64 32)'],
    [{ flags: { site: 'bad code!' } }, '--site: "bad code!" is not a site code (letters, digits, - and _, up to 32)'],
  ])('rejects %j with one line naming the setting', (opts, message) => {
    const err = configError(() => loadConfig({ env: {}, ...opts }));
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('\n');
  });

  it('names the file and line of a bad value in anvil.yaml', () => {
    const yaml = '# Anvil\nlog_level: info\n\nlisten: "nowhere"\n';
    const err = configError(() => loadConfig({ env: {}, flags: { config: 'anvil.yaml' }, readFile: files({ 'anvil.yaml': yaml }) }));
    expect(err.message).toBe('anvil.yaml:4: listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got "nowhere"');
    // A bare port is a number in YAML: still the same message, not a type error.
    const port = configError(() => loadConfig({ env: {}, flags: { config: 'anvil.yaml' }, readFile: files({ 'anvil.yaml': 'listen: 8080\n' }) }));
    expect(port.message).toBe('anvil.yaml:1: listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got "8080"');
  });

  it('names the file and line of a value of the wrong type, deep in a section', () => {
    const yaml = 'notifications:\n  smtp:\n    host: mail\n    from: anvil@example.net\n    port: "twenty-five"\n';
    const err = configError(() => loadConfig({ env: {}, flags: { config: 'c.yaml' }, readFile: files({ 'c.yaml': yaml }) }));
    expect(err.message).toMatch(/^c\.yaml:5: notifications\.smtp\.port: /);
    expect(err.message).not.toContain('\n');
  });

  it('names an unknown key and its line', () => {
    const yaml = 'listen: 127.0.0.1:8080\nlisten_port: 80\n';
    const err = configError(() => loadConfig({ env: {}, flags: { config: 'x.yaml' }, readFile: files({ 'x.yaml': yaml }) }));
    expect(err.message).toBe('x.yaml:2: listen_port: unknown setting');
  });

  it('names a missing required key with its section line', () => {
    const yaml = 'notifications:\n  webhook:\n    url: http://127.0.0.1:9/hook\n';
    const err = configError(() => loadConfig({ env: {}, flags: { config: 'm.yaml' }, readFile: files({ 'm.yaml': yaml }) }));
    expect(err.message).toBe('m.yaml:2: notifications.webhook.secret: is required');
  });

  it('takes a metrics token without a listener, and the listener address per process from ANVIL_METRICS_LISTEN', () => {
    const yaml = 'metrics:\n  token: 0123456789abcdef0\n';
    const read = files({ 'm.yaml': yaml, 'l.yaml': `${yaml}  listen: 127.0.0.1:9100\n` });
    expect(loadConfig({ env: {}, flags: { config: 'm.yaml' }, readFile: read }).metrics).toEqual({ listen: null, token: '0123456789abcdef0' });
    // Processes sharing one file on a host: each names its own address.
    expect(loadConfig({ env: { ANVIL_METRICS_LISTEN: '127.0.0.1:9101' }, flags: { config: 'l.yaml' }, readFile: read }).metrics?.listen).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(loadConfig({ env: { ANVIL_METRICS_LISTEN: '127.0.0.1:9102' } }).metrics).toEqual({ listen: { host: '127.0.0.1', port: 9102 } });
    expect(configError(() => loadConfig({ env: { ANVIL_METRICS_LISTEN: '9100' } })).message).toBe('ANVIL_METRICS_LISTEN: expected HOST:PORT (e.g. 127.0.0.1:8080), got "9100"');
  });

  it('reports YAML syntax errors with the line', () => {
    const yaml = 'listen: 127.0.0.1:8080\nroles: [api, worker\n';
    const err = configError(() => loadConfig({ env: {}, flags: { config: 'y.yaml' }, readFile: files({ 'y.yaml': yaml }) }));
    expect(err.message).toMatch(/^y\.yaml:\d+: invalid YAML: /);
    expect(err.message).not.toContain('\n');
  });

  it('reports a missing config file naming how it was given', () => {
    const err = configError(() => loadConfig({ env: { ANVIL_CONFIG: '/nope.yaml' }, readFile: files({}) }));
    expect(err.message).toBe('ANVIL_CONFIG: cannot read /nope.yaml: no such file');
  });
});

describe('parseListen and parseRoles', () => {
  it('parses host names, IPv4 and bracketed IPv6', () => {
    expect(parseListen('anvil.lan:80', 'x')).toEqual({ host: 'anvil.lan', port: 80 });
    expect(parseListen('0.0.0.0:0', 'x')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(parseListen('[fe80::1]:443', 'x')).toEqual({ host: 'fe80::1', port: 443 });
  });

  it('accepts "all", lists and duplicates, keeping a stable order', () => {
    expect(parseRoles('all', 'x')).toEqual(['api', 'worker', 'boot', 'sweeper']);
    expect(parseRoles(['sweeper', 'api', 'api'], 'x')).toEqual(['api', 'sweeper']);
    expect(() => parseRoles(' , ', 'roles')).toThrow('roles: needs at least one role');
  });
});

describe('loadConfig type errors', () => {
  it('keeps the zod message for a value of the wrong type rather than calling it missing', () => {
    const err = configError(() => loadConfig({ env: {}, flags: { config: 'r.yaml' }, readFile: files({ 'r.yaml': 'site: 12\n' }) }));
    expect(err.message).toMatch(/^r\.yaml:1: site: Invalid input: expected string/);
  });
});
