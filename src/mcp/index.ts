export {
  errorResponse,
  idKey,
  isRecord,
  JSON_RPC_ERRORS,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  MAX_JSON_DEPTH,
  type ParsedMessage,
  parseClientMessage,
  parseMessageText,
} from './json-rpc.ts';
export {
  type Decision,
  describePolicy,
  McpPolicy,
  type McpPolicyConfig,
  type Requirement,
} from './policy.ts';
export {
  filterInitializeResponse,
  type ResponseFilter,
  responseFilterFor,
} from './response-filters.ts';
export {
  answeredId,
  ResponseTracker,
  type ResponseTrackerOptions,
} from './response-tracker.ts';
export { filterToolsListResponse, SCOPE_META_KEY } from './tools-list.ts';
