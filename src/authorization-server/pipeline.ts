/**
 * An endpoint is an ordered list of small named steps over one state object. A step either
 * adds to the state and returns nothing (go on), returns a Response (done), or throws a
 * RequestError (rendered by the endpoint's error renderer, in errors.ts).
 */
export interface Step<S> {
  readonly name: string;
  readonly run: (state: S) => Promise<Response | undefined> | Response | undefined;
}

export function step<S>(name: string, run: Step<S>['run']): Step<S> {
  return { name, run };
}

export async function runSteps<S>(steps: readonly Step<S>[], state: S): Promise<Response> {
  for (const current of steps) {
    const response = await current.run(state);
    if (response !== undefined) return response;
  }
  throw new Error(`endpoint ended without a response after ${steps.at(-1)?.name ?? 'no steps'}`);
}
