/**
 * Names of server-side prepared statements for texts built at run time (view tables per
 * generation, fused appends): the name is `<prefix>_<hash of the text>`, so one text has one name
 * on every connection, and names are remembered for the texts in use (the cache is bounded).
 */
import { createHash } from 'node:crypto';

const names = new Map<string, string>();

/** The prepared-statement name of `text` (`prefix`: a plain identifier part, at most 30 characters). */
export function statementName(prefix: string, text: string): string {
  const key = `${prefix}\0${text}`;
  let name = names.get(key);
  if (name === undefined) {
    if (names.size > 1000) names.clear();
    names.set(key, (name = `${prefix}_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`));
  }
  return name;
}
