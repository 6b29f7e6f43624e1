/**
 * Runs @modelcontextprotocol/server-everything's Streamable HTTP transport on 127.0.0.1 and an
 * ephemeral port (the package itself listens on every interface at $PORT or 3001), then prints
 * `LISTENING <port>` on stderr. Started as a child process by test helpers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function patchedListen(this: http.Server, ...args: unknown[]) {
  const callback = args.find((arg): arg is () => void => typeof arg === 'function');
  return Reflect.apply(listen, this, [
    0,
    '127.0.0.1',
    () => {
      process.stderr.write(`LISTENING ${(this.address() as AddressInfo).port}\n`);
      callback?.();
    },
  ]) as http.Server;
} as typeof listen;

// A variable specifier: the package ships no types for this file.
const entry = '@modelcontextprotocol/server-everything/dist/transports/streamableHttp.js';
await import(entry);
