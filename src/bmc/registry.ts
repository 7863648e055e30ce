import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { BmcDriver, BmcEndpoint } from './driver.js';
import { InputError, type ErrorDetail } from '../errors.js';
import { createFakeDriver } from './fake/driver.js';
import { createIpmiDriver } from './ipmi/driver.js';
import { createRedfishDriver } from './redfish/driver.js';
import { bmcKey, serializeDriver, type SerializeOptions } from './serialize.js';

/**
 * Picks the driver for a BMC record and hands out one serialised driver per BMC endpoint.
 * Orchestration code calls `driverFor(endpoint)` and never constructs protocol drivers itself.
 */

export type DriverFactory = (endpoint: BmcEndpoint) => BmcDriver;

export interface BmcRegistryOptions extends SerializeOptions {
  /** Overrides per protocol (tests inject here rather than mocking modules). */
  factories?: Partial<Record<BmcEndpoint['protocol'], DriverFactory>>;
  /**
   * How many drivers (each with its sessions and sockets) stay cached; the least recently used is
   * closed beyond that, so a sweep over a 10,000-machine fleet does not keep 10,000 sessions open.
   * Default 2048; never below 256, so drivers in use by a sweep's concurrent slots are not evicted.
   */
  maxDrivers?: number;
}

const TLS_PIN = /^sha256:(?:[0-9a-f]{64}|(?:[0-9a-f]{2}:){31}[0-9a-f]{2})$/i;
const HOSTNAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Checks an endpoint without any I/O (Ironic's "validate must be cheap"): host, port range,
 * credentials present, TLS mode form, system id shape. Throws InputError naming every bad field.
 */
export function validateEndpoint(endpoint: BmcEndpoint): void {
  const problems: ErrorDetail[] = [];
  const bad = (field: string, message: string): void => {
    problems.push({ field, message });
  };
  if (!['redfish', 'ipmi', 'fake'].includes(endpoint.protocol)) bad('protocol', `unknown BMC protocol '${String(endpoint.protocol)}' (redfish, ipmi or fake)`);
  const host = typeof endpoint.host === 'string' ? endpoint.host.trim() : '';
  if (!host) bad('host', 'BMC host is required');
  else if (!isIP(host.replace(/^\[|\]$/g, '')) && !HOSTNAME.test(host)) bad('host', `BMC host '${host}' is not an IP address or host name`);
  if (endpoint.port !== null && endpoint.port !== undefined) {
    if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) bad('port', `BMC port ${String(endpoint.port)} is not an integer in 1..65535`);
  }
  if (endpoint.protocol !== 'fake') {
    if (typeof endpoint.username !== 'string' || endpoint.username.length === 0) bad('username', 'BMC username is required');
    if (typeof endpoint.password !== 'string' || endpoint.password.length === 0) bad('password', 'BMC password is required');
  }
  if (endpoint.protocol === 'redfish') {
    const tls = endpoint.tls;
    if (tls !== 'verify' && tls !== 'insecure' && !(typeof tls === 'string' && TLS_PIN.test(tls))) {
      bad('tls', `BMC tls must be 'verify', 'insecure' or 'sha256:<64 hex digits>' (got '${String(tls)}')`);
    }
    if (endpoint.systemId !== null && endpoint.systemId !== undefined) {
      if (typeof endpoint.systemId !== 'string' || !/^[A-Za-z0-9._~:/@!$&'()*+,;=%-]+$/.test(endpoint.systemId)) {
        bad('systemId', `Redfish system id '${String(endpoint.systemId)}' is not a resource id or /redfish/v1/Systems/<id> path`);
      } else if (endpoint.systemId.startsWith('/') && !endpoint.systemId.startsWith('/redfish/v1/Systems/')) {
        bad('systemId', `Redfish system path '${endpoint.systemId}' must start with /redfish/v1/Systems/`);
      }
    }
  }
  if (endpoint.timeoutMs !== undefined && (!Number.isFinite(endpoint.timeoutMs) || endpoint.timeoutMs <= 0)) {
    bad('timeoutMs', `BMC timeoutMs ${String(endpoint.timeoutMs)} must be a positive number`);
  }
  if (problems.length > 0) {
    throw new InputError(`invalid BMC endpoint ${host || '(no host)'}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, {
      details: problems,
    });
  }
}

/** Identity of an endpoint for caching: a changed password or TLS pin must yield a new driver. */
function cacheKey(endpoint: BmcEndpoint): string {
  const secret = createHash('sha256').update(endpoint.password ?? '').digest('hex').slice(0, 16);
  return [endpoint.protocol, endpoint.host, endpoint.port ?? '', endpoint.username, secret, endpoint.tls, endpoint.systemId ?? '', endpoint.timeoutMs ?? ''].join('|');
}

export class BmcRegistry {
  private readonly drivers = new Map<string, { key: string; driver: BmcDriver; inner: BmcDriver }>();

  constructor(private readonly options: BmcRegistryOptions = {}) {}

  /**
   * The serialised driver for this BMC, created on first use and reused afterwards. When the
   * record changed (new password, TLS pin...), the old driver is closed and replaced.
   */
  driverFor(endpoint: BmcEndpoint): BmcDriver {
    validateEndpoint(endpoint);
    const bmc = bmcKey(endpoint.host, endpoint.port, endpoint.protocol);
    const slot = `${endpoint.protocol}|${bmc}|${endpoint.systemId ?? ''}`;
    const key = cacheKey(endpoint);
    const cached = this.drivers.get(slot);
    if (cached && cached.key === key) {
      // Map order is recency order: move the hit to the end.
      this.drivers.delete(slot);
      this.drivers.set(slot, cached);
      return cached.driver;
    }
    if (cached) {
      this.drivers.delete(slot);
      void cached.inner.close().catch(() => undefined);
    }
    const inner = this.factoryFor(endpoint.protocol)(endpoint);
    const driver = serializeDriver(bmc, inner, this.options);
    this.drivers.set(slot, { key, driver, inner });
    const max = Math.max(256, this.options.maxDrivers ?? 2048);
    while (this.drivers.size > max) {
      const [oldest, entry] = this.drivers.entries().next().value as [string, { inner: BmcDriver }];
      this.drivers.delete(oldest);
      void entry.inner.close().catch(() => undefined);
    }
    return driver;
  }

  private factoryFor(protocol: BmcEndpoint['protocol']): DriverFactory {
    const override = this.options.factories?.[protocol];
    if (override) return override;
    switch (protocol) {
      case 'redfish':
        return (e) => createRedfishDriver(e);
      case 'ipmi':
        return createIpmiDriver;
      case 'fake':
        return (e) => createFakeDriver(e);
    }
  }

  /** Number of cached drivers. */
  get size(): number {
    return this.drivers.size;
  }

  /** Closes every cached driver (Redfish sessions are deleted, sockets released). Never throws. */
  async closeAll(): Promise<void> {
    const all = [...this.drivers.values()];
    this.drivers.clear();
    await Promise.allSettled(all.map((d) => d.inner.close()));
  }
}

/** The process-wide registry. */
export const defaultBmcRegistry = new BmcRegistry();

/** The serialised driver for this BMC from the process-wide registry. */
export function driverFor(endpoint: BmcEndpoint): BmcDriver {
  return defaultBmcRegistry.driverFor(endpoint);
}

/** Closes every driver of the process-wide registry (call on shutdown). */
export function closeAll(): Promise<void> {
  return defaultBmcRegistry.closeAll();
}
