/* Programmes and their topic vocabulary: /v1/programmes, /v1/programmes/{id}/topics.
 * Coordinators write; coaches and researchers read those in their prg claim;
 * mentors and mentees read the programme they take part in. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/checks.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

/* The eligibility columns (sql/0013) and their values from the programme j. */
#define ELIG_COLS \
  "elig_max_years_since_arrival, elig_min_language_code, elig_min_language_level, elig_required_fields, " \
  "elig_min_years_experience, elig_min_age, elig_working_or_recently_retired, elig_required_certificates"
#define ELIG_VALS \
  "(j #>> '{rules,eligibility,mentee,max_years_since_arrival}')::int, " \
  "j #>> '{rules,eligibility,mentee,min_language,code}', " \
  "j #>> '{rules,eligibility,mentee,min_language,level}', " \
  "koppel_text_array(j #> '{rules,eligibility,mentee,required_fields}'), " \
  "(j #>> '{rules,eligibility,mentor,min_years_experience}')::int, " \
  "(j #>> '{rules,eligibility,mentor,min_age}')::int, " \
  "coalesce((j #>> '{rules,eligibility,mentor,working_or_recently_retired}')::boolean, false), " \
  "koppel_text_array(j #> '{rules,eligibility,mentor,required_certificates}')"

/* The caller's scope as parameters $2..$5 of the queries below. */
#define SCOPE_PARAMS(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)

static const char SQL_GET[] =
  "SELECT programme_json(p)::text FROM programmes p "
  "WHERE p.id = $1 AND programme_visible(p.id, $2, $3, $4, $5)";
static const char SQL_GET_FOR_UPDATE[] =
  "SELECT programme_json(p)::text FROM programmes p "
  "WHERE p.id = $1 AND programme_visible(p.id, $2, $3, $4, $5) FOR UPDATE";

/* Reads one visible programme; sends 404 (or an error) and returns NULL otherwise. */
static PGresult *load(struct req *r, const char *sql) {
  const char *p[] = {r->param[0], SCOPE_PARAMS(r)};
  PGresult *res = req_exec(r, sql, 5, p);
  if (res && PQntuples(res) == 0) {
    PQclear(res);
    reply_problem(r, 404, "no programme %s is visible to you", r->param[0]);
    return NULL;
  }
  return res;
}

static bool id_ok(struct req *r) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "no programme %s is visible to you", r->param[0]);
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
  static const char *const allowed[] = {"limit", "cursor", "status", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT p.seq, programme_json(p) AS j FROM programmes p "
    "  WHERE programme_visible(p.id, $1, $2, $3, $4) AND p.seq > $5 "
    "    AND ($6::text IS NULL OR p.status = $6) AND ($7::timestamptz IS NULL OR p.updated_at >= $7) "
    "  ORDER BY p.seq LIMIT $8::int + 1) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM (SELECT * FROM page ORDER BY seq LIMIT $8) x), '[]')::text, "
    "  (SELECT max(seq) FROM (SELECT seq FROM page ORDER BY seq LIMIT $8) y), (SELECT count(*) > $8 FROM page)";
  int limit;
  long long after;
  const char *status, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "programmes", &limit, &after) ||
      !req_query_enum(r, "status", programme_statuses, &status) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {SCOPE_PARAMS(r), a, status, since, l};
  PGresult *res = req_exec(r, sql, 8, p);
  if (!res) return;
  reply_page(r, res, "programmes");
  PQclear(res);
}

static void create(struct req *r) {
  static const char sql[] =
    "INSERT INTO programmes (name, description, starts_on, ends_on, status, min_meetings, "
    "  min_duration_days, max_mentees_per_mentor, waiting_alert_days, followup_interval_days, "
    "  small_group_threshold, match_weight_occupation, match_weight_sector, match_weight_region, "
    "  match_weight_availability, match_weight_language, " ELIG_COLS ") "
    "SELECT j->>'name', j->>'description', (j->>'starts_on')::date, (j->>'ends_on')::date, "
    "  coalesce(j->>'status', 'planned'), coalesce((j->'rules'->>'min_meetings')::int, 6), "
    "  coalesce((j->'rules'->>'min_duration_days')::int, 90), "
    "  coalesce((j->'rules'->>'max_mentees_per_mentor')::int, 1), "
    "  coalesce((j->'rules'->>'waiting_alert_days')::int, 30), "
    "  coalesce((j->'rules'->>'followup_interval_days')::int, 90), "
    "  coalesce((j->'rules'->>'small_group_threshold')::int, 5), "
    "  coalesce((j->'rules'->'match_weights'->>'occupation')::int, 30), "
    "  coalesce((j->'rules'->'match_weights'->>'sector')::int, 30), "
    "  coalesce((j->'rules'->'match_weights'->>'region')::int, 15), "
    "  coalesce((j->'rules'->'match_weights'->>'availability')::int, 10), "
    "  coalesce((j->'rules'->'match_weights'->>'language')::int, 15), " ELIG_VALS " "
    "FROM (SELECT $1::jsonb AS j) s RETURNING id::text, programme_json(programmes)::text";
  if (!r->claims.prg_all) {
    reply_problem(r, 403, "only an organisation-wide coordinator (prg \"*\") may create programmes");
    return;
  }
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(r->body, programme_fields, "", errors, &unknown);
  programme_check_dates(r->body, errors);
  programme_check_weights(r->body, errors);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  char *text = json_dumps(r->body, JSON_COMPACT);
  const char *p[] = {text};
  PGresult *res = NULL;
  if (text && req_begin(r) && (res = req_exec(r, sql, 1, p)) && req_commit(r)) {
    reply_created(r, "/v1/programmes/", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
  }
  PQclear(res);
  free(text);
}

static void patch(struct req *r) {
  static const char sql[] =
    "UPDATE programmes SET name = j->>'name', description = j->>'description', "
    "  starts_on = (j->>'starts_on')::date, ends_on = (j->>'ends_on')::date, status = j->>'status', "
    "  min_meetings = (j->'rules'->>'min_meetings')::int, "
    "  min_duration_days = (j->'rules'->>'min_duration_days')::int, "
    "  max_mentees_per_mentor = (j->'rules'->>'max_mentees_per_mentor')::int, "
    "  waiting_alert_days = (j->'rules'->>'waiting_alert_days')::int, "
    "  followup_interval_days = (j->'rules'->>'followup_interval_days')::int, "
    "  small_group_threshold = (j->'rules'->>'small_group_threshold')::int, "
    "  match_weight_occupation = (j->'rules'->'match_weights'->>'occupation')::int, "
    "  match_weight_sector = (j->'rules'->'match_weights'->>'sector')::int, "
    "  match_weight_region = (j->'rules'->'match_weights'->>'region')::int, "
    "  match_weight_availability = (j->'rules'->'match_weights'->>'availability')::int, "
    "  match_weight_language = (j->'rules'->'match_weights'->>'language')::int, "
    "  (" ELIG_COLS ") = ROW(" ELIG_VALS ") "
    "FROM (SELECT $2::jsonb AS j) s WHERE id = $1 RETURNING programme_json(programmes)::text";
  if (!id_ok(r)) return;
  json_t *errors = json_array();
  bool unknown = false;
  fields_check_patch(r->body, programme_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  PGresult *cur = NULL, *res = NULL;
  json_t *merged = NULL;
  char *text = NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  merged = json_loads(PQgetvalue(cur, 0, 0), 0, NULL);
  merge_patch(merged, r->body);
  programme_check_dates(merged, errors);
  programme_check_weights(merged, errors);
  programme_check_eligibility(merged, errors);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, false);
    errors = NULL;
    goto out;
  }
  text = json_dumps(merged, JSON_COMPACT);
  const char *p[] = {r->param[0], text};
  if (text && (res = req_exec(r, sql, 2, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
out:
  json_decref(errors);
  json_decref(merged);
  free(text);
  PQclear(cur);
  PQclear(res);
}

static void delete(struct req *r) {
  static const char sql[] = "DELETE FROM programmes WHERE id = $1";
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

/* ---- topics: the programme's meeting-topic vocabulary, {key, label} in order */

static const char SQL_TOPICS[] =
  "SELECT coalesce(jsonb_agg(jsonb_build_object('key', key, 'label', label) ORDER BY position), "
  "'[]')::text FROM programme_topics WHERE programme_id = $1";

static void reply_topics(struct req *r, int status) {
  const char *p[] = {r->param[0]};
  PGresult *res = req_exec(r, SQL_TOPICS, 1, p);
  if (!res) return;
  size_t len = PQgetlength(res, 0, 0) + 16;
  char *body = malloc(len);
  if (body) {
    snprintf(body, len, "{\"items\":%s}", PQgetvalue(res, 0, 0));
    reply_json_text(r, status, body, true);
  } else {
    reply_problem(r, 500, "out of memory");
  }
  free(body);
  PQclear(res);
}

static void topics_get(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed) || !id_ok(r)) return;
  PGresult *res = load(r, SQL_GET);
  if (!res) return;
  PQclear(res);
  reply_topics(r, 200);
}

/* PUT replaces the whole vocabulary: {"items": [{key, label}, ...]}. */
static void topics_put(struct req *r) {
  static const char sql_del[] = "DELETE FROM programme_topics WHERE programme_id = $1";
  static const char sql_ins[] =
    "INSERT INTO programme_topics (programme_id, key, label, position) "
    "SELECT $1, t->>'key', t->>'label', o FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(t, o)";
  if (!id_ok(r)) return;
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(r->body, programme_topics_fields, "", errors, &unknown);
  json_t *items = json_object_get(r->body, "items");
  for (size_t i = 0; json_is_array(items) && i < json_array_size(items); i++)
    for (size_t j = 0; j < i; j++) {
      const char *a = json_string_value(json_object_get(json_array_get(items, i), "key"));
      const char *b = json_string_value(json_object_get(json_array_get(items, j), "key"));
      if (a && b && strcmp(a, b) == 0) {
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/items/%zu/key", i);
        problem_add(errors, ptr, "duplicates an earlier key");
      }
    }
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  PGresult *cur = NULL, *del = NULL, *ins = NULL, *tags = NULL;
  char *text = json_dumps(items, JSON_COMPACT);
  const char *p[] = {r->param[0], text};
  if (!text || !req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  /* If-Match compares with the ETag of the current vocabulary */
  if (!(tags = req_exec(r, SQL_TOPICS, 1, p))) goto out;
  {
    size_t len = PQgetlength(tags, 0, 0) + 16;
    char *body = malloc(len);
    if (!body) {
      reply_problem(r, 500, "out of memory");
      goto out;
    }
    snprintf(body, len, "{\"items\":%s}", PQgetvalue(tags, 0, 0));
    bool ok = req_if_match(r, body);
    free(body);
    if (!ok) goto out;
  }
  if (!(del = req_exec(r, sql_del, 1, p)) || !(ins = req_exec(r, sql_ins, 2, p)) || !req_commit(r))
    goto out;
  reply_topics(r, 200);
out:
  free(text);
  PQclear(cur);
  PQclear(tags);
  PQclear(del);
  PQclear(ins);
}

#define READERS (STAFF | ROLE_BIT(ROLE_RESEARCHER) | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))
#define COORD ROLE_BIT(ROLE_COORDINATOR)

static const struct route routes[] = {
  {"GET", "/v1/programmes", list, 0, READERS},
  {"POST", "/v1/programmes", create, R_BODY, COORD},
  {"GET", "/v1/programmes/{id}", get_one, 0, READERS},
  {"PATCH", "/v1/programmes/{id}", patch, R_BODY | R_MERGE_PATCH, COORD},
  {"DELETE", "/v1/programmes/{id}", delete, 0, COORD},
  {"GET", "/v1/programmes/{id}/topics", topics_get, 0, READERS},
  {"PUT", "/v1/programmes/{id}/topics", topics_put, R_BODY, COORD},
  {NULL, NULL, NULL, 0, 0}};

void programmes_register(void) { routes_add(routes); }
