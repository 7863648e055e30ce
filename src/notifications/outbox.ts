import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { fetch } from 'undici';
import { createTransport, type Transporter } from 'nodemailer';
import type { Clock } from '../clock.js';
import { pause, systemClock } from '../clock.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { releaseLease, tryClaimLease } from '../db/leases.js';
import { toIso } from '../db/sql.js';
import { backoffMs } from './backoff.js';
import { SIGNATURE_HEADER, signPayload } from './signature.js';

export interface WebhookTarget {
  url: string;
  /** HMAC key shared with the receiver. */
  secret: string;
  timeoutMs?: number;
}

export interface SmtpSettings {
  host: string;
  port: number;
  /** `true` for implicit TLS (465); otherwise STARTTLS is used when the server offers it. */
  secure?: boolean;
  username?: string;
  password?: string;
  from: string;
}

export interface NotificationSettings {
  webhook?: WebhookTarget | null;
  smtp?: SmtpSettings | null;
  maxAttempts?: number;
}

export type Channel = 'webhook' | 'email';

export interface NotificationRequest {
  event: string;
  subjectType: string;
  subjectId: string;
  /** May hold secrets (delivered credentials): stored sealed, erased once delivered. */
  data: Record<string, unknown>;
  /** Also e-mail the customer (when SMTP is configured). */
  email?: { to: string; subject: string; text: string } | null;
}

export interface NotificationRecord {
  id: string;
  event: string;
  subjectType: string;
  subjectId: string;
  channel: Channel;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/**
 * Writes notifications into the outbox. Call `enqueue` inside the transaction that makes the change
 * being reported; the dispatcher delivers afterwards, retrying with backoff and recording attempts.
 */
export class Notifier {
  constructor(
    private readonly settings: NotificationSettings,
    private readonly secrets: SecretBox,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Returns the ids written (none when no channel is configured). */
  async enqueue(db: Knex | Knex.Transaction, req: NotificationRequest): Promise<string[]> {
    const now = this.clock.now().toISOString();
    const ids: string[] = [];
    const channels: Channel[] = [];
    if (this.settings.webhook) channels.push('webhook');
    if (this.settings.smtp && req.email) channels.push('email');
    for (const channel of channels) {
      const id = randomUUID();
      const body =
        channel === 'webhook'
          ? { id, event: req.event, subject: { type: req.subjectType, id: req.subjectId }, created_at: now, data: req.data }
          : { id, event: req.event, ...req.email };
      await db('notifications').insert({
        id,
        event: req.event,
        subject_type: req.subjectType,
        subject_id: req.subjectId,
        channel,
        recipient: channel === 'email' ? req.email!.to : null,
        payload: this.secrets.seal(JSON.stringify(body)),
        status: 'pending',
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
      });
      ids.push(id);
    }
    return ids;
  }
}

export function mapNotification(r: Record<string, unknown>): NotificationRecord {
  return {
    id: String(r.id),
    event: String(r.event),
    subjectType: String(r.subject_type),
    subjectId: String(r.subject_id),
    channel: r.channel as Channel,
    status: r.status as NotificationRecord['status'],
    attempts: Number(r.attempts),
    nextAttemptAt: toIso(r.next_attempt_at)!,
    lastError: (r.last_error as string | null) ?? null,
    createdAt: toIso(r.created_at)!,
    deliveredAt: toIso(r.delivered_at),
  };
}

export async function listNotifications(db: Knex, subjectType: string, subjectId: string): Promise<NotificationRecord[]> {
  const rows = await db('notifications').where({ subject_type: subjectType, subject_id: subjectId }).orderBy('created_at');
  return rows.map(mapNotification);
}

export interface DispatcherOptions {
  knex: Knex;
  settings: NotificationSettings;
  secrets: SecretBox;
  /** This process's identity for leases. */
  owner: string;
  logger?: Logger;
  clock?: Clock;
  random?: () => number;
  /**
   * Runs in the transaction that marks a notification delivered (e.g. the order pipeline's 2xx
   * for `order.delivered` acknowledges the credentials, which are then erased).
   */
  onDelivered?: (trx: Knex.Transaction, n: NotificationRecord) => Promise<void>;
}

export const DELIVERED_PAYLOAD = '{"erased":"delivered"}';

/** Delivers due notifications; safe to run in several processes at once (each row is leased). */
export class NotificationDispatcher {
  private readonly clock: Clock;
  private mailer: Transporter | null = null;
  constructor(private readonly opts: DispatcherOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  private transport(smtp: SmtpSettings): Transporter {
    this.mailer ??= createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure ?? false,
      ...(smtp.username ? { auth: { user: smtp.username, pass: smtp.password ?? '' } } : {}),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
    return this.mailer;
  }

  close(): void {
    this.mailer?.close();
    this.mailer = null;
  }

  /** Attempts every due notification once; returns how many were delivered. */
  async runOnce(batch = 50): Promise<number> {
    const { knex } = this.opts;
    const now = this.clock.now().toISOString();
    const due = await knex('notifications')
      .where('status', 'pending')
      .andWhere('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .limit(batch)
      .pluck('id');
    let delivered = 0;
    for (const id of due as string[]) {
      const target = { table: 'notifications', id };
      if (!(await tryClaimLease(knex, target, this.opts.owner, 'notify', 60))) continue;
      try {
        if (await this.attempt(id)) delivered++;
      } finally {
        await releaseLease(knex, target, this.opts.owner);
      }
    }
    return delivered;
  }

  /** Loops until the signal aborts. */
  async run(signal: AbortSignal, intervalMs = 1000): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.runOnce();
      } catch (err) {
        this.opts.logger?.error({ err }, 'notification dispatch failed');
      }
      await pause(intervalMs, signal);
    }
  }

  private async attempt(id: string): Promise<boolean> {
    const { knex, settings, secrets } = this.opts;
    const row = await knex('notifications').where({ id, status: 'pending' }).first();
    if (!row) return false;
    const started = Date.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      if (row.channel === 'email') {
        if (!settings.smtp) throw new Error('channel email is not configured');
        const mail = JSON.parse(secrets.open(String(row.payload))) as { to: string; subject: string; text: string };
        await this.transport(settings.smtp).sendMail({ from: settings.smtp.from, to: mail.to, subject: mail.subject, text: mail.text, headers: { 'X-Anvil-Event': String(row.event) } });
        statusCode = 250;
      } else {
        if (row.channel !== 'webhook' || !settings.webhook) throw new Error(`channel ${row.channel} is not configured`);
        const body = secrets.open(String(row.payload));
        const ts = Math.floor(this.clock.now().getTime() / 1000);
        const res = await fetch(settings.webhook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(settings.webhook.secret, body, ts), 'x-anvil-event': String(row.event), 'x-anvil-delivery': id },
          body,
          signal: AbortSignal.timeout(settings.webhook.timeoutMs ?? 10_000),
        });
        statusCode = res.status;
        await res.body?.cancel().catch(() => undefined);
        if (res.status < 200 || res.status >= 300) error = `receiver answered HTTP ${res.status}`;
      }
    } catch (err) {
      error = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
    }
    const at = this.clock.now().toISOString();
    const attempts = Number(row.attempts) + 1;
    await knex.transaction(async (trx) => {
      await trx('notification_attempts').insert({ notification_id: id, at, status_code: statusCode, error, duration_ms: Date.now() - started });
      if (error === null) {
        // The payload may carry credentials: once the receiver has them, nothing keeps a copy.
        await trx('notifications').where({ id }).update({ status: 'delivered', attempts, delivered_at: at, last_error: null, payload: DELIVERED_PAYLOAD });
        await this.opts.onDelivered?.(trx, mapNotification({ ...row, status: 'delivered', attempts, delivered_at: at, last_error: null }));
      } else {
        const max = settings.maxAttempts ?? 12;
        const next = new Date(Date.parse(at) + backoffMs(attempts, undefined, undefined, this.opts.random)).toISOString();
        await trx('notifications').where({ id }).update({ status: attempts >= max ? 'failed' : 'pending', attempts, last_error: error, next_attempt_at: next });
      }
    });
    if (error) this.opts.logger?.warn({ notification: id, event: row.event, attempts, error }, 'notification attempt failed');
    return error === null;
  }
}
