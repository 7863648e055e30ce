import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InputError, NotFoundError } from '../../errors.js';
import { templatesDir as defaultTemplatesDir } from '../../paths.js';
import { compileTemplate, type CompiledTemplate } from './template-engine.js';

export { TemplateError, applyFilter, compileTemplate, type CompiledTemplate, type FilterName } from './template-engine.js';

/** Installer families Anvil knows how to answer for; each has its own answer-file format. */
export const OS_FAMILIES = ['rhel', 'debian', 'ubuntu', 'cloud'] as const;
export type OsFamily = (typeof OS_FAMILIES)[number];

const httpUrl = z.url({ protocol: /^https?$/ }).refine((u) => !/\s|\$/.test(u), 'may not contain spaces or "$"');
const templateName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be "<dir>/<file>" inside pxe-templates, e.g. "kickstart/rhel9.ks"');

/**
 * One entry of the OS image catalog (`boot.os_images` in anvil.yaml): where the installer's kernel
 * and initrd are, where it installs from, and which answer-file template drives it.
 */
export const OsImageConfig = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, ".", "_" and "-"'),
    family: z.enum(OS_FAMILIES),
    kernel_url: httpUrl,
    initrd_url: httpUrl,
    /** Installation source: a BaseOS tree (rhel), a Debian mirror (debian), the live ISO (ubuntu), or the image (cloud). */
    repo_url: httpUrl,
    /** Answer-file template; defaults per family (see DEFAULT_TEMPLATES). */
    template: templateName.optional(),
    /** Extra kernel arguments, appended after the ones Anvil adds (console=, net.ifnames=...). */
    kernel_args: z
      .string()
      .max(1024)
      .refine((s) => !/[\r\n$\\]|\|\||&&/.test(s), 'may not contain newlines, "$", "\\", "||" or "&&"')
      .default(''),
  })
  .strict();
export type OsImageConfig = z.infer<typeof OsImageConfig>;

/** The main answer-file template of each family when an image names none. */
export const DEFAULT_TEMPLATES: Record<OsFamily, string> = {
  rhel: 'kickstart/rhel9.ks',
  debian: 'preseed/debian12.cfg',
  ubuntu: 'autoinstall/user-data',
  cloud: 'cloud-init/user-data',
};

/** Files `GET /boot/config/:token/:file` serves, and which families have them. */
export const ANSWER_FILES = ['ks.cfg', 'preseed.cfg', 'user-data', 'meta-data', 'vendor-data'] as const;
export type AnswerFile = (typeof ANSWER_FILES)[number];

/** The template that renders `file` for an image; NotFoundError when the family has no such file. */
export function templateFor(image: Pick<OsImageConfig, 'family' | 'template' | 'name'>, file: AnswerFile): string {
  const main = image.template ?? DEFAULT_TEMPLATES[image.family];
  switch (image.family) {
    case 'rhel':
      if (file === 'ks.cfg') return main;
      break;
    case 'debian':
      if (file === 'preseed.cfg') return main;
      break;
    case 'ubuntu':
    case 'cloud': {
      const dir = image.family === 'ubuntu' ? 'autoinstall' : 'cloud-init';
      if (file === 'user-data') return main;
      if (file === 'meta-data') return `${dir}/meta-data`;
      if (file === 'vendor-data') return `${dir}/vendor-data`;
      break;
    }
  }
  throw new NotFoundError(`OS image "${image.name}" (${image.family}) has no ${file}`);
}

/** iPXE scripts, by what the machine is meant to do next. */
export type IpxeScriptName = 'install' | 'localboot' | 'wipe' | 'discover' | 'nothing';

/**
 * Everything a template may use. Built by boot/http from the deployment, the DHCP reservation and
 * the OS image; documented for operators in docs/boot.md. Fields that do not apply are null (not
 * absent), so a template typo is an error rather than an empty string.
 */
export interface BootModel {
  /** Anvil's boot HTTP base URL as the machine reaches it, without a trailing slash. */
  baseUrl: string;
  machine: {
    id: string | null;
    /** The MAC the request came for, lower-case, colon separated. */
    mac: string;
  };
  deployment: {
    id: string;
    kind: 'install' | 'wipe' | 'localboot';
    /** Short host name (one DNS label). */
    hostname: string;
    /** `hostname.domain` when the network has a domain, else the host name. */
    fqdn: string;
  } | null;
  /** The booting NIC's address as reserved in inventory; `address` null means DHCP in the installer. */
  network: {
    address: string | null;
    prefix: number | null;
    netmask: string | null;
    gateway: string | null;
    dns: string[];
    /** `dns` joined with commas (kickstart `--nameserver`), or null when empty. */
    dnsCsv: string | null;
    /** `dns` joined with spaces (preseed `netcfg/get_nameservers`), or null when empty. */
    dnsSpaced: string | null;
    domain: string | null;
  };
  os: {
    name: string;
    family: OsFamily;
    kernelUrl: string;
    initrdUrl: string;
    repoUrl: string;
    /** `repoUrl` split up, for answer files that want a mirror as scheme + host + directory (preseed). */
    repoScheme: 'http' | 'https';
    repoHost: string;
    repoDirectory: string;
    kernelArgs: string;
    is: Record<OsFamily, boolean>;
  } | null;
  /** Token-bearing URLs; present only while a deployment is active. */
  urls: {
    /** Directory the answer files are under, with a trailing slash (cloud-init `s=`). */
    config: string;
    answerFile: string;
    callback: string;
  } | null;
  /** SHA-512 crypt string, or null to lock the root password. */
  rootPasswordHash: string | null;
  sshKeys: string[];
  /** Why the `nothing` / `discover` script was served (shown on the console). */
  reason: string | null;
}

/**
 * Loads and caches compiled templates from the pxe-templates directory. Names are validated so a
 * configured template can never point outside it.
 */
export class TemplateStore {
  private readonly cache = new Map<string, CompiledTemplate>();

  constructor(readonly dir: string = defaultTemplatesDir) {}

  get(name: string): CompiledTemplate {
    const cached = this.cache.get(name);
    if (cached) return cached;
    if (!templateName.safeParse(name).success || name.includes('..')) throw new InputError(`template name "${name}" is not valid`);
    let source: string;
    try {
      source = readFileSync(join(this.dir, name), 'utf8');
    } catch (err) {
      throw new NotFoundError(`template pxe-templates/${name} does not exist`, { cause: err });
    }
    const compiled = compileTemplate(source, `pxe-templates/${name}`);
    this.cache.set(name, compiled);
    return compiled;
  }

  render(name: string, model: BootModel): string {
    return this.get(name).render(model);
  }

  renderIpxe(script: IpxeScriptName, model: BootModel): string {
    return this.render(`ipxe/${script}.ipxe`, model);
  }

  /** Compiles every template of the catalog up front, so a broken template fails at start-up. */
  preload(images: Iterable<Pick<OsImageConfig, 'family' | 'template' | 'name'>>): void {
    for (const s of ['install', 'localboot', 'wipe', 'discover', 'nothing']) this.get(`ipxe/${s}.ipxe`);
    for (const image of images) {
      for (const file of ANSWER_FILES) {
        try {
          this.get(templateFor(image, file));
        } catch (err) {
          if (!(err instanceof NotFoundError) || err.message.includes('template pxe-templates/')) throw err;
        }
      }
    }
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Dotted netmask for a prefix length (preseed and kickstart want it spelled out). */
export function prefixToNetmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

/** The network part of the model from a reservation-like record. */
export function networkModel(n: {
  address?: string | null;
  prefix?: number | null;
  gateway?: string | null;
  dns?: readonly string[];
  domain?: string | null;
}): BootModel['network'] {
  const address = n.address && IPV4.test(n.address) ? n.address : null;
  const prefix = address && n.prefix !== null && n.prefix !== undefined && n.prefix >= 0 && n.prefix <= 32 ? n.prefix : null;
  const dns = [...(n.dns ?? [])];
  return {
    address,
    prefix,
    netmask: prefix === null ? null : prefixToNetmask(prefix),
    gateway: n.gateway ?? null,
    dns,
    dnsCsv: dns.length ? dns.join(',') : null,
    dnsSpaced: dns.length ? dns.join(' ') : null,
    domain: n.domain ?? null,
  };
}

/** The `os` part of the model from a catalog entry. */
export function osModel(image: OsImageConfig): NonNullable<BootModel['os']> {
  const repo = new URL(image.repo_url);
  return {
    repoScheme: repo.protocol === 'https:' ? 'https' : 'http',
    repoHost: repo.host,
    repoDirectory: repo.pathname.replace(/\/+$/, '') || '/',
    name: image.name,
    family: image.family,
    kernelUrl: image.kernel_url,
    initrdUrl: image.initrd_url,
    repoUrl: image.repo_url,
    kernelArgs: image.kernel_args,
    is: { rhel: image.family === 'rhel', debian: image.family === 'debian', ubuntu: image.family === 'ubuntu', cloud: image.family === 'cloud' },
  };
}
