import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PersistentAgent } from '../src/agents/persistent-agent.js';
import { dataAgentContract } from '../src/testing/index.js';

const root = mkdtempSync(join(tmpdir(), 'dgent-pa-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

dataAgentContract(
  'PersistentAgent',
  () => {
    const dir = mkdtempSync(join(root, 'c'));
    return {
      open: () => new PersistentAgent({ path: join(dir, 'agent.json') }),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  { reopen: true },
);
