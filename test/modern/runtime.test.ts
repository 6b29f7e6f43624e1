import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/lib/log.ts';
import { ModernUpstreamConnector } from '../../src/proxy/modern/modern-upstream-session.ts';
import { ModernRuntime } from '../../src/proxy/modern/runtime.ts';
import { buildRouteTable, type McpRoute } from '../../src/proxy/routes.ts';
import { StdioConnector } from '../../src/proxy/upstreams/stdio-session.ts';
import {
  gatewayDocument,
  httpUpstream,
  loadTestConfig,
  stdioTestUpstream,
} from '../helpers/gateway.ts';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.ts';

describe('modern runtime: eras per upstream', () => {
  let upstream: ModernUpstream;
  let runtime: ModernRuntime;
  let routes: readonly McpRoute[];
  const legacyConnectors = new Map<McpRoute, StdioConnector>();

  before(async () => {
    upstream = await startModernUpstream();
    const loaded = loadTestConfig(
      gatewayDocument({
        auth: 'none',
        upstreams: [
          httpUpstream(upstream.url, { name: 'modern', path: '/modern' }),
          stdioTestUpstream({ name: 'legacy', path: '/legacy' }),
        ],
      }),
    );
    routes = buildRouteTable(loaded).routes;
    const logger = createLogger({ level: 'silent' });
    runtime = new ModernRuntime({
      logger,
      protocolOf: () => 'auto',
      legacyConnectorFor: (route) => {
        let connector = legacyConnectors.get(route);
        if (connector === undefined) {
          connector = new StdioConnector(route, logger);
          legacyConnectors.set(route, connector);
        }
        return connector;
      },
    });
    await runtime.start(routes);
  });
  after(async () => {
    await runtime.close();
    await upstream.close();
  });

  it('resolves and describes each era', () => {
    const [modern, legacy] = routes;
    assert.ok(modern && legacy);
    assert.deepEqual(
      { ...runtime.describe(modern), detail: undefined },
      { protocol: 'auto', era: 'modern', detail: undefined, probed: true },
    );
    assert.equal(runtime.describe(legacy).era, 'legacy');
  });

  it('gives each kind of client the right way in', async () => {
    const [modern, legacy] = routes;
    assert.ok(modern && legacy);
    assert.equal((await runtime.upstreamFor(modern)).era, 'modern');
    assert.equal((await runtime.upstreamFor(legacy)).era, 'legacy');
    assert.ok(runtime.connectorFor(modern) instanceof ModernUpstreamConnector);
    assert.ok(runtime.connectorFor(legacy) instanceof StdioConnector);
  });
});
