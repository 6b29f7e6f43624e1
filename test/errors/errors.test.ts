import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderConfigurationReference } from '../../src/config/reference-doc.ts';
import {
  CONFIG_ERRORS,
  ConfigError,
  formatConfigError,
  REQUEST_ERRORS,
  RequestError,
  renderRequestError,
} from '../../src/errors/index.ts';
import { renderErrorsReference } from '../../src/errors/reference-doc.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

describe('generated docs are in sync with the code (run `npm run docs` to update)', () => {
  it('docs/errors.md matches the error catalogue', () => {
    assert.equal(read('docs/errors.md'), renderErrorsReference());
  });
  it('docs/errors.md names every code exactly once', () => {
    const doc = read('docs/errors.md');
    for (const code of [...Object.keys(REQUEST_ERRORS), ...Object.keys(CONFIG_ERRORS)]) {
      assert.equal(doc.split(`| \`${code}\` |`).length - 1, 1, code);
    }
  });
  it('docs/configuration.md matches the schema', () => {
    assert.equal(read('docs/configuration.md'), renderConfigurationReference());
  });
  it('the README links the configuration reference', () => {
    assert.match(read('README.md'), /docs\/configuration\.md/);
  });
});

describe('error catalogue', () => {
  it('includes the token and request codes with their statuses', () => {
    assert.equal(REQUEST_ERRORS.AuthTokenInvalid.status, 401);
    assert.equal(REQUEST_ERRORS.AuthTokenExpired.status, 401);
    assert.equal(REQUEST_ERRORS.AuthInvalidIssuer.status, 401);
    assert.equal(REQUEST_ERRORS.AuthInvalidAudience.status, 401);
    assert.equal(REQUEST_ERRORS.AuthMissingScope.status, 403);
    assert.equal(REQUEST_ERRORS.AuthMissingScope.oauth, 'insufficient_scope');
  });
  it('keeps request and config codes apart', () => {
    const request = new Set(Object.keys(REQUEST_ERRORS));
    for (const code of Object.keys(CONFIG_ERRORS)) assert.ok(!request.has(code), code);
  });
});

describe('renderRequestError', () => {
  it('renders a known error with its status, OAuth code and message', () => {
    const rendered = renderRequestError(
      new RequestError('AuthMissingScope', 'tools/call write_file needs files:write'),
      { 'www-authenticate': 'Bearer error="insufficient_scope"' },
    );
    assert.equal(rendered.status, 403);
    assert.equal(rendered.headers['www-authenticate'], 'Bearer error="insufficient_scope"');
    assert.equal(rendered.headers['cache-control'], 'no-store');
    assert.deepEqual(JSON.parse(rendered.body), {
      error: 'insufficient_scope',
      error_description: 'tools/call write_file needs files:write',
      code: 'AuthMissingScope',
    });
  });
  it('uses a snake_case error for codes without an OAuth error', () => {
    const body = JSON.parse(renderRequestError(new RequestError('RateLimited', 'slow down')).body);
    assert.equal(body.error, 'rate_limited');
    assert.equal(renderRequestError(new RequestError('RateLimited', 'x')).status, 429);
  });
  it('never exposes the message of an internal or unexposed error', () => {
    const plain = renderRequestError(new Error('db password=hunter2 at host'));
    assert.equal(plain.status, 500);
    assert.ok(!plain.body.includes('hunter2'));
    const hidden = renderRequestError(new RequestError('UpstreamFailed', 'child said secret-xyz'));
    assert.equal(hidden.status, 502);
    assert.ok(!hidden.body.includes('secret-xyz'));
  });
});

describe('formatConfigError', () => {
  it('lists every issue with path and fix', () => {
    const text = formatConfigError(
      new ConfigError(
        'ConfigInvalid',
        [
          { path: 'remote_mcp.audiences', message: 'must not be empty', fix: 'list them' },
          { path: 'store', message: 'needs exactly one backend' },
        ],
        { source: 'x.yaml' },
      ),
    );
    assert.equal(
      text,
      [
        'portcullis: ConfigInvalid in x.yaml: 2 problems found',
        '  - remote_mcp.audiences: must not be empty',
        '    fix: list them',
        '  - store: needs exactly one backend',
      ].join('\n'),
    );
  });
});
