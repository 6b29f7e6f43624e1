import type { Answer } from '../../src/proxy/index.ts';

/**
 * Any gateway answer as a Web Response, for tests that read it with the Fetch API: a bounded
 * answer (JSON, refusal, 202) carries its body whole; a streamed one already is a Response.
 */
export function asResponse(answer: Answer): Response {
  if (answer instanceof Response) return answer;
  return new Response((answer.body ?? null) as ConstructorParameters<typeof Response>[0], {
    status: answer.status,
    headers: answer.headers,
  });
}
