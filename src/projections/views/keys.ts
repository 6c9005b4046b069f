/** Key order and small helpers shared by the view backends. */

/** Compare keys by code point (UTF-8 byte order), as the SQL and Redis backends order them. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    // surrogates (astral code points) sort after every BMP unit in code point order
    const sx = x >= 0xd800 && x <= 0xdfff, sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** The smallest string above every string starting with `prefix` (code point order), or undefined when there is none. */
export function prefixEnd(prefix: string): string | undefined {
  const cps = [...prefix].map((c) => c.codePointAt(0)!);
  while (cps.length > 0 && cps[cps.length - 1] === 0x10ffff) cps.pop();
  if (cps.length === 0) return undefined;
  let last = cps.pop()! + 1;
  if (last === 0xd800) last = 0xe000;
  cps.push(last);
  return String.fromCodePoint(...cps);
}

/** Time as epoch ms. */
export function ms(t: number | Date): number {
  return t instanceof Date ? t.getTime() : t;
}
