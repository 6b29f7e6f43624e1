/**
 * The browser half of a federated sign-in, as a person does it in Chromium: the Portcullis
 * sign-in page → the provider's button → the provider's own login page → back to Portcullis →
 * consent (Allow) → the client's loopback callback; or a Portcullis error page on the way.
 */
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';

export type FlowOutcome =
  | { readonly kind: 'code'; readonly callback: URL; readonly consentText: string }
  | { readonly kind: 'refused'; readonly status: number | undefined; readonly text: string };

export interface FlowOptions {
  readonly authorizationUrl: URL;
  /** The provider's button on the Portcullis sign-in page (its display_name). */
  readonly button: string;
  /** Fills in and submits the provider's own login page. */
  readonly providerLogin: (page: Page) => Promise<void>;
  /** The client's loopback callback URL (the browser ends there with a code). */
  readonly callbackUrl: string;
  readonly screenshots?: { readonly login?: string; readonly consent?: string };
}

export async function signInThroughProvider(
  context: BrowserContext,
  options: FlowOptions,
): Promise<FlowOutcome> {
  await context.clearCookies();
  const page = await context.newPage();
  const statuses = new Map<string, number>();
  page.on('response', (response) => statuses.set(response.url(), response.status()));
  try {
    await page.goto(options.authorizationUrl.href);
    await page.waitForURL(/\/oauth\/login\?/);
    if (options.screenshots?.login !== undefined) {
      await page.screenshot({ path: options.screenshots.login, fullPage: true });
    }
    await page.getByRole('link', { name: options.button, exact: true }).click();
    await options.providerLogin(page);
    // Back at Portcullis: the consent page, or an error page at the callback.
    await page.waitForURL(
      (url) => url.pathname === '/oauth/consent' || url.pathname === '/oauth/idp/callback',
    );
    await page.waitForLoadState('load');
    const landed = new URL(page.url());
    if (landed.pathname === '/oauth/idp/callback') {
      return {
        kind: 'refused',
        status: statuses.get(page.url()),
        text: (await page.textContent('main')) ?? '',
      };
    }
    const consentText = (await page.textContent('main')) ?? '';
    if (options.screenshots?.consent !== undefined) {
      await page.screenshot({ path: options.screenshots.consent, fullPage: true });
    }
    await Promise.all([
      page.waitForURL(`${options.callbackUrl}?**`),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    const callback = new URL(page.url());
    assert.equal(callback.pathname, new URL(options.callbackUrl).pathname);
    return { kind: 'code', callback, consentText };
  } finally {
    await page.close();
  }
}
