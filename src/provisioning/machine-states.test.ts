import { assertTransition, canTransition, PROVISION_STATES, allowedTransitions } from './machine-states.js';
import { InvalidTransitionError } from '../errors.js';

describe('machine provision states', () => {
  it('allows the whole happy lifecycle in order', () => {
    const path = ['enrolled', 'verifying', 'available', 'allocated', 'deploying', 'active', 'releasing', 'wiping', 'available'] as const;
    for (let i = 0; i + 1 < path.length; i++) expect(canTransition(path[i]!, path[i + 1]!)).toBe(true);
  });

  it('refuses enrolled → active with 409 invalid_transition naming both states', () => {
    let caught: unknown;
    try {
      assertTransition('r12-u07', 'enrolled', 'active');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidTransitionError);
    const e = caught as InvalidTransitionError;
    expect(e.status).toBe(409);
    expect(e.code).toBe('invalid_transition');
    expect(e.message).toBe('machine r12-u07: cannot move from enrolled to active');
  });

  it('never lets a customer machine go straight back to available without a wipe', () => {
    expect(canTransition('active', 'available')).toBe(false);
    expect(canTransition('releasing', 'available')).toBe(false);
  });

  it('lets every state reach failed or be recovered from it', () => {
    for (const s of PROVISION_STATES) {
      if (s === 'failed' || s === 'retired') continue;
      expect(allowedTransitions(s)).toContain('failed');
    }
    expect(allowedTransitions('failed').length).toBeGreaterThan(0);
  });
});
