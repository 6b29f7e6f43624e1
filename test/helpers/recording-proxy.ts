import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RecordedRequest } from './recording-upstream.ts';

export interface RecordingProxy {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** tools/call names that went through. */
  toolCalls(): string[];
  close(): Promise<void>;
}

/**
 * A recording reverse proxy on 127.0.0.1:0 in front of an HTTP MCP server (server-everything in
 * the end-to-end tests): records each request, then passes it on and streams the answer back.
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const targetUrl = new URL(target);
  const requests: RecordedRequest[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method ?? '', headers: req.headers, body: body.toString('utf8') });
    const headers = { ...req.headers, host: targetUrl.host };
    const upstream = http.request(targetUrl, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${targetUrl.pathname}`,
    requests,
    toolCalls: () =>
      requests
        .filter((request) => request.body !== '')
        .map(
          (request) => JSON.parse(request.body) as { method?: string; params?: { name?: string } },
        )
        .filter((message) => message.method === 'tools/call')
        .map((message) => message.params?.name ?? ''),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
