import { availableParallelism, cpus, loadavg } from 'node:os';

/** Where the figures were measured: they mean little without it on a shared machine. */
export interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly node: string;
  readonly date: string;
  /** 1-, 5- and 15-minute load averages when the section started. */
  readonly loadAverage: readonly number[];
}

export function machine(): Machine {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    date: new Date().toISOString(),
    loadAverage: loadavg().map((value) => Number(value.toFixed(2))),
  };
}
