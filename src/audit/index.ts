export { type AuditBackend, FileAuditBackend, StreamAuditBackend } from './backends.ts';
export { type ChainState, chainRecord, checkLine, EMPTY_CHAIN, GENESIS_HASH } from './chain.ts';
export { createAuditSink } from './create.ts';
export {
  AUDIT_EVENTS,
  type AuditDecision,
  type AuditEvent,
  type AuditEventName,
} from './events.ts';
export { memberPrefix, serialized as serializedAuditValue } from './members.ts';
export { ARGUMENT_REDACTED, redactArguments } from './redact.ts';
export { rotatedSet } from './rotated-set.ts';
export {
  AuditSink,
  type AuditSinkOptions,
  type AuditSinkStatus,
  type PreparedAuditRecord,
} from './sink.ts';
export { type AuditVerification, verifyAuditTrail } from './verify.ts';
