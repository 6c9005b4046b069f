/**
 * PostgreSQL helpers for integration tests: the server URL (embedded fallback included, see
 * global-setup.ts), one fresh schema per test, and dropping it afterwards.
 */
import pg from 'pg';
import { POSTGRES_URL, uniqueName } from './services.js';

/** The URL the tests use: the global setup's answer (which may be an embedded server), else the configured one. */
export function postgresUrl(): string {
  return process.env.DGENT_POSTGRES_URL ?? POSTGRES_URL;
}

/** A fresh schema name (lower case, unique across parallel test files and runs). */
export function uniqueSchema(prefix = 'dgt'): string {
  return uniqueName(prefix).toLowerCase();
}

/** Drop the given schemas (and everything in them). */
export async function dropSchemas(schemas: Iterable<string>, url = postgresUrl()): Promise<void> {
  const list = [...schemas];
  if (list.length === 0) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of list) await client.query(`DROP SCHEMA IF EXISTS "${s.replaceAll('"', '""')}" CASCADE`);
  } finally {
    await client.end();
  }
}
