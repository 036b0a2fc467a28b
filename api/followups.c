/* The follow-up worklist: GET /v1/followups.
 * A coordinator sees what is due in the pairs and among the waiting mentees
 * of their programmes; a coach in the pairs they coach and among the waiting
 * mentees of their programmes, and the mentees whose outcome measurement is
 * due. Computed on each request by followups() in
 * sql/0004_suggestions_followups.sql (with outcome_due since
 * sql/0006_outcomes_stats.sql, and no_recent_activity since
 * sql/0014_trainings_activities.sql); nothing is stored. Keyset pages on the
 * list's own order (due_since, kind, object), encoded by SQL in one bigint. */
#include <stdio.h>

#include "api/api.h"
#include "service/http.h"

static const char *const KINDS[] = {"decision_pending", "first_month_call", "no_recent_meeting",
                                    "waiting_too_long", "outcome_due", "no_recent_activity", NULL};

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "kind", "programme_id", "updated_since", NULL};
  /* updated_since keeps the items that became due on or after that day (UTC):
   * what is new on the list since the last pull. */
  static const char sql[] =
    "WITH page AS (SELECT f.key AS seq, followup_json(f.kind, f.pair_id, f.participant_id, f.programme_id, "
    "    f.due_since, f.detail) AS j "
    "  FROM followups($1, $2::uuid, $3::boolean, $4::uuid[]) f "
    "  WHERE f.key > $5 AND ($6::text IS NULL OR f.kind = $6) AND ($7::uuid IS NULL OR f.programme_id = $7) "
    "    AND ($8::timestamptz IS NULL OR f.due_since >= ($8::timestamptz AT TIME ZONE 'UTC')::date) "
    "  ORDER BY f.key LIMIT $9::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $9) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $9 FROM page)";
  int limit;
  long long after;
  const char *kind, *prg, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "followups", &limit, &after) ||
      !req_query_enum(r, "kind", KINDS, &kind) || !req_query_uuid(r, "programme_id", &prg) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {role_name(r->claims.role), r->claims.sub, claims_all(r), claims_prg(r), a, kind, prg,
                     since, l};
  PGresult *res = req_exec(r, sql, 9, p);
  if (!res) return;
  reply_page(r, res, "followups");
  PQclear(res);
}

static const struct route routes[] = {
  {"GET", "/v1/followups", list, 0, STAFF},
  {NULL, NULL, NULL, 0, 0}};

void followups_register(void) { routes_add(routes); }
