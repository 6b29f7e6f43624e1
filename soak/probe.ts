/**
 * Preloaded into the gateway process by the soak (`node --import soak/probe.ts …`), never by
 * production code. It answers the soak driver over the IPC channel the driver opened:
 * - `memory`: `process.memoryUsage()` as it is, to tell growth of the JavaScript heap or of
 *   external memory from growth of resident memory alone;
 * - `collect`: a last-resort full collection first (V8 collects everything it can, compacts, and
 *   gives its free pages back to the system), then `process.memoryUsage()`: resident memory that
 *   remains is what the process holds, not what garbage collection has yet to reclaim;
 * - `snapshot`: writes a heap snapshot to the given path (V8 collects first, so the snapshot
 *   holds only what is retained), then `process.memoryUsage()`.
 * The channel is unref'd: it must not keep a gateway that was told to stop alive.
 */
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

interface ProbeRequest {
  readonly probe: 'memory' | 'collect' | 'snapshot';
  readonly id: number;
  readonly path?: string;
}

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * V8's `gc` function, taken from a fresh context so the gateway's own globals stay as they are
 * (the flag only adds `gc` to contexts created after it is set).
 */
function collector(): Collect {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Collect;
}

if (process.send !== undefined) {
  const collect = collector();
  process.on('message', (message: ProbeRequest) => {
    if (typeof message !== 'object' || message === null || !('probe' in message)) return;
    try {
      if (message.probe === 'collect') {
        collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      } else if (message.probe === 'snapshot' && typeof message.path === 'string') {
        writeHeapSnapshot(message.path);
      }
      process.send?.({ id: message.id, memory: process.memoryUsage() });
    } catch (error) {
      process.send?.({ id: message.id, error: (error as Error).message });
    }
  });
  // After the listener: adding a 'message' listener refs the channel again.
  process.channel?.unref();
}
