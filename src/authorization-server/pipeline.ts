import type { HttpAnswer } from '../lib/http-answer.ts';

/**
 * An endpoint is an ordered list of small named steps over one state object. A step either
 * adds to the state and returns nothing (go on), returns an answer as data (done), or throws a
 * RequestError, which the one endpoint wrapper (endpoint.ts) renders.
 */
export interface Step<S> {
  readonly name: string;
  readonly run: (state: S) => Promise<HttpAnswer | undefined> | HttpAnswer | undefined;
}

export function step<S>(name: string, run: Step<S>['run']): Step<S> {
  return { name, run };
}

export async function runSteps<S>(steps: readonly Step<S>[], state: S): Promise<HttpAnswer> {
  for (const current of steps) {
    const answer = await current.run(state);
    if (answer !== undefined) return answer;
  }
  throw new Error(`endpoint ended without an answer after ${steps.at(-1)?.name ?? 'no steps'}`);
}
