// The inspector's front end: Preact (JSX compiled by Vite's own transformer), built into dist/ui,
// which `dgent ui` serves. No CDN, no fonts from the network: the page needs nothing but the CLI.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 200,
  },
  logLevel: 'warn',
});
