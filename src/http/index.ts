export { type AdminServer, startAdminServer } from './admin.ts';
export type { ConnectionTracker } from './connections.ts';
export type { MountedHandler } from './routing.ts';
export { type HttpFront, type HttpFrontOptions, listenHttpFront } from './server.ts';
