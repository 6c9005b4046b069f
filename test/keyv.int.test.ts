/** KeyvDgent's own tests (keyv-cases.ts) on PostgreSQL, in a unique schema per Store. */
import { describe } from 'vitest';
import { keyvAdapterCases } from './keyv-cases.js';
import { postgresUrl } from './support/postgres.js';
import { requireService } from './support/services.js';

const available = await requireService('PostgreSQL', postgresUrl());

describe.skipIf(!available)('PostgreSQL', () => keyvAdapterCases('postgres'));
