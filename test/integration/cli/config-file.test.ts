import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { FileConfigSchema } from '../../../src/config/schema.js';
import { packageRoot } from '../../../src/paths.js';

describe('anvil.example.yaml', () => {
  it('loads as a valid configuration with the documented defaults', () => {
    const c = loadConfig({ env: {}, flags: { config: join(packageRoot, 'anvil.example.yaml') } });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.roles).toEqual(['api', 'worker', 'boot', 'sweeper']);
    expect(c.logLevel).toBe('info');
    expect(c.database.target).toEqual({ dialect: 'sqlite', location: './data/anvil.sqlite' });
  });

  it('has a boot example that is valid once uncommented, and a bad boot key stops loading with its line', () => {
    const text = readFileSync(join(packageRoot, 'anvil.example.yaml'), 'utf8');
    const block = /^# boot:\n(?:#  .*\n)+/m.exec(text)![0].replace(/^# ?/gm, '');
    const c = loadConfig({ env: {}, flags: { config: 'a.yaml' }, readFile: () => block });
    expect(c.boot).toMatchObject({ interface: 'eth1' });
    const typo = block.replace('mode: authoritative', 'mode: authoritive');
    expect(() => loadConfig({ env: {}, flags: { config: 'a.yaml' }, readFile: () => typo })).toThrow(/^a\.yaml:5: boot\.dhcp\.mode: /);
    const unknown = block.replace('tftp: { port: 69 }', 'tftp: { port: 69, interfaces: [eth1] }');
    expect(() => loadConfig({ env: {}, flags: { config: 'a.yaml' }, readFile: () => unknown })).toThrow('a.yaml:6: boot.tftp.interfaces: unknown key');
  });

  it('documents every top-level setting the loader accepts', () => {
    const text = readFileSync(join(packageRoot, 'anvil.example.yaml'), 'utf8');
    for (const key of Object.keys(FileConfigSchema.shape)) {
      expect(text).toMatch(new RegExp(`^#? ?${key}:`, 'm'));
    }
  });
});
