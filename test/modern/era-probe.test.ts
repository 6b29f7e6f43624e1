import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { probeHttpUpstreamEra } from '../../src/proxy/modern/era-probe.ts';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../helpers/recording-upstream.ts';

describe('upstream era probe (protocol: auto | 2026-07-28 | 2025-11-25)', () => {
  let modern: ModernUpstream;
  let legacy: RecordingUpstream;
  before(async () => {
    modern = await startModernUpstream();
    legacy = await startRecordingUpstream();
  });
  after(async () => {
    await modern.close();
    await legacy.close();
  });

  it('finds a modern-only upstream by its server/discover answer', async () => {
    const result = await probeHttpUpstreamEra({ url: modern.url, setting: 'auto', headers: {} });
    assert.equal(result.era, 'modern');
    assert.ok(result.era === 'modern' && result.discover !== undefined);
    const pinned = await probeHttpUpstreamEra({
      url: modern.url,
      setting: '2026-07-28',
      headers: {},
    });
    assert.equal(pinned.era, 'modern');
  });

  it('falls back to initialize for a 2025 upstream', async () => {
    const result = await probeHttpUpstreamEra({ url: legacy.url, setting: 'auto', headers: {} });
    assert.equal(result.era, 'legacy', result.detail);
  });

  it('refuses to call a 2025 upstream modern when pinned to 2026-07-28', async () => {
    const result = await probeHttpUpstreamEra({
      url: legacy.url,
      setting: '2026-07-28',
      headers: {},
    });
    assert.equal(result.era, 'undecided');
  });

  it('does not probe an upstream pinned to 2025-11-25', async () => {
    const before = legacy.requests.length;
    const result = await probeHttpUpstreamEra({
      url: legacy.url,
      setting: '2025-11-25',
      headers: {},
    });
    assert.equal(result.era, 'legacy');
    assert.equal(legacy.requests.length, before);
  });

  it('takes a 401 as no evidence of an era', async () => {
    legacy.rejectWith401 = true;
    try {
      const result = await probeHttpUpstreamEra({ url: legacy.url, setting: 'auto', headers: {} });
      assert.equal(result.era, 'undecided');
    } finally {
      legacy.rejectWith401 = false;
    }
  });

  it('says undecided when nothing listens', async () => {
    const result = await probeHttpUpstreamEra({
      url: 'http://127.0.0.1:1/mcp',
      setting: 'auto',
      headers: {},
    });
    assert.equal(result.era, 'undecided');
  });
});
