import { isSha512CryptHash, sha512crypt, sha512cryptWithSetting, verifySha512crypt } from './crypt.js';

describe('sha512crypt', () => {
  // Vectors from Drepper's specification (the glibc test suite) and from `openssl passwd -6 -salt …`.
  it.each([
    ['Hello world!', '$6$saltstring', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
    ['Hello world!', '$6$rounds=10000$saltstringsaltstring', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
    ['This is just a test', '$6$rounds=5000$toolongsaltstring', '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0'],
    ['a very much longer text to encrypt.  This one even stretches over morethan one line.', '$6$rounds=1400$anotherlongsaltstring', '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1'],
    ['we have a short salt string but not a short password', '$6$rounds=77777$short', '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0'],
    ['a short string', '$6$rounds=123456$asaltof16chars..', '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1'],
    ['the minimum number is still observed', '$6$rounds=10$roundstoolow', '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.'],
    ['correct horse', '$6$abcdefgh12345678', '$6$abcdefgh12345678$hH3FjZZkD.RuGmIukoJ6X1/ojxI7Q6oXs70HmGNrON9WfqbLQ0xd/ksJZ6H.4WbnNfveboF8T745gOj/MOnsv.'],
  ])('hashes %j with %s like glibc', (password, setting, expected) => {
    expect(sha512cryptWithSetting(password, setting)).toBe(expected);
  });

  it('generates a random 16-character salt and verifies the result', () => {
    const h = sha512crypt('s3cret');
    expect(isSha512CryptHash(h)).toBe(true);
    expect(h).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$/);
    expect(verifySha512crypt('s3cret', h)).toBe(true);
    expect(verifySha512crypt('S3cret', h)).toBe(false);
    expect(sha512crypt('s3cret')).not.toBe(h);
  });

  it('writes rounds= only when rounds were asked for', () => {
    expect(sha512crypt('x', { salt: 'abc' })).toMatch(/^\$6\$abc\$/);
    expect(sha512crypt('x', { salt: 'abc', rounds: 2000 })).toMatch(/^\$6\$rounds=2000\$abc\$/);
  });

  it('refuses a salt outside the crypt alphabet', () => {
    expect(() => sha512crypt('x', { salt: 'a b' })).toThrow(/salt/);
  });

  it('recognises only well-formed $6$ strings', () => {
    expect(isSha512CryptHash('$1$abc$def')).toBe(false);
    expect(isSha512CryptHash('plaintext')).toBe(false);
    expect(verifySha512crypt('x', 'plaintext')).toBe(false);
  });
});
