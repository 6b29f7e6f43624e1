/**
 * `npm run bench`: each benchmark writes its figures under its own key of
 * bench/results/latest.json. The gateway benchmark arrives with the benchmark issue.
 */
import { benchRefresh, writeRefreshFigures } from './refresh.ts';

const refresh = await benchRefresh();
writeRefreshFigures(refresh);
console.log(
  `refresh grant on SQLite: ${refresh.sequential.tokensPerSecond} tokens/s sequential, ${refresh.concurrent.tokensPerSecond} tokens/s with ${refresh.concurrent.families} families (ES256 signing alone: ${refresh.baselineEs256SignsPerSecond}/s)`,
);
console.error('portcullis bench: the gateway benchmark is not implemented yet.');
