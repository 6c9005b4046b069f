/** `dgent audit [url] [--key k] [--actor a] [--since t] [--until t] [--namespace ns] [--limit n]`: the Store's audit trail, oldest first. */
import { InvalidArgumentError } from 'commander';
import { command, outputOf } from '../command.js';
import { chosenUrl, withStore } from '../backend.js';
import { intOption } from '../output.js';
import { toTree } from '../../core/codec.js';

function time(name: string) {
  return (v: string): Date => {
    const t = /^\d{13}$/.test(v) ? new Date(Number(v)) : new Date(v);
    if (Number.isNaN(t.getTime())) throw new InvalidArgumentError(`${name} takes a time (ISO 8601 or epoch ms), got ${JSON.stringify(v)}`);
    return t;
  };
}

export function auditCommand() {
  return command('audit', "the Store's audit trail (who changed what, when), oldest first")
    .argument('[url]', 'backend URL')
    .option('--key <key>', 'only this key')
    .option('--actor <actor>', 'only changes by this actor')
    .option('--since <time>', 'from this time (ISO 8601)', time('--since'))
    .option('--until <time>', 'up to this time (ISO 8601)', time('--until'))
    .option('--namespace <ns>', 'only this namespace')
    .option('--limit <n>', 'at most n entries', intOption('--limit', 1))
    .action(async (url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const entries = await withStore(chosenUrl(url, options), (store) =>
        store.audit({
          key: options.key as string | undefined,
          actor: options.actor as string | undefined,
          since: options.since as Date | undefined,
          until: options.until as Date | undefined,
          namespace: options.namespace as string | undefined,
          limit: options.limit as number | undefined,
        }),
        { existing: true },
      );
      const rows = entries.map((e) => ({ position: e.position, time: new Date(e.time).toISOString(), actor: e.actor, operation: e.operation, type: e.type, namespace: e.namespace, key: e.key, version: e.version, metadata: toTree(e.metadata), tx: e.tx }));
      if (out.json) return out.data(rows);
      if (rows.length === 0) return out.note('no audit entries match');
      out.table(
        ['TIME', 'ACTOR', 'OPERATION', 'KEY', 'VERSION'],
        rows.map((r) => [r.time, r.actor ?? '-', out.c.yellow(r.operation), out.c.cyan(`${r.namespace}/${r.key ?? ''}`), String(r.version)]),
      );
    });
}
