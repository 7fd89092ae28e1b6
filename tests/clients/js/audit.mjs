// graphql-http's GraphQL-over-HTTP audit against the running gateway. Prints one JSON document:
// counts by level and status, and every check that did not pass.
import { auditServer } from "graphql-http";
import { config, emit } from "./lib.mjs";

const results = await auditServer({ url: `${config.url}/graphql` });
const counts = {};
const notPassed = [];
for (const result of results) {
  const level = result.name.split(" ")[0]; // MUST, SHOULD or MAY
  counts[level] ??= { ok: 0, warn: 0, error: 0, notice: 0 };
  counts[level][result.status] = (counts[level][result.status] ?? 0) + 1;
  if (result.status !== "ok") notPassed.push({ id: result.id, name: result.name, status: result.status, reason: result.reason });
}
emit({ total: results.length, counts, notPassed });
