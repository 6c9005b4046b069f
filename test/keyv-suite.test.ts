/**
 * Keyv's own published test suite (@keyv/test-suite: the Keyv API, value, namespace and iterator
 * suites) against KeyvDgent with Keyv 6, on memory and SQLite. The PostgreSQL run is in
 * keyv-suite.int.test.ts. The suites register their tests through vitest's module (`it`,
 * `beforeEach`, `afterEach`) and assert with the test context's `expect`. The one test whose
 * assertion Keyv 6 changed on purpose runs as `it.fails` (see KEYV6_API_CHANGES).
 */
import * as vitest from 'vitest';
import { afterAll, describe } from 'vitest';
import Keyv from 'keyv';
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import { KeyvDgent } from '../src/keyv.js';
import { openStore, suiteTest, type OpenedStore } from './keyv-support.js';

for (const backend of ['memory', 'sqlite'] as const) {
  describe(`@keyv/test-suite on KeyvDgent (${backend})`, () => {
    let opened: OpenedStore | undefined;
    // the suites call the factory once per Keyv instance: every adapter shares one Store
    const adapter = () => new KeyvDgent({ store: (opened ??= openStore(backend)).store });
    afterAll(async () => opened?.close());
    keyvTestSuite(suiteTest(vitest), Keyv, adapter);
    keyvIteratorTests(suiteTest(vitest), Keyv, adapter);
  });
}
