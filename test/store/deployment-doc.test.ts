/**
 * docs/deployment.md shows the nginx configuration the multi-replica test runs: the block in the
 * page is what `nginxConfig()` produces for the page's three replicas, character for character.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.ts';
import { nginxConfig } from '../helpers/nginx.ts';

it('docs/deployment.md holds the exact nginx config of the multi-replica test', () => {
  const page = readFileSync(join(REPO_ROOT, 'docs', 'deployment.md'), 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(page)?.[1];
  assert.ok(block, 'the page has an nginx block');
  const expected = nginxConfig({
    listen: '127.0.0.1:8080',
    replicas: ['10.0.0.11:8080', '10.0.0.12:8080', '10.0.0.13:8080'],
    dir: '/var/lib/portcullis-lb',
  });
  assert.equal(block, expected);
});
