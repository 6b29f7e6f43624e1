/** The coverage floor script: which files count, how totals are formed, and when it fails. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkFloor, FLOOR, parseLcov } from '../../scripts/coverage-floor.ts';

const record = (file: string, lf: number, lh: number, brf: number, brh: number) =>
  `TN:\nSF:${file}\nDA:1,1\nLF:${lf}\nLH:${lh}\nBRF:${brf}\nBRH:${brh}\nend_of_record\n`;

describe('coverage floor', () => {
  it('counts only the guarded folders and fails below the floor', () => {
    const lcov =
      record('/repo/src/resource-server/a.ts', 100, 99, 10, 10) +
      record('/repo/src/authorization-server/b.ts', 100, 80, 10, 5) +
      record('/repo/src/cli/c.ts', 100, 0, 10, 0);
    const result = checkFloor(parseLcov(lcov, '/repo'));
    assert.equal(result.files.length, 2, 'src/cli does not count');
    assert.equal(result.lines, 89.5);
    assert.equal(result.branches, 75);
    assert.equal(result.ok, false);
  });

  it('the gateway auth stage counts; the rest of src/proxy does not', () => {
    const files = parseLcov(
      record('/repo/src/proxy/auth-stage.ts', 10, 10, 2, 2) +
        record('/repo/src/proxy/gateway.ts', 10, 0, 2, 0),
      '/repo',
    );
    assert.deepEqual(
      checkFloor(files).files.map((entry) => entry.file),
      ['src/proxy/auth-stage.ts'],
    );
  });

  it('nothing measured is a failure, not a pass', () => {
    assert.equal(checkFloor([]).ok, false);
  });

  it('positive control: at the floor passes', () => {
    const lcov = record('/repo/src/client/d.ts', 100, FLOOR.lines, 100, FLOOR.branches);
    assert.equal(checkFloor(parseLcov(lcov, '/repo')).ok, true);
  });
});
