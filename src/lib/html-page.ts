import { randomBytes } from 'node:crypto';
import { html, SafeHtml } from './html.ts';
import type { HttpAnswer } from './http-answer.ts';

export interface PageOptions {
  readonly title: string;
  readonly status?: number;
  /** Origins a form on the page may end up at (a redirect after POST counts, CSP form-action). */
  readonly formTargets?: readonly string[];
  /** Extra headers (a Retry-After, say); the page's own security headers win over these. */
  readonly headers?: Readonly<Record<string, string>>;
}

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1c1e21; }
  main { max-width: 28rem; margin: 4rem auto; background: #fff; padding: 2rem;
         border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
  h1 { font-size: 1.4rem; margin-top: 0; }
  label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
  input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem;
         font-size: 1rem; border: 1px solid #bbb; border-radius: 4px; }
  button { margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1rem; border-radius: 4px;
           border: 1px solid #0b5cad; background: #0b5cad; color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: #0b5cad; margin-left: .5rem; }
  .error { background: #fdecea; border: 1px solid #f5c2c0; padding: .75rem; border-radius: 4px; }
  .warning { background: #fff4e5; border: 1px solid #ffd8a8; padding: .75rem; border-radius: 4px; }
  dt { font-weight: 600; margin-top: .75rem; } dd { margin: 0; word-break: break-all; }
  ul.scopes { padding-left: 1.2rem; } code { font-size: .9rem; }
`;

/**
 * A whole HTML page (the authorization server's sign-in, consent and account pages, and the
 * error page of src/errors/render.ts), with the headers that keep it from being framed
 * (RFC 9700 §4.16: CSP frame-ancestors and X-Frame-Options), cached, or given any script to run.
 */
export function htmlPage(body: SafeHtml, options: PageOptions): HttpAnswer {
  const nonce = randomBytes(16).toString('base64');
  const formAction = ["'self'", ...(options.formTargets ?? [])].join(' ');
  const headers: Record<string, string> = {
    ...(options.headers ?? {}),
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
  };
  const document = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title}</title>
<style nonce="${nonce}">${new SafeHtml(STYLE)}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
  return { status: options.status ?? 200, headers, body: document.value };
}
