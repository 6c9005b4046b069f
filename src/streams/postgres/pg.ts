/**
 * The pg driver, for every module of `dgent/postgres`. Loaded when the entry is imported: without
 * the package installed, the import fails with "dgent/postgres needs the 'pg' package: npm install
 * pg" instead of Node's ERR_MODULE_NOT_FOUND. Import pg's types with `import type` elsewhere.
 */
import { loadDriver } from '../../core/drivers.js';

/** pg's module (the same objects `import pg from 'pg'` gives: pg's ESM entry re-exports its CommonJS one). */
export const pg = loadDriver<typeof import('pg')>('dgent/postgres', 'pg');
