import { readForm } from '../checks/parameters.ts';
import type { Endpoint } from '../endpoint.ts';
import { forgetProviderTokens } from '../federation/forget.ts';
import { seeOther } from '../http.ts';
import { type Step, step } from '../pipeline.ts';
import type { Exchange } from '../services.ts';
import { checkCsrf, endSession } from '../session.ts';
import { LIMITS, PATHS } from '../settings.ts';

/** The account page's form purpose: its CSRF token serves the sign-out button too. */
const PURPOSE = 'account';

const SIGN_OUT: readonly Step<Exchange>[] = [
  step('sign out', async (state) => {
    const form = await readForm(state.request, LIMITS.formMaxBytes);
    checkCsrf(state, form, PURPOSE);
    const subject = await endSession(state, state.responseHeaders);
    // Revocation follows the person: the provider tokens kept for upstreams go with the session.
    if (subject !== undefined) {
      await forgetProviderTokens(state.services.store, subject, state.services.now());
    }
    return seeOther(PATHS.login);
  }),
];

/** POST /oauth/logout: ends the session and drops the person's kept provider tokens. */
export const logoutEndpoint: Endpoint<Exchange> = {
  name: 'sign-out',
  errors: 'page',
  cors: false,
  begin: (exchange) => ({ ...exchange }),
  steps: () => SIGN_OUT,
};
