/* Staff: /v1/staff, the coordinators and coaches the service knows (id = the
 * sub their identity provider issues) with the programmes they work in.
 * Coordinators write; coordinators and coaches read. A caller whose prg claim
 * is not "*" sees only themselves and the staff sharing a programme with the
 * claim, and a coordinator may assign or remove only programmes of the claim. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

/* The caller's scope as parameters $2..$5 of the queries below. */
#define SCOPE_PARAMS(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)

static const char SQL_GET[] =
  "SELECT staff_json(s)::text FROM staff s "
  "WHERE s.id = $1 AND staff_visible(s.id, $2, $3, $4, $5)";
static const char SQL_GET_FOR_UPDATE[] =
  "SELECT staff_json(s)::text FROM staff s "
  "WHERE s.id = $1 AND staff_visible(s.id, $2, $3, $4, $5) FOR UPDATE";

/* Reads one visible staff member; sends 404 (or an error) and returns NULL otherwise. */
static PGresult *load(struct req *r, const char *sql) {
  const char *p[] = {r->param[0], SCOPE_PARAMS(r)};
  PGresult *res = req_exec(r, sql, 5, p);
  if (res && PQntuples(res) == 0) {
    PQclear(res);
    reply_problem(r, 404, "no staff member %s is visible to you", r->param[0]);
    return NULL;
  }
  return res;
}

static bool id_ok(struct req *r) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "no staff member %s is visible to you", r->param[0]);
  return false;
}

/* Checks a change of programme set from before to wanted (JSON arrays of
 * uuids, "[]" for none): a caller limited by its prg claim may add or remove
 * only programmes of the claim (403), and every wanted programme must exist
 * (422 naming /programmes/N). The claim goes first, so a 403 tells nothing
 * about programmes outside it. Sends the reply (forbidden is the 403 detail)
 * and returns false on failure. */
static bool programmes_ok(struct req *r, const char *wanted, const char *before, const char *forbidden) {
  static const char sql[] =
    "WITH w AS (SELECT x::uuid AS id, o - 1 AS i "
    "           FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS t(x, o)), "
    "  b AS (SELECT x::uuid AS id FROM jsonb_array_elements_text($2::jsonb) AS t(x)), "
    "  changed AS ((SELECT id FROM w EXCEPT SELECT id FROM b) UNION (SELECT id FROM b EXCEPT SELECT id FROM w)) "
    "SELECT (SELECT count(*) FROM changed WHERE NOT $3::boolean AND id <> ALL($4::uuid[])), "
    "  coalesce((SELECT jsonb_agg(jsonb_build_object('pointer', '/programmes/' || i, "
    "                                                'message', 'is not a known programme') ORDER BY i) "
    "            FROM w WHERE NOT EXISTS (SELECT 1 FROM programmes p WHERE p.id = w.id)), '[]')::text";
  const char *p[] = {wanted, before, claims_all(r), claims_prg(r)};
  PGresult *res = req_exec(r, sql, 4, p);
  if (!res) return false;
  bool ok = false;
  json_t *errors = NULL;
  if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
    reply_problem(r, 403, "%s", forbidden);
  } else if (!(errors = json_loads(PQgetvalue(res, 0, 1), 0, NULL))) {
    reply_problem(r, 500, "out of memory");
  } else if (json_array_size(errors)) {
    reply_invalid(r, errors, false);
    errors = NULL;
  } else {
    ok = true;
  }
  json_decref(errors);
  PQclear(res);
  return ok;
}

static const char ASSIGN_FORBIDDEN[] = "you may assign or remove only programmes in your prg claim";

/* A coordinator limited by its claim may not leave a staff member without
 * programmes: the record would then be visible to org-wide coordinators only. */
static bool not_orphaned(struct req *r, const json_t *programmes) {
  if (r->claims.prg_all || json_array_size(programmes) > 0) return true;
  reply_problem(r, 403, "a coordinator limited to some programmes must assign at least one of them");
  return false;
}

static const char SQL_SET_PROGRAMMES[] =
  "SELECT staff_set_programmes($1, ARRAY(SELECT jsonb_array_elements_text($2::jsonb)::uuid))";

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed) || !id_ok(r)) return;
  PGresult *res = load(r, SQL_GET);
  if (!res) return;
  reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "role", "programme_id", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT s.seq, staff_json(s) AS j FROM staff s "
    "  WHERE staff_visible(s.id, $1, $2, $3, $4) AND s.seq > $5 "
    "    AND ($6::text IS NULL OR s.role = $6) "
    "    AND ($7::uuid IS NULL OR EXISTS (SELECT 1 FROM staff_programmes sp "
    "                                     WHERE sp.staff_id = s.id AND sp.programme_id = $7)) "
    "    AND ($8::timestamptz IS NULL OR s.updated_at >= $8) "
    "  ORDER BY s.seq LIMIT $9::int + 1) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM (SELECT * FROM page ORDER BY seq LIMIT $9) x), '[]')::text, "
    "  (SELECT max(seq) FROM (SELECT seq FROM page ORDER BY seq LIMIT $9) y), (SELECT count(*) > $9 FROM page)";
  int limit;
  long long after;
  const char *role, *programme, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "staff", &limit, &after) ||
      !req_query_enum(r, "role", staff_roles, &role) || !req_query_uuid(r, "programme_id", &programme) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {SCOPE_PARAMS(r), a, role, programme, since, l};
  PGresult *res = req_exec(r, sql, 9, p);
  if (!res) return;
  reply_page(r, res, "staff");
  PQclear(res);
}

static void create(struct req *r) {
  static const char sql_ins[] =
    "INSERT INTO staff (id, name, email, role) "
    "SELECT (j->>'id')::uuid, j->>'name', j->>'email', j->>'role' "
    "FROM (SELECT $1::jsonb AS j) s RETURNING id::text";
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(r->body, staff_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  json_t *programmes = json_object_get(r->body, "programmes");
  if (!not_orphaned(r, programmes)) return;
  char *text = json_dumps(r->body, JSON_COMPACT);
  char *wanted = json_dumps(programmes, JSON_COMPACT);
  PGresult *ins = NULL, *set = NULL, *res = NULL;
  if (!text || !wanted) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  if (!req_begin(r) || !programmes_ok(r, wanted, "[]", ASSIGN_FORBIDDEN)) goto out;
  const char *p[] = {text};
  if (!(ins = req_exec(r, sql_ins, 1, p))) goto out;
  const char *id = PQgetvalue(ins, 0, 0);
  const char *ps[] = {id, wanted};
  const char *pg[] = {id, SCOPE_PARAMS(r)};
  if (!(set = req_exec(r, SQL_SET_PROGRAMMES, 2, ps)) || !(res = req_exec(r, SQL_GET, 5, pg)) ||
      !req_commit(r))
    goto out;
  if (PQntuples(res) == 0) {
    /* not_orphaned and programmes_ok make this unreachable; never answer 201 without a body */
    reply_problem(r, 500, "the new staff member is not visible to its creator");
    goto out;
  }
  reply_created(r, "/v1/staff/", id, PQgetvalue(res, 0, 0));
out:
  PQclear(ins);
  PQclear(set);
  PQclear(res);
  free(text);
  free(wanted);
}

static void patch(struct req *r) {
  /* $3: whether the programme set changed, which moves updated_at too */
  static const char sql[] =
    "UPDATE staff SET name = j->>'name', email = j->>'email', role = j->>'role', "
    "  updated_at = CASE WHEN $3::boolean THEN clock_timestamp() ELSE updated_at END "
    "FROM (SELECT $2::jsonb AS j) s WHERE id = $1 RETURNING staff_json(staff)::text";
  if (!id_ok(r)) return;
  json_t *errors = json_array();
  bool unknown = false;
  fields_check_patch(r->body, staff_fields + 1, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  PGresult *cur = NULL, *set = NULL, *res = NULL;
  json_t *merged = NULL;
  char *text = NULL, *wanted = NULL, *before = NULL;
  const char *changed = "f";
  if (!req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  merged = json_loads(PQgetvalue(cur, 0, 0), 0, NULL);
  if (merged) before = json_dumps(json_object_get(merged, "programmes"), JSON_COMPACT);
  if (merged && before) merge_patch(merged, r->body);
  if (!merged || !before || !(text = json_dumps(merged, JSON_COMPACT))) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  json_t *programmes = json_object_get(r->body, "programmes");
  if (programmes) {
    if (!not_orphaned(r, programmes)) goto out;
    if (!(wanted = json_dumps(programmes, JSON_COMPACT))) {
      reply_problem(r, 500, "out of memory");
      goto out;
    }
    const char *ps[] = {r->param[0], wanted};
    if (!programmes_ok(r, wanted, before, ASSIGN_FORBIDDEN) ||
        !(set = req_exec(r, SQL_SET_PROGRAMMES, 2, ps)))
      goto out;
    changed = PQgetvalue(set, 0, 0);
  }
  const char *p[] = {r->param[0], text, changed};
  if ((res = req_exec(r, sql, 3, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
out:
  json_decref(merged);
  free(text);
  free(wanted);
  free(before);
  PQclear(cur);
  PQclear(set);
  PQclear(res);
}

/* A pair that still names the person as its coach blocks the delete (409). */
static void delete(struct req *r) {
  static const char sql[] = "DELETE FROM staff WHERE id = $1";
  if (!id_ok(r)) return;
  PGresult *cur = NULL, *res = NULL;
  json_t *current = NULL;
  char *before = NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  /* removing the person removes them from all their programmes: the claim must cover each */
  current = json_loads(PQgetvalue(cur, 0, 0), 0, NULL);
  if (!current || !(before = json_dumps(json_object_get(current, "programmes"), JSON_COMPACT))) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  if (!programmes_ok(r, "[]", before, "this staff member also works in programmes outside your prg claim"))
    goto out;
  const char *p[] = {r->param[0]};
  if ((res = req_exec(r, sql, 1, p)) && req_commit(r)) reply_empty(r, 204);
out:
  json_decref(current);
  free(before);
  PQclear(cur);
  PQclear(res);
}

#define COORD ROLE_BIT(ROLE_COORDINATOR)

static const struct route routes[] = {
  {"GET", "/v1/staff", list, 0, STAFF},
  {"POST", "/v1/staff", create, R_BODY, COORD},
  {"GET", "/v1/staff/{id}", get_one, 0, STAFF},
  {"PATCH", "/v1/staff/{id}", patch, R_BODY | R_MERGE_PATCH, COORD},
  {"DELETE", "/v1/staff/{id}", delete, 0, COORD},
  {NULL, NULL, NULL, 0, 0}};

void staff_register(void) { routes_add(routes); }
