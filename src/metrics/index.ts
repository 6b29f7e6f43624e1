export { GatewayMetrics, type GaugeSources } from './gateway-metrics.ts';
