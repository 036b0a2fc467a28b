/* Closing a relationship: feedback between mentor and mentee, and recognition.
 *   POST /v1/pairs/{id}/feedback          the pair's mentor or mentee, once each, after closure
 *   GET  /v1/pairs/{id}/feedback          staff of the programme (both sides at once); the mentor
 *                                         and mentee (their own, the other's once both wrote or
 *                                         14 days after closure: pair_feedback_view, sql/0015)
 *   GET  /v1/participants/{id}/recognitions  a participation record per completed pair
 * Researchers see no feedback: only the ratings, aggregated and suppressed, in the
 * programme statistics (feedback_stats, api/stats.c). */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

/* Fields the service sets; a body naming them is told so (422), not "unknown". */
static const char *const READ_ONLY[] = {"id", "pair_id", "author_role", "author_id", "created_at",
                                        "updated_at", NULL};

#define SCOPE_PARAMS(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)

static bool pair_id_ok(struct req *r) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "no pair %s is visible to you", r->param[0]);
  return false;
}

static void give(struct req *r) {
  /* $1 pair, $2..$5 scope. The row lock keeps the pair from being reopened meanwhile. */
  static const char sql_pair[] =
    "SELECT x.status FROM pairs x WHERE x.id = $1 AND pair_visible(x, $2, $3, $4, $5) FOR SHARE OF x";
  static const char sql_insert[] =
    "INSERT INTO pair_feedback (pair_id, author_role, author_id, rating, text) "
    "VALUES ($1, $2, $3, $4::int, $5) ON CONFLICT (pair_id, author_role) DO NOTHING "
    "RETURNING feedback_json(pair_feedback)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *pair = NULL, *res = NULL;
  if (!pair_id_ok(r)) goto out;
  json_t *body = json_deep_copy(r->body);
  if (!body) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  fields_strip(body, READ_ONLY, "is read-only (set by the service)", errors);
  fields_check(body, feedback_fields, "", errors, &unknown);
  json_decref(body);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    errors = NULL;
    goto out;
  }
  const char *p[] = {r->param[0], SCOPE_PARAMS(r)};
  if (!req_begin(r) || !(pair = req_exec(r, sql_pair, 5, p))) goto out;
  if (PQntuples(pair) == 0) {
    reply_problem(r, 404, "no pair %s is visible to you", r->param[0]);
    goto out;
  }
  const char *status = PQgetvalue(pair, 0, 0);
  if (strcmp(status, "completed") != 0 && strcmp(status, "ended") != 0) {
    reply_problem(r, 409, "feedback is left once the pair is completed or ended; this pair is %s", status);
    goto out;
  }
  char rating[16];
  snprintf(rating, sizeof rating, "%lld", (long long)json_integer_value(json_object_get(r->body, "rating")));
  json_t *text = json_object_get(r->body, "text");
  const char *ins[] = {r->param[0], role_name(r->claims.role), r->claims.sub, rating,
                       json_is_string(text) ? json_string_value(text) : NULL};
  if (!(res = req_exec(r, sql_insert, 5, ins))) goto out;
  if (PQntuples(res) == 0) {
    reply_problem(r, 409, "you have already left your feedback on this pair (it cannot be changed)");
    goto out;
  }
  if (!req_commit(r)) goto out;
  char loc[80];
  snprintf(loc, sizeof loc, "/v1/pairs/%s/feedback", r->param[0]);
  set_header(r, "Location", loc);
  reply_json_text(r, 201, PQgetvalue(res, 0, 0), true);
out:
  json_decref(errors);
  PQclear(pair);
  PQclear(res);
}

static void list(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT pair_feedback_view(x, $2)::text FROM pairs x WHERE x.id = $1 AND pair_visible(x, $2, $3, $4, $5)";
  if (!req_check_query(r, allowed) || !pair_id_ok(r)) return;
  const char *p[] = {r->param[0], SCOPE_PARAMS(r)};
  PGresult *res = req_exec(r, sql, 5, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "no pair %s is visible to you", r->param[0]);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

/* Staff of the participant's programme, the employer's integration client and the
 * person themselves; a counterpart who sees the profile is refused (403). */
static void recognitions(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT $2 NOT IN ('mentor', 'mentee') OR p.id = $3::uuid, "
    "  jsonb_build_object('participant_id', p.id, 'items', participant_recognitions(p.id))::text "
    "FROM participants p WHERE p.id = $1 AND participant_view(p, $2, $3, $4, $5, $6) IS NOT NULL";
  if (!req_check_query(r, allowed)) return;
  if (!v_uuid(r->param[0])) {
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
    return;
  }
  const char *p[] = {r->param[0], SCOPE_PARAMS(r), r->claims.partner[0] ? r->claims.partner : NULL};
  PGresult *res = req_exec(r, sql, 6, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
  else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
    reply_problem(r, 403, "only the person themselves and the programme's staff read a participant's recognitions");
  else reply_json_text(r, 200, PQgetvalue(res, 0, 1), true);
  PQclear(res);
}

#define PAIR_PEOPLE (ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))

static const struct route routes[] = {
  {"POST", "/v1/pairs/{id}/feedback", give, R_BODY, PAIR_PEOPLE},
  {"GET", "/v1/pairs/{id}/feedback", list, 0, STAFF | PAIR_PEOPLE},
  {"GET", "/v1/participants/{id}/recognitions", recognitions, 0,
   STAFF | PAIR_PEOPLE | ROLE_BIT(ROLE_INTEGRATION)},
  {NULL, NULL, NULL, 0, 0}};

void feedback_register(void) { routes_add(routes); }
