/** Types and helpers shared by the groups of the DataAgent conformance suite. */
import { expect } from 'vitest';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { DataAgent } from '../agents/data-agent.js';
import { isClosable, isSubscribable, isUpdatable, isVersioned } from '../agents/data-agent.js';
import { DgentError, type DgentErrorCode } from '../core/errors.js';
import type { Migrations } from '../core/schema.js';

/**
 * Optional capabilities of a DataAgent the suite tests when offered: `update` (read-modify-write),
 * `versioned` (`version`, `loadAt`, `save` with `expectedVersion`), `subscribe` (change
 * notifications), `close`.
 */
export type AgentCapability = 'update' | 'versioned' | 'subscribe' | 'close';

/** What {@link AgentPlace.openTyped} passes: the typed-load options of backends that take them. */
export interface AgentTyping {
  schema?: StandardSchemaV1<unknown, unknown> | undefined;
  migrations?: Migrations | undefined;
}

/**
 * One storage location; `open()` returns an agent over it (a new instance each call where the
 * backend allows). The other hooks are optional: each one the harness provides turns on the tests
 * that need it.
 */
export interface AgentPlace {
  open(): DataAgent<any> | Promise<DataAgent<any>>;
  cleanup?(): void | Promise<void>;
  /** Open an agent over the same storage with a schema and/or migrations (backends that take them). */
  openTyped?(typing: AgentTyping): DataAgent<any> | Promise<DataAgent<any>>;
  /**
   * Damage the stored current state in place, as a disk or another writer could, so that an agent
   * opened afterwards must fail `load()` with CorruptionError. Called with every agent of the place closed.
   */
  corrupt?(): void | Promise<void>;
  /** Make the backend unreachable for the agents of this place: they must fail with BackendUnavailableError. */
  makeUnavailable?(): void | Promise<void>;
  /** Undo {@link makeUnavailable}: the same agents must work again and hold what they held before. */
  restore?(): void | Promise<void>;
}

/** Options of {@link dataAgentContract}. */
export interface DataAgentContractOptions {
  /** `open()` twice gives two instances over the same storage, and a closed agent's state survives re-opening (default false). */
  reopen?: boolean | undefined;
  /** fast-check runs for the round-trip properties (default 200). */
  runs?: number | undefined;
  /** Number of concurrent `update` increments (default 40). */
  concurrentUpdates?: number | undefined;
  /** The backend keeps at least this many states of history (default 10). */
  minHistory?: number | undefined;
  /** Skip the extended codec types (Date, Map, Set, BigInt, Uint8Array) for backends that store plain JSON only. */
  jsonOnly?: boolean | undefined;
  /**
   * Capabilities the agent must offer. A required capability that is missing fails the suite
   * instead of skipping its tests, so a backend cannot lose one unnoticed. List every capability
   * your backend offers.
   */
  requires?: readonly AgentCapability[] | undefined;
  /** The agent rejects states whose encoded form is larger than this many bytes with StateTooLargeError. */
  maxStateBytes?: number | undefined;
  /** How long the fault tests wait for an agent to fail or to recover (default 30 s); a bound, never a measurement. */
  faultTimeoutMs?: number | undefined;
}

/** True when `agent` offers `cap`. */
export function offers(agent: DataAgent<unknown>, cap: AgentCapability): boolean {
  switch (cap) {
    case 'update':
      return isUpdatable(agent);
    case 'versioned':
      return isVersioned(agent);
    case 'subscribe':
      return isSubscribable(agent);
    case 'close':
      return isClosable(agent);
  }
}

/** What each group of agent contract tests gets. */
export interface AgentContractContext {
  readonly options: DataAgentContractOptions & { runs: number; concurrentUpdates: number; minHistory: number; faultTimeoutMs: number };
  /** a fresh storage location (cleaned up after the test) */
  place(): Promise<AgentPlace>;
  /** open an agent over `place` (closed after the test) */
  open(place: AgentPlace): Promise<DataAgent<any>>;
  /** track an agent opened another way (closed after the test) */
  track<A extends DataAgent<any>>(agent: A): A;
  /** a fresh agent over a fresh place */
  agent(): Promise<DataAgent<any>>;
  /**
   * Whether to run a capability's test on `agent`: true when offered; when not, a required
   * capability throws (the test fails) and any other skips the test.
   */
  gate(t: { skip(note?: string): void }, agent: DataAgent<unknown>, cap: AgentCapability): boolean;
}

/** Await `p`, expecting it to reject with an instance of `type` carrying `code` (and to be a DgentError); returns the error. */
export async function rejectsWith<E extends DgentError>(p: Promise<unknown>, type: new (...args: any[]) => E, code: DgentErrorCode): Promise<E> {
  const err = await p.then(
    (v: unknown) => ({ resolved: v }),
    (e: unknown) => e,
  );
  expect(err, `expected ${type.name}`).toBeInstanceOf(type);
  expect(err).toBeInstanceOf(DgentError);
  expect((err as DgentError).code).toBe(code);
  return err as E;
}

/** Wait until `cond()` holds, polling; fails with `what` after `timeoutMs`. Never used to assert on durations. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
