// Verification checks, levels and outcomes as data (Notary Project trust-store-trust-policy.md
// "Signature Verification details"; notation-go's ValidationType/ValidationAction/VerificationLevel).
// Levels are constant tables; isCriticalFailure is the one place that decides whether a failed
// check stops verification.

import type { AnswerCode } from './errors.js';

export const CHECK_TYPES = ['integrity', 'authenticity', 'authenticTimestamp', 'expiry', 'revocation'] as const;
export type CheckType = (typeof CHECK_TYPES)[number];

export type CheckAction = 'enforce' | 'log' | 'skip';

export const LEVEL_NAMES = ['strict', 'permissive', 'audit', 'skip'] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];

export interface VerificationLevel {
  /** The level named in the policy; overrides keep the name and change the enforcement. */
  name: LevelName;
  enforcement: Readonly<Record<CheckType, CheckAction>>;
}

/** The spec's table of levels (trust-store-trust-policy.md "Signature Verification"). */
export const LEVELS: Readonly<Record<LevelName, VerificationLevel>> = Object.freeze({
  strict: {
    name: 'strict',
    enforcement: { integrity: 'enforce', authenticity: 'enforce', authenticTimestamp: 'enforce', expiry: 'enforce', revocation: 'enforce' },
  },
  permissive: {
    name: 'permissive',
    enforcement: { integrity: 'enforce', authenticity: 'enforce', authenticTimestamp: 'log', expiry: 'log', revocation: 'log' },
  },
  audit: {
    name: 'audit',
    enforcement: { integrity: 'enforce', authenticity: 'log', authenticTimestamp: 'log', expiry: 'log', revocation: 'log' },
  },
  skip: {
    name: 'skip',
    enforcement: { integrity: 'skip', authenticity: 'skip', authenticTimestamp: 'skip', expiry: 'skip', revocation: 'skip' },
  },
});

export type CheckOutcome = 'pass' | 'fail' | 'skipped';

/** One check of one signature: what happened, and what the level said to do about it. */
export interface CheckResult {
  type: CheckType;
  outcome: CheckOutcome;
  action: CheckAction;
  /** Stable code (docs/api.md "Codes") when the check failed. */
  code?: AnswerCode;
  message?: string;
}

/** A failed check stops verification only when the level enforces it (notation-go isCriticalFailure). */
export function isCriticalFailure(result: CheckResult): boolean {
  return result.outcome === 'fail' && result.action === 'enforce';
}
