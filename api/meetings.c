/* Meetings of a pair: /v1/pairs/{id}/meetings (log and list), /v1/meetings/{id}
 * (read, merge-patch) and /v1/meetings (the staff list with filters; mentors and
 * mentees get their own pairs' meetings there too).
 * Who sees a pair's meetings: coordinators of its programme, its own coach (read
 * only; unlike pair_visible, not every coach of the programme), its mentor and
 * mentee. Logging and editing take the pair's row lock (FOR SHARE) so that no
 * meeting lands on a pair that is being closed or declined at the same moment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/checks.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

/* Fields the service sets; a body naming them is told so (422), not "unknown". */
static const char *const READ_ONLY[] = {"id", "pair_id", "reported_by", "created_at", "updated_at", NULL};

/* The caller's scope is $1..$4 of every scoped query below. */
#define SCOPE_PARAMS(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)
/* Whether the caller may read the meetings of pair x. */
#define IN_SCOPE(x)                                                                                   \
  "CASE $1 WHEN 'coordinator' THEN $3::boolean OR " x ".programme_id = ANY($4::uuid[]) "              \
  "WHEN 'coach' THEN " x ".coach_id = $2::uuid AND ($3::boolean OR " x ".programme_id = ANY($4::uuid[])) " \
  "WHEN 'mentor' THEN " x ".mentor_id = $2::uuid WHEN 'mentee' THEN " x ".mentee_id = $2::uuid "      \
  "ELSE false END"

/* The pair's facts a write needs, as the first columns of SQL_PAIR* and SQL_MEETING_FOR_UPDATE:
 * status, the date it was proposed and today (both UTC, YYYY-MM-DD), programme. */
enum { C_STATUS, C_PROPOSED_ON, C_TODAY, C_PROGRAMME, C_JSON, C_REPORTED_BY };
#define PAIR_FACTS(x)                                                                      \
  "SELECT " x ".status, to_char(" x ".created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "      \
  "  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), " x ".programme_id::text"

static const char SQL_PAIR[] = PAIR_FACTS("x") " FROM pairs x WHERE x.id = $5 AND " IN_SCOPE("x");
static const char SQL_PAIR_FOR_SHARE[] =
  PAIR_FACTS("x") " FROM pairs x WHERE x.id = $5 AND " IN_SCOPE("x") " FOR SHARE OF x";

static const char SQL_MEETING[] =
  "SELECT meeting_json(m)::text FROM meetings m JOIN pairs x ON x.id = m.pair_id "
  "WHERE m.id = $5 AND " IN_SCOPE("x");
static const char SQL_MEETING_FOR_UPDATE[] =
  PAIR_FACTS("x") ", meeting_json(m)::text, m.reported_by::text "
  "FROM meetings m JOIN pairs x ON x.id = m.pair_id WHERE m.id = $5 AND " IN_SCOPE("x")
  " FOR UPDATE OF m FOR SHARE OF x";

/* Topics of $2 (a JSON array) that are not keys of programme $1's vocabulary: index, key. */
static const char SQL_UNKNOWN_TOPICS[] =
  "SELECT (t.o - 1)::text, t.k FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS t(k, o) "
  "WHERE NOT EXISTS (SELECT 1 FROM programme_topics v WHERE v.programme_id = $1 AND v.key = t.k) "
  "ORDER BY t.o";

static bool id_ok(struct req *r, const char *what) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "no %s %s is visible to you", what, r->param[0]);
  return false;
}

/* Runs sql (one of the above) for the object in r->param[0]; sends 404 and
 * returns NULL when it is absent or not visible to the caller. */
static PGresult *load(struct req *r, const char *sql, const char *what) {
  if (!id_ok(r, what)) return NULL;
  const char *p[] = {SCOPE_PARAMS(r), r->param[0]};
  PGresult *res = req_exec(r, sql, 5, p);
  if (res && PQntuples(res) == 0) {
    PQclear(res);
    reply_problem(r, 404, "no %s %s is visible to you", what, r->param[0]);
    return NULL;
  }
  return res;
}

/* Validates a meeting body, or with partial a merge patch. Returns a copy
 * without the read-only fields (caller decrefs), NULL after a 500. */
static json_t *check_body(struct req *r, bool partial, json_t *errors, bool *unknown) {
  json_t *doc = json_deep_copy(r->body);
  if (!doc) {
    reply_problem(r, 500, "out of memory");
    return NULL;
  }
  fields_strip(doc, READ_ONLY, "is read-only (set by the service)", errors);
  if (partial) fields_check_patch(doc, meeting_fields, "", errors, unknown);
  else fields_check(doc, meeting_fields, "", errors, unknown);
  return doc;
}

/* Meetings are logged and edited only while the pair is open. */
static bool pair_open(struct req *r, const PGresult *pair, bool edit) {
  const char *s = PQgetvalue(pair, 0, C_STATUS);
  if (strcmp(s, "declined") && strcmp(s, "completed") && strcmp(s, "ended")) return true;
  if (edit)
    reply_problem(r, 409, "this pair is %s: its meetings can no longer be changed (only those of a proposed, "
                  "accepted or active pair can)", s);
  else
    reply_problem(r, 409, "meetings are logged only on a proposed, accepted or active pair; this pair is %s", s);
  return false;
}

/* Topics (when given) must be keys of the programme's vocabulary; one error per
 * unknown key. false after a database error (reply sent). */
static bool check_topics(struct req *r, const json_t *doc, const PGresult *pair, json_t *errors) {
  json_t *topics = json_object_get(doc, "topics");
  if (!json_array_size(topics)) return true;
  char *text = json_dumps(topics, JSON_COMPACT);
  if (!text) {
    reply_problem(r, 500, "out of memory");
    return false;
  }
  const char *programme = PQgetvalue(pair, 0, C_PROGRAMME);
  const char *p[] = {programme, text};
  PGresult *res = req_exec(r, SQL_UNKNOWN_TOPICS, 2, p);
  free(text);
  if (!res) return false;
  for (int i = 0; i < PQntuples(res); i++) {
    char ptr[32];
    snprintf(ptr, sizeof ptr, "/topics/%s", PQgetvalue(res, i, 0));
    problem_add(errors, ptr, "'%s' is not a topic of the programme's vocabulary (/v1/programmes/%s/topics)",
                PQgetvalue(res, i, 1), programme);
  }
  PQclear(res);
  return true;
}

/* Every writable column from the complete meeting j; topics keep their order. */
#define MEETING_COLUMNS(j)                                                                           \
  "(" j "->>'held_on')::date, (" j "->>'duration_minutes')::int, " j "->>'mode', " j "->>'place', "  \
  "ARRAY(SELECT t FROM jsonb_array_elements_text(coalesce(" j "->'topics', '[]')) WITH ORDINALITY "  \
  "  AS a(t, o) ORDER BY o), " j "->>'initiated_by', " j "->>'summary', " j "->>'next_steps'"

static void create(struct req *r) {
  static const char sql[] =
    "INSERT INTO meetings (pair_id, reported_by, held_on, duration_minutes, mode, place, topics, "
    "  initiated_by, summary, next_steps) "
    "SELECT $1, $2, " MEETING_COLUMNS("j") " FROM (SELECT $3::jsonb AS j) s "
    "RETURNING id::text, meeting_json(meetings)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *pair = NULL, *res = NULL;
  json_t *doc = NULL;
  char *text = NULL;
  if (!id_ok(r, "pair") || !(doc = check_body(r, false, errors, &unknown))) goto out;
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(pair = load(r, SQL_PAIR_FOR_SHARE, "pair")) || !pair_open(r, pair, false)) goto out;
  meeting_check_held_on(doc, PQgetvalue(pair, 0, C_PROPOSED_ON), PQgetvalue(pair, 0, C_TODAY), errors);
  if (!check_topics(r, doc, pair, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(doc, JSON_COMPACT);
  const char *p[] = {r->param[0], r->claims.sub, text};
  if (!text || !(res = req_exec(r, sql, 3, p)) || !req_commit(r)) goto out;
  reply_created(r, "/v1/meetings/", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(doc);
  free(text);
  PQclear(pair);
  PQclear(res);
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed)) return;
  PGresult *res = load(r, SQL_MEETING, "meeting");
  if (!res) return;
  reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

/* The reporter edits their own report; coordinators any in their programmes. */
static void patch(struct req *r) {
  static const char sql[] =
    "UPDATE meetings SET (held_on, duration_minutes, mode, place, topics, initiated_by, summary, "
    "  next_steps) = (SELECT " MEETING_COLUMNS("j") ") "
    "FROM (SELECT $2::jsonb AS j) s WHERE id = $1 RETURNING meeting_json(meetings)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *cur = NULL, *res = NULL;
  json_t *doc = NULL, *merged = NULL;
  char *text = NULL;
  if (!id_ok(r, "meeting") || !(doc = check_body(r, true, errors, &unknown))) goto out;
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(cur = load(r, SQL_MEETING_FOR_UPDATE, "meeting"))) goto out;
  if (r->claims.role != ROLE_COORDINATOR && strcmp(PQgetvalue(cur, 0, C_REPORTED_BY), r->claims.sub) != 0) {
    reply_problem(r, 403, "only the person who reported a meeting, or a coordinator, may change it");
    goto out;
  }
  if (!req_if_match(r, PQgetvalue(cur, 0, C_JSON)) || !pair_open(r, cur, true)) goto out;
  meeting_check_held_on(doc, PQgetvalue(cur, 0, C_PROPOSED_ON), PQgetvalue(cur, 0, C_TODAY), errors);
  if (!check_topics(r, doc, cur, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
  merged = json_loads(PQgetvalue(cur, 0, C_JSON), 0, NULL);
  if (!merged) {
    reply_problem(r, 500, "could not read the stored meeting");
    goto out;
  }
  merge_patch(merged, doc);
  text = json_dumps(merged, JSON_COMPACT);
  const char *p[] = {r->param[0], text};
  if (text && (res = req_exec(r, sql, 2, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(doc);
  json_decref(merged);
  free(text);
  PQclear(cur);
  PQclear(res);
}

/* from and to bound held_on, both inclusive. */
static bool query_range(struct req *r, const char **from, const char **to) {
  if (!req_query_date(r, "from", from) || !req_query_date(r, "to", to)) return false;
  if (!*from || !*to || strcmp(*from, *to) <= 0) return true;
  reply_problem(r, 400, "query parameter 'from' (%s) must not be after 'to' (%s)", *from, *to);
  return false;
}

/* One pair's meetings, in the order they were logged. */
static void list_for_pair(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "from", "to", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT m.seq, meeting_json(m) AS j FROM meetings m "
    "  WHERE m.pair_id = $1 AND m.seq > $2 "
    "    AND ($3::date IS NULL OR m.held_on >= $3) AND ($4::date IS NULL OR m.held_on <= $4) "
    "    AND ($5::timestamptz IS NULL OR m.updated_at >= $5) "
    "  ORDER BY m.seq LIMIT $6::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $6) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $6 FROM page)";
  int limit;
  long long after;
  const char *from, *to, *since;
  char scope[64];
  /* a cursor is valid for the pair that issued it only */
  snprintf(scope, sizeof scope, "pair-meetings:%.36s", r->param[0]);
  if (!req_check_query(r, allowed) || !id_ok(r, "pair") || !req_page(r, scope, &limit, &after) ||
      !query_range(r, &from, &to) || !req_query_timestamp(r, "updated_since", &since))
    return;
  PGresult *pair = load(r, SQL_PAIR, "pair");
  if (!pair) return;
  PQclear(pair);
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {r->param[0], a, from, to, since, l};
  PGresult *res = req_exec(r, sql, 6, p);
  if (!res) return;
  reply_page(r, res, scope);
  PQclear(res);
}

/* Every meeting the caller may read: coordinators their programmes, coaches
 * the pairs they coach, mentors and mentees their own pairs. */
static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "programme_id", "pair_id", "from", "to",
                                        "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT m.seq, meeting_json(m) AS j FROM meetings m JOIN pairs x ON x.id = m.pair_id "
    "  WHERE m.seq > $5 AND " IN_SCOPE("x")
    "    AND ($6::uuid IS NULL OR x.programme_id = $6) AND ($7::uuid IS NULL OR m.pair_id = $7) "
    "    AND ($8::date IS NULL OR m.held_on >= $8) AND ($9::date IS NULL OR m.held_on <= $9) "
    "    AND ($10::timestamptz IS NULL OR m.updated_at >= $10) "
    "  ORDER BY m.seq LIMIT $11::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $11) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $11 FROM page)";
  int limit;
  long long after;
  const char *prg, *pair, *from, *to, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "meetings", &limit, &after) ||
      !req_query_uuid(r, "programme_id", &prg) || !req_query_uuid(r, "pair_id", &pair) ||
      !query_range(r, &from, &to) || !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {SCOPE_PARAMS(r), a, prg, pair, from, to, since, l};
  PGresult *res = req_exec(r, sql, 11, p);
  if (!res) return;
  reply_page(r, res, "meetings");
  PQclear(res);
}

#define READERS (STAFF | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))
#define WRITERS (ROLE_BIT(ROLE_COORDINATOR) | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))

static const struct route routes[] = {
  {"GET", "/v1/pairs/{id}/meetings", list_for_pair, 0, READERS},
  {"POST", "/v1/pairs/{id}/meetings", create, R_BODY, WRITERS},
  {"GET", "/v1/meetings", list, 0, READERS},
  {"GET", "/v1/meetings/{id}", get_one, 0, READERS},
  {"PATCH", "/v1/meetings/{id}", patch, R_BODY | R_MERGE_PATCH, WRITERS},
  {NULL, NULL, NULL, 0, 0}};

void meetings_register(void) { routes_add(routes); }
