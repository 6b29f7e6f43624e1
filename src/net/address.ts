import { isIP } from 'node:net';

/*
 * Classification of IP addresses for the SSRF guard. An address is acceptable only when it is
 * ordinary public unicast: everything listed in the IANA IPv4 and IPv6 Special-Purpose Address
 * Registries (RFC 6890 and its updates), plus multicast, reserved space and — for IPv6 —
 * anything outside 2000::/3 (the only global-unicast space IANA has allocated), is refused.
 * Loopback is reported separately because a named development switch may allow it.
 */

/** Why an address was classified as it was. `kind: 'public'` means fetchable. */
export interface AddressClass {
  readonly kind: 'public' | 'loopback' | 'special' | 'invalid';
  /** The matching range and its name, e.g. `10.0.0.0/8 private-use`; empty for public. */
  readonly range: string;
  /** Canonical text of the address (IPv4 dotted quad, IPv6 as eight hex groups). */
  readonly address: string;
}

type V4Range = readonly [base: number, prefix: number, name: string];
type V6Range = readonly [base: bigint, prefix: number, name: string];

const v4 = (cidr: string, name: string): V4Range => {
  const [address = '', prefix = '32'] = cidr.split('/');
  const value = parseIPv4(address);
  if (value === undefined) throw new Error(`bad range ${cidr}`);
  return [value, Number(prefix), `${cidr} ${name}`];
};

const v6 = (cidr: string, name: string): V6Range => {
  const [address = '', prefix = '128'] = cidr.split('/');
  const value = parseIPv6(address);
  if (value === undefined) throw new Error(`bad range ${cidr}`);
  return [value, Number(prefix), `${cidr} ${name}`];
};

/** IANA IPv4 Special-Purpose Address Registry, plus multicast (RFC 5771) and 240/4 (RFC 1112). */
const IPV4_SPECIAL: readonly V4Range[] = [
  v4('0.0.0.0/8', '"this network" (RFC 791); 0.0.0.0 reaches the local host on Linux'),
  v4('10.0.0.0/8', 'private-use (RFC 1918)'),
  v4('100.64.0.0/10', 'shared address space / CGNAT (RFC 6598)'),
  v4('169.254.0.0/16', 'link-local, cloud metadata (RFC 3927)'),
  v4('172.16.0.0/12', 'private-use (RFC 1918)'),
  v4('192.0.0.0/24', 'IETF protocol assignments (RFC 6890)'),
  v4('192.0.2.0/24', 'documentation TEST-NET-1 (RFC 5737)'),
  v4('192.31.196.0/24', 'AS112-v4 (RFC 7535)'),
  v4('192.52.193.0/24', 'AMT (RFC 7450)'),
  v4('192.88.99.0/24', 'deprecated 6to4 relay anycast (RFC 7526)'),
  v4('192.168.0.0/16', 'private-use (RFC 1918)'),
  v4('192.175.48.0/24', 'direct delegation AS112 (RFC 7534)'),
  v4('198.18.0.0/15', 'benchmarking (RFC 2544)'),
  v4('198.51.100.0/24', 'documentation TEST-NET-2 (RFC 5737)'),
  v4('203.0.113.0/24', 'documentation TEST-NET-3 (RFC 5737)'),
  v4('224.0.0.0/4', 'multicast (RFC 5771)'),
  v4('240.0.0.0/4', 'reserved, incl. limited broadcast (RFC 1112, RFC 919)'),
];

const IPV4_LOOPBACK = v4('127.0.0.0/8', 'loopback (RFC 1122)');

/** IANA IPv6 Special-Purpose Address Registry entries inside 2000::/3. */
const IPV6_SPECIAL_IN_GLOBAL: readonly V6Range[] = [
  v6('2001::/23', 'IETF protocol assignments incl. Teredo and ORCHIDv2 (RFC 2928, RFC 4380)'),
  v6('2001:db8::/32', 'documentation (RFC 3849)'),
  v6('2002::/16', '6to4 (RFC 3056)'),
  v6('2620:4f:8000::/48', 'direct delegation AS112 (RFC 7534)'),
  v6('3fff::/20', 'documentation (RFC 9637)'),
];

/** Named ranges outside 2000::/3, for clearer reasons (all of them are refused anyway). */
const IPV6_SPECIAL_NAMED: readonly V6Range[] = [
  v6('::/128', 'unspecified (RFC 4291)'),
  v6('::ffff:0:0:0/96', 'IPv4-translated (RFC 2765)'),
  v6('::/96', 'IPv4-compatible, deprecated (RFC 4291)'),
  v6('64:ff9b::/96', 'NAT64 well-known prefix (RFC 6052)'),
  v6('64:ff9b:1::/48', 'local-use NAT64 (RFC 8215)'),
  v6('100::/64', 'discard-only (RFC 6666)'),
  v6('100:0:0:1::/64', 'dummy prefix (RFC 9780)'),
  v6('5f00::/16', 'SRv6 SIDs (RFC 9602)'),
  v6('fc00::/7', 'unique local (RFC 4193)'),
  v6('fe80::/10', 'link-local (RFC 4291)'),
  v6('fec0::/10', 'site-local, deprecated (RFC 3879)'),
  v6('ff00::/8', 'multicast (RFC 4291)'),
];

const IPV6_LOOPBACK = v6('::1/128', 'loopback (RFC 4291)');
const IPV6_MAPPED = v6('::ffff:0:0/96', 'IPv4-mapped');
const IPV6_GLOBAL = v6('2000::/3', 'global unicast');

function inV4(value: number, [base, prefix]: V4Range): boolean {
  if (prefix === 0) return true;
  const shift = 32 - prefix;
  return value >>> shift === base >>> shift;
}

function inV6(value: bigint, [base, prefix]: V6Range): boolean {
  const shift = BigInt(128 - prefix);
  return value >> shift === base >> shift;
}

/**
 * Parses IPv4 in every form the classic inet_aton accepts and WHATWG URL hosts normalize:
 * one to four parts, each decimal, octal (leading 0) or hex (0x); the last part fills the
 * remaining bytes (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`). Undefined if not IPv4.
 */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  // WHATWG URL allows one trailing dot ("127.0.0.1.").
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : Number.parseInt(part, 16);
    else if (/^0[0-7]+$/.test(part)) value = Number.parseInt(part, 8);
    else if (/^(0|[1-9][0-9]*)$/.test(part)) value = Number(part);
    else return undefined;
    if (!Number.isSafeInteger(value)) return undefined;
    numbers.push(value);
  }
  const last = numbers.pop() ?? 0;
  if (numbers.some((n) => n > 255)) return undefined;
  const lastBytes = 4 - numbers.length;
  if (last >= 2 ** (8 * lastBytes)) return undefined;
  let value = 0;
  for (const n of numbers) value = value * 256 + n;
  return value * 2 ** (8 * lastBytes) + last;
}

/** Parses an IPv6 address (optionally bracketed, optionally with a zone id) into a 128-bit value. */
export function parseIPv6(text: string): bigint | undefined {
  let bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = bare.indexOf('%');
  if (zone !== -1) bare = bare.slice(0, zone);
  if (isIP(bare) !== 6) return undefined;
  // An embedded dotted quad (`::ffff:127.0.0.1`) becomes its two hex groups.
  const lastColon = bare.lastIndexOf(':');
  const dotted = bare.slice(lastColon + 1);
  if (dotted.includes('.')) {
    const value = parseIPv4(dotted);
    if (value === undefined) return undefined;
    const high = Math.floor(value / 65536).toString(16);
    const low = (value % 65536).toString(16);
    bare = `${bare.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const [head = '', rest, extra] = bare.split('::');
  if (extra !== undefined) return undefined;
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - restGroups.length;
  if (rest === undefined ? missing !== 0 : missing < 1) return undefined;
  const groups =
    rest === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(missing).fill('0'), ...restGroups];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
    value = (value << 16n) | BigInt(Number.parseInt(group, 16));
  }
  return value;
}

function formatV4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function formatV6(value: bigint): string {
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) {
    groups.push(((value >> shift) & 0xffffn).toString(16));
  }
  return groups.join(':');
}

function classifyV4(value: number): AddressClass {
  const address = formatV4(value);
  if (inV4(value, IPV4_LOOPBACK)) return { kind: 'loopback', range: IPV4_LOOPBACK[2], address };
  const special = IPV4_SPECIAL.find((range) => inV4(value, range));
  return special
    ? { kind: 'special', range: special[2], address }
    : { kind: 'public', range: '', address };
}

function classifyV6(value: bigint): AddressClass {
  // An IPv4-mapped address is the IPv4 address on the wire; judge it as such.
  if (inV6(value, IPV6_MAPPED)) {
    const embedded = classifyV4(Number(value & 0xffffffffn));
    return { ...embedded, range: embedded.range && `${embedded.range} (IPv4-mapped)` };
  }
  const address = formatV6(value);
  if (inV6(value, IPV6_LOOPBACK)) return { kind: 'loopback', range: IPV6_LOOPBACK[2], address };
  const named = IPV6_SPECIAL_NAMED.find((range) => inV6(value, range));
  if (named) return { kind: 'special', range: named[2], address };
  if (!inV6(value, IPV6_GLOBAL)) {
    return {
      kind: 'special',
      range: 'outside 2000::/3 (not allocated for global unicast)',
      address,
    };
  }
  const special = IPV6_SPECIAL_IN_GLOBAL.find((range) => inV6(value, range));
  return special
    ? { kind: 'special', range: special[2], address }
    : { kind: 'public', range: '', address };
}

/**
 * Classifies an IP address given as text: dotted quad or any inet_aton form, IPv6 with or
 * without brackets, zone ids and embedded IPv4. Text that is not an address is `invalid`.
 */
export function classifyAddress(ip: string): AddressClass {
  const text = ip.trim();
  const value6 = text.includes(':') ? parseIPv6(text) : undefined;
  if (value6 !== undefined) return classifyV6(value6);
  const value4 = text.includes(':') ? undefined : parseIPv4(text);
  if (value4 !== undefined) return classifyV4(value4);
  return { kind: 'invalid', range: 'not an IP address', address: text };
}

/**
 * True unless `ip` is an ordinary public unicast address. Loopback, private, link-local, CGNAT,
 * multicast, reserved, documentation and every other special-purpose range is blocked, and so
 * is anything that does not parse as an address (fail closed).
 */
export function isBlockedAddress(ip: string): boolean {
  return classifyAddress(ip).kind !== 'public';
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(ip: string): boolean {
  return classifyAddress(ip).kind === 'loopback';
}
