import { RequestError } from '../errors/index.ts';
import { LOCAL_SUBJECT } from './auth-stage.ts';
import type { McpRoute } from './routes.ts';

/**
 * A subject's share of an upstream's session slots: without it, a few subjects' idle sessions
 * (clients that leave without DELETE) could take every slot and turn everyone else away until
 * the idle timeout. Local trust has one subject, so no share applies there.
 */
export function subjectShareOf(route: McpRoute): number {
  const { max_sessions: max, max_sessions_per_subject: share } = route.upstream;
  return Math.min(max, share ?? Math.ceil(max / 4));
}

/**
 * At its share, the subject's own least recently used inactive session makes room (`evict`);
 * if all of them are active, the new session is refused with 503 and Retry-After.
 */
export function checkSubjectShare(
  sessions: { countFor(route: McpRoute, subject?: string): number },
  route: McpRoute,
  subject: string,
  evict: (now: number) => void,
): void {
  if (subject === LOCAL_SUBJECT) return;
  const share = subjectShareOf(route);
  if (sessions.countFor(route, subject) < share) return;
  evict(Date.now());
  if (sessions.countFor(route, subject) < share) return;
  throw new RequestError(
    'CapacityExceeded',
    `this subject already holds its share of ${share} sessions on upstream ${route.name}; end one (DELETE) first`,
    { details: { retryAfter: '5' } },
  );
}
