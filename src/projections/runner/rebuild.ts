/**
 * Blue-green rebuild of one projection: fold the whole log into a new generation while the active
 * one keeps serving, catch up, and switch atomically (the storage's `trySwitch` only switches when
 * the new generation has everything the active one has, inline appends included).
 */
import { BackendUnavailableError } from '../../core/errors.js';
import type { EventLog } from '../../streams/event-log.js';
import type { Projection } from '../projection.js';
import type { RebuildProgress } from './types.js';
import type { RetryPolicy } from './batch.js';
import type { Fence, StorageDriver } from './driver.js';
import { headPosition } from './log-head.js';
import { catchUp } from './shadow.js';

/** What a rebuild needs. */
export interface RebuildPlan {
  driver: StorageDriver;
  log: EventLog;
  projection: Projection<any>;
  fence: Fence;
  batchSize: number;
  policy: RetryPolicy;
  onProgress?: ((p: RebuildProgress) => void) | undefined;
  progressEveryMs: number;
  /** async mode: stop applying to the active generation before the final catch-up (called once) */
  beforeSwitch?: () => Promise<void>;
}

/** Attempts at the final catch-up + switch before giving up (inline appends racing every attempt). */
const SWITCH_ATTEMPTS = 200;

/** Run a rebuild to the switch; returns the new generation. */
export async function rebuild(plan: RebuildPlan): Promise<number> {
  const { driver, projection, fence } = plan;
  const name = projection.name;
  const ctl = await driver.control(name);
  if (!ctl) throw new Error(`projection ${name} has no control record`);
  // the previous rebuild's retired generation (and any abandoned shadow) goes now, not at the switch:
  // readers holding the generation that was active until now keep working until the next rebuild
  await driver.dropExcept(projection, ctl.generation);
  const generation = Math.max(ctl.generation, ctl.building?.generation ?? 0) + 1;
  await driver.beginBuild(name, generation, projection.version, fence);
  const target = { projection, generation, version: projection.version, phase: 'rebuild' as const, slot: 'building' as const };
  await driver.setup(target);

  const started = Date.now();
  const total = await headPosition(plan.log);
  let processed = 0;
  let reported = 0;
  /** `processed` of the last report: the final one is not repeated when the last page already said it */
  let said: number | undefined;
  const report = (force: boolean): void => {
    const now = Date.now();
    if (!plan.onProgress || (!force && now - reported < plan.progressEveryMs) || (force && said === processed)) return;
    reported = now;
    said = processed;
    const secs = Math.max(now - started, 1) / 1000;
    const eventsPerSecond = processed / secs;
    const left = Math.max(total - processed, 0);
    plan.onProgress({ name, processed, total: Math.max(total, processed), eventsPerSecond, etaMs: eventsPerSecond > 0 ? (left / eventsPerSecond) * 1000 : undefined });
  };
  const build = {
    driver,
    log: plan.log,
    target,
    fence,
    batchSize: plan.batchSize,
    policy: plan.policy,
    onPage: (n: number) => {
      processed += n;
      report(false);
    },
  };
  let position = await catchUp(build, 0);
  if (plan.beforeSwitch) await plan.beforeSwitch();
  for (let attempt = 0; ; attempt++) {
    position = await catchUp(build, position);
    // inline projections (no follower to pause): the storage folds the last appends under its lock
    if (await driver.trySwitch(name, generation, fence, plan.beforeSwitch ? undefined : { log: plan.log, projection })) break;
    if (attempt >= SWITCH_ATTEMPTS) throw new BackendUnavailableError(driver.kind, `rebuild of ${name} could not catch up with the appends in ${SWITCH_ATTEMPTS} attempts; retry`);
  }
  driver.invalidate(name);
  report(true);
  return generation;
}
