import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { classifyAddress, isBlockedAddress, isLoopbackAddress } from '../../src/net/index.ts';

describe('isBlockedAddress: special-purpose ranges (IANA registries) are blocked', () => {
  const blocked: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.127.127.127', 'loopback'],
    ['0.0.0.0', 'this network'],
    ['10.0.0.1', 'RFC 1918'],
    ['100.64.0.1', 'CGNAT'],
    ['169.254.169.254', 'link-local metadata'],
    ['172.16.0.1', 'RFC 1918'],
    ['172.31.255.255', 'RFC 1918 upper end'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.0.2.1', 'TEST-NET-1'],
    ['192.88.99.1', '6to4 relay'],
    ['192.168.1.1', 'RFC 1918'],
    ['198.18.0.1', 'benchmarking'],
    ['198.51.100.7', 'TEST-NET-2'],
    ['203.0.113.9', 'TEST-NET-3'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['2130706433', 'decimal 127.0.0.1'],
    ['0x7f.1', 'hex short form'],
    ['0177.0.0.1', 'octal'],
    ['127.1', 'short form'],
    ['0', 'zero'],
    ['0xA9FEA9FE', 'hex 169.254.169.254'],
    ['::1', 'IPv6 loopback'],
    ['[::1]', 'bracketed'],
    ['::', 'unspecified'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped, hex'],
    ['::ffff:10.1.2.3', 'IPv4-mapped private'],
    ['::127.0.0.1', 'IPv4-compatible'],
    ['64:ff9b::7f00:1', 'NAT64'],
    ['64:ff9b:1::1', 'local NAT64'],
    ['2002:7f00:1::', '6to4'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
    ['2001:db8::1', 'documentation'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local with zone'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['100::1', 'discard-only'],
    ['3fff::1', 'documentation (RFC 9637)'],
    ['5f00::1', 'SRv6'],
    ['::ffff:0:7f00:1', 'IPv4-translated'],
    ['not-an-ip', 'not an address: fail closed'],
    ['1.2.3.4.5', 'five parts'],
    ['256.1.1.1', 'octet out of range'],
    ['', 'empty'],
  ];
  for (const [address, why] of blocked) {
    test(`${address} (${why})`, () => assert.equal(isBlockedAddress(address), true));
  }
  test('positive control: public unicast addresses are not blocked', () => {
    for (const address of [
      '8.8.8.8',
      '1.1.1.1',
      '93.184.216.34',
      '2606:4700::1111',
      '::ffff:8.8.8.8',
      '2001:4860:4860::8888',
    ]) {
      assert.equal(isBlockedAddress(address), false, address);
    }
  });
});

describe('address classification properties', () => {
  const dotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

  test('an IPv4 address and its IPv4-mapped IPv6 form classify alike', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
        assert.equal(classifyAddress(`::ffff:${dotted(n)}`).kind, classifyAddress(dotted(n)).kind);
      }),
      { numRuns: 2000 },
    );
  });

  test('the classifier agrees with what WHATWG URL makes of decimal, hex and octal hosts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
        const expected = classifyAddress(dotted(n)).kind;
        for (const spelling of [String(n), `0x${n.toString(16)}`, `0${n.toString(8)}`]) {
          assert.equal(new URL(`https://${spelling}/`).hostname, dotted(n));
          assert.equal(classifyAddress(spelling).kind, expected, spelling);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('IPv6 outside 2000::/3 is never public', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
        (groups) => {
          const text = groups.map((g) => g.toString(16)).join(':');
          const first = groups[0] ?? 0;
          const kind = classifyAddress(text).kind;
          if (first < 0x2000 || first > 0x3fff) assert.notEqual(kind, 'public', text);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('loopback is told apart from other special ranges', () => {
    assert.equal(isLoopbackAddress('127.0.0.53'), true);
    assert.equal(isLoopbackAddress('::1'), true);
    assert.equal(isLoopbackAddress('::ffff:127.0.0.1'), true);
    assert.equal(isLoopbackAddress('10.0.0.1'), false);
    assert.match(classifyAddress('169.254.169.254').range, /link-local/);
  });
});
