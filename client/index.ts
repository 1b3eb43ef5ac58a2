/**
 * `procurator/client`: a typed client of the Procurator API, and what a callback receiver
 * needs to verify what it gets.
 */
export { ProcuratorClient, MIN_POLL_MS } from './procurator-client';
export type {
  BulkReplay,
  DeadTaskFilter,
  Listing,
  LogItem,
  LogTailFilter,
  NewSchedule,
  ProcuratorClientOptions,
  Schedule,
  ScheduleFilter,
  SchedulePage,
  SchedulePatch,
  Submission,
  Task,
  TaskEvent,
  TaskFilter,
  TaskListing,
  TaskPage,
  TailOptions,
} from './procurator-client';
export { SseParser } from './sse-parser';
export type { SseMessage } from './sse-parser';
export { ProcuratorError, ProcuratorTimeoutError } from './procurator-error';
export type { Problem } from './procurator-error';
export {
  CallbackVerificationError,
  createCallbackVerifier,
  verifyCallback,
} from '../lib/signing/verify-callback';
export type { CallbackVerifierOptions, VerifiedCallback } from '../lib/signing/verify-callback';
export type { components, operations, paths } from './openapi-types';
