export { type HttpGatewayOptions, type RunningHttpGateway, startHttpGateway } from './server.ts';
