/** `dgent history <key> [--namespace ns] [--limit n]`: a Store key's versions, newest first. */
import { command, outputOf } from '../command.js';
import { chosenUrl, withStore } from '../backend.js';
import { CliError, EXIT } from '../exit-codes.js';
import { toTree } from '../../core/codec.js';
import { intOption, short } from '../output.js';

export function historyCommand() {
  return command('history', "a Store key's versions, newest first: who changed it, when, how")
    .argument('<key>', 'the key')
    .option('--namespace <ns>', 'namespace (default: default)')
    .option('--limit <n>', 'at most n versions', intOption('--limit', 1))
    .action(async (key: string, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const namespace = (options.namespace as string | undefined) ?? 'default';
      const versions = await withStore(chosenUrl(undefined, options), (store) => store.versions(key, { namespace, limit: options.limit as number | undefined }), { existing: true });
      if (versions.length === 0) throw new CliError(`key ${JSON.stringify(key)} has no versions in namespace ${JSON.stringify(namespace)}`, EXIT.NOT_FOUND);
      const rows = versions.map((v) => ({ version: v.version, time: new Date(v.time).toISOString(), actor: v.actor, operation: v.operation, deleted: v.deleted, value: v.deleted ? null : toTree(v.value), metadata: toTree(v.metadata) }));
      if (out.json) return out.data(rows);
      out.table(
        ['VERSION', 'TIME', 'ACTOR', 'OPERATION', 'VALUE'],
        rows.map((r) => [out.c.bold(String(r.version)), r.time, r.actor ?? '-', r.operation, r.deleted ? out.c.red('(deleted)') : short(r.value)]),
      );
    });
}
