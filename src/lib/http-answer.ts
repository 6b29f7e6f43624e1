/**
 * An HTTP answer as plain data, independent of any server library: what the error renderer
 * (src/errors/render.ts) and the authorization server's endpoints produce, and what the HTTP
 * front writes. Headers are lower-case names, one value each (Set-Cookie travels separately).
 */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body text; '' for none. */
  readonly body: string;
}
