import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli, spawnCliAsync, tempDir } from '../helpers/cli.ts';
import { type OAuthFixture, startOAuthFixture } from '../helpers/oauth-fixture.ts';

describe('proactive refresh, single-flight across processes', () => {
  let fixture: OAuthFixture;
  before(async () => {
    // 5 s tokens are always inside the 60 s refresh margin: every process wants to refresh.
    fixture = await startOAuthFixture({
      accessTokenTtl: 5,
      refreshedTokenTtl: 3600,
      // Slow refreshes make the processes overlap; rotation makes a second refresh fail loudly.
      refreshDelayMs: 400,
    });
  });
  after(() => fixture.stop());

  it('three concurrent call processes perform exactly one refresh', async () => {
    const store = tempDir();
    const login = await runCli([
      'login',
      fixture.mcpUrl,
      '--open',
      'fetch',
      '--token-store',
      store,
    ]);
    assert.equal(login.code, 0, login.stderr);
    assert.equal(fixture.counts.grants.authorization_code, 1);
    assert.equal(fixture.counts.grants.refresh_token ?? 0, 0);

    const argv = [
      'call',
      fixture.mcpUrl,
      'echo',
      '--args',
      '{"text":"hi"}',
      '--token-store',
      store,
      '--non-interactive',
    ];
    const results = await Promise.all([
      spawnCliAsync(argv),
      spawnCliAsync(argv),
      spawnCliAsync(argv),
    ]);
    for (const result of results) {
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /echo: hi/);
    }
    assert.equal(fixture.counts.grants.refresh_token, 1, 'exactly one refresh grant');
    assert.equal(fixture.counts.grants.authorization_code, 1, 'no second authorization');
    assert.equal(fixture.counts.authorize, 1);
  });
});
