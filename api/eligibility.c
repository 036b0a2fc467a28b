/* Screening: GET /v1/participants/{id}/eligibility evaluates the programme's
 * eligibility rules (rules.eligibility) for one participant today, and
 * POST /v1/participants/{id}/certificates lets a coordinator record a
 * certificate earned elsewhere (trainings award theirs themselves).
 * The rules and their evaluation live in sql/0013 (participant_eligibility);
 * the gate that refuses `waiting` lives in api/participants.c.
 * Who: staff of the participant's programme and the participant themselves
 * read the eligibility; integration clients, counterparts and researchers
 * do not (screening stays with the programme). Only a coordinator of the
 * programme records a certificate. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

/* Set by the service; named as such (422) rather than "unknown field". */
static const char *const READ_ONLY[] = {"id", "training_id", "participant_id", NULL};

/* $1 participant, $2..$5 the caller's role, sub, all-programmes flag, prg. */
#define SCOPE_PARAMS(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)

static bool not_visible(struct req *r) {
  reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
  return false;
}

static void eligibility(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT participant_eligibility(p, current_date)::text FROM participants p WHERE p.id = $1 AND CASE "
    "  WHEN $2 IN ('coordinator', 'coach') THEN $4::boolean OR p.programme_id = ANY($5::uuid[]) "
    "  WHEN $2 IN ('mentor', 'mentee') THEN p.id = $3::uuid "
    "  ELSE false END";
  if (!req_check_query(r, allowed)) return;
  if (!v_uuid(r->param[0])) {
    not_visible(r);
    return;
  }
  const char *p[] = {r->param[0], SCOPE_PARAMS(r)};
  PGresult *res = req_exec(r, sql, 5, p);
  if (!res) return;
  if (PQntuples(res) == 0) not_visible(r);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static void record_certificate(struct req *r) {
  static const char sql_person[] =
    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM participants p "
    "WHERE p.id = $1 AND ($2::boolean OR p.programme_id = ANY($3::uuid[])) FOR SHARE OF p";
  static const char sql_partner[] = "SELECT 1 FROM partners WHERE id = $1";
  static const char sql_insert[] =
    "INSERT INTO certificates (participant_id, kind, issued_on, expires_on, issued_by_partner_id) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING certificate_json(certificates)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *person = NULL, *partner = NULL, *ins = NULL;
  json_t *doc = json_deep_copy(r->body);
  fields_strip(doc, READ_ONLY, "is read-only (set by the service; a training sets training_id)", errors);
  fields_check(doc, certificate_fields, "", errors, &unknown);
  const char *issued = json_string_value(json_object_get(doc, "issued_on"));
  const char *expires = json_string_value(json_object_get(doc, "expires_on"));
  const char *by = json_string_value(json_object_get(doc, "issued_by_partner_id"));
  if (!json_array_size(errors) && expires && strcmp(expires, issued) < 0)
    problem_add(errors, "/expires_on", "must not be before issued_on");
  if (json_array_size(errors)) goto invalid;
  if (!v_uuid(r->param[0])) {
    not_visible(r);
    goto out;
  }
  if (!req_begin(r)) goto out;
  const char *pp[] = {r->param[0], claims_all(r), claims_prg(r)};
  if (!(person = req_exec(r, sql_person, 3, pp))) goto out;
  if (PQntuples(person) == 0) {
    not_visible(r);
    goto out;
  }
  const char *today = PQgetvalue(person, 0, 0);
  if (strcmp(issued, today) > 0)
    problem_add(errors, "/issued_on", "must not be in the future (today is %s in UTC)", today);
  if (by) {
    const char *bp[] = {by};
    if (!(partner = req_exec(r, sql_partner, 1, bp))) goto out;
    if (PQntuples(partner) == 0) problem_add(errors, "/issued_by_partner_id", "is not a known partner");
  }
  if (json_array_size(errors)) goto invalid;
  const char *ip[] = {r->param[0], json_string_value(json_object_get(doc, "kind")), issued, expires, by};
  if (!(ins = req_exec(r, sql_insert, 5, ip)) || !req_commit(r)) goto out;
  char loc[96];
  snprintf(loc, sizeof loc, "/v1/participants/%s", r->param[0]);
  set_header(r, "Location", loc);
  reply_json_text(r, 201, PQgetvalue(ins, 0, 0), false);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(doc);
  PQclear(person);
  PQclear(partner);
  PQclear(ins);
}

#define READERS (STAFF | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))

static const struct route routes[] = {
  {"GET", "/v1/participants/{id}/eligibility", eligibility, 0, READERS},
  {"POST", "/v1/participants/{id}/certificates", record_certificate, R_BODY, ROLE_BIT(ROLE_COORDINATOR)},
  {NULL, NULL, NULL, 0, 0}};

void eligibility_register(void) { routes_add(routes); }
