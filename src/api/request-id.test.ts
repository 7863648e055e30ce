import { chooseRequestId } from './request-id.js';

describe('chooseRequestId', () => {
  const gen = (): string => 'generated';

  it.each(['abc', 'lb-1234.abc', 'trace:0af7651916cd43dd', 'x'.repeat(64)])('keeps the sane incoming id %s', (id) => {
    expect(chooseRequestId(id, gen)).toBe(id);
  });

  it.each([undefined, '', 'x'.repeat(65), 'has space', 'new\nline', '<script>', 'é'])('generates one instead of %p', (id) => {
    expect(chooseRequestId(id, gen)).toBe('generated');
  });

  it('uses the first of repeated headers', () => {
    expect(chooseRequestId(['first', 'second'], gen)).toBe('first');
  });
});
