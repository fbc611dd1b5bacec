/** Ids one subscription (or consumer) received; `expected` fills as notifications are accepted. */
export class Tally {
  readonly ids = new Map<string, number>();
  received = 0;
  /** When the last id arrived. */
  lastAt = 0;

  constructor(
    readonly expected: Set<string>,
    readonly total: number,
  ) {}

  add(id: string, at: number): void {
    this.received++;
    this.ids.set(id, (this.ids.get(id) ?? 0) + 1);
    this.lastAt = at;
  }

  get complete(): boolean {
    return this.ids.size >= this.total;
  }

  /** Every expected id exactly once, nothing else. */
  check() {
    let missing = 0;
    for (const id of this.expected) if (!this.ids.has(id)) missing++;
    const unexpected = [...this.ids.keys()].filter((id) => !this.expected.has(id)).length;
    const duplicates = this.received - this.ids.size;
    const ok = missing === 0 && unexpected === 0 && duplicates === 0 && this.ids.size === this.total;
    return { distinct: this.ids.size, received: this.received, missing, unexpected, duplicates, ok };
  }
}
