import type { Executor } from "../../core/db/schema.js";

export interface ProducerRecord {
  id: string;
  name: string;
  description: string | null;
  createdAt: Date;
}

export interface ProducerStore {
  /** Returns undefined when the name is taken. */
  insert(producer: Omit<ProducerRecord, "createdAt">, tokenHash: string): Promise<ProducerRecord | undefined>;
  list(limit: number, afterName?: string): Promise<ProducerRecord[]>;
  delete(name: string): Promise<string | undefined>;
  /** Returns the producer's id, or undefined when there is none of that name. */
  replaceToken(name: string, tokenHash: string): Promise<string | undefined>;
}

export class PostgresProducerStore implements ProducerStore {
  constructor(private readonly db: Executor) {}

  async insert(producer: Omit<ProducerRecord, "createdAt">, tokenHash: string): Promise<ProducerRecord | undefined> {
    const row = await this.db
      .insertInto("producers")
      .values({ id: producer.id, name: producer.name, description: producer.description, token_hash: tokenHash })
      .onConflict((conflict) => conflict.column("name").doNothing())
      .returning(["id", "name", "description", "created_at"])
      .executeTakeFirst();
    return row && { id: row.id, name: row.name, description: row.description, createdAt: row.created_at };
  }

  async list(limit: number, afterName?: string): Promise<ProducerRecord[]> {
    let query = this.db.selectFrom("producers").select(["id", "name", "description", "created_at"]).orderBy("name").limit(limit);
    if (afterName !== undefined) query = query.where("name", ">", afterName);
    const rows = await query.execute();
    return rows.map((row) => ({ id: row.id, name: row.name, description: row.description, createdAt: row.created_at }));
  }

  async delete(name: string): Promise<string | undefined> {
    const row = await this.db.deleteFrom("producers").where("name", "=", name).returning("id").executeTakeFirst();
    return row?.id;
  }

  async replaceToken(name: string, tokenHash: string): Promise<string | undefined> {
    const row = await this.db.updateTable("producers").set({ token_hash: tokenHash }).where("name", "=", name).returning("id").executeTakeFirst();
    return row?.id;
  }
}
