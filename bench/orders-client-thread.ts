/**
 * The order pipeline's side of bench/orders-200.ts: `concurrency` clients POST `n` orders to Anvil's
 * API. Its HTTP client work is the pipeline's, not Anvil's, so the benchmark runs it in a worker
 * thread of its own (this module is that thread's entry, through src/lab/thread-calls.ts; the main
 * thread only imports postOrders).
 */
import { isMainThread } from 'node:worker_threads';
import { serveLabThreadCalls } from '../src/lab/thread-calls.js';

export interface OrderClientJob {
  url: string;
  token: string;
  prefix: string;
  profile: string;
  n: number;
  concurrency: number;
  sshKey: string;
}

export async function postOrders(job: OrderClientJob): Promise<{ ids: string[]; seconds: number }> {
  let next = 0;
  const ids: string[] = [];
  const t = performance.now();
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      for (let i = next++; i < job.n; i = next++) {
        const res = await fetch(`${job.url}/api/v1/orders`, {
          method: 'POST',
          headers: { authorization: `Bearer ${job.token}`, 'content-type': 'application/json', 'idempotency-key': `bench-${job.prefix}-${i}` },
          body: JSON.stringify({
            external_id: `${job.prefix}-${i}`, customer_id: `c${i}`, contact_email: `c${i}@example.com`, hardware_profile: job.profile, country: 'MA',
            os_image: 'debian-12', hostname: `b${i}`, ssh_keys: [job.sshKey], support_tier: 'managed', paid_at: new Date().toISOString(),
          }),
        });
        const body = (await res.json()) as { id?: string };
        if (res.status !== 201 && res.status !== 200) throw new Error(`order ${i}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
        ids.push(body.id!);
      }
    }),
  );
  return { ids, seconds: (performance.now() - t) / 1000 };
}

if (!isMainThread) serveLabThreadCalls({ post: (job) => postOrders(job as OrderClientJob), stop: () => undefined });
