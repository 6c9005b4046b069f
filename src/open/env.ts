/**
 * Backend URLs from the environment. `DGENT_URL` names the backend of everything; `DGENT_LOG_URL`,
 * `DGENT_STORE_URL` and `DGENT_AGENT_URL` override it for one role. A variable that is set but
 * wrong is a ValidationError naming the variable and the part of its URL that is wrong.
 */
import { ValidationError } from '../core/errors.js';
import { parseBackendUrl, type BackendTarget } from './backend-url.js';

/** The roles a backend URL can be given for. */
export type BackendRole = 'log' | 'store' | 'agent';

/** The variable of each role, most specific first. */
export const ENV_VARIABLES: Readonly<Record<BackendRole, readonly string[]>> = Object.freeze({
  log: ['DGENT_LOG_URL', 'DGENT_URL'],
  store: ['DGENT_STORE_URL', 'DGENT_URL'],
  agent: ['DGENT_AGENT_URL', 'DGENT_URL'],
});

/** A URL read from the environment and the variable it came from. */
export interface EnvUrl {
  variable: string;
  target: BackendTarget;
}

/** What {@link fromEnv} found: the checked URL of each role whose variable is set. */
export interface DgentEnv {
  log: EnvUrl | undefined;
  store: EnvUrl | undefined;
  agent: EnvUrl | undefined;
}

function read(env: Record<string, string | undefined>, role: BackendRole): EnvUrl | undefined {
  for (const variable of ENV_VARIABLES[role]) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    return { variable, target: parseBackendUrl(value, variable) };
  }
  return undefined;
}

/**
 * Read and check the `DGENT_*` variables (every set one is checked, even for roles not used).
 *
 * @example
 * ```ts
 * // DGENT_URL=sqlite:./data.db DGENT_LOG_URL=postgres://localhost/app
 * const env = fromEnv();
 * env.log?.target.kind;   // 'postgres' (from DGENT_LOG_URL)
 * env.agent?.variable;    // 'DGENT_URL'
 * ```
 */
export function fromEnv(env: Record<string, string | undefined> = process.env): DgentEnv {
  return { log: read(env, 'log'), store: read(env, 'store'), agent: read(env, 'agent') };
}

/** The URL for `role`: the one given, else the environment's; a ValidationError naming the variables when neither. */
export function resolveTarget(url: string | undefined, role: BackendRole, env: Record<string, string | undefined> = process.env): BackendTarget {
  if (url !== undefined) return parseBackendUrl(url, 'url');
  const found = read(env, role);
  if (found) return found.target;
  throw new ValidationError(`no backend URL: pass one or set ${ENV_VARIABLES[role].join(' or ')} (e.g. sqlite:./data.db)`, [{ message: 'missing', path: ENV_VARIABLES[role][0]! }]);
}
