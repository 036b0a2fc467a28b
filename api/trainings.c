/* Mentor trainings: /v1/trainings (sessions given by a training partner),
 * their enrolments with a waiting list, completion that awards a
 * certificate, and the certified-mentor register
 * (/v1/registers/certified-mentors).
 * A training belongs to a partner, not to a programme: mentors of any
 * programme attend it. So staff and mentors read every training, but an
 * enrolment is seen only by staff of the enrolled mentor's programme and by
 * the mentor. Coordinators create trainings and enrol mentors of their
 * programmes; a mentor enrols themselves; coordinators and coaches record
 * attendance and completion (completing records the attendance too when it
 * was not recorded before: a certificate implies the mentor was there). The
 * rules that need a lock or a count (capacity, waiting list, promotion,
 * recording once) live in sql/0014_trainings_activities.sql (training_enrol,
 * training_cancel, training_attended, training_complete), which raise the
 * client's errors as KPnnn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

static const char *const ENROLMENT_STATUSES[] = {"registered", "waitlisted", NULL};
static const char *const BOOLS[] = {"true", "false", NULL};

/* What a merge patch may change; the partner and the certificate kind stay (certificates name them). */
static const char *const FIXED[] = {"id", "partner_id", "certificate_kind", "registered", "waitlisted",
                                    "created_at", "updated_at", NULL};

/* The caller's scope: role, sub, all programmes, programme ids. */
#define SCOPE(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)

static bool id_ok(struct req *r) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "no training %s is visible to you", r->param[0]);
  return false;
}

/* Both path parameters of an enrolment; 404 when either is no uuid. */
static bool ids_ok(struct req *r) {
  if (v_uuid(r->param[0]) && v_uuid(r->param[1])) return true;
  reply_problem(r, 404, "no enrolment of participant %s in training %s is visible to you", r->param[1],
                r->param[0]);
  return false;
}

static bool query_range(struct req *r, const char **from, const char **to) {
  if (!req_query_date(r, "from", from) || !req_query_date(r, "to", to)) return false;
  if (!*from || !*to || strcmp(*from, *to) <= 0) return true;
  reply_problem(r, 400, "query parameter 'from' (%s) must not be after 'to' (%s)", *from, *to);
  return false;
}

/* Trainings are given by a training or education partner that is active. */
static bool check_partner(struct req *r, const char *partner, json_t *errors) {
  static const char sql[] = "SELECT kind, active FROM partners WHERE id = $1";
  const char *p[] = {partner};
  PGresult *res = req_exec(r, sql, 1, p);
  if (!res) return false;
  if (PQntuples(res) == 0)
    problem_add(errors, "/partner_id", "no partner %s exists", partner);
  else if (strcmp(PQgetvalue(res, 0, 0), "training") && strcmp(PQgetvalue(res, 0, 0), "education"))
    problem_add(errors, "/partner_id", "is a partner of kind %s: trainings are given by a training or education "
                "partner", PQgetvalue(res, 0, 0));
  else if (strcmp(PQgetvalue(res, 0, 1), "t"))
    problem_add(errors, "/partner_id", "is an inactive partner");
  PQclear(res);
  return true;
}

static void create(struct req *r) {
  static const char sql[] =
    "INSERT INTO trainings (partner_id, title, held_on, mode, capacity, certificate_kind, validity_months) "
    "SELECT (j->>'partner_id')::uuid, j->>'title', (j->>'held_on')::date, j->>'mode', (j->>'capacity')::int, "
    "  j->>'certificate_kind', (j->>'validity_months')::int FROM (SELECT $1::jsonb AS j) s "
    "RETURNING id::text, training_json(trainings)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *res = NULL;
  char *text = NULL;
  fields_check(r->body, training_fields, "", errors, &unknown);
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !check_partner(r, json_string_value(json_object_get(r->body, "partner_id")), errors))
    goto out;
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(r->body, JSON_COMPACT);
  const char *p[] = {text};
  if (!text || !(res = req_exec(r, sql, 1, p)) || !req_commit(r)) goto out;
  reply_created(r, "/v1/trainings/", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  free(text);
  PQclear(res);
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] = "SELECT training_json(t)::text FROM trainings t WHERE t.id = $1";
  if (!req_check_query(r, allowed) || !id_ok(r)) return;
  const char *p[] = {r->param[0]};
  PGresult *res = req_exec(r, sql, 1, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "no training %s is visible to you", r->param[0]);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "partner_id", "mode", "from", "to", "updated_since",
                                        NULL};
  static const char sql[] =
    "WITH page AS (SELECT t.seq, training_json(t) AS j FROM trainings t "
    "  WHERE t.seq > $1 AND ($2::uuid IS NULL OR t.partner_id = $2) AND ($3::text IS NULL OR t.mode = $3) "
    "    AND ($4::date IS NULL OR t.held_on >= $4) AND ($5::date IS NULL OR t.held_on <= $5) "
    "    AND ($6::timestamptz IS NULL OR t.updated_at >= $6) "
    "  ORDER BY t.seq LIMIT $7::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $7) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $7 FROM page)";
  int limit;
  long long after;
  const char *partner, *mode, *from, *to, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "trainings", &limit, &after) ||
      !req_query_uuid(r, "partner_id", &partner) || !req_query_enum(r, "mode", training_modes, &mode) ||
      !query_range(r, &from, &to) || !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {a, partner, mode, from, to, since, l};
  PGresult *res = req_exec(r, sql, 7, p);
  if (!res) return;
  reply_page(r, res, "trainings");
  PQclear(res);
}

/* A merge patch, with If-Match; the rules on capacity and date are training_update's (sql/0014). */
static void patch(struct req *r) {
  static const char sql_current[] = "SELECT training_json(t)::text FROM trainings t WHERE t.id = $1 FOR UPDATE";
  static const char sql[] = "SELECT training_update($1, $2::jsonb)::text";
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
  fields_check_patch(doc, training_patch_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    errors = NULL;
    goto out;
  }
  const char *p0[] = {r->param[0]};
  if (!req_begin(r) || !(cur = req_exec(r, sql_current, 1, p0))) goto out;
  if (PQntuples(cur) == 0) {
    reply_problem(r, 404, "no training %s is visible to you", r->param[0]);
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

/* ---------------------------------------------------------------- enrolments */

static void enrol(struct req *r) {
  static const char sql[] = "SELECT training_enrol($1, $2, $3, $4, $5, $6)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *res = NULL;
  if (!id_ok(r)) goto out;
  fields_check(r->body, training_enrolment_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    errors = NULL;
    goto out;
  }
  const char *pid = json_string_value(json_object_get(r->body, "participant_id"));
  const char *p[] = {r->param[0], pid, SCOPE(r)};
  if (!req_begin(r) || !(res = req_exec(r, sql, 6, p)) || !req_commit(r)) goto out;
  char loc[128];
  snprintf(loc, sizeof loc, "/v1/trainings/%s/enrolments/%s", r->param[0], pid);
  set_header(r, "Location", loc);
  reply_json_text(r, 201, PQgetvalue(res, 0, 0), true);
out:
  json_decref(errors);
  PQclear(res);
}

static void list_enrolments(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "status", "attended", "updated_since", NULL};
  static const char sql[] =
    "WITH t AS (SELECT id FROM trainings WHERE id = $1), "
    "page AS (SELECT e.seq, enrolment_json(e) AS j FROM training_enrolments e "
    "  JOIN participants p ON p.id = e.participant_id "
    "  WHERE e.training_id = $1 AND e.seq > $6 AND enrolment_visible(p, $2, $3, $4, $5) "
    "    AND ($7::text IS NULL OR e.status = $7) AND ($8::timestamptz IS NULL OR e.updated_at >= $8) "
    "    AND ($10::boolean IS NULL OR (e.attended_at IS NOT NULL) = $10::boolean) "
    "  ORDER BY e.seq LIMIT $9::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $9) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $9 FROM page) FROM t";
  int limit;
  long long after;
  const char *status, *since, *attended;
  char scope[64];
  snprintf(scope, sizeof scope, "enrolments:%.36s", r->param[0]);
  if (!req_check_query(r, allowed) || !id_ok(r) || !req_page(r, scope, &limit, &after) ||
      !req_query_enum(r, "status", ENROLMENT_STATUSES, &status) || !req_query_enum(r, "attended", BOOLS, &attended) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {r->param[0], SCOPE(r), a, status, since, l, attended};
  PGresult *res = req_exec(r, sql, 10, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "no training %s is visible to you", r->param[0]);
  else reply_page(r, res, scope);
  PQclear(res);
}

static void get_enrolment(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT enrolment_json(e)::text FROM training_enrolments e JOIN participants p ON p.id = e.participant_id "
    "WHERE e.training_id = $1 AND e.participant_id = $2 AND enrolment_visible(p, $3, $4, $5, $6)";
  if (!req_check_query(r, allowed) || !ids_ok(r)) return;
  const char *p[] = {r->param[0], r->param[1], SCOPE(r)};
  PGresult *res = req_exec(r, sql, 6, p);
  if (!res) return;
  if (PQntuples(res) == 0)
    reply_problem(r, 404, "no enrolment of participant %s in training %s is visible to you", r->param[1],
                  r->param[0]);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static void cancel(struct req *r) {
  static const char sql[] = "SELECT training_cancel($1, $2, $3, $4, $5, $6)";
  if (!ids_ok(r)) return;
  const char *p[] = {r->param[0], r->param[1], SCOPE(r)};
  PGresult *res = NULL;
  if (req_begin(r) && (res = req_exec(r, sql, 6, p)) && req_commit(r)) reply_empty(r, 204);
  PQclear(res);
}

/* Attendance only; the certificate waits for completion (complete). */
static void attended(struct req *r) {
  static const char sql[] = "SELECT training_attended($1, $2, $3, $4, $5, $6)::text";
  if (!ids_ok(r)) return;
  if (!req_no_body(r)) return;
  const char *p[] = {r->param[0], r->param[1], SCOPE(r)};
  PGresult *res = NULL;
  if (req_begin(r) && (res = req_exec(r, sql, 6, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static void complete(struct req *r) {
  static const char sql[] = "SELECT training_complete($1, $2, $3, $4, $5, $6)::text";
  if (!ids_ok(r)) return;
  if (!req_no_body(r)) return;
  const char *p[] = {r->param[0], r->param[1], SCOPE(r)};
  PGresult *res = NULL;
  if (req_begin(r) && (res = req_exec(r, sql, 6, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

/* ---------------------------------------------------------------- the register */

/* Mentors holding at least one certificate valid on valid_on (default today,
 * UTC), with those certificates; staff see the mentors of their programmes,
 * an integration client its own employees. An entry's updated_at is the
 * latest change to anything it shows: the mentor's record, any of their
 * certificates, their employer partner (its name). updated_since filters on
 * it, so an HR system's incremental pull sees a renewed certificate or a
 * changed employer. */
static void register_list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "employer_partner_id", "valid_on", "certificate_kind",
                                        "programme_id", "updated_since", NULL};
  static const char sql[] =
    "WITH d AS (SELECT coalesce($6::date, (now() AT TIME ZONE 'UTC')::date) AS d), "
    "page AS (SELECT p.seq, jsonb_build_object('participant_id', p.id, 'programme_id', p.programme_id, "
    "    'given_name', p.given_name, 'family_name', p.family_name, 'status', p.status, "
    "    'employer_partner_id', p.employer_partner_id, 'employer_name', e.name, 'valid_on', d.d, "
    "    'certificates', (SELECT jsonb_agg(certificate_json(c) ORDER BY c.kind, c.issued_on, c.seq) "
    "      FROM certificates c WHERE c.participant_id = p.id AND c.issued_on <= d.d "
    "        AND (c.expires_on IS NULL OR d.d <= c.expires_on) AND ($7::text IS NULL OR c.kind = $7)), "
    "    'updated_at', u.at) AS j "
    "  FROM participants p CROSS JOIN d LEFT JOIN partners e ON e.id = p.employer_partner_id "
    "  CROSS JOIN LATERAL (SELECT greatest(p.updated_at, e.updated_at, (SELECT max(c.updated_at) "
    "      FROM certificates c WHERE c.participant_id = p.id)) AS at) u "
    "  WHERE p.kind = 'mentor' AND p.seq > $8 AND ($11::timestamptz IS NULL OR u.at >= $11) "
    "    AND CASE $1 WHEN 'integration' THEN p.employer_partner_id = $5::uuid "
    "        ELSE $1 IN ('coordinator', 'coach') AND staff_in(p.programme_id, $3::boolean, $4::uuid[]) END "
    "    AND ($2::uuid IS NULL OR p.employer_partner_id = $2) AND ($9::uuid IS NULL OR p.programme_id = $9) "
    "    AND EXISTS (SELECT 1 FROM certificates c WHERE c.participant_id = p.id AND c.issued_on <= d.d "
    "        AND (c.expires_on IS NULL OR d.d <= c.expires_on) AND ($7::text IS NULL OR c.kind = $7)) "
    "  ORDER BY p.seq LIMIT $10::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $10) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $10 FROM page)";
  int limit;
  long long after;
  const char *employer, *valid_on, *kind, *prg, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "certified-mentors", &limit, &after) ||
      !req_query_uuid(r, "employer_partner_id", &employer) || !req_query_date(r, "valid_on", &valid_on) ||
      !req_query_uuid(r, "programme_id", &prg) || !req_query_timestamp(r, "updated_since", &since))
    return;
  kind = req_query(r, "certificate_kind");
  if (kind && !certificate_kind_ok(kind)) {
    reply_problem(r, 400, "query parameter 'certificate_kind' must be 1 to 64 characters: a-z, 0-9 and _");
    return;
  }
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *partner = r->claims.partner[0] ? r->claims.partner : NULL;
  const char *p[] = {role_name(r->claims.role), employer, claims_all(r), claims_prg(r), partner, valid_on, kind,
                     a, prg, l, since};
  PGresult *res = req_exec(r, sql, 11, p);
  if (!res) return;
  reply_page(r, res, "certified-mentors");
  PQclear(res);
}

#define READERS (STAFF | ROLE_BIT(ROLE_MENTOR))
#define ENROLLERS (ROLE_BIT(ROLE_COORDINATOR) | ROLE_BIT(ROLE_MENTOR))

static const struct route routes[] = {
  {"GET", "/v1/trainings", list, 0, READERS},
  {"POST", "/v1/trainings", create, R_BODY, ROLE_BIT(ROLE_COORDINATOR)},
  {"GET", "/v1/trainings/{id}", get_one, 0, READERS},
  {"PATCH", "/v1/trainings/{id}", patch, R_BODY | R_MERGE_PATCH, ROLE_BIT(ROLE_COORDINATOR)},
  {"GET", "/v1/trainings/{id}/enrolments", list_enrolments, 0, READERS},
  {"POST", "/v1/trainings/{id}/enrolments", enrol, R_BODY, ENROLLERS},
  {"GET", "/v1/trainings/{id}/enrolments/{participant_id}", get_enrolment, 0, READERS},
  {"DELETE", "/v1/trainings/{id}/enrolments/{participant_id}", cancel, 0, ENROLLERS},
  {"POST", "/v1/trainings/{id}/enrolments/{participant_id}/attended", attended, R_BODY_OPTIONAL, STAFF},
  {"POST", "/v1/trainings/{id}/enrolments/{participant_id}/complete", complete, R_BODY_OPTIONAL, STAFF},
  {"GET", "/v1/registers/certified-mentors", register_list, 0, STAFF | ROLE_BIT(ROLE_INTEGRATION)},
  {NULL, NULL, NULL, 0, 0}};

void trainings_register(void) { routes_add(routes); }
