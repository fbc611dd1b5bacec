import type { Migration } from "kysely";
import * as pipeline from "./0001_pipeline.js";

/** Every migration, in order. A new one is appended here; none is ever edited once released. */
export const MIGRATIONS: Record<string, Migration> = {
  "0001_pipeline": pipeline,
};
