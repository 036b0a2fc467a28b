/* Partner organisations: /v1/partners. Partners are organisation-wide, not
 * per programme: coordinators write; coordinators and coaches read all of
 * them; researchers read them without the contact person; an integration
 * client reads only the partner named by its `partner` claim. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

static const char *const BOOLS[] = {"true", "false", NULL};

/* The caller's scope as parameters $2..$3 of the queries below: the role and
 * the partner claim (NULL when absent). */
#define SCOPE_PARAMS(r) role_name((r)->claims.role), (r)->claims.partner[0] ? (r)->claims.partner : NULL

/* Researchers get the partner without its contact person. */
static const char SQL_GET[] =
  "SELECT partner_json(p, $2 <> 'researcher')::text FROM partners p "
  "WHERE p.id = $1 AND partner_visible(p.id, $2, $3)";
static const char SQL_GET_FOR_UPDATE[] =
  "SELECT partner_json(p, $2 <> 'researcher')::text FROM partners p "
  "WHERE p.id = $1 AND partner_visible(p.id, $2, $3) FOR UPDATE";

/* Reads one visible partner; sends 404 (or an error) and returns NULL otherwise. */
static PGresult *load(struct req *r, const char *sql) {
  const char *p[] = {r->param[0], SCOPE_PARAMS(r)};
  PGresult *res = req_exec(r, sql, 3, p);
  if (res && PQntuples(res) == 0) {
    PQclear(res);
    reply_problem(r, 404, "no partner %s is visible to you", r->param[0]);
    return NULL;
  }
  return res;
}

static bool id_ok(struct req *r) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "no partner %s is visible to you", r->param[0]);
  return false;
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed) || !id_ok(r)) return;
  PGresult *res = load(r, SQL_GET);
  if (!res) return;
  reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "kind", "active", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT p.seq, partner_json(p, $1 <> 'researcher') AS j FROM partners p "
    "  WHERE partner_visible(p.id, $1, $2) AND p.seq > $3 "
    "    AND ($4::text IS NULL OR p.kind = $4) AND ($5::boolean IS NULL OR p.active = $5) "
    "    AND ($6::timestamptz IS NULL OR p.updated_at >= $6) "
    "  ORDER BY p.seq LIMIT $7::int + 1) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM (SELECT * FROM page ORDER BY seq LIMIT $7) x), '[]')::text, "
    "  (SELECT max(seq) FROM (SELECT seq FROM page ORDER BY seq LIMIT $7) y), (SELECT count(*) > $7 FROM page)";
  int limit;
  long long after;
  const char *kind, *active, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "partners", &limit, &after) ||
      !req_query_enum(r, "kind", partner_kinds, &kind) || !req_query_enum(r, "active", BOOLS, &active) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {SCOPE_PARAMS(r), a, kind, active, since, l};
  PGresult *res = req_exec(r, sql, 7, p);
  if (!res) return;
  reply_page(r, res, "partners");
  PQclear(res);
}

static void create(struct req *r) {
  static const char sql[] =
    "INSERT INTO partners (name, kind, contact_name, contact_email, contact_phone, agreement_kind, "
    "  agreement_signed_on, active, notes) "
    "SELECT j->>'name', j->>'kind', j->'contact'->>'name', j->'contact'->>'email', "
    "  j->'contact'->>'phone', j->'agreement'->>'kind', (j->'agreement'->>'signed_on')::date, "
    "  coalesce((j->>'active')::boolean, true), j->>'notes' "
    "FROM (SELECT $1::jsonb AS j) s RETURNING id::text, partner_json(partners, true)::text";
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(r->body, partner_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  char *text = json_dumps(r->body, JSON_COMPACT);
  const char *p[] = {text};
  PGresult *res = NULL;
  if (!text) reply_problem(r, 500, "out of memory");
  else if (req_begin(r) && (res = req_exec(r, sql, 1, p)) && req_commit(r)) {
    reply_created(r, "/v1/partners/", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
  }
  PQclear(res);
  free(text);
}

static void patch(struct req *r) {
  static const char sql[] =
    "UPDATE partners SET name = j->>'name', kind = j->>'kind', contact_name = j->'contact'->>'name', "
    "  contact_email = j->'contact'->>'email', contact_phone = j->'contact'->>'phone', "
    "  agreement_kind = j->'agreement'->>'kind', "
    "  agreement_signed_on = (j->'agreement'->>'signed_on')::date, "
    "  active = (j->>'active')::boolean, notes = j->>'notes' "
    "FROM (SELECT $2::jsonb AS j) s WHERE id = $1 RETURNING partner_json(partners, true)::text";
  if (!id_ok(r)) return;
  json_t *errors = json_array();
  bool unknown = false;
  fields_check_patch(r->body, partner_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  PGresult *cur = NULL, *res = NULL;
  json_t *merged = NULL;
  char *text = NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  merged = json_loads(PQgetvalue(cur, 0, 0), 0, NULL);
  if (merged) merge_patch(merged, r->body);
  if (!merged || !(text = json_dumps(merged, JSON_COMPACT))) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  const char *p[] = {r->param[0], text};
  if ((res = req_exec(r, sql, 2, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
out:
  json_decref(merged);
  free(text);
  PQclear(cur);
  PQclear(res);
}

/* A participant referred by or employed at the partner blocks the delete:
 * the foreign key answers 23503, which reply_db_error maps to 409. */
static void delete(struct req *r) {
  static const char sql[] = "DELETE FROM partners WHERE id = $1";
  if (!id_ok(r)) return;
  PGresult *cur = NULL, *res = NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  const char *p[] = {r->param[0]};
  if ((res = req_exec(r, sql, 1, p)) && req_commit(r)) reply_empty(r, 204);
out:
  PQclear(cur);
  PQclear(res);
}

/* What an employer partner asks for (partner_report in sql/0006_outcomes_stats.sql):
 * the mentors it supplied, their pairs by status, mentor satisfaction from post
 * surveys, the outcomes of the mentees they mentored and the mentees it hired.
 * Coordinators get the figures of the programmes in their claim; the
 * partner's own integration client gets all of them, with the satisfaction
 * means and mentee outcome counts of small groups suppressed (they are about
 * people other than its employees). Any other integration client gets 404. */
static void report(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT partner_report(p.id, $2 = 'integration', $2 = 'integration' OR $4::boolean, $5::uuid[])::text "
    "FROM partners p WHERE p.id = $1 AND partner_visible(p.id, $2, $3)";
  if (!req_check_query(r, allowed) || !id_ok(r)) return;
  const char *p[] = {r->param[0], SCOPE_PARAMS(r), claims_all(r), claims_prg(r)};
  PGresult *res = req_exec(r, sql, 5, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "no partner %s is visible to you", r->param[0]);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

#define READERS (STAFF | ROLE_BIT(ROLE_RESEARCHER) | ROLE_BIT(ROLE_INTEGRATION))
#define COORD ROLE_BIT(ROLE_COORDINATOR)

static const struct route routes[] = {
  {"GET", "/v1/partners", list, 0, READERS},
  {"POST", "/v1/partners", create, R_BODY, COORD},
  {"GET", "/v1/partners/{id}", get_one, 0, READERS},
  {"PATCH", "/v1/partners/{id}", patch, R_BODY | R_MERGE_PATCH, COORD},
  {"DELETE", "/v1/partners/{id}", delete, 0, COORD},
  {"GET", "/v1/partners/{id}/report", report, 0, COORD | ROLE_BIT(ROLE_INTEGRATION)},
  {NULL, NULL, NULL, 0, 0}};

void partners_register(void) { routes_add(routes); }
