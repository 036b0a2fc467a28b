// What a front end does with Koppel, typed from openapi.yaml:
//   KOPPEL_API=http://127.0.0.1:8080 KOPPEL_TOKEN=<coordinator token, prg "*"> node dist/src/main.js
// Creates a programme and three participants (each POST with an Idempotency-Key, one
// retried), walks the participant list two at a time, edits one with If-Match, shows
// the 412 a stale ETag gets and the 400 a bad query gets. Exits 1 on anything unexpected.
import { randomUUID } from "node:crypto";

import { Koppel, ProblemError, type Schemas } from "./koppel";

function must(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`unexpected: ${what}`);
}

async function main(): Promise<void> {
  const token = process.env["KOPPEL_TOKEN"];
  must(token, "KOPPEL_TOKEN is not set");
  const api = new Koppel(process.env["KOPPEL_API"] ?? "http://127.0.0.1:8080", token);
  const run = randomUUID().slice(0, 8);

  // POST with an Idempotency-Key; the retry (say after a timeout) gets the same answer back
  const key = `ts-example-${run}`;
  const created = await api.createProgramme({ name: `TypeScript example ${run}`, status: "running" }, key);
  const retried = await api.createProgramme({ name: `TypeScript example ${run}`, status: "running" }, key);
  must(created.status === 201 && retried.replayed && retried.body.id === created.body.id, "the retry was replayed");
  const programme: Schemas["Programme"] = created.body;
  console.log(`programme ${programme.id} created (${created.status}); retry replayed: ${retried.replayed}`);

  const names: Array<[string, string]> = [["Amal", "Haddad"], ["Jonas", "Peeters"], ["Sara", "Ahmadi"]];
  for (const [given, family] of names) {
    const body: Schemas["ParticipantCreate"] = {
      programme_id: programme.id, kind: "mentee", given_name: given, family_name: family,
      languages: [{ code: "nl", level: "B2" }],
    };
    await api.createParticipant(body, `ts-example-${run}-${given}`);
  }

  // cursor pagination: 2 per page, until next_cursor is null
  const seen: Schemas["Participant"][] = [];
  for await (const p of api.walk("/v1/participants", { programme_id: programme.id, limit: 2 })) seen.push(p);
  must(seen.length === names.length, `${seen.length} participants listed`);
  console.log(`walked ${seen.length} participants: ${seen.map((p) => `${p.given_name} (${p.status})`).join(", ")}`);

  // optimistic concurrency: If-Match with the ETag of the last read
  const first = seen[0];
  must(first, "a participant");
  const read = await api.getParticipant(first.id);
  must(read.etag, "an ETag");
  const moved = await api.patchParticipant(first.id, { status: "screened" }, read.etag);
  console.log(`${moved.body.given_name}: ${read.body.status} -> ${moved.body.status}`);
  try {
    await api.patchParticipant(first.id, { region: "Gent" }, read.etag); // stale now
    must(false, "a stale ETag was accepted");
  } catch (e) {
    if (!(e instanceof ProblemError) || e.status !== 412) throw e;
    console.log(`stale ETag refused: ${e.message}`);
  }

  // every error is application/problem+json, naming what was wrong
  try {
    await api.call("GET", `/v1/participants?limit=500`);
    must(false, "limit=500 was accepted");
  } catch (e) {
    if (!(e instanceof ProblemError) || e.status !== 400) throw e;
    console.log(`bad query refused: ${e.message}`);
  }
  console.log("typescript example: ok");
}

main().catch((e: unknown) => {
  console.error(e instanceof ProblemError ? `${e.message} (request ${e.requestId})` : e);
  process.exit(1);
});
