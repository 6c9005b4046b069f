/**
 * Semantic search of DgentStore: texts taken from an item's value at the index's field paths (the
 * path syntax of LangGraph's stores), embedded, and kept in a VectorAgent logged to the store's
 * event log (so another process, or a restart, sees them). Every vector carries the version of the
 * item it was made from; a search scores an item only by vectors of its current version, so a
 * vector left behind by a crash or an expiry never scores.
 */
import { ConcurrencyError, ValidationError, shown } from '../core/errors.js';
import type { EventLog } from '../streams/event-log.js';
import { VectorAgent } from '../agents/vector-agent.js';
import type { VectorEngine, VectorIndexKind } from '../agents/vector/types.js';

/** The part of LangChain's `Embeddings` that DgentStore uses. */
export interface EmbeddingsLike {
  embedDocuments(texts: string[]): Promise<number[][]>;
  embedQuery(text: string): Promise<number[]>;
}

/** A bare embedding function: texts in, one vector per text out. */
export type EmbedFunction = (texts: string[]) => Promise<number[][]>;

/** Semantic search settings of {@link DgentStore} (LangGraph's `index` config). */
export interface DgentStoreIndexConfig {
  /** vector length */
  dims: number;
  /** a LangChain Embeddings object, or a function embedding a list of texts */
  embed?: EmbeddingsLike | EmbedFunction | undefined;
  /** LangGraph's name of `embed` (one of the two) */
  embeddings?: EmbeddingsLike | undefined;
  /** paths of the texts to embed: `"text"`, `"metadata.title"`, `"chapters[*].content"`, `"authors[0].name"`, `"$"` (the whole value; the default) */
  fields?: readonly string[] | undefined;
  /** the VectorAgent engine (default `'auto'`: FAISS when it loads, else the exact TypeScript index) */
  engine?: VectorEngine | undefined;
  /** the VectorAgent index kind (default `'Flat'`, exact) */
  vectorIndex?: VectorIndexKind | undefined;
}

/** Data stored with each vector: the item's Store namespace, key and version. */
interface VectorData {
  ns: string;
  key: string;
  v: number;
}

/** Tokenize a path as LangGraph does: `a.b[*].c` → `a`, `b`, `[*]`, `c`; `{x,y}` selects several fields. */
export function tokenizePath(path: string): string[] {
  const tokens: string[] = [];
  let cur = '';
  for (let i = 0; i < path.length; ) {
    const ch = path[i]!;
    if (ch === '[' || ch === '{') {
      if (cur) tokens.push(cur);
      cur = '';
      const close = ch === '[' ? ']' : '}';
      let depth = 1;
      let tok = ch;
      i++;
      while (i < path.length && depth > 0) {
        if (path[i] === ch) depth++;
        else if (path[i] === close) depth--;
        tok += path[i];
        i++;
      }
      tokens.push(tok);
      continue;
    }
    if (ch === '.') {
      if (cur) tokens.push(cur);
      cur = '';
    } else cur += ch;
    i++;
  }
  if (cur) tokens.push(cur);
  return tokens;
}

function leaf(v: unknown): string[] {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (v === null || v === undefined) return [];
  return typeof v === 'object' ? [JSON.stringify(v, null, 2)] : [];
}

function extract(v: unknown, tokens: readonly string[], pos: number): string[] {
  if (pos >= tokens.length) return leaf(v);
  const t = tokens[pos]!;
  if (t.startsWith('[') && t.endsWith(']')) {
    if (!Array.isArray(v)) return [];
    const ix = t.slice(1, -1);
    if (ix === '*') return v.flatMap((el) => extract(el, tokens, pos + 1));
    let i = parseInt(ix, 10);
    if (Number.isNaN(i)) return [];
    if (i < 0) i += v.length;
    return i >= 0 && i < v.length ? extract(v[i], tokens, pos + 1) : [];
  }
  if (t.startsWith('{') && t.endsWith('}')) {
    if (typeof v !== 'object' || v === null) return [];
    return t.slice(1, -1).split(',').flatMap((f) => {
      let o: unknown = v;
      for (const part of tokenizePath(f.trim())) {
        if (typeof o === 'object' && o !== null && part in o) o = (o as Record<string, unknown>)[part];
        else return [];
      }
      return leaf(o);
    });
  }
  if (t === '*') {
    if (Array.isArray(v)) return v.flatMap((el) => extract(el, tokens, pos + 1));
    if (typeof v === 'object' && v !== null) return Object.values(v).flatMap((el) => extract(el, tokens, pos + 1));
    return [];
  }
  if (typeof v === 'object' && v !== null && Object.hasOwn(v, t)) return extract((v as Record<string, unknown>)[t], tokens, pos + 1);
  return [];
}

/** The texts at `path` of `value`, each with its field id (`path`, or `path.i` when the path yields several). */
export function textsAt(value: unknown, path: string): { field: string; text: string }[] {
  const texts = path === '$' || path === '' ? [JSON.stringify(value, null, 2)] : extract(value, tokenizePath(path), 0);
  if (texts.length === 1) return [{ field: path, text: texts[0]! }];
  return texts.map((text, i) => ({ field: `${path}.${i}`, text }));
}

/** Check an index config (ValidationError) and normalise its embedding function. */
export function checkIndexConfig(config: DgentStoreIndexConfig): { embedDocs: EmbedFunction; embedQuery: (text: string) => Promise<number[]>; fields: string[] } {
  if (typeof config !== 'object' || config === null) throw new ValidationError('DgentStore: index must be { dims, embed, fields? }');
  if (!Number.isInteger(config.dims) || config.dims < 1) throw new ValidationError(`DgentStore: index.dims must be an integer >= 1, got ${shown(config.dims)}`);
  const embed = config.embed ?? config.embeddings;
  let embedDocs: EmbedFunction;
  let embedQuery: (text: string) => Promise<number[]>;
  if (typeof embed === 'function') {
    embedDocs = embed;
    embedQuery = async (text) => (await embed([text]))[0]!;
  } else if (typeof embed === 'object' && embed !== null && typeof embed.embedDocuments === 'function' && typeof embed.embedQuery === 'function') {
    embedDocs = (texts) => embed.embedDocuments(texts);
    embedQuery = (text) => embed.embedQuery(text);
  } else throw new ValidationError('DgentStore: index.embed must be an Embeddings object (embedDocuments, embedQuery) or a function (texts) => vectors');
  const fields = config.fields ?? ['$'];
  if (!Array.isArray(fields) || fields.some((f) => typeof f !== 'string')) throw new ValidationError('DgentStore: index.fields must be an array of paths');
  return { embedDocs, embedQuery, fields: [...fields] };
}

/** The vector index of a DgentStore. */
export class StoreVectors {
  private readonly agent: VectorAgent<VectorData>;
  private readonly embedDocs: EmbedFunction;
  private readonly embedQuery: (text: string) => Promise<number[]>;
  readonly fields: readonly string[];
  readonly dims: number;

  constructor(config: DgentStoreIndexConfig, log: EventLog, stream: string) {
    const { embedDocs, embedQuery, fields } = checkIndexConfig(config);
    this.embedDocs = embedDocs;
    this.embedQuery = embedQuery;
    this.fields = fields;
    this.dims = config.dims;
    this.agent = new VectorAgent<VectorData>({ dimension: config.dims, metric: 'cosine', engine: config.engine, index: config.vectorIndex, log, stream });
  }

  /** The texts of a value for its put's `index` option (undefined: the configured fields; false: none). */
  texts(value: Record<string, unknown>, index: false | readonly string[] | undefined): { field: string; text: string }[] {
    if (index === false) return [];
    return (index ?? this.fields).flatMap((p) => textsAt(value, p));
  }

  /** Embed texts (each distinct text once); resolves to a map text → vector. */
  async embed(texts: readonly string[]): Promise<Map<string, number[]>> {
    const distinct = [...new Set(texts)];
    const out = new Map<string, number[]>();
    if (distinct.length === 0) return out;
    const vectors = await this.embedDocs(distinct);
    if (!Array.isArray(vectors) || vectors.length !== distinct.length) throw new ValidationError(`DgentStore: the embedding function returned ${Array.isArray(vectors) ? vectors.length : 'no'} vectors for ${distinct.length} texts`);
    distinct.forEach((t, i) => out.set(t, vectors[i]!));
    return out;
  }

  private static id(ns: string, key: string, field: string): string {
    return JSON.stringify([ns, key, field]);
  }

  /**
   * A write of the vector log, which expects the revision this agent has seen: another DgentStore on
   * the same log (another process) may have written since, so catch up and write again.
   */
  private async logged(write: () => Promise<unknown>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await write();
        return;
      } catch (e) {
        if (!(e instanceof ConcurrencyError) || attempt >= 20) throw e;
        await this.agent.sync();
      }
    }
  }

  /** Replace the vectors of an item: drop `oldFields` not written again, upsert the new ones. */
  async replace(ns: string, key: string, version: number, items: readonly { field: string; vector: number[] }[], oldFields: readonly string[]): Promise<void> {
    const keep = new Set(items.map((i) => i.field));
    const drop = oldFields.filter((f) => !keep.has(f)).map((f) => StoreVectors.id(ns, key, f));
    if (drop.length) await this.logged(() => this.agent.remove(drop));
    if (items.length) await this.logged(() => this.agent.upsert(items.map((i) => ({ id: StoreVectors.id(ns, key, i.field), vector: i.vector, data: { ns, key, v: version } }))));
  }

  /** Point an item's vectors at a new version of the same value (a TTL refresh): no embedding again. */
  async retag(ns: string, key: string, version: number, fields: readonly string[]): Promise<void> {
    const items: { id: string; vector: Float32Array; data: VectorData }[] = [];
    for (const f of fields) {
      const id = StoreVectors.id(ns, key, f);
      const stored = await this.agent.get(id);
      if (stored) items.push({ id, vector: stored.vector, data: { ns, key, v: version } });
    }
    if (items.length) await this.logged(() => this.agent.upsert(items));
  }

  /** Drop the vectors of an item. */
  async remove(ns: string, key: string, fields: readonly string[]): Promise<void> {
    if (fields.length) await this.logged(() => this.agent.remove(fields.map((f) => StoreVectors.id(ns, key, f))));
  }

  /**
   * Score candidates against a query text: the best cosine similarity of each candidate's vectors of
   * its current version, best first. `current` maps `ns\0key` to the candidate's version.
   */
  async rank(query: string, current: ReadonlyMap<string, number>): Promise<{ id: string; score: number }[]> {
    if (current.size === 0) return [];
    const q = await this.embedQuery(query);
    await this.agent.sync(); // vectors other processes wrote
    const k = await this.agent.count();
    if (k === 0) return [];
    const hits = await this.agent.search(q, { k, filter: (_id, d) => d !== undefined && current.get(`${d.ns}\0${d.key}`) === d.v });
    const seen = new Set<string>();
    const out: { id: string; score: number }[] = [];
    for (const h of hits) {
      const id = `${h.data!.ns}\0${h.data!.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push({ id, score: h.score });
    }
    return out;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
