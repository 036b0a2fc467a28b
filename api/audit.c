/* The audit log: GET /v1/audit, coordinators only. Every write is audited by
 * triggers in its own transaction (sql/0001 audit_row); this module only
 * reads. A coordinator sees the rows whose entity belongs to one of their
 * programmes, an organisation-wide coordinator ("*") every row
 * (audit_programme in sql/0019). Newest first: the cursor carries the id of
 * the last row of the page and the next page starts below it. */
#include <stdio.h>

#include "api/api.h"
#include "service/http.h"
#include "service/validate.h"

static const char *const ACTIONS[] = {"create", "update", "delete", "erase", NULL};

/* Entity names are table names (and eligibility_overrides): letters and '_'. */
static bool entity_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_')) return false;
  return n > 0 && n <= 63;
}

static bool query_text(struct req *r, const char *name, bool (*ok)(const char *), const char *rule,
                       const char **out) {
  *out = req_query(r, name);
  if (!*out || ok(*out)) return true;
  reply_problem(r, 400, "query parameter '%s' must be %s", name, rule);
  return false;
}

static bool text_ok(const char *s) {
  size_t n = 0;
  while (s[n] && n <= 200) n++;
  return n > 0 && n <= 200;
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "entity", "entity_id", "actor", "action",
                                        "programme_id", "updated_since", NULL};
  /* The scope check runs only on rows that pass the cheap filters, and the
   * scan stops at limit + 1 visible rows. */
  static const char sql[] =
    "WITH page AS (SELECT a.id, audit_entry_json(a)::text AS j FROM audit_log a "
    "  WHERE ($3::bigint = 0 OR a.id < $3) "
    "    AND ($4::text IS NULL OR a.entity = $4) AND ($5::text IS NULL OR a.entity_id = lower($5)) "
    "    AND ($6::text IS NULL OR a.actor = $6) AND ($7::text IS NULL OR a.action = $7) "
    "    AND ($8::timestamptz IS NULL OR a.at >= $8) "
    "    AND ($9::uuid IS NULL OR audit_programme(a.entity, a.entity_id) = $9) "
    "    AND ($1::boolean OR audit_programme(a.entity, a.entity_id) = ANY($2::uuid[])) "
    "  ORDER BY a.id DESC LIMIT $10::int + 1) "
    "SELECT j, id FROM page ORDER BY id DESC";
  int limit;
  long long after;
  const char *entity, *entity_id, *actor, *action, *prg, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "audit", &limit, &after) ||
      !query_text(r, "entity", entity_ok, "an entity name (lower-case letters and '_')", &entity) ||
      !query_text(r, "entity_id", text_ok, "1 to 200 characters", &entity_id) ||
      !query_text(r, "actor", text_ok, "1 to 200 characters", &actor) ||
      !req_query_enum(r, "action", ACTIONS, &action) || !req_query_uuid(r, "programme_id", &prg) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {claims_all(r), claims_prg(r), a, entity, entity_id, actor, action, since, prg, l};
  PGresult *res = req_exec(r, sql, 10, p);
  if (!res) return;
  reply_page_rows(r, res, limit, "audit");
  PQclear(res);
}

static const struct route routes[] = {
  {"GET", "/v1/audit", list, 0, ROLE_BIT(ROLE_COORDINATOR)},
  {NULL, NULL, NULL, 0, 0},
};

void audit_register(void) { routes_add(routes); }
