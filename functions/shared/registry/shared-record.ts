/**
 * What the registry holds for one account-wide singleton (its holders, phase and the account's
 * state before session-lab changed it), and what acquiring and releasing it answer. Types only;
 * shared-locks.ts reads and writes them.
 */

/** States of a singleton: held by labs, free, or waiting for / in the middle of a revert. */
export type SharedPhase = 'held' | 'idle' | 'revert-pending' | 'reverting';

/** One account-wide singleton's reference count. */
export interface SharedRecord {
  key: string;
  holders: string[];
  holderCount: number;
  phase: SharedPhase;
  /** The lab that took the count from 0 to 1: it creates or sets the singleton. */
  firstHolder?: string;
  /** When the count went from 0 to 1 (ISO): how long the first holder has had to create it. */
  heldSince?: string;
  /** The lab that took the count to 0: it reverts the singleton when the deployment says so. */
  lastReleasedBy?: string;
  /** The account's state before session-lab first changed it, restored by a revert. */
  previous?: Record<string, unknown>;
  /** What the holders agreed on (the preferences a lab asked for), compared by `configHash`. */
  config?: Record<string, unknown>;
  configHash?: string;
  version: number;
  updatedAt: string;
}

export interface SharedAcquisition {
  key: string;
  /** This lab is the first holder: it must create / set the singleton. */
  firstHolder: boolean;
  holderCount: number;
  /** When the current holding began (ISO): the other holders wait so long for the first one. */
  heldSince: string;
}

export interface SharedRelease {
  key: string;
  /** This call removed the lab from the holders (false when it had already been removed). */
  released: boolean;
  /** The lab was the last holder: nobody else uses the singleton now. */
  lastHolder: boolean;
}

/**
 * The account's state before session-lab first changes a singleton, kept for a revert: a value, or
 * a read of it, made only when this lab may become the first holder (every other lab joins).
 */
export type SharedSnapshot = Record<string, unknown> | (() => Promise<Record<string, unknown>>);
