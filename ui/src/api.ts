/** The CLI's read-only JSON API (src/cli/ui/api.ts). */
export interface StreamRow { stream: string; events: number; revision: number; lastTime: string; lastType: string }
export interface EventRow { id: string; stream: string; revision: number; position: number; type: string; time: string; data: unknown; metadata: Record<string, unknown> }
export interface StateAnswer { stream: string; head: number; revision: number; time: string | null; hasState: boolean; state: unknown; notFolded: number }
export interface Patch { op: 'add' | 'replace' | 'remove'; path: (string | number)[]; value?: unknown }
export interface DiffAnswer { stream: string; a: number; b: number; before: unknown; after: unknown; steps: { revision: number; type: string; patches?: Patch[] }[] }
export interface KeyRow { key: string; version: number; value: unknown; updatedAt: string }
export interface AuditRow { position: number; time: string; actor: string | null; operation: string; key: string | null; version: number }

export async function get<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const r = await fetch(`./api/${path}${q.size ? `?${q}` : ''}`);
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}
export interface ProjectionRow { name: string; built: boolean; generation?: number; version?: number; position: number; lagEvents: number | null; lagMs: number | null }
