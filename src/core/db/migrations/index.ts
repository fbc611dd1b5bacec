import type { Migration } from "kysely";
import * as pipeline from "./0001_pipeline.js";
import * as prefillAndTrace from "./0002_prefill_and_trace.js";
import * as push from "./0003_push.js";
import * as certificates from "./0004_certificates.js";
import * as registryCommands from "./0006_registry_commands.js";
import * as ledgerHeads from "./0008_ledger_heads.js";
import * as cluster from "./0009_cluster.js";
import * as deliveryOperations from "./0010_delivery_operations.js";
import * as commandRetention from "./0011_command_retention.js";
import * as leanDeliveries from "./0012_lean_deliveries.js";
import * as commandsByParent from "./0013_commands_by_parent.js";
import * as headsKnowFollowers from "./0014_heads_know_followers.js";
import * as statsCounters from "./0015_stats_counters.js";
import * as oneFinishedIndex from "./0016_one_finished_index.js";

/** Every migration, in order. A new one is appended here; none is ever edited once released. */
export const MIGRATIONS: Record<string, Migration> = {
  "0001_pipeline": pipeline,
  "0002_prefill_and_trace": prefillAndTrace,
  "0003_push": push,
  "0004_certificates": certificates,
  "0006_registry_commands": registryCommands,
  "0008_ledger_heads": ledgerHeads,
  "0009_cluster": cluster,
  "0010_delivery_operations": deliveryOperations,
  "0011_command_retention": commandRetention,
  "0012_lean_deliveries": leanDeliveries,
  "0013_commands_by_parent": commandsByParent,
  "0014_heads_know_followers": headsKnowFollowers,
  "0015_stats_counters": statsCounters,
  "0016_one_finished_index": oneFinishedIndex,
};
