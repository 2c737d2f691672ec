// Facts read on demand. `view` is a Facts whose groups are filled in as they are gathered;
// reading a group that is not there yet records it in `missing` and throws NeedFacts. The runner
// catches that (or sees `missing` even when role code swallowed the throw), gathers the groups
// and runs the reader again. Readers (role task builders, `when`, plan) are pure or read-only, so
// running one again is safe.
import { FACT_KEY_GROUP, type FactGroup } from './facts.ts';
import type { Facts } from './types.ts';

export class NeedFacts extends Error {
  constructor(readonly groups: FactGroup[]) {
    super(`facts needed: ${groups.join(', ')} (lvsplay gathers them and runs this again)`);
    this.name = 'NeedFacts';
  }
}

const views = new WeakSet<object>();
/** A LazyFacts view: walkers that copy vars (template's secret handling) pass it on as it is. */
export const isLazyFactsView = (v: unknown): boolean => typeof v === 'object' && v !== null && views.has(v);

export class LazyFacts {
  private readonly loaded: Partial<Facts> = {};
  private readonly have = new Set<FactGroup>();
  /** groups read while absent, since the last take() */
  readonly missing = new Set<FactGroup>();
  readonly view: Facts;

  constructor() {
    const groupOf = (key: string | symbol) => (typeof key === 'string' ? FACT_KEY_GROUP[key as keyof Facts] : undefined);
    const need = (groups: FactGroup[]): never => {
      for (const g of groups) this.missing.add(g);
      throw new NeedFacts(groups);
    };
    const allGroups = () => [...new Set(Object.values(FACT_KEY_GROUP))].filter((g) => !this.have.has(g));
    this.view = new Proxy(this.loaded as Facts, {
      get: (target, key) => {
        const g = groupOf(key);
        if (g && !this.have.has(g)) need([g]);
        return Reflect.get(target, key);
      },
      has: (target, key) => {
        const g = groupOf(key);
        if (g && !this.have.has(g)) need([g]);
        return Reflect.has(target, key);
      },
      ownKeys: (target) => {
        const absent = allGroups();
        if (absent.length) need(absent);
        return Reflect.ownKeys(target);
      },
    });
    views.add(this.view);
  }

  has(group: FactGroup): boolean {
    return this.have.has(group);
  }

  add(groups: FactGroup[], facts: Partial<Facts>): void {
    Object.assign(this.loaded, facts);
    for (const g of groups) this.have.add(g);
  }

  /** The groups readers asked for and did not get (cleared). */
  take(): FactGroup[] {
    const out = [...this.missing].filter((g) => !this.have.has(g));
    this.missing.clear();
    return out;
  }
}
