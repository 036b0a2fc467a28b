/* Surveys: /v1/surveys (instruments per programme), their responses
 * (/v1/surveys/{id}/responses, .../responses/mine) and results
 * (/v1/surveys/{id}/results, with ?compare_with= for the paired view).
 *
 * Who sees what:
 * - coordinators write surveys of the programmes in their claim and read every
 *   response there, with respondent ids;
 * - coaches read surveys and results, never single responses (mentors and
 *   mentees rate their coach in them);
 * - mentors and mentees list the surveys addressed to them (their programme
 *   and audience), may read any survey of their programme by id, answer those
 *   addressed to them once while the window is open, and read only their own
 *   response;
 * - researchers read surveys and results (small groups suppressed, see
 *   suppress_question) and responses pseudonymised: respondents with research
 *   consent only, respondent ids replaced by HMAC-SHA256 under
 *   KOPPEL_EXPORT_KEY (the same pseudonyms as /v1/exports), no free text,
 *   dates as months.
 * A survey is frozen at its first response: from then on its questions,
 * phase, audience and opening date stay as they were answered (409); the
 * title and the closing date can still change, so a coordinator may extend
 * the window. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/survey_check.h"
#include "service/cursor.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

/* What a frozen survey keeps as it was answered. */
static const char *const FROZEN_FIELDS[] = {"questions", "phase", "audience", "opens_on", NULL};

/* ---------------------------------------------------------------- scope and loading */

/* The caller's scope is $1..$4 of every scoped query below, the survey $5. */
#define SCOPE_PARAMS(r) role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r)
#define VISIBLE(s) "programme_visible(" s ".programme_id, $1, $2::uuid, $3::boolean, $4::uuid[])"

static const char SQL_GET[] = "SELECT survey_json(s)::text FROM surveys s WHERE s.id = $5 AND " VISIBLE("s");
/* The row lock makes frozen_at (set by the first response) current. */
static const char SQL_GET_FOR_UPDATE[] =
  "SELECT survey_json(s)::text, s.frozen_at IS NOT NULL FROM surveys s WHERE s.id = $5 AND " VISIBLE("s")
  " FOR UPDATE";

/* What answering needs, for the caller (a mentor or mentee) and survey $5. */
enum { F_AUDIENCE, F_OPENS, F_CLOSES, F_TODAY, F_QUESTIONS, F_KIND, F_STATUS, F_MINE };
#define FACTS                                                                                          \
  "SELECT s.audience, s.opens_on::text, s.closes_on::text, "                                           \
  "  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.questions::text, p.kind, p.status, "           \
  "  (SELECT survey_response_json(x)::text FROM survey_responses x "                                   \
  "    WHERE x.survey_id = s.id AND x.respondent_id = $2::uuid) "                                      \
  "FROM surveys s LEFT JOIN participants p ON p.id = $2::uuid AND p.programme_id = s.programme_id "    \
  "WHERE s.id = $5 AND " VISIBLE("s")
static const char SQL_FACTS[] = FACTS;
/* A first response sets frozen_at: responses to one survey take turns on its row. */
static const char SQL_FACTS_FOR_ANSWER[] = FACTS " FOR NO KEY UPDATE OF s";
static const char SQL_FACTS_FOR_CHANGE[] = FACTS " FOR SHARE OF s";

static bool id_ok(struct req *r) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "no survey %s is visible to you", r->param[0]);
  return false;
}

/* Runs sql for survey r->param[0]; sends 404 and returns NULL when it is
 * absent or not visible to the caller. */
static PGresult *load(struct req *r, const char *sql) {
  if (!id_ok(r)) return NULL;
  const char *p[] = {SCOPE_PARAMS(r), r->param[0]};
  PGresult *res = req_exec(r, sql, 5, p);
  if (res && PQntuples(res) == 0) {
    PQclear(res);
    reply_problem(r, 404, "no survey %s is visible to you", r->param[0]);
    return NULL;
  }
  return res;
}

/* ---------------------------------------------------------------- survey validation */

/* survey_check_body, or NULL after a 500. */
static json_t *check_body(struct req *r, bool partial, json_t *errors, bool *unknown) {
  json_t *doc = survey_check_body(r->body, partial, errors, unknown);
  if (!doc) reply_problem(r, 500, "out of memory");
  return doc;
}

/* ---------------------------------------------------------------- surveys */

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "programme_id", "phase", "updated_since", NULL};
  /* mentors and mentees: the surveys addressed to them */
  static const char sql[] =
    "WITH page AS (SELECT s.seq, survey_json(s) AS j FROM surveys s "
    "  WHERE s.seq > $5 AND " VISIBLE("s")
    "    AND ($1 NOT IN ('mentor', 'mentee') OR s.audience IN ('both', $1 || 's')) "
    "    AND ($6::uuid IS NULL OR s.programme_id = $6) AND ($7::text IS NULL OR s.phase = $7) "
    "    AND ($8::timestamptz IS NULL OR s.updated_at >= $8) "
    "  ORDER BY s.seq LIMIT $9::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $9) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $9 FROM page)";
  int limit;
  long long after;
  const char *prg, *phase, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "surveys", &limit, &after) ||
      !req_query_uuid(r, "programme_id", &prg) || !req_query_enum(r, "phase", survey_phases, &phase) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {SCOPE_PARAMS(r), a, prg, phase, since, l};
  PGresult *res = req_exec(r, sql, 9, p);
  if (!res) return;
  reply_page(r, res, "surveys");
  PQclear(res);
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed)) return;
  PGresult *res = load(r, SQL_GET);
  if (!res) return;
  reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

/* Every writable column from the complete survey j. */
#define SURVEY_COLUMNS(j)                                                                              \
  j "->>'title', " j "->>'phase', " j "->>'audience', (" j "->>'opens_on')::date, "                    \
  "(" j "->>'closes_on')::date, " j "->'questions'"

/* Whether programme $1 exists and is in the caller's prg claim. */
static const char SQL_PROGRAMME_OK[] =
  "SELECT 1 FROM programmes WHERE id = $1 AND ($2::boolean OR id = ANY($3::uuid[]))";

static void create(struct req *r) {
  static const char sql[] =
    "INSERT INTO surveys (programme_id, title, phase, audience, opens_on, closes_on, questions) "
    "SELECT (j->>'programme_id')::uuid, " SURVEY_COLUMNS("j") " FROM (SELECT $1::jsonb AS j) s "
    "RETURNING id::text, survey_json(surveys)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *prog = NULL, *res = NULL;
  json_t *doc = NULL;
  char *text = NULL;
  if (!(doc = check_body(r, false, errors, &unknown))) goto out;
  survey_check_window(doc, errors);
  survey_canonicalise(doc, errors);
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r)) goto out;
  const char *pp[] = {json_string_value(json_object_get(doc, "programme_id")), claims_all(r), claims_prg(r)};
  if (!(prog = req_exec(r, SQL_PROGRAMME_OK, 3, pp))) goto out;
  if (PQntuples(prog) == 0) {
    problem_add(errors, "/programme_id", "is not a programme you work in");
    goto invalid;
  }
  text = json_dumps(doc, JSON_COMPACT);
  const char *p[] = {text};
  if (!text || !(res = req_exec(r, sql, 1, p)) || !req_commit(r)) goto out;
  reply_created(r, "/v1/surveys/", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(doc);
  free(text);
  PQclear(prog);
  PQclear(res);
}

/* The first member of FROZEN_FIELDS that differs between a and b, or NULL. */
static const char *frozen_change(const json_t *a, const json_t *b) {
  for (int i = 0; FROZEN_FIELDS[i]; i++) {
    json_t *x = json_object_get(a, FROZEN_FIELDS[i]), *y = json_object_get(b, FROZEN_FIELDS[i]);
    if (!(x && y && json_equal(x, y))) return FROZEN_FIELDS[i];
  }
  return NULL;
}

static void patch(struct req *r) {
  static const char sql[] =
    "UPDATE surveys SET (title, phase, audience, opens_on, closes_on, questions) = "
    "  (SELECT " SURVEY_COLUMNS("j") ") "
    "FROM (SELECT $2::jsonb AS j) s WHERE id = $1 RETURNING survey_json(surveys)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *cur = NULL, *res = NULL;
  json_t *doc = NULL, *current = NULL, *merged = NULL;
  char *text = NULL;
  if (!id_ok(r) || !(doc = check_body(r, true, errors, &unknown))) goto out;
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  current = json_loads(PQgetvalue(cur, 0, 0), 0, NULL);
  merged = json_deep_copy(current);
  if (!merged) {
    reply_problem(r, 500, "could not read the stored survey");
    goto out;
  }
  merge_patch(merged, doc);
  survey_check_window(merged, errors);
  survey_canonicalise(merged, errors);
  const char *changed = frozen_change(current, merged);
  if (strcmp(PQgetvalue(cur, 0, 1), "t") == 0 && changed) {
    reply_problem(r, 409,
                  "this survey has responses, so its %s can no longer change (questions, phase, audience and "
                  "opens_on stay as they were answered; a new version is a new survey); title and closes_on "
                  "can still change", changed);
    goto out;
  }
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(merged, JSON_COMPACT);
  const char *p[] = {r->param[0], text};
  if (text && (res = req_exec(r, sql, 2, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(doc);
  json_decref(current);
  json_decref(merged);
  free(text);
  PQclear(cur);
  PQclear(res);
}

static void delete(struct req *r) {
  static const char sql[] = "DELETE FROM surveys WHERE id = $1";
  PGresult *cur = NULL, *res = NULL;
  if (!id_ok(r) || !req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  if (strcmp(PQgetvalue(cur, 0, 1), "t") == 0) {
    reply_problem(r, 409, "this survey has responses and cannot be deleted");
    goto out;
  }
  const char *p[] = {r->param[0]};
  if ((res = req_exec(r, sql, 1, p)) && req_commit(r)) reply_empty(r, 204);
out:
  PQclear(cur);
  PQclear(res);
}

/* ---------------------------------------------------------------- answers */

/* The caller may answer survey facts: they are of its audience and invited,
 * and the window is open. Sends 403 or 409 and returns false otherwise. */
static bool may_answer(struct req *r, const PGresult *f) {
  const char *audience = PQgetvalue(f, 0, F_AUDIENCE), *kind = PQgetvalue(f, 0, F_KIND);
  const char *status = PQgetvalue(f, 0, F_STATUS);
  if (PQgetisnull(f, 0, F_KIND)) {
    reply_problem(r, 403, "you do not take part in this survey's programme");
    return false;
  }
  if (strcmp(audience, "both") != 0 && strncmp(audience, kind, strlen(kind)) != 0) {
    reply_problem(r, 403, "this survey is addressed to %s; you take part as a %s", audience, kind);
    return false;
  }
  if (strcmp(status, "withdrawn") == 0 || strcmp(status, "rejected") == 0) {
    reply_problem(r, 403, "you are not invited to this survey: your participation is %s", status);
    return false;
  }
  const char *opens = PQgetvalue(f, 0, F_OPENS), *closes = PQgetvalue(f, 0, F_CLOSES);
  const char *today = PQgetvalue(f, 0, F_TODAY);
  if (strcmp(today, opens) < 0 || strcmp(today, closes) > 0) {
    reply_problem(r, 409, "this survey is open from %s to %s (both days included, UTC); today is %s", opens,
                  closes, today);
    return false;
  }
  return true;
}

/* ---------------------------------------------------------------- responses */

static void respond(struct req *r) {
  static const char sql_insert[] =
    "INSERT INTO survey_responses (survey_id, respondent_id, answers) VALUES ($1, $2, $3::jsonb) "
    "ON CONFLICT (survey_id, respondent_id) DO NOTHING RETURNING survey_response_json(survey_responses)::text";
  static const char sql_freeze[] =
    "UPDATE surveys SET frozen_at = clock_timestamp() WHERE id = $1 AND frozen_at IS NULL";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *f = NULL, *ins = NULL, *frz = NULL;
  json_t *clean = NULL;
  char *text = NULL;
  survey_check_response_body(r->body, errors, &unknown);
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(f = load(r, SQL_FACTS_FOR_ANSWER)) || !may_answer(r, f)) goto out;
  if (!PQgetisnull(f, 0, F_MINE)) {
    reply_problem(r, 409, "you have answered this survey already; PUT /v1/surveys/%s/responses/mine replaces "
                  "your answers while it is open", r->param[0]);
    goto out;
  }
  clean = survey_check_answers(PQgetvalue(f, 0, F_QUESTIONS), json_object_get(r->body, "answers"), errors);
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(clean, JSON_COMPACT);
  const char *p[] = {r->param[0], r->claims.sub, text};
  if (!text || !(ins = req_exec(r, sql_insert, 3, p))) goto out;
  if (PQntuples(ins) == 0) {
    reply_problem(r, 409, "you have answered this survey already");
    goto out;
  }
  if (!(frz = req_exec(r, sql_freeze, 1, p)) || !req_commit(r)) goto out;
  char loc[96];
  snprintf(loc, sizeof loc, "/v1/surveys/%s/responses/mine", r->param[0]);
  set_header(r, "Location", loc);
  reply_json_text(r, 201, PQgetvalue(ins, 0, 0), true);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(clean);
  free(text);
  PQclear(f);
  PQclear(ins);
  PQclear(frz);
}

static void get_mine(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed)) return;
  PGresult *f = load(r, SQL_FACTS);
  if (!f) return;
  if (PQgetisnull(f, 0, F_MINE))
    reply_problem(r, 404, "you have not answered survey %s", r->param[0]);
  else
    reply_json_text(r, 200, PQgetvalue(f, 0, F_MINE), true);
  PQclear(f);
}

/* PUT replaces the caller's own answers while the window is open. */
static void put_mine(struct req *r) {
  static const char sql_lock[] =
    "SELECT survey_response_json(x)::text FROM survey_responses x "
    "WHERE x.survey_id = $1 AND x.respondent_id = $2 FOR UPDATE";
  static const char sql_update[] =
    "UPDATE survey_responses SET answers = $3::jsonb WHERE survey_id = $1 AND respondent_id = $2 "
    "RETURNING survey_response_json(survey_responses)::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *f = NULL, *cur = NULL, *res = NULL;
  json_t *clean = NULL;
  char *text = NULL;
  survey_check_response_body(r->body, errors, &unknown);
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(f = load(r, SQL_FACTS_FOR_CHANGE)) || !may_answer(r, f)) goto out;
  const char *p[] = {r->param[0], r->claims.sub, NULL};
  if (!(cur = req_exec(r, sql_lock, 2, p))) goto out;
  if (PQntuples(cur) == 0) {
    reply_problem(r, 404, "you have not answered survey %s; POST /v1/surveys/%s/responses first", r->param[0],
                  r->param[0]);
    goto out;
  }
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  clean = survey_check_answers(PQgetvalue(f, 0, F_QUESTIONS), json_object_get(r->body, "answers"), errors);
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(clean, JSON_COMPACT);
  p[2] = text;
  if (text && (res = req_exec(r, sql_update, 3, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(clean);
  free(text);
  PQclear(f);
  PQclear(cur);
  PQclear(res);
}

/* pseudonym = lowercase hex of HMAC-SHA256(key, id), as /v1/exports writes it,
 * so the same respondent joins across exports and response lists. */
static bool pseudonym(const char *key, const char *id, char out[65]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)id, strlen(id), mac, &len) ||
      len != 32)
    return false;
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 32; i++) {
    out[2 * i] = hex[mac[i] >> 4];
    out[2 * i + 1] = hex[mac[i] & 15];
  }
  out[64] = 0;
  return true;
}

/* A page like reply_page's, with each item's respondent_id replaced by its pseudonym. */
static void reply_pseudonymised_page(struct req *r, const PGresult *res, const char *scope) {
  json_t *items = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
  json_t *body = NULL;
  size_t i;
  json_t *item;
  json_array_foreach(items, i, item) {
    char h[65];
    const char *id = json_string_value(json_object_get(item, "respondent_id"));
    if (!id || !pseudonym(r->app->cfg.export_key, id, h)) {
      reply_problem(r, 500, "could not pseudonymise a response");
      json_decref(items);
      return;
    }
    json_object_set_new(item, "respondent_id", json_string(h));
  }
  json_t *cursor = json_null();
  if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
    long long seq = 0;
    char c[180];
    v_strtonum(PQgetvalue(res, 0, 1), 0, 9007199254740991LL, &seq);
    cursor_encode(r->app->cfg.cursor_secret, scope, seq, c, sizeof c);
    cursor = json_string(c);
  }
  if (items) body = json_pack("{s:o, s:o}", "items", items, "next_cursor", cursor);
  else json_decref(cursor);
  reply_json(r, 200, body);
}

/* Coordinators: every response; mentors and mentees: their own; researchers:
 * those of respondents with research consent, pseudonymised, without free
 * text, dates as months (updated_since rounded down to its month, as exports do). */
static void list_responses(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "updated_since", NULL};
  /* $1 role, $2 sub, $3 survey, $4 after, $5 updated_since, $6 limit */
  static const char sql[] =
    "WITH page AS (SELECT x.seq, CASE WHEN $1 = 'researcher' THEN jsonb_build_object("
    "      'survey_id', x.survey_id, 'respondent_id', x.respondent_id, "
    "      'answers', (SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN q->>'type' = 'date' "
    "                    THEN to_jsonb(left(e.value #>> '{}', 7)) ELSE e.value END), '{}') "
    "                  FROM jsonb_each(x.answers) e JOIN jsonb_array_elements(s.questions) q "
    "                    ON q->>'key' = e.key WHERE q->>'type' <> 'text'), "
    "      'submitted_month', to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM')) "
    "    ELSE survey_response_json(x) END AS j "
    "  FROM survey_responses x JOIN surveys s ON s.id = x.survey_id "
    "  JOIN participants p ON p.id = x.respondent_id "
    "  WHERE x.survey_id = $3 AND x.seq > $4 "
    "    AND ($1::text NOT IN ('mentor', 'mentee') OR x.respondent_id = $2::uuid) "
    "    AND ($1 <> 'researcher' OR p.consent_research) "
    "    AND ($5::timestamptz IS NULL OR x.updated_at >= CASE WHEN $1 = 'researcher' "
    "         THEN date_trunc('month', $5::timestamptz) ELSE $5::timestamptz END) "
    "  ORDER BY x.seq LIMIT $6::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $6) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $6 FROM page)";
  int limit;
  long long after;
  const char *since;
  char scope[64];
  /* a cursor is valid for the survey that issued it only */
  snprintf(scope, sizeof scope, "survey-responses:%.36s", r->param[0]);
  if (!req_check_query(r, allowed) || !id_ok(r) || !req_page(r, scope, &limit, &after) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  PGresult *s = load(r, SQL_GET);
  if (!s) return;
  PQclear(s);
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {role_name(r->claims.role), r->claims.sub, r->param[0], a, since, l};
  PGresult *res = req_exec(r, sql, 6, p);
  if (!res) return;
  if (r->claims.role == ROLE_RESEARCHER) reply_pseudonymised_page(r, res, scope);
  else reply_page(r, res, scope);
  PQclear(res);
}

/* ---------------------------------------------------------------- results */

/* The figures of survey $1, unsuppressed, as JSON text; with $2 and $3 (the
 * earlier and the later of it and the survey compared with) the paired view
 * of the people who answered a question in both. A question is paired with
 * the other survey's question of the same key and type; its option cells are
 * the union of both option lists. Helper members starting with "_" (the group
 * size behind a mean) are removed before the reply. Second column: the
 * programme's small_group_threshold. */
static const char SQL_RESULTS[] =
  "WITH q AS (SELECT x.q->>'key' AS key, x.q->>'type' AS type, survey_question_options(x.q) AS opts, x.pos "
  "    FROM surveys s, jsonb_array_elements(s.questions) WITH ORDINALITY AS x(q, pos) WHERE s.id = $1), "
  "oq AS (SELECT x.q->>'key' AS key, x.q->>'type' AS type, survey_question_options(x.q) AS opts "
  "    FROM surveys s, jsonb_array_elements(s.questions) AS x(q) "
  "    WHERE s.id = CASE WHEN $2::uuid = $1 THEN $3::uuid ELSE $2::uuid END), "
  /* one pass: per question and option, and per question (option_total) */
  "agg AS MATERIALIZED (SELECT question_key, option, grouping(option) = 1 AS option_total, count(*) AS n, "
  "      count(*) FILTER (WHERE ord = 1) AS respondents, avg(value) AS mean, count(value) AS mean_n "
  "    FROM response_answers WHERE survey_id = $1 "
  "    GROUP BY GROUPING SETS ((question_key, option), (question_key))), "
  "mq AS (SELECT q.key, CASE WHEN q.opts IS NOT NULL THEN q.opts || ARRAY(SELECT u.x FROM unnest(oq.opts) "
  "      WITH ORDINALITY AS u(x, i) WHERE u.x <> ALL (q.opts) ORDER BY u.i) END AS opts "
  "    FROM q JOIN oq ON oq.key = q.key AND oq.type = q.type), "
  /* per person and paired question, one pass over both surveys: the options chosen and the
   * numeric answer before (b) and after (a); answered in both when each has its ord 1 row */
  "pq AS MATERIALIZED (SELECT question_key, "
  "      coalesce(array_agg(option) FILTER (WHERE survey_id = $2 AND option IS NOT NULL), '{}') AS ob, "
  "      coalesce(array_agg(option) FILTER (WHERE survey_id = $3 AND option IS NOT NULL), '{}') AS oa, "
  "      max(value) FILTER (WHERE survey_id = $2) AS vb, max(value) FILTER (WHERE survey_id = $3) AS va "
  "    FROM response_answers WHERE survey_id IN ($2, $3) AND question_key IN (SELECT key FROM mq) "
  "    GROUP BY question_key, respondent_id "
  "    HAVING bool_or(survey_id = $2 AND ord = 1) AND bool_or(survey_id = $3 AND ord = 1)), "
  "pn AS (SELECT question_key, count(*) AS n, avg(va - vb) AS change, count(va - vb) AS change_n "
  "    FROM pq GROUP BY 1), "
  "popt AS (SELECT question_key, o AS option, count(*) FILTER (WHERE o = ANY (ob) AND o <> ALL (oa)) AS only_before, "
  "      count(*) FILTER (WHERE o <> ALL (ob) AND o = ANY (oa)) AS only_after, "
  "      count(*) FILTER (WHERE o = ANY (ob) AND o = ANY (oa)) AS both_ "
  "    FROM pq CROSS JOIN LATERAL (SELECT DISTINCT u FROM unnest(ob || oa) AS u) AS x(o) GROUP BY 1, 2), "
  "qj AS (SELECT q.pos, json_build_object('key', q.key, 'type', q.type, 'n', coalesce(st.respondents, 0), "
  "    'counts', (SELECT json_object_agg(o.x, coalesce(c.n, 0) ORDER BY o.i) "
  "                 FROM unnest(q.opts) WITH ORDINALITY AS o(x, i) "
  "                 LEFT JOIN agg c ON c.question_key = q.key AND c.option = o.x AND NOT c.option_total), "
  "    'mean', CASE WHEN q.type IN ('likert5', 'scale10', 'number') THEN round(st.mean, 4)::float8 END, "
  "    'suppressed', false, '_mean_n', coalesce(st.mean_n, 0), "
  "    'paired', CASE WHEN mq.key IS NOT NULL THEN json_build_object('n', coalesce(pn.n, 0), "
  "      'only_before', (SELECT json_object_agg(o.x, coalesce(p.only_before, 0) ORDER BY o.i) "
  "         FROM unnest(mq.opts) WITH ORDINALITY AS o(x, i) "
  "         LEFT JOIN popt p ON p.question_key = q.key AND p.option = o.x), "
  "      'only_after', (SELECT json_object_agg(o.x, coalesce(p.only_after, 0) ORDER BY o.i) "
  "         FROM unnest(mq.opts) WITH ORDINALITY AS o(x, i) "
  "         LEFT JOIN popt p ON p.question_key = q.key AND p.option = o.x), "
  "      'both', (SELECT json_object_agg(o.x, coalesce(p.both_, 0) ORDER BY o.i) "
  "         FROM unnest(mq.opts) WITH ORDINALITY AS o(x, i) "
  "         LEFT JOIN popt p ON p.question_key = q.key AND p.option = o.x), "
  "      'mean_change', CASE WHEN q.type IN ('likert5', 'scale10', 'number') "
  "         THEN round(pn.change, 4)::float8 END, "
  "      '_change_n', coalesce(pn.change_n, 0)) END) AS j "
  "    FROM q LEFT JOIN agg st ON st.question_key = q.key AND st.option_total "
  "    LEFT JOIN mq ON mq.key = q.key LEFT JOIN pn ON pn.question_key = q.key), "
  "t AS (SELECT survey_invited_count($1) AS invited, "
  "    (SELECT count(*) FROM survey_responses x WHERE x.survey_id = $1) AS responded) "
  "SELECT json_build_object('survey_id', s.id, 'invited', t.invited, 'responded', t.responded, "
  "    'response_rate', CASE WHEN t.invited > 0 THEN round(t.responded::numeric / t.invited, 4)::float8 END, "
  "    'questions', (SELECT json_agg(j ORDER BY pos) FROM qj))::text, g.small_group_threshold "
  "  FROM surveys s JOIN programmes g ON g.id = s.programme_id, t WHERE s.id = $1";

/* Whether survey $6 can be compared with $5 (another survey of its programme),
 * and whether it came first: by opening date, then phase, then creation. */
static const char SQL_COMPARE[] =
  "SELECT (o.opens_on, survey_phase_rank(o.phase), o.created_at, o.seq) "
  "     < (s.opens_on, survey_phase_rank(s.phase), s.created_at, s.seq) "
  "FROM surveys s JOIN surveys o ON o.programme_id = s.programme_id AND o.id <> s.id "
  "WHERE s.id = $5 AND o.id = $6 AND " VISIBLE("s");

/* Nulls every integer cell of counts below t; true if any. */
static bool suppress_cells(json_t *counts, json_int_t t) {
  bool any = false;
  const char *k;
  json_t *v;
  json_object_foreach(counts, k, v) {
    if (json_is_integer(v) && json_integer_value(v) < t) {
      json_object_set_new(counts, k, json_null());
      any = true;
    }
  }
  return any;
}

static void null_all(json_t *counts) {
  const char *k;
  json_t *v;
  json_object_foreach(counts, k, v) json_object_set_new(counts, k, json_null());
}

/* Secondary suppression where each respondent gives one answer (every option
 * type but multi_choice), so the hidden cells add up to n minus the shown
 * ones: while that hidden total is below t, the smallest shown cell is hidden
 * too, so no suppressed group can be worked out by subtraction. */
static void suppress_complement(json_t *counts, json_int_t n, json_int_t t) {
  for (;;) {
    json_int_t shown = 0;
    const char *k, *smallest = NULL;
    json_t *v;
    json_object_foreach(counts, k, v) {
      if (!json_is_integer(v)) continue;
      shown += json_integer_value(v);
      if (!smallest || json_integer_value(v) < json_integer_value(json_object_get(counts, smallest))) smallest = k;
    }
    if (n - shown >= t || !smallest) return;
    json_object_set_new(counts, smallest, json_null());
  }
}

/* The researcher's view of one question's figures, for small_group_threshold t:
 * n below t hides everything; otherwise each count cell below t is null (0
 * included), then the complement rule above; mean when fewer than t numeric
 * answers are behind it. The paired view the same way with its own n, cells
 * and mean_change (without the complement rule: its cells do not add up to n).
 * suppressed is true when anything was hidden. */
static void suppress_question(json_t *q, json_int_t t) {
  bool hidden = false;
  json_int_t n = json_integer_value(json_object_get(q, "n"));
  json_t *counts = json_object_get(q, "counts");
  const char *type = json_string_value(json_object_get(q, "type"));
  if (n < t) {
    json_object_set_new(q, "n", json_null());
    null_all(counts);
    hidden = true;
  } else if (json_is_object(counts) && suppress_cells(counts, t)) {
    if (strcmp(type, "multi_choice") != 0) suppress_complement(counts, n, t);
    hidden = true;
  }
  if (!json_is_null(json_object_get(q, "mean")) &&
      (n < t || json_integer_value(json_object_get(q, "_mean_n")) < t)) {
    json_object_set_new(q, "mean", json_null());
    hidden = true;
  }
  json_t *pd = json_object_get(q, "paired");
  if (json_is_object(pd)) {
    static const char *const cells[] = {"only_before", "only_after", "both"};
    json_int_t pn = json_integer_value(json_object_get(pd, "n"));
    if (pn < t) json_object_set_new(pd, "n", json_null());
    for (int i = 0; i < 3; i++) {
      json_t *c = json_object_get(pd, cells[i]);
      if (!json_is_object(c)) continue;
      if (pn < t) null_all(c);
      else if (suppress_cells(c, t)) hidden = true;
    }
    if (!json_is_null(json_object_get(pd, "mean_change")) &&
        (pn < t || json_integer_value(json_object_get(pd, "_change_n")) < t)) {
      json_object_set_new(pd, "mean_change", json_null());
      hidden = true;
    }
    if (pn < t) hidden = true;
  }
  json_object_set_new(q, "suppressed", json_boolean(hidden));
}

static void results(struct req *r) {
  static const char *const allowed[] = {"compare_with", NULL};
  const char *other;
  PGresult *s = NULL, *cmp = NULL, *res = NULL;
  json_t *doc = NULL;
  if (!req_check_query(r, allowed) || !req_query_uuid(r, "compare_with", &other) || !(s = load(r, SQL_GET)))
    goto out;
  const char *before = NULL, *after = NULL;
  if (other) {
    const char *p[] = {SCOPE_PARAMS(r), r->param[0], other};
    if (!(cmp = req_exec(r, SQL_COMPARE, 6, p))) goto out;
    if (PQntuples(cmp) == 0) {
      reply_problem(r, 400, "query parameter 'compare_with' must be another survey of the same programme");
      goto out;
    }
    bool other_first = strcmp(PQgetvalue(cmp, 0, 0), "t") == 0;
    before = other_first ? other : r->param[0];
    after = other_first ? r->param[0] : other;
  }
  const char *p[] = {r->param[0], before, after};
  if (!(res = req_exec(r, SQL_RESULTS, 3, p))) goto out;
  doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
  long long t = 5;
  v_strtonum(PQgetvalue(res, 0, 1), 1, 1000, &t);
  size_t i;
  json_t *q;
  json_array_foreach(json_object_get(doc, "questions"), i, q) {
    if (r->claims.role == ROLE_RESEARCHER) suppress_question(q, (json_int_t)t);
    json_object_del(q, "_mean_n");
    if (!other) json_object_del(q, "paired");
    else json_object_del(json_object_get(q, "paired"), "_change_n");
  }
  reply_json(r, 200, doc);
  doc = NULL;
out:
  json_decref(doc);
  PQclear(s);
  PQclear(cmp);
  PQclear(res);
}

#define COORD ROLE_BIT(ROLE_COORDINATOR)
#define PARTICIPANT (ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE))
#define READERS (STAFF | ROLE_BIT(ROLE_RESEARCHER) | PARTICIPANT)
#define RESPONSE_READERS (COORD | ROLE_BIT(ROLE_RESEARCHER) | PARTICIPANT)
#define RESULT_READERS (STAFF | ROLE_BIT(ROLE_RESEARCHER))

static const struct route routes[] = {
  {"GET", "/v1/surveys", list, 0, READERS},
  {"POST", "/v1/surveys", create, R_BODY, COORD},
  {"GET", "/v1/surveys/{id}", get_one, 0, READERS},
  {"PATCH", "/v1/surveys/{id}", patch, R_BODY | R_MERGE_PATCH, COORD},
  {"DELETE", "/v1/surveys/{id}", delete, 0, COORD},
  {"GET", "/v1/surveys/{id}/responses", list_responses, 0, RESPONSE_READERS},
  {"POST", "/v1/surveys/{id}/responses", respond, R_BODY, PARTICIPANT},
  {"GET", "/v1/surveys/{id}/responses/mine", get_mine, 0, PARTICIPANT},
  {"PUT", "/v1/surveys/{id}/responses/mine", put_mine, R_BODY, PARTICIPANT},
  {"GET", "/v1/surveys/{id}/results", results, 0, RESULT_READERS},
  {NULL, NULL, NULL, 0, 0}};

void surveys_register(void) { routes_add(routes); }
