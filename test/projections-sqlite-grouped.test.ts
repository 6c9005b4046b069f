/**
 * SqliteViewStorage commits the batches that arrive together in one transaction, optimistically
 * without savepoints; when one of them throws, the others must still commit (once: their commit
 * callbacks fire once) and the throwing one alone is rejected, with nothing of it stored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineProjection, SqliteViewStorage, type RecordedEvent } from '../src/index.js';
import type { SqliteViewContext } from '../src/projections/view-context.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-grouped-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (position: number): RecordedEvent => Object.freeze({ id: `e${position}`, stream: 's', revision: position, position, type: 'X', data: { n: position }, metadata: {}, time: new Date(0) }) as RecordedEvent;

function rowsProjection(name: string, fails: boolean, fired: string[]) {
  return defineProjection<SqliteViewContext>({
    name,
    version: 1,
    handles: ['X'],
    setup(ctx) {
      ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${ctx.table('rows')} (position INTEGER PRIMARY KEY)`);
    },
    apply(events, ctx) {
      for (const e of events) ctx.db.prepare(`INSERT INTO ${ctx.table('rows')} (position) VALUES (?)`).run(e.position);
      ctx.onCommit(() => fired.push(name));
      if (fails) throw new Error(`${name} cannot apply`);
    },
  });
}

describe('SqliteViewStorage: batches committed together', () => {
  it('one throwing batch of a group is rejected alone; the others commit once, callbacks once', async () => {
    const storage = new SqliteViewStorage({ path: join(dir, 'views.db') });
    const fired: string[] = [];
    const projections = [rowsProjection('aa', false, fired), rowsProjection('bb', true, fired), rowsProjection('cc', false, fired)];
    const targets = projections.map((projection) => ({ projection, generation: 1, version: 1, phase: 'async' as const, slot: 'active' as const }));
    try {
      for (const t of targets) {
        await storage.ensureControl(t.projection.name, { generation: 1, version: 1, position: 0, seen: 0, building: undefined });
        await storage.setup(t);
      }
      const events = [event(1), event(2)];
      // issued in one tick: one group
      const results = await Promise.allSettled(targets.map((t) => storage.commit(t, events, 2, undefined)));
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/bb cannot apply/);
      expect(fired.sort()).toEqual(['aa', 'cc']);
      const count = async (name: string) => storage.db.prepare(`SELECT count(*) AS n FROM ${(await storage.table(name, 'rows'))!}`).get() as { n: number };
      expect([await count('aa'), await count('bb'), await count('cc')].map((r) => r.n)).toEqual([2, 0, 2]);
      expect((await storage.control('aa'))!.position).toBe(2);
      expect((await storage.control('bb'))!.position).toBe(0);
      expect((await storage.control('cc'))!.position).toBe(2);
      // a lone batch that throws is rejected and leaves nothing
      await expect(storage.commit(targets[1]!, [event(3)], 3, undefined)).rejects.toThrow(/bb cannot apply/);
      expect((await count('bb')).n).toBe(0);
    } finally {
      await storage.close();
    }
  });
});
