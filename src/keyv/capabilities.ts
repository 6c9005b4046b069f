/**
 * The capability descriptor Keyv 6 reads from a storage adapter (`adapter.capabilities`). Built here
 * rather than with keyv's `keyvStorageCapability()` so that `dgent/keyv` has no runtime import of
 * keyv: the descriptor is plain data, and `expires: true` is what makes Keyv 6 use the adapter
 * directly (absolute `expires` timestamps) instead of wrapping it in its legacy ttl bridge.
 */

/** How one storage method is offered (the shape of keyv's `KeyvStorageMethod`). */
export interface KeyvMethodInfo {
  exists: boolean;
  methodType: 'sync' | 'async' | 'none';
}

/** The shape of keyv 6's `KeyvStorageCapability`, declared here so that keyv stays a type-only peer. */
export interface KeyvDgentCapability {
  compatible: boolean;
  store: 'keyvStorage';
  methods: Record<KeyvStorageMethodName, KeyvMethodInfo>;
  /** the v6 storage contract: `set`/`setMany` take an absolute `expires` (epoch ms) and the adapter enforces it */
  expires: true;
}

export const KEYV_STORAGE_METHODS = ['get', 'getMany', 'has', 'hasMany', 'set', 'setMany', 'delete', 'deleteMany', 'clear', 'disconnect', 'iterator'] as const;
export type KeyvStorageMethodName = (typeof KEYV_STORAGE_METHODS)[number];

/** Every storage method, async: what the adapter implements. */
export function keyvDgentCapability(): KeyvDgentCapability {
  const methods = {} as Record<KeyvStorageMethodName, KeyvMethodInfo>;
  for (const m of KEYV_STORAGE_METHODS) methods[m] = { exists: true, methodType: 'async' };
  return { compatible: true, store: 'keyvStorage', methods, expires: true };
}
