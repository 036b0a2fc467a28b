/* The GDPR rights of a participant (issue 8): access and erasure.
 *   GET    /v1/participants/{id}/export  everything held about them, for the
 *          person themselves or a coordinator of their programme
 *   DELETE /v1/participants/{id}         erasure by a coordinator: what
 *          identifies them goes, the pseudonymised statistical rows stay
 * What the export holds and what erasure erases and keeps is decided in SQL
 * (participant_export and participant_erase in sql/0016_privacy.sql). */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "service/http.h"
#include "service/validate.h"

#define VIEW_PARAMS(r) \
  role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r), \
    ((r)->claims.partner[0] ? (r)->claims.partner : NULL)

/* Visible to the caller (participant_view's rule: otherwise 404); the export
 * only for a coordinator or the person themselves (otherwise 403). One
 * statement, so the whole document comes from one snapshot. */
static const char SQL_EXPORT[] =
  "SELECT participant_view(p, $2, $3, $4, $5, $6) IS NOT NULL, "
  "  CASE WHEN $2 = 'coordinator' OR ($2 IN ('mentor', 'mentee') AND p.id = $3::uuid) "
  "       THEN participant_export(p)::text END "
  "FROM participants p WHERE p.id = $1";

static void export_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed)) return;
  if (!v_uuid(r->param[0])) {
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
    return;
  }
  const char *p[] = {r->param[0], VIEW_PARAMS(r)};
  PGresult *res = req_exec(r, SQL_EXPORT, 6, p);
  if (!res) return;
  if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
  else if (PQgetisnull(res, 0, 1))
    reply_problem(r, 403, "only the person themselves or a coordinator of their programme may export "
                          "their data");
  else
    reply_json_text(r, 200, PQgetvalue(res, 0, 1), false);
  PQclear(res);
}

static const char SQL_LOCK[] =
  "SELECT participant_view(p, $2, $3, $4, $5, $6)::text FROM participants p WHERE p.id = $1 FOR UPDATE";

/* Erasure in one transaction: lock the participant, check If-Match against
 * what the caller reads, erase (participant_erase also writes the audit
 * entry). A second DELETE erases again whatever was written since: 204. */
static void erase(struct req *r) {
  static const char sql_erase[] = "SELECT participant_erase($1)";
  PGresult *cur = NULL, *res = NULL;
  if (!v_uuid(r->param[0])) {
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
    return;
  }
  const char *p[] = {r->param[0], VIEW_PARAMS(r)};
  if (!req_begin(r) || !(cur = req_exec(r, SQL_LOCK, 6, p))) goto out;
  if (PQntuples(cur) == 0 || PQgetisnull(cur, 0, 0)) {
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
    goto out;
  }
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  if ((res = req_exec(r, sql_erase, 1, p)) && req_commit(r)) reply_empty(r, 204);
out:
  PQclear(cur);
  PQclear(res);
}

#define EXPORTERS \
  (ROLE_BIT(ROLE_COORDINATOR) | ROLE_BIT(ROLE_COACH) | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE) | \
   ROLE_BIT(ROLE_INTEGRATION))

static const struct route routes[] = {
  {"GET", "/v1/participants/{id}/export", export_one, 0, EXPORTERS},
  {"DELETE", "/v1/participants/{id}", erase, 0, ROLE_BIT(ROLE_COORDINATOR)},
  {NULL, NULL, NULL, 0, 0}};

void privacy_register(void) { routes_add(routes); }
