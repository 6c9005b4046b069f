/**
 * The item table: every stored vector in one growing Float32Array, addressed by slot. A slot is
 * also the item's label in the FAISS index (FAISS numbers vectors in insertion order), so the
 * table and the index stay aligned as long as both only append and both compact the same way.
 *
 * Removal leaves a tombstone (a slot whose id is null): string ids never move, labels never shift
 * under a live item, and `compact()` later drops the dead slots in order.
 */
export class ItemTable<T> {
  /** vectors, slot-major; capacity grows by doubling */
  private buf: Float32Array;
  /** id per slot, null for removed items */
  private slotIds: (string | null)[] = [];
  private slotData: (T | undefined)[] = [];
  private readonly bySlot = new Map<string, number>();

  constructor(readonly dimension: number) {
    this.buf = new Float32Array(dimension * 64);
  }

  /** slots in use, live or dead */
  get size(): number {
    return this.slotIds.length;
  }

  /** live items */
  get live(): number {
    return this.bySlot.size;
  }

  /** dead slots (tombstones) */
  get dead(): number {
    return this.slotIds.length - this.bySlot.size;
  }

  /** the raw vector buffer; slot `s` starts at `s * dimension` */
  get vectors(): Float32Array {
    return this.buf;
  }

  has(id: string): boolean {
    return this.bySlot.has(id);
  }

  slotOf(id: string): number | undefined {
    return this.bySlot.get(id);
  }

  /** id at `slot`, or null when the slot is dead or out of range */
  idAt(slot: number): string | null {
    return this.slotIds[slot] ?? null;
  }

  dataAt(slot: number): T | undefined {
    return this.slotData[slot];
  }

  /** a view (not a copy) of the vector at `slot` */
  vectorAt(slot: number): Float32Array {
    return this.buf.subarray(slot * this.dimension, (slot + 1) * this.dimension);
  }

  /** a view of the vectors of slots [from, to) */
  range(from: number, to: number): Float32Array {
    return this.buf.subarray(from * this.dimension, to * this.dimension);
  }

  /** Append a live item; the caller has checked that `id` is not live. Returns its slot. */
  append(id: string, vector: Float32Array, data: T | undefined): number {
    const slot = this.slotIds.length;
    this.reserve(slot + 1);
    this.buf.set(vector, slot * this.dimension);
    this.slotIds.push(id);
    this.slotData.push(data);
    this.bySlot.set(id, slot);
    return slot;
  }

  /** Append a dead slot (restoring a saved table whose FAISS index still holds the label). */
  appendDead(vector: Float32Array): void {
    const slot = this.slotIds.length;
    this.reserve(slot + 1);
    this.buf.set(vector, slot * this.dimension);
    this.slotIds.push(null);
    this.slotData.push(undefined);
  }

  /** Tombstone `id`; returns its former slot, or undefined when it was not live. */
  kill(id: string): number | undefined {
    const slot = this.bySlot.get(id);
    if (slot === undefined) return undefined;
    this.bySlot.delete(id);
    this.slotIds[slot] = null;
    this.slotData[slot] = undefined;
    return slot;
  }

  /** Slots of the tombstones, ascending. */
  deadSlots(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.slotIds.length; s++) if (this.slotIds[s] === null) out.push(s);
    return out;
  }

  /** Drop the tombstones, keeping the live items in slot order (as FAISS's flat remove_ids does). */
  compact(): void {
    const d = this.dimension;
    let w = 0;
    for (let r = 0; r < this.slotIds.length; r++) {
      const id = this.slotIds[r]!;
      if (id === null) continue;
      if (w !== r) {
        this.buf.copyWithin(w * d, r * d, (r + 1) * d);
        this.slotIds[w] = id;
        this.slotData[w] = this.slotData[r];
        this.bySlot.set(id, w);
      }
      w++;
    }
    this.slotIds.length = w;
    this.slotData.length = w;
  }

  /** Live items in slot order. */
  *entries(): IterableIterator<{ slot: number; id: string; data: T | undefined }> {
    for (let s = 0; s < this.slotIds.length; s++) {
      const id = this.slotIds[s];
      if (id !== null && id !== undefined) yield { slot: s, id, data: this.slotData[s] };
    }
  }

  private reserve(slots: number): void {
    const need = slots * this.dimension;
    if (need <= this.buf.length) return;
    const next = new Float32Array(Math.max(need, this.buf.length * 2));
    next.set(this.buf);
    this.buf = next;
  }
}
