import { bearerToken } from './auth.js';

describe('bearerToken', () => {
  it.each([
    ['Bearer anv_abc', 'anv_abc'],
    ['Bearer   anv_abc  ', 'anv_abc'],
    ['bearer anv_abc', 'anv_abc'],
  ])('reads %p', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each([undefined, '', 'Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', 'Bearer a b', 'Token anv_abc'])('finds no token in %p', (header) => {
    expect(bearerToken(header)).toBeUndefined();
  });
});
