/* Programme statistics: GET /v1/programmes/{id}/stats.
 * The figures funders and evaluators ask for, computed on request in one
 * statement (programme_stats in sql/0006_outcomes_stats.sql): participants by
 * kind and status, waiting times, pairs by status, meetings per active pair,
 * the share on track, completion and dropout with end reasons, survey
 * response rates, outcomes about 3, 6 and 12 months after the end, and the
 * ratings mentors and mentees gave each other at closure (feedback_stats,
 * sql/0015_feedback.sql), and attendance per activity kind (activity_stats,
 * sql/0014_trainings_activities.sql).
 * Coordinators and coaches read the programmes in their claim; researchers
 * too, with every count below the programme's small_group_threshold
 * suppressed (null, and the group marked suppressed). */
#include "api/api.h"
#include "service/http.h"
#include "service/validate.h"

static void get_stats(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT (programme_stats(p.id, $2 = 'researcher') "
    "        || jsonb_build_object('feedback', feedback_stats(p.id, $2 = 'researcher')) "
    "        || jsonb_build_object('activities', activity_stats(p.id, $2 = 'researcher')))::text "
    "FROM programmes p "
    "WHERE p.id = $1 AND programme_visible(p.id, $2, $3, $4, $5)";
  if (!req_check_query(r, allowed)) return;
  if (!v_uuid(r->param[0])) {
    reply_problem(r, 404, "no programme %s is visible to you", r->param[0]);
    return;
  }
  const char *p[] = {r->param[0], role_name(r->claims.role), r->claims.sub, claims_all(r), claims_prg(r)};
  PGresult *res = req_exec(r, sql, 5, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "no programme %s is visible to you", r->param[0]);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

#define READERS (STAFF | ROLE_BIT(ROLE_RESEARCHER))

static const struct route routes[] = {
  {"GET", "/v1/programmes/{id}/stats", get_stats, 0, READERS},
  {NULL, NULL, NULL, 0, 0}};

void stats_register(void) { routes_add(routes); }
