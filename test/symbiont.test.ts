import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateNotFoundError, ValidationError } from '../src/core/errors.js';
import type { DataAgent } from '../src/agents/data-agent.js';
import { VolatileAgent } from '../src/agents/volatile-agent.js';
import { PersistentAgent } from '../src/agents/persistent-agent.js';
import { symbiont, type SymbiontLogic } from '../src/compose/symbiont.js';

const root = mkdtempSync(join(tmpdir(), 'dgent-symbiont-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A ticket dispenser: returns the next number and remembers it. */
const ticket: SymbiontLogic<string, number, { next: number; log: string[] }> = (who, s) => [s.next, { next: s.next + 1, log: [...s.log, who] }];

describe('symbiont', () => {
  it('invoke runs the logic on the stored state, stores the next state and returns the output', async () => {
    const agent = new VolatileAgent({ initial: { next: 1, log: [] as string[] } });
    const s = symbiont(ticket, agent);
    expect(await s.invoke('a')).toBe(1);
    expect(await s.invoke('b')).toBe(2);
    expect(await agent.load()).toEqual({ next: 3, log: ['a', 'b'] });
    expect(s.agent).toBe(agent);
  });

  it('40 concurrent invocations each get a distinct output and none is lost', async () => {
    const agent = new VolatileAgent({ initial: { next: 1, log: [] as string[] } });
    const s = symbiont(ticket, agent);
    const outs = await Promise.all(Array.from({ length: 40 }, (_, i) => s.invoke(`c${i}`)));
    expect([...outs].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const final = await agent.load();
    expect(final.next).toBe(41);
    expect(final.log).toHaveLength(40);
  });

  it('two symbionts over two PersistentAgent instances on one file lose no invocation', async () => {
    const path = join(mkdtempSync(join(root, 'p')), 'agent.json');
    const a = new PersistentAgent({ path, initial: { next: 1, log: [] as string[] } });
    const b = new PersistentAgent({ path, initial: { next: 1, log: [] as string[] } });
    const sa = symbiont(ticket, a);
    const sb = symbiont(ticket, b);
    const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? sa : sb).invoke(`p${i}`)));
    expect([...outs].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await a.load()).next).toBe(21);
    await a.close();
    await b.close();
  });

  it('over an agent without update() invocations through one symbiont are serialised', async () => {
    const inner = new VolatileAgent({ initial: { next: 1, log: [] as string[] } });
    const plain: DataAgent<{ next: number; log: string[] }> = { load: () => inner.load(), save: (x) => inner.save(x), history: (n) => inner.history(n) };
    const s = symbiont(ticket, plain);
    const outs = await Promise.all(Array.from({ length: 20 }, () => s.invoke('x')));
    expect(new Set(outs).size).toBe(20);
    expect((await inner.load()).next).toBe(21);
  });

  it('logic that throws or returns no pair leaves the state unchanged and the error reaches the caller', async () => {
    const agent = new VolatileAgent({ initial: { n: 0 } });
    await agent.save({ n: 1 });
    const boom = symbiont((_: null, st: { n: number }): readonly [number, { n: number }] => {
      if (st.n > 0) throw new Error('logic failed');
      return [0, st];
    }, agent);
    await expect(boom.invoke(null)).rejects.toThrow('logic failed');
    const bad = symbiont(((_: null, st: { n: number }) => ({ n: st.n + 1 })) as unknown as SymbiontLogic<null, number, { n: number }>, agent);
    await expect(bad.invoke(null)).rejects.toBeInstanceOf(ValidationError);
    expect(await agent.load()).toEqual({ n: 1 });
    expect(await agent.version()).toBe(1);
  });

  it('invoke on an agent with no state and no initial throws StateNotFoundError', async () => {
    const s = symbiont(ticket, new VolatileAgent<{ next: number; log: string[] }>());
    await expect(s.invoke('a')).rejects.toBeInstanceOf(StateNotFoundError);
  });

  it('symbiont without a function or an agent throws ValidationError', () => {
    expect(() => symbiont(null as never, new VolatileAgent())).toThrow(ValidationError);
    expect(() => symbiont(ticket, null as never)).toThrow(ValidationError);
  });
});
