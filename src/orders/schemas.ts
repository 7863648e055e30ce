import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { Page } from '../inventory/schemas.js';

/** Wire shapes of the order capability (snake_case, strict inputs, no regex flags). */
extendZodWithOpenApi(z);

const isoTime = z.iso.datetime({ offset: true }).openapi({ example: '2026-11-26T08:00:00Z' });

const Hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'lower-case RFC 1123 host name, e.g. web1.example.com')
  .openapi({ example: 'web1.example.com' });

const SshKey = z
  .string()
  .max(16384)
  .regex(/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/, 'an OpenSSH public key line')
  .openapi({ example: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k ops@example' });

export const SupportTier = z.enum(['unmanaged', 'managed', 'fully_managed']);

export const OrderCreate = z
  .object({
    external_id: z.string().min(1).max(200),
    customer_id: z.string().min(1).max(200),
    contact_email: z.email().max(320),
    hardware_profile: z.string().min(1).max(64),
    /** ISO 3166-1 alpha-2: data residency. Give a country, a site, or both (they must agree). */
    country: z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2 code in upper case, e.g. MA').optional(),
    site: z.string().min(2).max(32).optional(),
    os_image: z.string().min(1).max(64),
    hostname: Hostname,
    ssh_keys: z.array(SshKey).max(32).default([]),
    /** Ask Anvil to generate a root password and deliver it once. */
    root_password: z.boolean().default(false),
    support_tier: SupportTier,
    paid_at: isoTime,
  })
  .strict()
  .superRefine((o, ctx) => {
    if (!o.country && !o.site) ctx.addIssue({ code: 'custom', path: ['country'], message: 'give the country (or the site) the server must be in' });
    if (o.ssh_keys.length === 0 && !o.root_password) ctx.addIssue({ code: 'custom', path: ['ssh_keys'], message: 'give SSH keys, or set root_password: true' });
  })
  .openapi('OrderCreate');

export const OrderStatus = z.enum(['received', 'allocated', 'provisioning', 'delivered', 'failed', 'cancelled', 'terminated']);
/** Orders that hold, or will hold, a machine: a second one for the same external id, or a country change under them, is refused. */
export const LIVE_ORDER_STATUSES: readonly z.infer<typeof OrderStatus>[] = ['received', 'allocated', 'provisioning', 'delivered'];
export const ClockStatus = z.enum(['on_track', 'at_risk', 'breached', 'met', 'missed']);

export const DeliveryClock = z
  .object({
    paid_at: z.string(),
    deadline_at: z.string(),
    delivered_at: z.string().nullable(),
    status: ClockStatus,
    remaining_seconds: z.number().int().nullable(),
  })
  .openapi('DeliveryClock');

export const Order = z
  .object({
    id: z.string(),
    external_id: z.string(),
    customer_id: z.string(),
    contact_email: z.string(),
    hardware_profile: z.string(),
    country: z.string(),
    site: z.string().nullable(),
    os_image: z.string(),
    hostname: z.string(),
    ssh_key_count: z.number().int(),
    root_password: z.boolean(),
    support_tier: SupportTier,
    status: OrderStatus,
    machine_id: z.string().nullable(),
    miss_cause: z.string().nullable(),
    suspended: z.boolean(),
    delivery_clock: DeliveryClock,
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Order');

export const OrderListQuery = z
  .object({
    status: OrderStatus.optional(),
    clock_status: ClockStatus.optional(),
    site: z.string().min(2).max(32).optional(),
    customer: z.string().min(1).max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().min(1).max(1024).optional(),
  })
  .strict()
  .openapi('OrderListQuery');

export const OrderPage = Page(Order, 'OrderPage');

export type OrderCreateInput = z.input<typeof OrderCreate>;
export type OrderOutput = z.output<typeof Order>;
export type OrderListQueryInput = z.input<typeof OrderListQuery>;
