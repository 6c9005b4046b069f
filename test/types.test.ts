/**
 * The published types, as a consumer's compiler sees them: the package is built, laid out in a
 * temp project's node_modules with only the packages a consumer would have, and the files in
 * test/types/consumer are compiled with strict + exactOptionalPropertyTypes + skipLibCheck false.
 * Their `@ts-expect-error` lines are the negative cases: tsc fails on one that is not an error.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage, consumerProject } from './types/consumer-project.js';

/** What `npm install dgent` brings: the dependencies, plus @types/node that a TypeScript consumer has. */
const CORE = ['immer', 'kysely', '@standard-schema/spec', 'lru-cache', '@node-rs/crc32', 'better-sqlite3', '@types/node'];
/** The optional drivers as a consumer installs them: pg without @types/pg, ioredis and the EventStoreDB client with their own types. */
const DRIVERS = ['pg', 'ioredis', '@eventstore/db-client'];
/** The driver types we must not need, but must not conflict with either. */
const DRIVER_TYPES = ['@types/pg', '@types/better-sqlite3'];

// building and three tsc runs: minutes on a loaded 2-core machine, not seconds
const TIMEOUT = 300_000;

describe('published declarations, compiled as a consumer (strict, exactOptionalPropertyTypes, skipLibCheck false)', () => {
  let work: string;
  let built: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dgent-types-'));
    built = join(work, 'dist');
    await buildPackage(built);
  }, TIMEOUT);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function check(packages: readonly string[], files: readonly string[]): Promise<string> {
    const project = await consumerProject(built, packages, files);
    try {
      return await project.check();
    } finally {
      await project.remove();
    }
  }

  it(
    "the core entry compiles with no driver and no driver types installed: read-only loads, inferred CachedAgent, undefined options, typed migrations and event logs",
    async () => {
      expect(await check(CORE, ['core.ts'])).toBe('');
    },
    TIMEOUT,
  );

  it(
    'the driver entries compile with pg (no @types/pg), ioredis and the EventStoreDB client installed',
    async () => {
      expect(await check([...CORE, ...DRIVERS], ['drivers.ts'])).toBe('');
    },
    TIMEOUT,
  );

  it(
    'every entry still compiles when @types/pg and @types/better-sqlite3 are installed too',
    async () => {
      expect(await check([...CORE, ...DRIVERS, ...DRIVER_TYPES], ['core.ts', 'drivers.ts'])).toBe('');
    },
    TIMEOUT,
  );
});
