/* Employment outcomes: /v1/participants/{id}/outcomes (list, record) and
 * /v1/outcomes/{id} (read, merge-patch, delete). An outcome is a follow-up
 * measurement of a mentee after their pair ended: measured on a day (never in
 * the future), months after the end (counted from the close of the mentee's
 * last completed or ended pair when not given), a status and, when an
 * employer partner hired them, that partner.
 * Who: coordinators and coaches of the participant's programme read and
 * record; only coordinators delete; the participant reads their own
 * (outcomes_visible in sql/0006_outcomes_stats.sql). */
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
static const char *const READ_ONLY[] = {"id", "participant_id", "created_at", "updated_at", NULL};

/* The caller's scope is $1..$4 of every scoped query below. */
#define SCOPE_PARAMS(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)

/* The facts a write checks against, as the first columns of the queries
 * below: today in UTC and the day the participant's last pair closed (or
 * NULL); then the participant's kind, or the outcome as JSON. */
enum { F_TODAY, F_ENDED_ON, F_ROW };
#define FACTS(p) "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), participant_ended_on(" p ".id)::text"

static const char SQL_PARTICIPANT[] =
  "SELECT " FACTS("p") ", p.kind FROM participants p "
  "WHERE p.id = $5 AND outcomes_visible(p.programme_id, p.id, $1, $2, $3, $4)";
/* A recording locks the participant against a concurrent close of a pair. */
static const char SQL_PARTICIPANT_FOR_SHARE[] =
  "SELECT " FACTS("p") ", p.kind FROM participants p "
  "WHERE p.id = $5 AND outcomes_visible(p.programme_id, p.id, $1, $2, $3, $4) FOR SHARE OF p";

static const char SQL_OUTCOME[] =
  "SELECT outcome_json(o)::text FROM outcomes o JOIN participants p ON p.id = o.participant_id "
  "WHERE o.id = $5 AND outcomes_visible(p.programme_id, p.id, $1, $2, $3, $4)";
static const char SQL_OUTCOME_FOR_UPDATE[] =
  "SELECT " FACTS("p") ", outcome_json(o)::text FROM outcomes o JOIN participants p ON p.id = o.participant_id "
  "WHERE o.id = $5 AND outcomes_visible(p.programme_id, p.id, $1, $2, $3, $4) FOR UPDATE OF o";

static const char SQL_PARTNER_KNOWN[] = "SELECT 1 FROM partners WHERE id = $1";

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

/* Validates an outcome body, or with partial a merge patch. Returns a copy
 * without the read-only fields (caller decrefs), NULL after a 500. */
static json_t *check_body(struct req *r, bool partial, json_t *errors, bool *unknown) {
  json_t *doc = json_deep_copy(r->body);
  if (!doc) {
    reply_problem(r, 500, "out of memory");
    return NULL;
  }
  fields_strip(doc, READ_ONLY, "is read-only (set by the service)", errors);
  if (partial) fields_check_patch(doc, outcome_fields, "", errors, unknown);
  else fields_check(doc, outcome_fields, "", errors, unknown);
  return doc;
}

/* employer_partner_id (when set) names an existing partner; a 422 naming the
 * field beats a bare foreign-key error. false after a database error. */
static bool check_partner(struct req *r, const json_t *doc, json_t *errors) {
  const char *id = json_string_value(json_object_get(doc, "employer_partner_id"));
  if (!id) return true;
  const char *p[] = {id};
  PGresult *res = req_exec(r, SQL_PARTNER_KNOWN, 1, p);
  if (!res) return false;
  if (PQntuples(res) == 0) problem_add(errors, "/employer_partner_id", "is not a known partner");
  PQclear(res);
  return true;
}

/* Every writable column from the complete outcome j. */
#define OUTCOME_COLUMNS(j)                                                                           \
  "(" j "->>'measured_on')::date, (" j "->>'months_after_end')::int, " j "->>'status', "             \
  "(" j "->>'employer_partner_id')::uuid"

static void create(struct req *r) {
  static const char sql[] =
    "INSERT INTO outcomes (participant_id, measured_on, months_after_end, status, employer_partner_id) "
    "SELECT $1, " OUTCOME_COLUMNS("j") " FROM (SELECT $2::jsonb AS j) s "
    "RETURNING id::text, outcome_json(outcomes)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *who = NULL, *res = NULL;
  json_t *doc = NULL;
  char *text = NULL;
  if (!id_ok(r, "participant") || !(doc = check_body(r, false, errors, &unknown))) goto out;
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(who = load(r, SQL_PARTICIPANT_FOR_SHARE, "participant"))) goto out;
  if (strcmp(PQgetvalue(who, 0, F_ROW), "mentee") != 0) {
    reply_problem(r, 409, "outcomes are measured for mentees; participant %s is a %s", r->param[0],
                  PQgetvalue(who, 0, F_ROW));
    goto out;
  }
  outcome_check_facts(doc, PQgetvalue(who, 0, F_TODAY),
              PQgetisnull(who, 0, F_ENDED_ON) ? NULL : PQgetvalue(who, 0, F_ENDED_ON),
              !json_object_get(doc, "months_after_end"), errors);
  if (!check_partner(r, doc, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(doc, JSON_COMPACT);
  const char *p[] = {r->param[0], text};
  if (!text || !(res = req_exec(r, sql, 2, p)) || !req_commit(r)) goto out;
  reply_created(r, "/v1/outcomes/", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(doc);
  free(text);
  PQclear(who);
  PQclear(res);
}

/* One participant's outcomes, in the order they were recorded. */
static void list_for_participant(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT o.seq, outcome_json(o) AS j FROM outcomes o "
    "  WHERE o.participant_id = $1 AND o.seq > $2 AND ($3::timestamptz IS NULL OR o.updated_at >= $3) "
    "  ORDER BY o.seq LIMIT $4::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $4) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $4 FROM page)";
  int limit;
  long long after;
  const char *since;
  char scope[64];
  /* a cursor is valid for the participant that issued it only */
  snprintf(scope, sizeof scope, "participant-outcomes:%.36s", r->param[0]);
  if (!req_check_query(r, allowed) || !id_ok(r, "participant") || !req_page(r, scope, &limit, &after) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  PGresult *who = load(r, SQL_PARTICIPANT, "participant");
  if (!who) return;
  PQclear(who);
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {r->param[0], a, since, l};
  PGresult *res = req_exec(r, sql, 4, p);
  if (!res) return;
  reply_page(r, res, scope);
  PQclear(res);
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed)) return;
  PGresult *res = load(r, SQL_OUTCOME, "outcome");
  if (!res) return;
  reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

/* A merge patch. A new measured_on without months_after_end counts the
 * months again from the end of the participant's last pair (when one
 * closed; otherwise the stored months stay). */
static void patch(struct req *r) {
  static const char sql[] =
    "UPDATE outcomes SET (measured_on, months_after_end, status, employer_partner_id) = "
    "  (SELECT " OUTCOME_COLUMNS("j") ") "
    "FROM (SELECT $2::jsonb AS j) s WHERE id = $1 RETURNING outcome_json(outcomes)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *cur = NULL, *res = NULL;
  json_t *doc = NULL, *merged = NULL;
  char *text = NULL;
  if (!id_ok(r, "outcome") || !(doc = check_body(r, true, errors, &unknown))) goto out;
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(cur = load(r, SQL_OUTCOME_FOR_UPDATE, "outcome"))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, F_ROW))) goto out;
  merged = json_loads(PQgetvalue(cur, 0, F_ROW), 0, NULL);
  if (!merged) {
    reply_problem(r, 500, "could not read the stored outcome");
    goto out;
  }
  merge_patch(merged, doc);
  const char *ended_on = PQgetisnull(cur, 0, F_ENDED_ON) ? NULL : PQgetvalue(cur, 0, F_ENDED_ON);
  outcome_check_facts(merged, PQgetvalue(cur, 0, F_TODAY), ended_on,
              ended_on && json_object_get(doc, "measured_on") && !json_object_get(doc, "months_after_end"),
              errors);
  if (!check_partner(r, doc, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
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

static void delete(struct req *r) {
  static const char sql[] = "DELETE FROM outcomes WHERE id = $1";
  PGresult *cur = NULL, *res = NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_OUTCOME_FOR_UPDATE, "outcome"))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, F_ROW))) goto out;
  const char *p[] = {r->param[0]};
  if ((res = req_exec(r, sql, 1, p)) && req_commit(r)) reply_empty(r, 204);
out:
  PQclear(cur);
  PQclear(res);
}

#define READERS (STAFF | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))
#define COORD ROLE_BIT(ROLE_COORDINATOR)

static const struct route routes[] = {
  {"GET", "/v1/participants/{id}/outcomes", list_for_participant, 0, READERS},
  {"POST", "/v1/participants/{id}/outcomes", create, R_BODY, STAFF},
  {"GET", "/v1/outcomes/{id}", get_one, 0, READERS},
  {"PATCH", "/v1/outcomes/{id}", patch, R_BODY | R_MERGE_PATCH, STAFF},
  {"DELETE", "/v1/outcomes/{id}", delete, 0, COORD},
  {NULL, NULL, NULL, 0, 0}};

void outcomes_register(void) { routes_add(routes); }
