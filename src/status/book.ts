/**
 * The bounded book both status views keep (probes.ts: one row per neighbour, method and size; udp.ts: one per
 * neighbour): rows by key, each stamped when last fed. A row unfed for `forgetMs` goes; when the book is full, the
 * row fed longest ago makes room (Map order is insertion order; a fed row moves last). O(maxRows), whatever the mesh.
 */
export interface Stamped {
  lastAt: number;
}

export interface Book<R extends Stamped> {
  /** The row for `key`, made by `make` if new, stamped `now` and moved last. */
  feed(key: string, now: number): R;
  /** The rows fed within `forgetMs` of `now`, oldest-fed first. */
  live(now: number): IterableIterator<R>;
}

export function createBook<R extends Stamped>(make: () => R, maxRows: number, forgetMs: number): Book<R> {
  const rows = new Map<string, R>();
  const prune = (now: number): void => {
    for (const [k, row] of rows) if (now - row.lastAt > forgetMs) rows.delete(k);
  };
  return {
    feed(key, now) {
      let row = rows.get(key);
      if (!row) {
        if (rows.size >= maxRows) {
          prune(now);
          if (rows.size >= maxRows) rows.delete(rows.keys().next().value as string);
        }
        row = make();
      } else rows.delete(key);
      rows.set(key, row);
      row.lastAt = now;
      return row;
    },
    live(now) {
      prune(now);
      return rows.values();
    },
  };
}
