/**
 * `npm run bench`: the gateway against its baselines in one run. The benchmark issue fills this in;
 * until then it says so and exits non-zero, so nobody mistakes it for a result.
 */
console.error(
  'portcullis bench: not implemented yet (needs the gateway); no figures were produced.',
);
process.exitCode = 1;
