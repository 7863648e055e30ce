import { describe, expect, it } from '@jest/globals';
import { redfishErrorMessage } from './messages.js';

describe('redfishErrorMessage', () => {
  it('prefers the extended info over the generic wrapper message', () => {
    const body = {
      error: {
        code: 'Base.1.0.GeneralError',
        message: 'A general error has occurred. See ExtendedInfo for more information.',
        '@Message.ExtendedInfo': [
          { MessageId: 'Base.1.0.PropertyValueNotInList', Message: 'The value UEFI for the property BootSourceOverrideMode is not in the list of acceptable values.', Resolution: 'Choose a value from the enumeration list.' },
          { MessageId: 'Base.1.0.PropertyValueNotInList', Message: 'The value UEFI for the property BootSourceOverrideMode is not in the list of acceptable values.', Resolution: 'Choose a value from the enumeration list.' },
        ],
      },
    };
    expect(redfishErrorMessage(body)).toBe(
      'The value UEFI for the property BootSourceOverrideMode is not in the list of acceptable values. (PropertyValueNotInList) Resolution: Choose a value from the enumeration list.',
    );
  });

  it('joins several messages and drops "None." resolutions', () => {
    const body = { error: { '@Message.ExtendedInfo': [{ MessageId: 'A.1.X', Message: 'first', Resolution: 'None.' }, { MessageId: 'A.1.Y', Message: 'second' }] } };
    expect(redfishErrorMessage(body)).toBe('first (X); second (Y)');
  });

  it('falls back to error.message and code, or the message id alone', () => {
    expect(redfishErrorMessage({ error: { code: 'iLO.0.10.ExtendedInfo', message: 'Boot failed' } })).toBe('Boot failed (ExtendedInfo)');
    expect(redfishErrorMessage({ error: { '@Message.ExtendedInfo': [{ MessageId: 'Base.1.8.InternalError' }] } })).toBe('InternalError');
    expect(redfishErrorMessage({ '@Message.ExtendedInfo': [{ Message: 'annotated success' }] })).toBe('annotated success');
  });

  it.each([null, 'text', 42, {}, { error: {} }, { error: 'flat' }])('returns null for %p', (body) => {
    expect(redfishErrorMessage(body)).toBeNull();
  });
});
