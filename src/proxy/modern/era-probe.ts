import { request } from 'undici';
import { isRecord } from '../../mcp/index.ts';
import { HEADERS, MODERN_ERRORS, MODERN_PROTOCOL_VERSION } from '../../mcp/modern/protocol.ts';
import { requestEnvelope } from '../../mcp/modern/results.ts';

/**
 * Which protocol era an HTTP upstream speaks, per its `protocol` setting. `auto` follows the
 * backward-compatibility rule of basic/transports/streamable-http and basic/versioning: send a
 * modern request first (`server/discover`); a result, or a 400 whose body is a recognized modern
 * JSON-RPC error, means a modern server; anything else means a 2025 server, reached with
 * `initialize`. A 401 or 403 is never evidence of an era (it means "authorize"), so it leaves
 * the era undecided and the probe is tried again later.
 */

export type ProtocolSetting = 'auto' | '2026-07-28' | '2025-11-25';
export type UpstreamEra = 'modern' | 'legacy';

export type EraProbeResult =
  | {
      readonly era: UpstreamEra;
      readonly detail: string;
      /** The upstream's discover result, when it gave one. */
      readonly discover?: Readonly<Record<string, unknown>>;
    }
  | { readonly era: 'undecided'; readonly detail: string };

/** Errors only a 2026-07-28 server sends: header mismatch, capability, version, envelope. */
const MODERN_ERROR_CODES: ReadonlySet<number> = new Set([
  MODERN_ERRORS.headerMismatch,
  MODERN_ERRORS.missingClientCapability,
  MODERN_ERRORS.unsupportedProtocolVersion,
]);

const PROBE_TIMEOUT_MS = 10_000;
const MAX_PROBE_BODY = 1024 * 1024;

export async function probeHttpUpstreamEra(options: {
  url: string;
  setting: ProtocolSetting;
  /** The gateway's own headers for this upstream (credentials from the config). */
  headers: Readonly<Record<string, string>>;
  timeoutMs?: number;
}): Promise<EraProbeResult> {
  if (options.setting === '2025-11-25') return { era: 'legacy', detail: 'pinned 2025-11-25' };
  let status: number;
  let text: string;
  let contentType: string;
  try {
    const answer = await request(options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        [HEADERS.protocolVersion]: MODERN_PROTOCOL_VERSION,
        [HEADERS.method]: 'server/discover',
        ...lowerCased(options.headers),
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'portcullis-probe',
        method: 'server/discover',
        params: {
          _meta: requestEnvelope({}, { name: 'portcullis', version: '0' }),
        },
      }),
      signal: AbortSignal.timeout(options.timeoutMs ?? PROBE_TIMEOUT_MS),
    });
    status = answer.statusCode;
    contentType = String(answer.headers['content-type'] ?? '').toLowerCase();
    text = await boundedText(answer.body);
  } catch (error) {
    return {
      era: 'undecided',
      detail: `server/discover failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const message = jsonRpcMessageOf(text, contentType);
  if (status === 401 || status === 403) {
    return {
      era: 'undecided',
      detail: `server/discover refused with ${status} (not an era signal)`,
    };
  }
  if (status === 200 && isRecord(message?.result)) {
    const result = message.result;
    const versions = Array.isArray(result.supportedVersions) ? result.supportedVersions : [];
    if (versions.includes(MODERN_PROTOCOL_VERSION)) {
      return { era: 'modern', detail: 'server/discover answered', discover: result };
    }
  }
  const code = isRecord(message?.error) ? message.error.code : undefined;
  if (status === 400 && typeof code === 'number' && MODERN_ERROR_CODES.has(code)) {
    if (code === MODERN_ERRORS.unsupportedProtocolVersion) {
      // A modern server that does not speak our revision: only the 2025 wire is left.
      return { era: 'legacy', detail: 'server/discover: 2026-07-28 unsupported; initialize used' };
    }
    return { era: 'modern', detail: `server/discover answered with modern error ${code}` };
  }
  if (options.setting === MODERN_PROTOCOL_VERSION) {
    return { era: 'undecided', detail: `pinned 2026-07-28 but server/discover got ${status}` };
  }
  return { era: 'legacy', detail: `server/discover got ${status}; initialize used` };
}

function lowerCased(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

async function boundedText(body: AsyncIterable<unknown> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_PROBE_BODY) {
      body.destroy();
      break;
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The JSON-RPC message in a JSON body or in the data of an SSE answer's last event. */
function jsonRpcMessageOf(
  text: string,
  contentType: string,
): Readonly<Record<string, unknown>> | undefined {
  let candidate = text;
  if (contentType.startsWith('text/event-stream')) {
    const data = text
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trimStart());
    candidate = data.at(-1) ?? '';
  }
  try {
    const value: unknown = JSON.parse(candidate);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
