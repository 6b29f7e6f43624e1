export { type TokenVerification, tokenVerificationFor } from './authentication.ts';
export { coLocatedKeySource, honourRevocation } from './co-located.ts';
export {
  type PortcullisOptions,
  type RunningPortcullis,
  startPortcullis,
} from './start.ts';
export { runPortcullisStdio } from './stdio.ts';
