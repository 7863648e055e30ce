import { InvalidTransitionError } from '../errors.js';

/**
 * A machine's provision state (ARCHITECTURE.md, "The lifecycles"):
 * enrolled → verifying → available → allocated → deploying → active → releasing → wiping → available,
 * plus `failed` (with last_error, recoverable by an operator) and `retired`.
 */
export const PROVISION_STATES = [
  'enrolled',
  'verifying',
  'available',
  'allocated',
  'deploying',
  'active',
  'releasing',
  'wiping',
  'failed',
  'retired',
] as const;
export type ProvisionState = (typeof PROVISION_STATES)[number];

/** States in which a machine carries (or is being prepared for / cleaned of) a customer's server. */
export const CUSTOMER_STATES: ReadonlySet<ProvisionState> = new Set(['allocated', 'deploying', 'active', 'releasing', 'wiping']);

/** The one table of allowed moves. Anything else is a 409 invalid_transition. */
const ALLOWED: Record<ProvisionState, readonly ProvisionState[]> = {
  enrolled: ['verifying', 'available', 'failed', 'retired'],
  verifying: ['available', 'enrolled', 'failed'],
  available: ['allocated', 'verifying', 'failed', 'retired'],
  // allocated → available: an order cancelled before deployment started.
  allocated: ['deploying', 'available', 'failed'],
  // deploying → allocated: a retry of the deployment on the same machine.
  deploying: ['active', 'allocated', 'failed'],
  active: ['releasing', 'deploying', 'failed'],
  releasing: ['wiping', 'failed'],
  wiping: ['available', 'failed'],
  // An operator recovers a failed machine by re-verifying it, or retires it; a failed release is wiped again.
  failed: ['verifying', 'enrolled', 'wiping', 'available', 'retired'],
  retired: ['enrolled'],
};

export function isProvisionState(value: string): value is ProvisionState {
  return (PROVISION_STATES as readonly string[]).includes(value);
}

export function canTransition(from: ProvisionState, to: ProvisionState): boolean {
  return ALLOWED[from].includes(to);
}

/** Throws InvalidTransitionError naming the machine and both states when the move is not allowed. */
export function assertTransition(machine: string, from: ProvisionState, to: ProvisionState): void {
  if (!canTransition(from, to)) {
    throw new InvalidTransitionError(`machine ${machine}: cannot move from ${from} to ${to}`, {
      details: { machine, from, to, allowed: [...ALLOWED[from]] },
    });
  }
}

export function allowedTransitions(from: ProvisionState): readonly ProvisionState[] {
  return ALLOWED[from];
}
