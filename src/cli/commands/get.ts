/** `dgent get <key> [--namespace ns] [--at version|time]`: a Store key's value (time travel with --at). */
import { command, outputOf } from '../command.js';
import { chosenUrl, withStore } from '../backend.js';
import { CliError, EXIT } from '../exit-codes.js';
import { toTree } from '../../core/codec.js';
import type { StoreEntry } from '../../store/types.js';
import { parseAt } from './state.js';

/** An epoch-ms field as ISO text; null when the entry has none (time travel returns fewer fields). */
function iso(ms: number | null | undefined): string | null {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

export function getCommand() {
  return command('get', "a Store key's value, now or --at a version or time")
    .argument('<key>', 'the key')
    .option('--namespace <ns>', 'namespace (default: default)')
    .option('--at <version|time>', 'version (e.g. 3) or time (ISO 8601)', parseAt)
    .action(async (key: string, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const at = options.at as ReturnType<typeof parseAt> | undefined;
      const namespace = (options.namespace as string | undefined) ?? 'default';
      const entry = await withStore(chosenUrl(undefined, options), (store) =>
        store.get(key, {
          namespace,
          includeMetadata: true,
          ...(at === undefined ? {} : { at: 'revision' in at ? { version: at.revision } : { time: at.time } }),
        }) as Promise<StoreEntry | undefined>,
        { existing: true },
      );
      if (entry === undefined) throw new CliError(`key ${JSON.stringify(key)} not found in namespace ${JSON.stringify(namespace)}${at ? ' at that point' : ''}`, EXIT.NOT_FOUND);
      const json = { namespace, key: entry.key, version: entry.version, value: toTree(entry.value), metadata: toTree(entry.metadata), createdAt: iso(entry.createdAt), updatedAt: iso(entry.updatedAt), expiresAt: iso(entry.expiresAt) };
      if (out.json) return out.data(json);
      out.line(`${out.c.cyan(`${namespace}/${entry.key}`)} version ${out.c.bold(String(entry.version))} ${json.updatedAt ? `(updated ${json.updatedAt})` : ''}`);
      out.line(JSON.stringify(json.value, null, 2));
    });
}
