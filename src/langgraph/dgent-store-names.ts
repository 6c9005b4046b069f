/**
 * How DgentStore maps LangGraph namespaces (string tuples) onto Store namespaces: one Store
 * namespace per LangGraph namespace, `<prefix>.<label>.<label>...`. LangGraph labels never hold
 * '.', ':' or NUL and are never empty (validateNamespace), so '.' separates them unambiguously;
 * the characters a Store namespace may not hold ('/', '*') and the escape character itself are
 * percent-encoded, so every label round-trips.
 */
import { InvalidNamespaceError, validateNamespace } from '@langchain/langgraph-checkpoint';
import { ValidationError } from '../core/errors.js';
import { compareKeys } from '../projections/views/keys.js';

const ESCAPES: Record<string, string> = { '%': '%25', '/': '%2F', '*': '%2A' };

function escapeLabel(label: string): string {
  return label.replace(/[%/*]/g, (c) => ESCAPES[c]!);
}

function unescapeLabel(label: string): string {
  return label.replace(/%(25|2F|2A)/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Check a LangGraph namespace (LangGraph's own InvalidNamespaceError), then the Store namespace it maps to. */
export function storeNamespace(prefix: string, namespace: readonly string[], options: { allowReservedRoot?: boolean } = {}): string {
  if (!Array.isArray(namespace)) throw new InvalidNamespaceError(`a namespace is an array of strings, got ${typeof namespace}`);
  validateNamespace(namespace as string[], { allowReservedRoot: options.allowReservedRoot ?? true });
  return `${prefix}.${namespace.map(escapeLabel).join('.')}`;
}

/** The LangGraph namespace of a Store namespace of this prefix, or undefined when it is not one. */
export function langgraphNamespace(prefix: string, ns: string): string[] | undefined {
  if (!ns.startsWith(`${prefix}.`)) return undefined;
  return ns.slice(prefix.length + 1).split('.').map(unescapeLabel);
}

/** A namespace prefix of search / listNamespaces: [] means everything; labels checked as LangGraph does. */
export function checkPrefix(path: readonly string[], what: string): string[] {
  if (!Array.isArray(path)) throw new ValidationError(`${what} must be an array of strings`);
  validateNamespace(path as string[], { allowEmpty: true, allowReservedRoot: true });
  return [...path];
}

/** Order of namespaces: label by label in code point order, a prefix before what extends it. */
export function compareNamespaces(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareKeys(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** True when `ns` starts with `prefix` label by label (`'*'` in a listNamespaces condition matches any label). */
export function hasPrefix(ns: readonly string[], prefix: readonly string[], wildcard = false): boolean {
  if (prefix.length > ns.length) return false;
  return prefix.every((p, i) => (wildcard && p === '*') || ns[i] === p);
}

/** True when `ns` ends with `suffix` label by label (`'*'` matches any label). */
export function hasSuffix(ns: readonly string[], suffix: readonly string[]): boolean {
  if (suffix.length > ns.length) return false;
  const off = ns.length - suffix.length;
  return suffix.every((p, i) => p === '*' || ns[off + i] === p);
}

/** Check the Store namespace prefix option: a valid namespace without '.'. */
export function checkStorePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 32 || /[./:*\0]/.test(prefix)) {
    throw new ValidationError(`DgentStore: prefix must be 1 to 32 characters without '.', '/', ':', '*' or NUL, got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}
