/**
 * `dgent state <stream> [--at revision|time]`: a StreamAgent's state at a revision or time. The CLI
 * cannot know an agent's fold, so it folds what StreamAgent stores itself: `$state` events (a whole
 * state, from save) and `$patch` events (immer patches, from update). Domain events folded by user
 * code are counted and reported as not folded.
 */
import { InvalidArgumentError } from 'commander';
import { command, outputOf } from '../command.js';
import { chosenUrl, requireStream, withLog } from '../backend.js';
import { CliError, EXIT } from '../exit-codes.js';
import { toTree } from '../../core/codec.js';
import { stateAt, type StateAt } from '../state-at.js';

/** `--at`: a revision (digits) or a time (ISO 8601 or epoch ms with a unit-less 13 digits). */
export function parseAt(v: string): { revision: number } | { time: Date } {
  if (/^\d{1,12}$/.test(v)) return { revision: Number(v) };
  const t = /^\d{13}$/.test(v) ? new Date(Number(v)) : new Date(v);
  if (Number.isNaN(t.getTime())) throw new InvalidArgumentError(`--at takes a revision (e.g. 40) or a time (e.g. 2026-01-31T12:00:00Z), got ${JSON.stringify(v)}`);
  return { time: t };
}

export function stateJson(s: StateAt): Record<string, unknown> {
  return { stream: s.stream, revision: s.revision, time: s.time?.toISOString() ?? null, hasState: s.hasState, state: s.hasState ? toTree(s.state) : null, notFolded: s.notFolded };
}

export function stateCommand() {
  return command('state', "a StreamAgent stream's state at a revision or time (from its $state/$patch events)")
    .argument('<stream>', 'stream name')
    .option('--at <revision|time>', 'revision (e.g. 40) or time (ISO 8601); default: the latest', parseAt)
    .action(async (stream: string, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const at = options.at as ReturnType<typeof parseAt> | undefined;
      const s = await withLog(
        chosenUrl(undefined, options),
        async (log) => {
          const head = await requireStream(log, stream);
          if (at && 'revision' in at && at.revision > head) throw new CliError(`stream ${JSON.stringify(stream)} has ${head} revisions; --at ${at.revision} is beyond its head`, EXIT.NOT_FOUND);
          return stateAt(log, stream, at);
        },
        { readOnly: true },
      );
      if (out.json) return out.data(stateJson(s));
      out.line(`${out.c.cyan(stream)} at revision ${out.c.bold(String(s.revision))}${s.time ? ` (${s.time.toISOString()})` : ''}`);
      if (s.notFolded > 0) out.note(out.c.yellow(`${s.notFolded} domain event(s) not folded: the CLI folds only StreamAgent's own $state/$patch events`));
      out.line(s.hasState ? JSON.stringify(toTree(s.state), null, 2) : out.c.dim('(no state: no $state event yet)'));
    });
}
