import type { RecordedEvent } from '../../../streams/event-log.js';
import type { RedisViewContext } from '../../view-context.js';
export async function applyKvRedis(events: readonly RecordedEvent[], ctx: RedisViewContext, _r?: unknown): Promise<void> {
  throw new Error('todo');
}
