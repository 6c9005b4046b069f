/** A JSON tree; paths in `marks` (immer patch paths) are highlighted with their operation. */
import type { JSX } from 'preact';

export type Marks = Map<string, 'add' | 'replace' | 'remove'>;

export const pathKey = (path: readonly (string | number)[]): string => JSON.stringify(path.map(String));

function Leaf({ value }: { value: unknown }): JSX.Element {
  if (value === null) return <span class="j-null">null</span>;
  if (typeof value === 'string') return <span class="j-str">{JSON.stringify(value)}</span>;
  if (typeof value === 'number' || typeof value === 'boolean') return <span class="j-num">{String(value)}</span>;
  return <span>{JSON.stringify(value)}</span>;
}

/** Render `value`; `path` is where it sits in the root. */
export function JsonView({ value, marks, path = [] }: { value: unknown; marks?: Marks; path?: (string | number)[] }): JSX.Element {
  const mark = marks?.get(pathKey(path));
  const cls = mark ? `mark mark-${mark}` : undefined;
  if (value === null || typeof value !== 'object') return <span class={cls} data-path={pathKey(path)}><Leaf value={value} /></span>;
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value as Record<string, unknown>);
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return <span class={cls}>{open + close}</span>;
  return (
    <span class={cls} data-path={pathKey(path)}>
      {open}
      <div class="j-body">
        {entries.map(([k, v], i) => (
          <div key={String(k)} class={marks?.get(pathKey([...path, k])) ? `j-row mark-row-${marks.get(pathKey([...path, k]))}` : 'j-row'}>
            {Array.isArray(value) ? null : <span class="j-key">{JSON.stringify(k)}: </span>}
            <JsonView value={v} marks={marks} path={[...path, k]} />
            {i < entries.length - 1 ? ',' : ''}
          </div>
        ))}
      </div>
      {close}
    </span>
  );
}
