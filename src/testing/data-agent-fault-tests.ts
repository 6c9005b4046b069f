/**
 * DataAgent contract: typed load (schema, migrations on read), size limits, corruption and an
 * unreachable backend. Each test runs when the place provides the hook (or option) it needs.
 */
import { it, expect } from 'vitest';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { DataAgent } from '../agents/data-agent.js';
import { isClosable, isUpdatable } from '../agents/data-agent.js';
import { BackendUnavailableError, CorruptionError, StateTooLargeError, ValidationError } from '../core/errors.js';
import { isDeepFrozen } from './values.js';
import { rejectsWith, until, type AgentContractContext, type AgentPlace } from './data-agent-support.js';

/** A Standard Schema (no library needed): `{ n: number, ... }`. */
const counterSchema: StandardSchemaV1<unknown, unknown> = {
  '~standard': {
    version: 1,
    vendor: 'dgent-contract',
    validate(value) {
      const ok = typeof value === 'object' && value !== null && typeof (value as { n?: unknown }).n === 'number';
      return ok ? { value } : { issues: [{ message: 'n must be a number', path: ['n'] }] };
    },
  },
};

async function close(a: DataAgent<unknown>): Promise<void> {
  if (isClosable(a)) await a.close();
}

export function faultTests(ctx: AgentContractContext): void {
  const timeout = ctx.options.faultTimeoutMs;
  const typed = async (p: AgentPlace, typing: Parameters<NonNullable<AgentPlace['openTyped']>>[0]) => ctx.track(await p.openTyped!(typing));

  it('migrations run on read: states stored at an older schema version load migrated (history too), then validated', async (t) => {
    const p = await ctx.place();
    if (!p.openTyped) return t.skip('the place has no openTyped hook');
    const plain = await ctx.open(p);
    await plain.save({ name: 'ann' });
    await plain.save({ name: 'bob', when: new Date(3) });
    await close(plain);
    const migrations = {
      1: (s: { name: string }) => ({ ...s, v1: true }),
      2: (s: { name: string; v1: boolean }) => ({ ...s, n: s.name.length }),
    };
    const b = await typed(p, { migrations, schema: counterSchema });
    const loaded = await b.load();
    expect(loaded).toStrictEqual({ name: 'bob', when: new Date(3), v1: true, n: 3 });
    expect(isDeepFrozen(loaded)).toBe(true);
    expect(await b.history(2)).toStrictEqual([
      { name: 'bob', when: new Date(3), v1: true, n: 3 },
      { name: 'ann', v1: true, n: 3 },
    ]);
    // saved now at schema version 2: code that knows no migrations must refuse it, not misread it
    await b.save({ name: 'cy', v1: true, n: 2 });
    expect(await b.load()).toStrictEqual({ name: 'cy', v1: true, n: 2 });
    await close(b);
    const old = await ctx.open(p);
    await rejectsWith(old.load(), ValidationError, 'VALIDATION');
  });

  it('a schema checks what is saved and what is loaded: ValidationError (code VALIDATION) with issues, the stored state kept', async (t) => {
    const p = await ctx.place();
    if (!p.openTyped) return t.skip('the place has no openTyped hook');
    const plain = await ctx.open(p);
    await plain.save({ n: 'not a number' });
    await close(plain);
    const a = await typed(p, { schema: counterSchema });
    const err = await rejectsWith(a.load(), ValidationError, 'VALIDATION');
    expect(err.issues).toEqual([expect.objectContaining({ message: 'n must be a number' })]);
    await a.save({ n: 1 });
    expect(await a.load()).toStrictEqual({ n: 1 });
    await rejectsWith(a.save({ n: 'x' }), ValidationError, 'VALIDATION');
    if (isUpdatable(a)) await rejectsWith(a.update(() => ({ n: 'y' })), ValidationError, 'VALIDATION');
    expect(await a.load()).toStrictEqual({ n: 1 });
    expect(await a.history(1)).toStrictEqual([{ n: 1 }]);
  });

  const limit = ctx.options.maxStateBytes;
  if (limit !== undefined) {
    it(`a state over ${limit} encoded bytes throws StateTooLargeError (code STATE_TOO_LARGE) with size and limit, and the stored state is kept`, async () => {
      const a = await ctx.agent();
      await a.save({ small: true });
      const big = { text: 'é'.repeat(limit) };
      const err = await rejectsWith(a.save(big), StateTooLargeError, 'STATE_TOO_LARGE');
      expect(err.limit).toBe(limit);
      expect(err.size).toBeGreaterThan(limit);
      if (isUpdatable(a)) await rejectsWith(a.update(() => big), StateTooLargeError, 'STATE_TOO_LARGE');
      expect(await a.load()).toStrictEqual({ small: true });
      expect(await a.history(1)).toStrictEqual([{ small: true }]);
    });
  }

  it('a damaged stored state fails load with CorruptionError (code CORRUPTION) every time, never a fresh start', async (t) => {
    const p = await ctx.place();
    if (!p.corrupt) return t.skip('the place has no corrupt hook');
    const a = await ctx.open(p);
    await a.save({ n: 1 });
    await a.save({ n: 2 });
    await close(a);
    await p.corrupt();
    const b = await ctx.open(p);
    await rejectsWith(b.load(), CorruptionError, 'CORRUPTION');
    await rejectsWith(b.load(), CorruptionError, 'CORRUPTION');
  });

  it('an unreachable backend fails load and save with BackendUnavailableError (code BACKEND_UNAVAILABLE); restored, nothing stored is lost', async (t) => {
    const p = await ctx.place();
    if (!p.makeUnavailable) return t.skip('the place has no makeUnavailable hook');
    const a = await ctx.open(p);
    await a.save({ n: 1 });
    await p.makeUnavailable();
    await rejectsWith(a.load(), BackendUnavailableError, 'BACKEND_UNAVAILABLE');
    await rejectsWith(a.save({ n: 2 }), BackendUnavailableError, 'BACKEND_UNAVAILABLE');
    if (!p.restore) return;
    await p.restore();
    let last: unknown;
    await until(
      () =>
        a.load().then(
          () => true,
          (e: unknown) => {
            last = e;
            if (!(e instanceof BackendUnavailableError)) throw e;
            return false;
          },
        ),
      timeout,
      `the agent to work again after restore (last error: ${String(last)})`,
    );
    // the rejected save was not applied later behind the caller's back
    expect(await a.load()).toStrictEqual({ n: 1 });
    await a.save({ n: 3 });
    expect(await a.load()).toStrictEqual({ n: 3 });
  });
}
