/**
 * Keyv's own published test suite (@keyv/test-suite: the Keyv API, value, namespace and iterator
 * suites) against KeyvDgent with Keyv 6 on PostgreSQL (a unique schema per run; memory and
 * SQLite are in keyv-suite.test.ts). The suites register their tests through vitest's module (`it`,
 * `beforeEach`, `afterEach`) and assert with the test context's `expect`. The one test whose
 * assertion Keyv 6 changed on purpose runs as `it.fails` (see KEYV6_API_CHANGES).
 */
import * as vitest from 'vitest';
import { afterAll, describe } from 'vitest';
import Keyv from 'keyv';
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import { KeyvDgent } from '../src/keyv.js';
import { openStore, suiteTest, type OpenedStore } from './keyv-support.js';
import { postgresUrl } from './support/postgres.js';
import { requireService } from './support/services.js';

const available = await requireService('PostgreSQL', postgresUrl());

describe.skipIf(!available)('@keyv/test-suite on KeyvDgent (postgres)', () => {
  let opened: OpenedStore | undefined;
  // the suites call the factory once per Keyv instance: every adapter shares one Store (one schema)
  const adapter = () => new KeyvDgent({ store: (opened ??= openStore('postgres')).store });
  afterAll(async () => opened?.close());
  keyvTestSuite(suiteTest(vitest), Keyv, adapter);
  keyvIteratorTests(suiteTest(vitest), Keyv, adapter);
});
