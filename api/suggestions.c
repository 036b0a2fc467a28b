/* Match suggestions: GET /v1/participants/{id}/suggestions?limit=
 * For a waiting mentee, the mentors of the programme with a free place,
 * ranked; for a mentor with a free place, the waiting mentees. Staff only;
 * nothing is created. The ranking, the rules that say who can be matched and
 * the reasons live in SQL (match_suggestions and match_explain in
 * sql/0004_suggestions_followups.sql); this module checks the request and
 * maps the answer. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "service/http.h"
#include "service/validate.h"

/* One statement: the participant in the caller's programmes, and its ranking
 * or the rule that blocks it. */
static const char SQL_SUGGEST[] =
  "SELECT s.blocker, s.body::text FROM participants p "
  "CROSS JOIN LATERAL match_suggestions(p, $2::int) s "
  "WHERE p.id = $1 AND ($3::boolean OR p.programme_id = ANY($4::uuid[]))";

static void suggestions(struct req *r) {
  static const char *const allowed[] = {"limit", NULL};
  if (!req_check_query(r, allowed)) return;
  const char *l = req_query(r, "limit");
  long long n = 10;
  if (l && !v_strtonum(l, 1, 50, &n)) {
    reply_problem(r, 400, "query parameter 'limit' must be an integer from 1 to 50");
    return;
  }
  if (!v_uuid(r->param[0])) {
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
    return;
  }
  char lim[12];
  snprintf(lim, sizeof lim, "%lld", n);
  const char *p[] = {r->param[0], lim, claims_all(r), claims_prg(r)};
  PGresult *res = req_exec(r, SQL_SUGGEST, 4, p);
  if (!res) return;
  if (PQntuples(res) == 0)
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
  else if (!PQgetisnull(res, 0, 0))
    reply_problem(r, 409, "%s", PQgetvalue(res, 0, 0));
  else
    reply_json_text(r, 200, PQgetvalue(res, 0, 1), false);
  PQclear(res);
}

static const struct route routes[] = {
  {"GET", "/v1/participants/{id}/suggestions", suggestions, 0, STAFF},
  {NULL, NULL, NULL, 0, 0}};

void suggestions_register(void) { routes_add(routes); }
