/** `status()`: health of the log and the views, live keys per namespace, and the lag of every async view. */
import type { StoreContext } from './context.js';
import type { Sweeper } from './ttl.js';
import type { StoreStatus } from './types.js';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function status(ctx: StoreContext, sweeper: Sweeper): Promise<StoreStatus> {
  await ctx.open();
  const log: StoreStatus['log'] = { healthy: true };
  try {
    for await (const _ of ctx.log.readAll({ limit: 1 })) break;
  } catch (e) {
    log.healthy = false;
    log.error = message(e);
  }
  const views = await ctx.runner.status();
  const sizes: Record<string, number> = {};
  let viewsHealthy = views.every((v) => v.state !== 'failed' && v.state !== 'stopped');
  try {
    const now = ctx.now();
    for (const n of await ctx.readers.kv.namespaces()) sizes[n.namespace] = await ctx.readers.kv.count(n.namespace, undefined, { now });
  } catch {
    viewsHealthy = false;
  }
  const out: StoreStatus = { healthy: log.healthy && viewsHealthy, log, views, mode: ctx.mode, sizes };
  if (sweeper.lastError !== undefined) out.sweepError = message(sweeper.lastError);
  return out;
}
