/**
 * Update recipes used wrongly. `store.update` on an absent key hands the recipe `undefined`: its
 * type says so (the compiler rejects `d.n++` unchecked, shown by compiling a snippet against src
 * with strict settings), and a recipe that still fails on it (plain JavaScript, a cast) is a
 * ValidationError naming the key. A recipe that modifies its draft *and* returns a new value is
 * immer's error: a ValidationError with it as `cause`, on Store.update and on every agent's update,
 * and nothing is written.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CachedAgent,
  EntropyConstrainedAgent,
  fallback,
  lens,
  MemoryEventLog,
  SQLAgent,
  SqliteEventLog,
  Store,
  StreamAgent,
  ValidationError,
  VolatileAgent,
  type DataAgent,
  type Updatable,
} from '../src/index.js';
import { ROOT } from './cli-support.js';
import { errorOf } from './support/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-recipe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectImmerMisuse(e: unknown): void {
  expect(e).toBeInstanceOf(ValidationError);
  expect((e as Error).message).toMatch(/modified the draft and also returned a new value/);
  expect((e as { cause?: unknown }).cause).toBeInstanceOf(Error);
  expect(((e as { cause: Error }).cause).message).toMatch(/^\[Immer\]/);
}

/** Type-check `code` (a module importing dgent's src as `dgent`) with strict settings; the diagnostics. */
function typeErrors(code: string): string[] {
  const file = join(dir, `snippet-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, code.replaceAll("from 'dgent'", `from ${JSON.stringify(join(ROOT, 'src/index.js'))}`));
  const program = ts.createProgram([file], {
    strict: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules/@types')],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === file)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('store.update recipe type: the draft may be undefined', () => {
  it('strict TypeScript rejects a recipe that uses the draft unchecked, and accepts one that handles undefined', () => {
    const errors = typeErrors(`
      import { MemoryEventLog, Store } from 'dgent';
      const store = new Store({ log: new MemoryEventLog() });
      export const bad = store.update<{ n: number }>('counter', (d) => { d.n++; });
      export const good = store.update<{ n: number }>('counter', (d) => {
        if (d === undefined) return { n: 1 };
        d.n++;
      });
    `);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/'d' is possibly 'undefined'/);
  }, 120_000);
});

describe('Store.update with a recipe used wrongly', () => {
  for (const backend of ['memory', 'sqlite'] as const) {
    const open = () => {
      const log = backend === 'memory' ? new MemoryEventLog() : new SqliteEventLog({ path: join(dir, `store-${Math.random().toString(36).slice(2)}.db`) });
      return { log, store: new Store({ log, sweepIntervalMs: 0 }) };
    };

    it(`${backend}: a recipe failing on the undefined draft of an absent key is a ValidationError naming the key (TypeError as cause); nothing is written`, async () => {
      const { log, store } = open();
      try {
        const e = await errorOf(() => store.update<{ n: number }>('counter', ((d: { n: number }) => void d.n++) as never));
        expect(e).toBeInstanceOf(ValidationError);
        expect((e as Error).message).toMatch(/"counter" has no value/);
        expect((e as { cause?: unknown }).cause).toBeInstanceOf(TypeError);
        expect(await store.versions('counter')).toEqual([]);
        // a recipe error that is not about the undefined draft passes through as it is
        const own = new RangeError('mine');
        expect(await errorOf(() => store.update('counter', () => { throw own; }))).toBe(own);
      } finally {
        await store.close();
        await log.close();
      }
    });

    it(`${backend}: a recipe that modifies the draft and returns a new value is a ValidationError with immer's error as cause; value and version unchanged (property)`, async () => {
      const { log, store } = open();
      try {
        await fc.assert(
          fc.asyncProperty(fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.integer(), { minKeys: 1, maxKeys: 4 }), fc.integer(), async (value, n) => {
            await store.set('doc', value);
            const [before] = await store.versions('doc', { limit: 1 });
            const e = await errorOf(() =>
              store.update<Record<string, number>>('doc', (d) => {
                d!['changed'] = n;
                return { other: n };
              }),
            );
            expectImmerMisuse(e);
            const [after] = await store.versions('doc', { limit: 1 });
            expect(after?.version).toBe(before?.version);
            expect(await store.get('doc')).toEqual(value);
          }),
          { numRuns: 25 },
        );
        // either half alone is fine
        expect(await store.update<Record<string, number>>('doc', (d) => void (d!['x'] = 1))).toMatchObject({ x: 1 });
        expect(await store.update<Record<string, number>>('doc', () => ({ y: 2 }))).toEqual({ y: 2 });
      } finally {
        await store.close();
        await log.close();
      }
    });
  }
});

type S = { n: number };
const initial: S = { n: 0 };

const AGENTS: [string, () => Promise<{ agent: DataAgent<S> & Updatable<S>; close: () => Promise<void> }>][] = [
  ['VolatileAgent', async () => {
    const agent = new VolatileAgent<S>({ initial });
    return { agent, close: () => agent.close() };
  }],
  ['SQLAgent (SQLite)', async () => {
    const agent = new SQLAgent<S>({ path: join(dir, `agent-${Math.random().toString(36).slice(2)}.db`), id: 'a', initial });
    return { agent, close: () => agent.close() };
  }],
  ['StreamAgent', async () => {
    const log = new MemoryEventLog();
    const agent = new StreamAgent<never, S>({ log, stream: 'a', initial });
    return { agent, close: async () => (await agent.close(), await log.close()) };
  }],
  ['store.agent', async () => {
    const log = new MemoryEventLog();
    const store = new Store({ log, sweepIntervalMs: 0 });
    const agent = store.agent<S>('a', { initial });
    return { agent, close: async () => (await store.close(), await log.close()) };
  }],
  ['CachedAgent', async () => {
    const agent = new CachedAgent({ cache: new VolatileAgent<S>(), backend: new VolatileAgent<S>({ initial }) });
    return { agent, close: () => agent.close() };
  }],
  ['EntropyConstrainedAgent', async () => {
    const agent = new EntropyConstrainedAgent({ backend: new VolatileAgent<S>({ initial }), budget: 1 });
    return { agent, close: () => agent.close() };
  }],
  ['fallback()', async () => {
    const agent = fallback<S>([new VolatileAgent<S>({ initial }), new VolatileAgent<S>({ initial })]);
    return { agent, close: () => agent.close() };
  }],
  ['lens', async () => {
    const whole = new VolatileAgent<{ inner: S }>({ initial: { inner: initial } });
    const agent = lens.prop(whole, 'inner');
    return { agent, close: () => whole.close() };
  }],
];

describe("agents' update with a recipe that modifies the draft and returns a new value", () => {
  it.each(AGENTS)('%s: ValidationError with immer\'s error as cause; the state is unchanged', async (_name, make) => {
    const { agent, close } = await make();
    try {
      await agent.update((s) => void (s.n = 1));
      expectImmerMisuse(
        await errorOf(() =>
          agent.update((s) => {
            s.n = 2;
            return { n: 3 };
          }),
        ),
      );
      expect(await agent.load()).toEqual({ n: 1 });
    } finally {
      await close();
    }
  });
});
