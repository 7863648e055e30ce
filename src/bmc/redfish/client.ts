import { Agent, request, errors as undiciErrors } from 'undici';
import type { Dispatcher } from 'undici';
import { BmcAuthError, BmcError, BmcUnreachableError } from '../../errors.js';
import { deadline } from '../serialize.js';
import { redfishErrorMessage } from './messages.js';
import { connectorFor, FingerprintMismatchError, parseTlsPolicy } from './tls.js';
import { abortableSleep } from '../serialize.js';

/**
 * A small Redfish HTTP client for one BMC: one undici Agent (at most 2 connections, because BMC
 * web servers are fragile), per-request deadlines, TLS verify/insecure/pin, session
 * authentication with Basic fallback, task-monitor polling, and Redfish errors turned into the
 * Anvil error classes with the BMC's own message.
 */

export interface RedfishClientOptions {
  host: string;
  port: number | null;
  username: string;
  password: string;
  /** `verify` | `insecure` | `sha256:<fingerprint>` */
  tls: string;
  /** Overall deadline of one HTTP exchange (headers and body). Default 15 s. */
  requestTimeoutMs?: number;
  /** `http` only for simulators and tests; real BMCs speak HTTPS. */
  scheme?: 'https' | 'http';
  /** Extra CA certificate(s) (PEM) trusted in `verify` mode. */
  ca?: string;
  /** `session` (default, falls back to Basic when the BMC has no session service) or `basic`. */
  auth?: 'session' | 'basic';
  /** Interval between task monitor polls. Default 1 s. */
  taskPollMs?: number;
  /** Longest wait for a 202 task to finish. Default 10 min. */
  taskTimeoutMs?: number;
  /** Replaces the per-BMC Agent (unit tests pass an undici MockAgent). */
  dispatcher?: Dispatcher;
}

export interface RedfishResponse<T = unknown> {
  status: number;
  body: T;
  /** The ETag response header (the body's `@odata.etag` is in the body). */
  etag: string | null;
  headers: Record<string, string>;
}

export interface RequestOptions {
  signal?: AbortSignal | undefined;
  body?: unknown;
  headers?: Record<string, string>;
  /** Skip authentication (service root). */
  anonymous?: boolean;
  /** Follow a 202 task monitor to completion (default true for POST/PATCH). */
  followTask?: boolean;
}

export type RedfishDoc = Record<string, unknown> & { '@odata.id'?: string };

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | null {
  const v = headers[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

const sleep = abortableSleep;

export class RedfishClient {
  readonly base: string;
  readonly label: string;
  private readonly agent: Dispatcher;
  private readonly requestTimeoutMs: number;
  private readonly taskPollMs: number;
  private authMode: 'unknown' | 'session' | 'basic';
  private session: { token: string; location: string | null } | null = null;
  private sessionCreation: Promise<void> | null = null;
  private closed = false;
  /** Counters for tests and metrics. */
  readonly stats = { requests: 0, sessionsCreated: 0, sessionsDeleted: 0 };

  constructor(private readonly opts: RedfishClientOptions) {
    const scheme = opts.scheme ?? 'https';
    const port = opts.port ?? (scheme === 'https' ? 443 : 80);
    const host = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;
    this.base = `${scheme}://${host}:${port}`;
    this.label = `BMC ${opts.host}:${port}`;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
    this.taskPollMs = opts.taskPollMs ?? 1000;
    this.authMode = opts.auth === 'basic' ? 'basic' : 'unknown';
    const policy = parseTlsPolicy(opts.tls);
    this.agent = opts.dispatcher ?? new Agent({
      connections: 2,
      pipelining: 1,
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
      keepAliveTimeout: 10_000,
      connect: connectorFor(policy, { connectTimeoutMs: Math.min(this.requestTimeoutMs, 10_000), ca: opts.ca }),
    });
  }

  get authentication(): 'unknown' | 'session' | 'basic' {
    return this.authMode;
  }

  get hasSession(): boolean {
    return this.session !== null;
  }

  async get<T = RedfishDoc>(path: string, opts: RequestOptions = {}): Promise<RedfishResponse<T>> {
    return this.request<T>('GET', path, opts);
  }

  async patch<T = RedfishDoc>(path: string, body: unknown, opts: RequestOptions = {}): Promise<RedfishResponse<T>> {
    return this.request<T>('PATCH', path, { ...opts, body });
  }

  async post<T = RedfishDoc>(path: string, body: unknown, opts: RequestOptions = {}): Promise<RedfishResponse<T>> {
    return this.request<T>('POST', path, { ...opts, body });
  }

  /**
   * One authenticated Redfish request. Re-creates the session once on a 401 (sessions expire
   * on the BMC side without telling us), follows 202 task monitors, and maps every failure to
   * BmcUnreachableError / BmcAuthError / BmcError.
   */
  async request<T = RedfishDoc>(method: string, path: string, opts: RequestOptions = {}): Promise<RedfishResponse<T>> {
    if (this.closed) throw new BmcError(`${this.label}: client is closed`);
    if (!opts.anonymous) await this.ensureAuth(opts.signal);
    let res = await this.send(method, path, opts);
    if (res.status === 401 && !opts.anonymous && this.authMode === 'session') {
      this.session = null;
      await this.ensureAuth(opts.signal);
      res = await this.send(method, path, opts);
    }
    if (res.status === 202 && (opts.followTask ?? method !== 'GET')) {
      const monitor = headerValue(res.headers, 'location');
      if (monitor) return this.followTask<T>(monitor, method, path, opts.signal);
    }
    return this.finish<T>(method, path, res);
  }

  private async followTask<T>(monitor: string, method: string, path: string, signal: AbortSignal | undefined): Promise<RedfishResponse<T>> {
    // DSP0266 §12.2: the task monitor answers 202 while the task runs, then the final result.
    const giveUpAt = Date.now() + (this.opts.taskTimeoutMs ?? 600_000);
    for (;;) {
      if (Date.now() > giveUpAt) {
        throw new BmcError(`${this.label}: ${method} ${path}: BMC task ${monitor} still running after ${this.opts.taskTimeoutMs ?? 600_000} ms`);
      }
      await sleep(this.taskPollMs, signal).catch((reason: unknown) => {
        throw this.transportError('GET', monitor, reason, signal);
      });
      const res = await this.send('GET', monitor, { signal });
      if (res.status === 401 && this.authMode === 'session') {
        this.session = null;
        await this.ensureAuth(signal);
        continue;
      }
      if (res.status === 202) continue;
      const done = this.finish<T>('GET', monitor, res);
      const task = done.body as Record<string, unknown> | null;
      const state = task && typeof task === 'object' ? task.TaskState : undefined;
      if (state === 'Exception' || state === 'Killed' || state === 'Cancelled') {
        const messages = Array.isArray(task?.Messages) ? redfishErrorMessage({ error: { '@Message.ExtendedInfo': task.Messages } }) : null;
        throw new BmcError(`${this.label}: ${method} ${path} failed in BMC task (${String(state)})${messages ? `: ${messages}` : ''}`, {
          details: { httpStatus: done.status, taskState: state },
        });
      }
      return done;
    }
  }

  private finish<T>(method: string, path: string, res: RawResponse): RedfishResponse<T> {
    const etag = headerValue(res.headers, 'etag');
    const flatHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flatHeaders[k] = Array.isArray(v) ? v.join(', ') : v;
    let body: unknown = null;
    if (res.text.length > 0) {
      try {
        body = JSON.parse(res.text);
      } catch {
        if (res.status < 400) {
          throw new BmcError(`${this.label}: malformed JSON in response to ${method} ${path} (status ${res.status})`, { details: { httpStatus: res.status, retryable: true } });
        }
      }
    }
    if (res.status >= 200 && res.status < 300) {
      return { status: res.status, body: body as T, etag, headers: flatHeaders };
    }
    const bmcMessage = redfishErrorMessage(body) ?? (res.text && !body ? res.text.slice(0, 200).replace(/\s+/g, ' ').trim() : null);
    const what = `${this.label}: ${method} ${path} returned HTTP ${res.status}${bmcMessage ? `: ${bmcMessage}` : ''}`;
    const details = { httpStatus: res.status, method, path };
    if (res.status === 401) throw new BmcAuthError(`${this.label}: credentials for user '${this.opts.username}' rejected (HTTP 401 on ${method} ${path})${bmcMessage ? `: ${bmcMessage}` : ''}`, { details });
    if (res.status === 403) throw new BmcAuthError(`${this.label}: user '${this.opts.username}' lacks the privilege for ${method} ${path} (HTTP 403)${bmcMessage ? `: ${bmcMessage}` : ''}`, { details });
    throw new BmcError(what, { details });
  }

  private async ensureAuth(signal: AbortSignal | undefined): Promise<void> {
    if (this.authMode === 'basic') return;
    if (this.session) return;
    // Concurrent callers share one session creation instead of opening several sessions.
    this.sessionCreation ??= this.createSession(signal).finally(() => {
      this.sessionCreation = null;
    });
    await this.sessionCreation;
  }

  private async createSession(signal: AbortSignal | undefined): Promise<void> {
    const res = await this.send('POST', '/redfish/v1/SessionService/Sessions', {
      signal,
      body: { UserName: this.opts.username, Password: this.opts.password },
      anonymous: true,
    });
    if (res.status === 401 || res.status === 403) {
      throw new BmcAuthError(`${this.label}: credentials for user '${this.opts.username}' rejected when creating a Redfish session (HTTP ${res.status})`, {
        details: { httpStatus: res.status },
      });
    }
    const token = headerValue(res.headers, 'x-auth-token');
    if (res.status >= 200 && res.status < 300 && token) {
      this.session = { token, location: headerValue(res.headers, 'location') };
      this.authMode = 'session';
      this.stats.sessionsCreated += 1;
      return;
    }
    if ([404, 405, 501].includes(res.status) || (res.status < 300 && !token)) {
      // No session service (or one that returns no token): HTTP Basic on every request instead.
      this.authMode = 'basic';
      return;
    }
    this.finish('POST', '/redfish/v1/SessionService/Sessions', res);
    throw new BmcError(`${this.label}: unexpected HTTP ${res.status} when creating a Redfish session`, { details: { httpStatus: res.status } });
  }

  private authHeaders(anonymous: boolean | undefined): Record<string, string> {
    if (anonymous) return {};
    if (this.session) return { 'x-auth-token': this.session.token };
    if (this.authMode === 'basic') {
      return { authorization: `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64')}` };
    }
    return {};
  }

  private async send(method: string, path: string, opts: RequestOptions): Promise<RawResponse> {
    const url = path.startsWith('http://') || path.startsWith('https://') ? path : `${this.base}${path.startsWith('/') ? '' : '/'}${path}`;
    const limit = deadline(this.requestTimeoutMs, opts.signal);
    const signal = limit.signal;
    const headers: Record<string, string> = { accept: 'application/json', 'odata-version': '4.0', ...this.authHeaders(opts.anonymous), ...opts.headers };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    this.stats.requests += 1;
    try {
      const res = await request(url, { method: method as Dispatcher.HttpMethod, headers, body: payload, dispatcher: this.agent, signal });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text };
    } catch (err) {
      throw this.transportError(method, path, err, signal);
    } finally {
      limit.dispose();
    }
  }

  private transportError(method: string, path: string, err: unknown, signal: AbortSignal | undefined): Error {
    if (err instanceof BmcError) return err;
    const cause = err as { code?: string; message?: string; cause?: { code?: string } };
    const code = cause?.code ?? cause?.cause?.code ?? '';
    const what = `${this.label}: ${method} ${path}`;
    if (err instanceof FingerprintMismatchError || code === 'ANVIL_TLS_FINGERPRINT_MISMATCH') {
      return new BmcUnreachableError(`${this.label}: ${(err as Error).message}`, { cause: err, details: { retryable: false, reason: 'tls_fingerprint_mismatch' } });
    }
    if (signal?.aborted) {
      const reason: unknown = signal.reason;
      if (reason instanceof BmcError) return reason;
      const timedOut = reason instanceof DOMException && reason.name === 'TimeoutError';
      return new BmcUnreachableError(timedOut ? `${what} timed out after ${this.requestTimeoutMs} ms` : `${what} aborted`, { cause: err, details: { reason: timedOut ? 'timeout' : 'aborted' } });
    }
    if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
      return new BmcUnreachableError(`${what} timed out after ${this.requestTimeoutMs} ms (${code})`, { cause: err, details: { reason: 'timeout' } });
    }
    if (code === 'ECONNREFUSED') return new BmcUnreachableError(`${this.label}: connection refused`, { cause: err, details: { reason: 'refused' } });
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return new BmcUnreachableError(`${this.label}: unreachable (${code})`, { cause: err, details: { reason: 'unreachable' } });
    }
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
      return new BmcUnreachableError(`${what}: connection closed by the BMC (${code})`, { cause: err, details: { reason: 'reset' } });
    }
    if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/i.test(code) || /certificate|ssl|tls/i.test(cause?.message ?? '')) {
      return new BmcUnreachableError(`${this.label}: TLS verification failed (${code || cause?.message}); pin the certificate with tls sha256:<fingerprint> or fix its trust`, {
        cause: err,
        details: { retryable: false, reason: 'tls' },
      });
    }
    return new BmcUnreachableError(`${what} failed: ${cause?.message ?? String(err)}${code ? ` (${code})` : ''}`, { cause: err });
  }

  /** Deletes the session (best effort, short deadline) and releases the sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const session = this.session;
    this.session = null;
    if (session?.location) {
      const limit = deadline(Math.min(this.requestTimeoutMs, 5000));
      try {
        const res = await this.send('DELETE', session.location, { signal: limit.signal, headers: { 'x-auth-token': session.token }, anonymous: true });
        if (res.status < 300 || res.status === 404) this.stats.sessionsDeleted += 1;
      } catch {
        // The BMC will expire the session itself; close must not fail because the BMC is down.
      } finally {
        limit.dispose();
      }
    }
    if (!this.opts.dispatcher) await this.agent.destroy().catch(() => undefined);
  }
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}
