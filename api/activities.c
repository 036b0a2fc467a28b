/* Programme activities: /v1/activities (orientation sessions, workshops,
 * exchange evenings, trainings, thank-you events), registrations with a
 * waiting list, and attendance.
 * An activity belongs to a programme. Staff of the programme create and read
 * its activities, register anyone of the programme in the audience, cancel
 * registrations and record attendance. Mentors and mentees see the
 * activities of their programme whose audience includes them and register
 * or cancel only themselves (403 for someone else); an activity outside
 * their audience is not visible (404). The rules that need a lock or a
 * count live in sql/0014_trainings_activities.sql (activity_register,
 * activity_cancel, activity_attended), which raise the client's errors as
 * KPnnn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

static const char *const STATUSES[] = {"registered", "waitlisted", NULL};

static const char *const FIXED[] = {"id", "programme_id", "registered", "waitlisted", "attended", "created_at",
                                    "updated_at", NULL};

/* The caller's scope: role, sub, all programmes, programme ids. */
#define SCOPE(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)

static bool id_ok(struct req *r) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "no activity %s is visible to you", r->param[0]);
  return false;
}

static bool ids_ok(struct req *r) {
  if (v_uuid(r->param[0]) && v_uuid(r->param[1])) return true;
  reply_problem(r, 404, "no registration of participant %s for activity %s is visible to you", r->param[1],
                r->param[0]);
  return false;
}

static bool query_range(struct req *r, const char **from, const char **to) {
  if (!req_query_date(r, "from", from) || !req_query_date(r, "to", to)) return false;
  if (!*from || !*to || strcmp(*from, *to) <= 0) return true;
  reply_problem(r, 400, "query parameter 'from' (%s) must not be after 'to' (%s)", *from, *to);
  return false;
}

/* Staff create activities in the programmes of their claim. */
static void create(struct req *r) {
  static const char sql[] =
    "INSERT INTO activities (programme_id, kind, title, held_on, place, capacity, audience) "
    "SELECT g.id, j->>'kind', j->>'title', (j->>'held_on')::date, j->>'place', (j->>'capacity')::int, "
    "  j->>'audience' FROM (SELECT $1::jsonb AS j) s JOIN programmes g ON g.id = (j->>'programme_id')::uuid "
    "WHERE staff_in(g.id, $2::boolean, $3::uuid[]) "
    "RETURNING id::text, activity_json(activities)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *res = NULL;
  char *text = NULL;
  fields_check(r->body, activity_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    errors = NULL;
    goto out;
  }
  text = json_dumps(r->body, JSON_COMPACT);
  const char *p[] = {text, claims_all(r), claims_prg(r)};
  if (!text || !req_begin(r) || !(res = req_exec(r, sql, 3, p))) goto out;
  if (PQntuples(res) == 0) {
    problem_add(errors, "/programme_id", "no programme %s is visible to you",
                json_string_value(json_object_get(r->body, "programme_id")));
    reply_invalid(r, errors, false);
    errors = NULL;
    goto out;
  }
  if (!req_commit(r)) goto out;
  reply_created(r, "/v1/activities/", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
out:
  json_decref(errors);
  free(text);
  PQclear(res);
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT activity_json(a)::text FROM activities a WHERE a.id = $1 AND activity_visible(a, $2, $3, $4, $5)";
  if (!req_check_query(r, allowed) || !id_ok(r)) return;
  const char *p[] = {r->param[0], SCOPE(r)};
  PGresult *res = req_exec(r, sql, 5, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "no activity %s is visible to you", r->param[0]);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "programme_id", "kind", "audience", "from", "to",
                                        "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT a.seq, activity_json(a) AS j FROM activities a "
    "  WHERE a.seq > $5 AND activity_visible(a, $1, $2, $3, $4) "
    "    AND ($6::uuid IS NULL OR a.programme_id = $6) AND ($7::text IS NULL OR a.kind = $7) "
    "    AND ($8::text IS NULL OR a.audience = $8) "
    "    AND ($9::date IS NULL OR a.held_on >= $9) AND ($10::date IS NULL OR a.held_on <= $10) "
    "    AND ($11::timestamptz IS NULL OR a.updated_at >= $11) "
    "  ORDER BY a.seq LIMIT $12::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $12) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $12 FROM page)";
  int limit;
  long long after;
  const char *prg, *kind, *audience, *from, *to, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "activities", &limit, &after) ||
      !req_query_uuid(r, "programme_id", &prg) || !req_query_enum(r, "kind", activity_kinds, &kind) ||
      !req_query_enum(r, "audience", activity_audiences, &audience) || !query_range(r, &from, &to) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {SCOPE(r), a, prg, kind, audience, from, to, since, l};
  PGresult *res = req_exec(r, sql, 12, p);
  if (!res) return;
  reply_page(r, res, "activities");
  PQclear(res);
}

/* A merge patch by staff of the programme, with If-Match; the rules on
 * capacity, audience and date are activity_update's (sql/0014). */
static void patch(struct req *r) {
  static const char sql_current[] =
    "SELECT activity_json(a)::text FROM activities a WHERE a.id = $1 AND activity_visible(a, $2, $3, $4, $5) "
    "FOR UPDATE";
  static const char sql[] = "SELECT activity_update($1, $2::jsonb)::text";
  json_t *errors = json_array(), *doc = NULL;
  bool unknown = false;
  PGresult *cur = NULL, *res = NULL;
  char *text = NULL;
  if (!id_ok(r)) goto out;
  if (!(doc = json_deep_copy(r->body))) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  fields_strip(doc, FIXED, "cannot be changed (set at creation or by the service)", errors);
  fields_check_patch(doc, activity_patch_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    errors = NULL;
    goto out;
  }
  const char *p0[] = {r->param[0], SCOPE(r)};
  if (!req_begin(r) || !(cur = req_exec(r, sql_current, 5, p0))) goto out;
  if (PQntuples(cur) == 0) {
    reply_problem(r, 404, "no activity %s is visible to you", r->param[0]);
    goto out;
  }
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  text = json_dumps(doc, JSON_COMPACT);
  const char *p[] = {r->param[0], text};
  if (text && (res = req_exec(r, sql, 2, p)) && req_commit(r)) reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
out:
  json_decref(errors);
  json_decref(doc);
  free(text);
  PQclear(cur);
  PQclear(res);
}

/* ---------------------------------------------------------------- registrations */

static void register_one(struct req *r) {
  static const char sql[] = "SELECT activity_register($1, $2, $3, $4, $5, $6)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *res = NULL;
  if (!id_ok(r)) goto out;
  fields_check(r->body, activity_registration_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    errors = NULL;
    goto out;
  }
  const char *pid = json_string_value(json_object_get(r->body, "participant_id"));
  const char *p[] = {r->param[0], pid, SCOPE(r)};
  if (!req_begin(r) || !(res = req_exec(r, sql, 6, p)) || !req_commit(r)) goto out;
  char loc[128];
  snprintf(loc, sizeof loc, "/v1/activities/%s/registrations/%s", r->param[0], pid);
  set_header(r, "Location", loc);
  reply_json_text(r, 201, PQgetvalue(res, 0, 0), true);
out:
  json_decref(errors);
  PQclear(res);
}

/* Staff see every registration of a visible activity, a participant their own. */
static void list_registrations(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "status", "attended", "updated_since", NULL};
  static const char *const BOOLS[] = {"true", "false", NULL};
  static const char sql[] =
    "WITH a AS (SELECT a.id FROM activities a WHERE a.id = $1 AND activity_visible(a, $2, $3, $4, $5)), "
    "page AS (SELECT x.seq, registration_json(x) AS j FROM activity_registrations x "
    "  WHERE x.activity_id = $1 AND x.seq > $6 AND ($2 IN ('coordinator', 'coach') OR x.participant_id = $3) "
    "    AND ($7::text IS NULL OR x.status = $7) "
    "    AND ($8::boolean IS NULL OR (x.attended_at IS NOT NULL) = $8::boolean) "
    "    AND ($9::timestamptz IS NULL OR x.updated_at >= $9) "
    "  ORDER BY x.seq LIMIT $10::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $10) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $10 FROM page) FROM a";
  int limit;
  long long after;
  const char *status, *attended, *since;
  char scope[64];
  snprintf(scope, sizeof scope, "registrations:%.36s", r->param[0]);
  if (!req_check_query(r, allowed) || !id_ok(r) || !req_page(r, scope, &limit, &after) ||
      !req_query_enum(r, "status", STATUSES, &status) || !req_query_enum(r, "attended", BOOLS, &attended) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {r->param[0], SCOPE(r), a, status, attended, since, l};
  PGresult *res = req_exec(r, sql, 10, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "no activity %s is visible to you", r->param[0]);
  else reply_page(r, res, scope);
  PQclear(res);
}

static void get_registration(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT registration_json(x)::text FROM activity_registrations x JOIN activities a ON a.id = x.activity_id "
    "WHERE x.activity_id = $1 AND x.participant_id = $2 AND activity_visible(a, $3, $4, $5, $6) "
    "  AND ($3 IN ('coordinator', 'coach') OR x.participant_id = $4)";
  if (!req_check_query(r, allowed) || !ids_ok(r)) return;
  const char *p[] = {r->param[0], r->param[1], SCOPE(r)};
  PGresult *res = req_exec(r, sql, 6, p);
  if (!res) return;
  if (PQntuples(res) == 0)
    reply_problem(r, 404, "no registration of participant %s for activity %s is visible to you", r->param[1],
                  r->param[0]);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static void cancel(struct req *r) {
  static const char sql[] = "SELECT activity_cancel($1, $2, $3, $4, $5, $6)";
  if (!ids_ok(r)) return;
  const char *p[] = {r->param[0], r->param[1], SCOPE(r)};
  PGresult *res = NULL;
  if (req_begin(r) && (res = req_exec(r, sql, 6, p)) && req_commit(r)) reply_empty(r, 204);
  PQclear(res);
}

static void attended(struct req *r) {
  static const char sql[] = "SELECT activity_attended($1, $2, $3, $4, $5, $6)::text";
  if (!ids_ok(r)) return;
  if (!req_no_body(r)) return;
  const char *p[] = {r->param[0], r->param[1], SCOPE(r)};
  PGresult *res = NULL;
  if (req_begin(r) && (res = req_exec(r, sql, 6, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

#define READERS (STAFF | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))

static const struct route routes[] = {
  {"GET", "/v1/activities", list, 0, READERS},
  {"POST", "/v1/activities", create, R_BODY, STAFF},
  {"GET", "/v1/activities/{id}", get_one, 0, READERS},
  {"PATCH", "/v1/activities/{id}", patch, R_BODY | R_MERGE_PATCH, STAFF},
  {"GET", "/v1/activities/{id}/registrations", list_registrations, 0, READERS},
  {"POST", "/v1/activities/{id}/registrations", register_one, R_BODY, READERS},
  {"GET", "/v1/activities/{id}/registrations/{participant_id}", get_registration, 0, READERS},
  {"DELETE", "/v1/activities/{id}/registrations/{participant_id}", cancel, 0, READERS},
  {"POST", "/v1/activities/{id}/registrations/{participant_id}/attended", attended, R_BODY_OPTIONAL, STAFF},
  {NULL, NULL, NULL, 0, 0}};

void activities_register(void) { routes_add(routes); }
