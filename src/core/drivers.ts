/**
 * The database drivers are optional peer dependencies (pg, ioredis, @eventstore/db-client,
 * faiss-node): `import 'dgent'` needs none of them. When a backend that needs one cannot load it,
 * the error says which package to install instead of Node's bare ERR_MODULE_NOT_FOUND.
 */
import { createRequire } from 'node:module';
import { DgentError } from './errors.js';

const require = createRequire(import.meta.url);

/** Whether `e` is Node's "cannot find package `pkg`" (not a failure inside an installed package). */
export function isMissingPackage(e: unknown, pkg: string): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' && err?.code !== 'MODULE_NOT_FOUND') return false;
  return new RegExp(`['"]${pkg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(/[^'"]*)?['"]`).test(err.message ?? '');
}

/**
 * The error for a driver that cannot be loaded: "`who` needs the 'pkg' package: npm install pkg"
 * when it is not installed, else what went wrong loading it. Not BackendUnavailableError: a
 * missing package is not an outage that `fallback()` should fail over from.
 */
export function driverLoadError(who: string, pkg: string, cause: unknown): DgentError {
  if (isMissingPackage(cause, pkg)) return new DgentError(`${who} needs the '${pkg}' package: npm install ${pkg}`, 'DGENT_ERROR', { cause });
  return new DgentError(`${who} could not load the '${pkg}' package: ${(cause as Error)?.message ?? String(cause)}`, 'DGENT_ERROR', { cause });
}

/**
 * Load a CommonJS driver synchronously, when the module that needs it is evaluated: the modules of
 * `dgent/postgres` and `dgent/redis` take pg and ioredis from here instead of a static `import`, which
 * Node would resolve (and fail on) before any of our code could name the missing package.
 */
export function loadDriver<T>(entry: string, pkg: string): T {
  try {
    return require(pkg) as T;
  } catch (e) {
    throw driverLoadError(entry, pkg, e);
  }
}

/**
 * Load a driver for a subpath entry (`dgent/postgres`, ...) before the modules that import it are
 * linked, so that a missing driver is reported by name. Used with top-level await in the entries.
 */
export async function requireDriver(entry: string, pkg: string, load: () => Promise<unknown>): Promise<void> {
  try {
    await load();
  } catch (e) {
    throw driverLoadError(entry, pkg, e);
  }
}
