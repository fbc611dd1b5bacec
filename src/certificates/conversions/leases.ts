import { sql, type Kysely } from "kysely";
import type { Database, Executor } from "../../core/db/schema.js";
import type { Logger } from "../../core/logger.js";

/**
 * Which process works on which conversion: a session-level advisory lock per conversion, all
 * on one dedicated connection. A process that dies drops its connection and with it its
 * leases, so a restarted (or another) process takes the conversion over at once. The leases
 * only avoid doing the work twice; every step is safe to repeat regardless.
 */
export class ConversionLeases {
  private connection: Promise<Kysely<Database>> | undefined;
  private endSession: (() => void) | undefined;
  private session: Promise<void> | undefined;

  constructor(
    private readonly db: Executor,
    private readonly logger: Logger,
  ) {}

  async acquire(conversionId: string): Promise<boolean> {
    try {
      const connection = await this.open();
      const result = await sql<{ leased: boolean }>`SELECT pg_try_advisory_lock(${lockKey(conversionId)}) AS leased`.execute(connection);
      return result.rows[0]!.leased;
    } catch (error) {
      await this.reset();
      throw error;
    }
  }

  async release(conversionId: string): Promise<void> {
    const connection = this.connection && (await this.connection.catch(() => undefined));
    if (!connection) return;
    await sql`SELECT pg_advisory_unlock(${lockKey(conversionId)})`.execute(connection).catch((error: unknown) => {
      this.logger.warn({ err: error, conversionId }, "could not release a conversion lease; dropping the lease connection");
      return this.reset();
    });
  }

  /** Releases every lease and returns the connection to the pool. */
  async close(): Promise<void> {
    const connection = this.connection && (await this.connection.catch(() => undefined));
    if (connection) await sql`SELECT pg_advisory_unlock_all()`.execute(connection).catch(() => undefined);
    await this.reset();
  }

  private open(): Promise<Kysely<Database>> {
    this.connection ??= new Promise<Kysely<Database>>((resolve, reject) => {
      const released = new Promise<void>((done) => (this.endSession = done));
      this.session = this.db
        .connection()
        .execute(async (connection) => {
          resolve(connection);
          await released;
        })
        .catch((error: unknown) => reject(error));
    });
    return this.connection;
  }

  private async reset(): Promise<void> {
    this.connection = undefined;
    this.endSession?.();
    this.endSession = undefined;
    await this.session;
    this.session = undefined;
  }
}

/** Advisory locks are per database; the schema keeps deployments (and test runs) sharing one apart. */
const lockKey = (conversionId: string) => sql`hashtextextended(current_schema() || '/conversion/' || ${conversionId}, 0)`;
