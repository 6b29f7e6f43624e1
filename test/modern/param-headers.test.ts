import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ParamHeaderMirror } from '../../src/mcp/modern/param-headers.ts';

describe('Mcp-Param-* mirroring from x-mcp-header declarations', () => {
  const mirror = new ParamHeaderMirror();
  mirror.learn({
    tools: [
      {
        name: 'execute_sql',
        inputSchema: {
          type: 'object',
          properties: {
            region: { type: 'string', 'x-mcp-header': 'Region' },
            options: {
              type: 'object',
              properties: { dry: { type: 'boolean', 'x-mcp-header': 'Dry-Run' } },
            },
            limit: { type: 'integer', 'x-mcp-header': 'Limit' },
            // Not statically reachable through properties only: ignored.
            rows: { type: 'array', items: { type: 'string', 'x-mcp-header': 'Row' } },
          },
        },
      },
      { name: 'plain', inputSchema: { type: 'object', properties: { a: { type: 'string' } } } },
    ],
  });

  it('mirrors declared arguments, converted and encoded', () => {
    assert.deepEqual(
      mirror.headersFor({
        name: 'execute_sql',
        arguments: { region: 'Zürich', options: { dry: true }, limit: 42, rows: ['x'] },
      }),
      {
        'mcp-param-region': '=?base64?WsO8cmljaA==?=',
        'mcp-param-dry-run': 'true',
        'mcp-param-limit': '42',
      },
    );
  });

  it('omits absent or null values and tools without declarations', () => {
    assert.deepEqual(mirror.headersFor({ name: 'execute_sql', arguments: { region: null } }), {});
    assert.deepEqual(mirror.headersFor({ name: 'plain', arguments: { a: 'x' } }), {});
    assert.deepEqual(mirror.headersFor({ name: 'unknown', arguments: {} }), {});
  });

  it('forgets declarations a later tools/list no longer has', () => {
    const later = new ParamHeaderMirror();
    later.learn({
      tools: [{ name: 't', inputSchema: { properties: { r: { 'x-mcp-header': 'R' } } } }],
    });
    later.learn({ tools: [{ name: 't', inputSchema: { properties: { r: {} } } }] });
    assert.deepEqual(later.headersFor({ name: 't', arguments: { r: 'x' } }), {});
  });
});
