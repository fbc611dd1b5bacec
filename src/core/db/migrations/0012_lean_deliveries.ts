import { sql, type Kysely } from "kysely";

/**
 * A cheaper delivery row to append and to update.
 *
 * - No foreign key from deliveries to subscriptions: it checked (and share-locked) the
 *   subscription once per appended row. The append now locks each subscription of its batch
 *   once (postgres/append.ts), and a subscription's deletion removes its deliveries itself, in
 *   its own transaction, as the cascade did.
 * - The per-subject index holds only the rows queued behind a head: a head is found by the
 *   unique index of live heads, so a message that becomes its subject's head at once (the usual
 *   case) writes one index entry less.
 * - More room on each page, so that a lease finds space for its new row version on the same
 *   page and stays a HOT update (no index entries) more often.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE deliveries DROP CONSTRAINT deliveries_subscription_id_fkey`.execute(db);
  await sql`
    CREATE FUNCTION delete_subscription_deliveries() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
      DELETE FROM deliveries WHERE subscription_id = OLD.id;
      RETURN OLD;
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER subscriptions_delete_deliveries AFTER DELETE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION delete_subscription_deliveries()`.execute(db);

  await sql`DROP INDEX deliveries_pending_by_subject`.execute(db);
  await sql`CREATE INDEX deliveries_queued_by_subject ON deliveries (subscription_id, subject, seq) WHERE state = 'pending' AND phase = 1 AND NOT is_head`.execute(db);

  await sql`ALTER TABLE deliveries SET (fillfactor = 50)`.execute(db);
}
