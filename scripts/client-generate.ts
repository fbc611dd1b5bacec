// `npm run client:generate`: fetches /openapi.json from CERTFLOW_URL, or from a certflow started
// here for the purpose (its own schema and namespace, removed afterwards), and rewrites the
// client's generated types.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startTestSystem } from "../test/support/system.js";
import { CLIENT_TYPES_FILE, renderClientTypes } from "./client-types.js";

async function servedDocument(): Promise<unknown> {
  const given = process.env.CERTFLOW_URL;
  if (given) return fetchDocument(given);
  const system = await startTestSystem();
  try {
    return await fetchDocument(system.url);
  } finally {
    await system.destroy();
  }
}

async function fetchDocument(url: string): Promise<unknown> {
  const response = await fetch(new URL("/openapi.json", url));
  if (!response.ok) throw new Error(`GET ${url}/openapi.json answered ${response.status}`);
  return response.json();
}

const types = await renderClientTypes(await servedDocument());
writeFileSync(CLIENT_TYPES_FILE, types);
console.log(`wrote ${fileURLToPath(CLIENT_TYPES_FILE)} (${types.split("\n").length} lines)`);
