import { html, type SafeHtml } from '../../lib/html.ts';
import { htmlPage } from '../../lib/html-page.ts';
import type { HttpAnswer } from '../../lib/http-answer.ts';
import type { Branding } from '../settings.ts';

/**
 * The frame of every page of the authorization server: the deployment's name (and logo) on
 * top, so a person always knows whose server they are signing in to; its accent colour on
 * buttons and links, with text in whichever of black or white reads better on it (WCAG 2.2
 * §1.4.3 contrast); a footer linking the account page (and the admin page for admins).
 */

export interface FrameOptions {
  readonly title: string;
  readonly status?: number;
  readonly formTargets?: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Wide tables (account, admin). */
  readonly wide?: boolean;
  /** Who is signed in, for the footer; undefined on the sign-in page. */
  readonly signedInAs?: string;
  readonly links?: readonly { readonly href: string; readonly label: string }[];
}

/** The deployment's frame (name, logo, colours) for any page, error pages included. */
export function pageFrame(branding: Branding): {
  banner: SafeHtml;
  style: string;
  imageSources?: string[];
} {
  const logo = branding.logoUrl;
  return {
    banner: html`<header class="brand"><div class="brand-inner">${
      logo === undefined ? '' : html`<img src="${logo}" alt="" width="32" height="32">`
    }<span class="brand-name">${branding.displayName}</span></div></header>`,
    style: LAYOUT_STYLE + accentStyle(branding.accentColor),
    ...(logo === undefined ? {} : { imageSources: [new URL(logo).origin] }),
  };
}

export function framedPage(branding: Branding, body: SafeHtml, options: FrameOptions): HttpAnswer {
  const frame = pageFrame(branding);
  const links = options.links ?? [];
  const footer =
    options.signedInAs === undefined && links.length === 0
      ? ''
      : html`<footer class="account-bar">${
          options.signedInAs === undefined
            ? ''
            : html`<span>Signed in to ${branding.displayName} as <strong>${options.signedInAs}</strong></span>`
        }${links.length === 0 ? '' : html`<nav aria-label="Account"><ul>${links.map((link) => html`<li><a href="${link.href}">${link.label}</a></li>`)}</ul></nav>`}</footer>`;
  return htmlPage(html`${body}${footer}`, {
    title: `${options.title} · ${branding.displayName}`,
    ...frame,
    style: frame.style + (options.wide ? WIDE_STYLE : ''),
    ...(options.status === undefined ? {} : { status: options.status }),
    ...(options.formTargets === undefined ? {} : { formTargets: options.formTargets }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  });
}

const LAYOUT_STYLE = `
  header.brand { background: #fff; border-bottom: 1px solid #d8dadf; }
  .brand-inner { max-width: 64rem; margin: 0 auto; padding: .75rem 1rem; display: flex;
                 align-items: center; gap: .6rem; }
  .brand-name { font-weight: 700; font-size: 1.1rem; }
  footer.account-bar { margin-top: 2rem; padding-top: 1rem; border-top: 1px solid #d8dadf;
                       font-size: .9rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem;
                       justify-content: space-between; }
  footer nav ul { list-style: none; margin: 0; padding: 0; display: flex; gap: 1rem; }
  .badge { display: inline-block; font-size: .8rem; font-weight: 600; padding: 0 .4rem;
           border-radius: 4px; border: 1px solid; margin-left: .3rem; vertical-align: middle; }
  .badge.unverified { color: #8a3b00; background: #fff4e5; border-color: #c25e00; }
  .badge.verified { color: #1e5e2e; background: #eaf6ec; border-color: #2e7d43; }
  .muted { color: #555a60; }
  .lead { font-size: 1.05rem; }
  .providers { list-style: none; padding: 0; margin: 1rem 0; }
  .providers a { display: block; text-align: center; padding: .6rem; border: 1px solid #6b6f76;
                 border-radius: 4px; text-decoration: none; color: #1c1e21; margin-bottom: .5rem; }
  .or { text-align: center; color: #555a60; margin: 1rem 0 0; }
  form.inline { display: inline; } form.inline button { margin: 0; padding: .3rem .7rem; }
  table { border-collapse: collapse; width: 100%; font-size: .95rem; }
  th, td { text-align: left; padding: .45rem .5rem; border-bottom: 1px solid #e3e5e8;
           vertical-align: top; }
  th { font-weight: 600; background: #f7f8fa; }
  .actions { white-space: nowrap; }
`;

const WIDE_STYLE = `
  main { max-width: 64rem; }
`;

/** sRGB relative luminance (WCAG 2.2, "relative luminance"). */
function luminance(hex: string): number {
  const channel = (offset: number) => {
    const value = Number.parseInt(hex.slice(offset, offset + 2), 16) / 255;
    return value <= 0.04045 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** WCAG contrast ratio between two colours. */
export function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

function accentStyle(accent: string | undefined): string {
  if (accent === undefined) return '';
  const onAccent = contrast(accent, '#ffffff') >= contrast(accent, '#000000') ? '#fff' : '#000';
  // Text in the accent colour on white only where it stays readable (4.5:1); else dark text.
  const asText = contrast(accent, '#ffffff') >= 4.5 ? accent : '#1c1e21';
  return `
  button { background: ${accent}; border-color: ${accent}; color: ${onAccent}; }
  button.secondary { background: #fff; color: ${asText}; border-color: ${accent}; }
  a { color: ${asText}; }
  header.brand { border-bottom: 3px solid ${accent}; }
`;
}
