import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { Notifier, NotificationDispatcher, listNotifications } from '../../../src/notifications/outbox.js';
import { verifySignature } from '../../../src/notifications/signature.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { ManualClock } from '../../../src/clock.js';
import { startSmtpSink } from '../../support/smtp-sink.js';

interface Received { headers: IncomingMessage['headers']; body: string }

async function receiver(statuses: number[]): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

describe.each(testDatabases())('notification outbox on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const secrets = new SecretBox(randomBytes(32));

  it('delivers a signed webhook, retries with backoff after a failure, records every attempt and erases the payload', async () => {
    const hook = await receiver([503, 200]);
    try {
      const clock = new ManualClock(new Date());
      const settings = { webhook: { url: hook.url, secret: 'whsec' } };
      const notifier = new Notifier(settings, secrets, clock);
      await t.knex.transaction((trx) => notifier.enqueue(trx, { event: 'order.delivered', subjectType: 'order', subjectId: 'o-1', data: { root_password: 'hunter2' } }));
      const stored = await t.knex('notifications').where({ subject_id: 'o-1' }).first();
      expect(String(stored.payload)).not.toContain('hunter2');

      const dispatcher = new NotificationDispatcher({ knex: t.knex, settings, secrets, owner: 'test', clock, random: () => 0 });
      expect(await dispatcher.runOnce()).toBe(0);
      let [n] = await listNotifications(t.knex, 'order', 'o-1');
      expect(n).toMatchObject({ status: 'pending', attempts: 1, lastError: 'receiver answered HTTP 503' });
      // Not due yet: backoff holds it back.
      expect(await dispatcher.runOnce()).toBe(0);
      expect(hook.received).toHaveLength(1);
      clock.advance(60_000);
      expect(await dispatcher.runOnce()).toBe(1);
      [n] = await listNotifications(t.knex, 'order', 'o-1');
      expect(n).toMatchObject({ status: 'delivered', attempts: 2 });

      const last = hook.received[1]!;
      expect(JSON.parse(last.body)).toMatchObject({ event: 'order.delivered', subject: { type: 'order', id: 'o-1' }, data: { root_password: 'hunter2' } });
      expect(verifySignature('whsec', last.body, String(last.headers['x-anvil-signature']), Math.floor(clock.now().getTime() / 1000))).toBe(true);
      const attempts = await t.knex('notification_attempts').where({ notification_id: n!.id }).orderBy('id');
      expect(attempts.map((a: { status_code: number }) => a.status_code)).toEqual([503, 200]);
      const after = await t.knex('notifications').where({ id: n!.id }).first();
      expect(String(after.payload)).not.toContain('v1:');
    } finally {
      hook.server.close();
    }
  });

  it('gives up after the configured number of attempts', async () => {
    const clock = new ManualClock(new Date());
    const settings = { webhook: { url: 'http://127.0.0.1:9/unreachable', secret: 'x', timeoutMs: 500 }, maxAttempts: 2 };
    const notifier = new Notifier(settings, secrets, clock);
    await notifier.enqueue(t.knex, { event: 'incident.opened', subjectType: 'incident', subjectId: 'i-1', data: {} });
    const dispatcher = new NotificationDispatcher({ knex: t.knex, settings, secrets, owner: 'test', clock, random: () => 0 });
    await dispatcher.runOnce();
    clock.advance(3_600_000);
    await dispatcher.runOnce();
    const [n] = await listNotifications(t.knex, 'incident', 'i-1');
    expect(n).toMatchObject({ status: 'failed', attempts: 2 });
    expect(n!.lastError).toMatch(/fetch failed|ECONNREFUSED/);
  });

  it('writes nothing when no channel is configured', async () => {
    const notifier = new Notifier({}, secrets);
    expect(await notifier.enqueue(t.knex, { event: 'x', subjectType: 'order', subjectId: 'o-2', data: {} })).toEqual([]);
  });

  it('e-mails the customer over SMTP when configured, and runs the delivered hook in the same transaction', async () => {
    const smtp = await startSmtpSink();
    try {
      const clock = new ManualClock(new Date());
      const settings = { smtp: { host: '127.0.0.1', port: smtp.port, from: 'noc@anvil.example' } };
      const notifier = new Notifier(settings, secrets, clock);
      const ids = await notifier.enqueue(t.knex, {
        event: 'incident.opened', subjectType: 'incident', subjectId: 'i-mail', data: {},
        email: { to: 'customer@example.com', subject: 'Incident on srv1', text: 'A disk on srv1 is failing.' },
      });
      expect(ids).toHaveLength(1);
      const seen: string[] = [];
      const dispatcher = new NotificationDispatcher({ knex: t.knex, settings, secrets, owner: 'test', clock, onDelivered: async (trx, n) => { seen.push(n.event); await trx('notifications').where({ id: n.id }).first(); } });
      expect(await dispatcher.runOnce()).toBe(1);
      dispatcher.close();
      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0]!.to).toEqual(['customer@example.com']);
      expect(smtp.mails[0]!.data).toContain('Subject: Incident on srv1');
      expect(smtp.mails[0]!.data).toContain('A disk on srv1 is failing.');
      expect(seen).toEqual(['incident.opened']);
      const [n] = await listNotifications(t.knex, 'incident', 'i-mail');
      expect(n).toMatchObject({ channel: 'email', status: 'delivered' });
    } finally {
      await smtp.close();
    }
  });
});
