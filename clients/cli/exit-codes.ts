/** What scripts can rely on; documented in the README and in `certflow --help`. */
export const EXIT = { ok: 0, usage: 1, refused: 2, unreachable: 3, partlyRefused: 4, notAvailable: 5 } as const;

export class UsageError extends Error {}
/** Some items of a batch were refused, the others went through. */
export class PartlyRefusedError extends Error {}
/** The server answers, but has no such endpoint (an older or smaller deployment). */
export class NotAvailableError extends Error {}
