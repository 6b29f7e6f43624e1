import { isIP } from 'node:net';

/** Splits `host:port` (IPv6 in brackets) into its parts; undefined when malformed. */
export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  if (host === undefined || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  if (match[1] !== undefined && isIP(match[1]) !== 6) return undefined;
  return { host, port };
}

/**
 * True for names and literals that always mean this machine: `localhost` (RFC 6761 §6.3),
 * 127.0.0.0/8 and ::1. Used to decide what may run without TLS or authentication.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const lower = bare.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return true;
  if (isIP(lower) === 4) return lower.startsWith('127.');
  if (isIP(lower) === 6) return lower === '::1' || lower === '0:0:0:0:0:0:0:1';
  return false;
}
