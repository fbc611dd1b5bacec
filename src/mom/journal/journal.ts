/** The notification journal: every accepted notification, as the dispatcher recorded it. */
export interface JournalRecord {
  id: string;
  seq: number;
  correlationId: string;
}

export interface NotificationJournal {
  /** The journaled notifications among these ids. */
  findMany(ids: readonly string[]): Promise<Map<string, JournalRecord>>;
}
