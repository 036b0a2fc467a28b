// A small typed client for the Koppel API, the way a front-end team would write one.
// Every type comes from generated/koppel.ts, which openapi-typescript makes from
// openapi.yaml (`npm run gen`): when the contract changes, `tsc` says what broke.
import type { components, paths } from "../generated/koppel";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

/** The query parameters an operation accepts, as openapi.yaml declares them. */
export type Query<P extends keyof paths> = paths[P] extends { get: { parameters: { query?: infer Q } } }
  ? NonNullable<Q>
  : never;

/** A non-2xx answer: always application/problem+json, with the field errors of a 400/422. */
export class ProblemError extends Error {
  constructor(readonly status: number, readonly problem: Problem, readonly requestId: string | null) {
    super(`${status} ${problem.title}: ${problem.detail}`);
  }
}

export interface Answer<T> {
  status: number;
  body: T;
  etag: string | null;
  replayed: boolean; // Idempotent-Replayed: true on a replay of a POST
  requestId: string | null;
}

export class Koppel {
  constructor(readonly base: string, private readonly token: string) {}

  async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
    const h: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: "application/json", ...headers };
    if (body !== undefined) h["Content-Type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    const init: RequestInit = { method, headers: h };
    if (body !== undefined) init.body = JSON.stringify(body);
    const r = await fetch(this.base + path, init);
    const requestId = r.headers.get("X-Request-Id");
    const text = await r.text();
    if (!r.ok) {
      if (!(r.headers.get("Content-Type") ?? "").startsWith("application/problem+json")) {
        throw new Error(`${method} ${path}: ${r.status} without a problem body`);
      }
      throw new ProblemError(r.status, JSON.parse(text) as Problem, requestId);
    }
    return {
      status: r.status,
      body: (text ? JSON.parse(text) : undefined) as T,
      etag: r.headers.get("ETag"),
      replayed: r.headers.get("Idempotent-Replayed") === "true",
      requestId,
    };
  }

  /** Every item of a list, following next_cursor until it is null. */
  async *walk<P extends "/v1/participants" | "/v1/programmes" | "/v1/pairs">(
    path: P,
    query: Query<P>,
  ): AsyncGenerator<ListItem<P>> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    for (;;) {
      const page = await this.call<ListOf<P>>("GET", `${path}?${params}`);
      for (const item of page.body.items) yield item as ListItem<P>;
      if (page.body.next_cursor === null) return;
      params.set("cursor", page.body.next_cursor);
    }
  }

  createProgramme(body: Schemas["ProgrammeCreate"], idempotencyKey: string) {
    return this.call<Schemas["Programme"]>("POST", "/v1/programmes", body, { "Idempotency-Key": idempotencyKey });
  }

  createParticipant(body: Schemas["ParticipantCreate"], idempotencyKey: string) {
    return this.call<Schemas["Participant"]>("POST", "/v1/participants", body, { "Idempotency-Key": idempotencyKey });
  }

  getParticipant(id: string) {
    return this.call<Schemas["Participant"]>("GET", `/v1/participants/${id}`);
  }

  /** A merge patch that only applies if nobody changed the participant since `etag`. */
  patchParticipant(id: string, patch: Schemas["ParticipantPatch"], etag: string) {
    return this.call<Schemas["Participant"]>("PATCH", `/v1/participants/${id}`, patch, { "If-Match": etag });
  }
}

type ListOf<P> = P extends "/v1/participants"
  ? Schemas["ParticipantList"]
  : P extends "/v1/programmes"
    ? Schemas["ProgrammeList"]
    : Schemas["PairList"];
type ListItem<P> = ListOf<P>["items"][number];
