/**
 * Keyv 5 (the `keyv5` alias) over KeyvDgent with `keyvVersion: 5` on PostgreSQL (unique schema):
 * @keyv/test-suite 2.1.2 whole (API, values, namespaces); see keyv5-suite.test.ts.
 */
import * as vitest from 'vitest';
import { afterAll, describe } from 'vitest';
import Keyv5 from 'keyv5';
import keyvTestSuite from '@keyv/test-suite';
import { KeyvDgent } from '../src/keyv.js';
import { openStore, type OpenedStore } from './keyv-support.js';
import { postgresUrl } from './support/postgres.js';
import { requireService } from './support/services.js';

type KeyvClass = Parameters<typeof keyvTestSuite>[1];

const available = await requireService('PostgreSQL', postgresUrl());

for (const backend of ['postgres'] as const) {
  describe.skipIf(!available)(`@keyv/test-suite with Keyv 5 on KeyvDgent (${backend})`, () => {
    let opened: OpenedStore | undefined;
    const adapter = () => new KeyvDgent({ store: (opened ??= openStore(backend)).store, keyvVersion: 5 });
    afterAll(async () => opened?.close());
    keyvTestSuite(vitest, Keyv5 as unknown as KeyvClass, adapter);
  });
}
