/* Participants: mentors and mentees, their intake, status path and views.
 * Who sees what is decided in SQL (participant_view in sql/0001_init.sql):
 * staff in their programmes, integration clients their own employees,
 * mentors and mentees themselves and their counterparts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/problem.h"
#include "service/validate.h"

static const char *const KINDS[] = {"mentor", "mentee", NULL};
static const char *const STATUSES[] = {"applied", "screened", "waiting", "matched", "active",
                                       "completed", "withdrawn", "rejected", NULL};
static const char *const AVAILABILITY[] = {"working_hours", "evenings", "weekends", NULL};
static const char *const EDUCATION[] = {"primary", "lower_secondary", "upper_secondary", "post_secondary",
                                        "short_tertiary", "bachelor", "master", "doctorate", NULL};

static bool phone_ok(const char *s) { return v_phone(s); }
static bool url_ok(const char *s) { return v_url(s); }

static const struct field LANGUAGE[] = {
  {"code", FT_CHECK, true, false, 0, 0, NULL, v_iso639_1, "an ISO 639-1 code such as nl or en", NULL, NULL},
  {"level", FT_CHECK, true, false, 0, 0, NULL, v_cefr, "a CEFR level A1, A2, B1, B2, C1 or C2", NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};

static const struct field CONSENT[] = {
  {"data_processing", FT_BOOL, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"research", FT_BOOL, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {"given_at", FT_TIMESTAMP, false, true, 0, 0, NULL, NULL, NULL, NULL, NULL},
  {NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};

#define NOTHING NULL, NULL, NULL, NULL, NULL
/* Every writable field. programme_id and kind are set at creation only. */
static const struct field PARTICIPANT[] = {
  {"programme_id", FT_UUID, true, false, 0, 0, NOTHING},
  {"kind", FT_ENUM, true, false, 0, 0, KINDS, NULL, NULL, NULL, NULL},
  {"given_name", FT_STRING, true, false, 1, 100, NOTHING},
  {"family_name", FT_STRING, true, false, 1, 100, NOTHING},
  {"email", FT_EMAIL, false, true, 0, 0, NOTHING},
  {"phone", FT_CHECK, false, true, 0, 0, NULL, phone_ok, "a phone number (6 to 32 of digits, spaces, + - ( ) .)", NULL, NULL},
  {"status", FT_ENUM, false, false, 0, 0, STATUSES, NULL, NULL, NULL, NULL},
  {"sectors", FT_STR_ARRAY, false, false, 0, 2, NULL, v_nace, "a NACE Rev. 2 code (A-U, 85, 85.3 or 85.31)", NULL, NULL},
  {"occupations", FT_STR_ARRAY, false, false, 0, 2, NULL, v_isco, "an ISCO-08 code of 1 to 4 digits", NULL, NULL},
  {"region", FT_STRING, false, true, 1, 100, NOTHING},
  {"availability", FT_STR_ARRAY, false, false, 0, 3, AVAILABILITY, NULL, "working_hours, evenings or weekends", NULL, NULL},
  {"languages", FT_ANY_ARRAY, false, false, 0, 20, NULL, NULL, NULL, LANGUAGE, NULL},
  {"years_experience", FT_INT, false, true, 0, 80, NOTHING},
  {"education_level", FT_ENUM, false, true, 0, 0, EDUCATION, NULL, NULL, NULL, NULL},
  {"job_target", FT_STRING, false, true, 0, 500, NOTHING},
  {"motivation", FT_STRING, false, true, 0, 5000, NOTHING},
  {"arrival_on", FT_DATE, false, true, 0, 0, NOTHING},
  {"referred_by_partner_id", FT_UUID, false, true, 0, 0, NOTHING},
  {"employer_partner_id", FT_UUID, false, true, 0, 0, NOTHING},
  {"external_ref", FT_STRING, false, true, 1, 100, NOTHING},
  {"capacity", FT_INT, false, true, 0, 100, NOTHING},
  {"short_profile", FT_STRING, false, true, 0, 2000, NOTHING},
  {"cv_url", FT_CHECK, false, true, 0, 0, NULL, url_ok, "an http or https URL", NULL, NULL},
  {"consent", FT_OBJECT, false, false, 0, 0, NULL, NULL, NULL, CONSENT, NULL},
  {NULL, 0, false, false, 0, 0, NOTHING}};

/* Fields the service maintains; a PATCH naming them is told so (422), not "unknown". */
static const char *const READ_ONLY[] = {"id", "programme_id", "kind", "status_changed_at",
                                        "waiting_since", "created_at", "updated_at", NULL};
/* What mentors and mentees may change on their own record. */
static const char *const SELF_EDITABLE[] = {"email", "phone", "region", "availability", "languages",
                                            "short_profile", "cv_url", "consent", NULL};

/* Languages: one entry per code. */
static void check_languages(const json_t *p, json_t *errors) {
  json_t *langs = json_object_get(p, "languages");
  for (size_t i = 0; json_is_array(langs) && i < json_array_size(langs); i++)
    for (size_t j = 0; j < i; j++) {
      const char *a = json_string_value(json_object_get(json_array_get(langs, i), "code"));
      const char *b = json_string_value(json_object_get(json_array_get(langs, j), "code"));
      if (a && b && strcmp(a, b) == 0) {
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/languages/%zu/code", i);
        problem_add(errors, ptr, "duplicates an earlier language");
      }
    }
}

#define VIEW_PARAMS(r) \
  role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r), \
    ((r)->claims.partner[0] ? (r)->claims.partner : NULL)

static const char SQL_VIEW[] =
  "SELECT participant_view(p, $2, $3, $4, $5, $6)::text, participant_json(p)::text "
  "FROM participants p WHERE p.id = $1";
static const char SQL_VIEW_FOR_UPDATE[] =
  "SELECT participant_view(p, $2, $3, $4, $5, $6)::text, participant_json(p)::text "
  "FROM participants p WHERE p.id = $1 FOR UPDATE";

/* Loads participant r->param[0] as the caller sees it; 404 when not visible. */
static PGresult *load(struct req *r, const char *sql) {
  if (!v_uuid(r->param[0])) {
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
    return NULL;
  }
  const char *p[] = {r->param[0], VIEW_PARAMS(r)};
  PGresult *res = req_exec(r, sql, 6, p);
  if (res && (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))) {
    PQclear(res);
    reply_problem(r, 404, "no participant %s is visible to you", r->param[0]);
    return NULL;
  }
  return res;
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!req_check_query(r, allowed)) return;
  PGresult *res = load(r, SQL_VIEW);
  if (!res) return;
  reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

static bool query_len(struct req *r, const char *name, const char **out) {
  *out = req_query(r, name);
  if (!*out || (strlen(*out) >= 1 && strlen(*out) <= 100)) return true;
  reply_problem(r, 400, "query parameter '%s' must be 1 to 100 characters", name);
  return false;
}

static bool query_code(struct req *r, const char *name, bool (*check)(const char *), const char *rule,
                       const char **out) {
  *out = req_query(r, name);
  if (!*out || check(*out)) return true;
  reply_problem(r, 400, "query parameter '%s' must be %s", name, rule);
  return false;
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "programme_id", "status", "kind", "sector",
                                        "occupation", "region", "waiting_since", "q", "updated_since", NULL};
  /* Scope first (index on programme_id/employer/pairs), then the filters.
   * sector and occupation match hierarchically: "85" finds "85.31". */
  static const char sql[] =
    "WITH page AS (SELECT p.seq, participant_view(p, $1, $2, $3, $4, $5) AS j FROM participants p "
    "  WHERE p.seq > $6 AND CASE "
    "    WHEN $1 IN ('coordinator', 'coach') THEN $3::boolean OR p.programme_id = ANY($4::uuid[]) "
    "    WHEN $1 = 'integration' THEN p.employer_partner_id = $5::uuid "
    "    WHEN $1 = 'mentor' THEN p.id = $2::uuid OR EXISTS (SELECT 1 FROM pairs x WHERE x.mentor_id = $2::uuid "
    "      AND x.mentee_id = p.id AND x.status <> 'declined') "
    "    WHEN $1 = 'mentee' THEN p.id = $2::uuid OR EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = $2::uuid "
    "      AND x.mentor_id = p.id AND x.status <> 'declined') "
    "    ELSE false END "
    "  AND ($7::uuid IS NULL OR p.programme_id = $7) "
    "  AND ($8::text IS NULL OR p.status = $8) "
    "  AND ($9::text IS NULL OR p.kind = $9) "
    "  AND ($10::text IS NULL OR EXISTS (SELECT 1 FROM unnest(p.sectors) s WHERE s = $10 OR s LIKE $10 || '%')) "
    "  AND ($11::text IS NULL OR EXISTS (SELECT 1 FROM unnest(p.occupations) o WHERE o LIKE $11 || '%')) "
    "  AND ($12::text IS NULL OR lower(p.region) = lower($12)) "
    "  AND ($13::date IS NULL OR (p.status = 'waiting' AND p.waiting_since < $13::date + 1)) "
    "  AND ($14::text IS NULL OR (p.given_name || ' ' || p.family_name) ILIKE "
    "       '%' || replace(replace(replace($14, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%') "
    "  AND ($15::timestamptz IS NULL OR p.updated_at >= $15) "
    "  ORDER BY p.seq LIMIT $16::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $16) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $16 FROM page)";
  int limit;
  long long after;
  const char *prg, *status, *kind, *sector, *occupation, *region, *waiting, *q, *since;
  if (!req_check_query(r, allowed) || !req_page(r, "participants", &limit, &after) ||
      !req_query_uuid(r, "programme_id", &prg) || !req_query_enum(r, "status", STATUSES, &status) ||
      !req_query_enum(r, "kind", KINDS, &kind) ||
      !query_code(r, "sector", v_nace, "a NACE Rev. 2 code (A-U, 85, 85.3 or 85.31)", &sector) ||
      !query_code(r, "occupation", v_isco, "an ISCO-08 code of 1 to 4 digits", &occupation) ||
      !query_len(r, "region", &region) || !req_query_date(r, "waiting_since", &waiting) ||
      !query_len(r, "q", &q) || !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {VIEW_PARAMS(r), a, prg, status, kind, sector, occupation, region, waiting, q, since, l};
  PGresult *res = req_exec(r, sql, 16, p);
  if (!res) return;
  reply_page(r, res, "participants");
  PQclear(res);
}

/* Writes every writable column from the complete participant j ($2). */
static const char SQL_APPLY[] =
  "UPDATE participants SET given_name = j->>'given_name', family_name = j->>'family_name', "
  "  email = j->>'email', phone = j->>'phone', status = coalesce(j->>'status', status), "
  "  sectors = ARRAY(SELECT e FROM jsonb_array_elements_text(coalesce(j->'sectors', '[]')) WITH ORDINALITY AS t(e, o) ORDER BY o), "
  "  occupations = ARRAY(SELECT e FROM jsonb_array_elements_text(coalesce(j->'occupations', '[]')) WITH ORDINALITY AS t(e, o) ORDER BY o), "
  "  region = j->>'region', "
  "  availability = ARRAY(SELECT e FROM jsonb_array_elements_text(coalesce(j->'availability', '[]')) WITH ORDINALITY AS t(e, o) ORDER BY o), "
  "  languages = coalesce(j->'languages', '[]'), years_experience = (j->>'years_experience')::int, "
  "  education_level = j->>'education_level', job_target = j->>'job_target', "
  "  motivation = j->>'motivation', arrival_on = (j->>'arrival_on')::date, "
  "  referred_by_partner_id = (j->>'referred_by_partner_id')::uuid, "
  "  employer_partner_id = (j->>'employer_partner_id')::uuid, external_ref = j->>'external_ref', "
  "  capacity = (j->>'capacity')::int, short_profile = j->>'short_profile', cv_url = j->>'cv_url', "
  "  consent_data_processing = coalesce((j->'consent'->>'data_processing')::boolean, false), "
  "  consent_research = coalesce((j->'consent'->>'research')::boolean, false), "
  "  consent_given_at = coalesce((j->'consent'->>'given_at')::timestamptz, CASE WHEN "
  "    coalesce((j->'consent'->>'data_processing')::boolean, false) OR "
  "    coalesce((j->'consent'->>'research')::boolean, false) THEN coalesce(consent_given_at, now()) END) "
  "FROM (SELECT $2::jsonb AS j) s WHERE id = $1 "
  "RETURNING participant_view(participants, $3, $4, $5, $6, $7)::text";

/* Referenced partners must exist: a 422 naming the field beats a bare FK error. */
static bool partners_exist(struct req *r, const json_t *p, json_t *errors) {
  static const char sql[] = "SELECT count(*) FROM partners WHERE id = $1";
  static const char *const refs[] = {"referred_by_partner_id", "employer_partner_id", NULL};
  for (int i = 0; refs[i]; i++) {
    const char *id = json_string_value(json_object_get(p, refs[i]));
    if (!id) continue;
    const char *params[] = {id};
    PGresult *res = req_exec(r, sql, 1, params);
    if (!res) return false;
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/%s", refs[i]);
      problem_add(errors, ptr, "is not a known partner");
    }
    PQclear(res);
  }
  return true;
}

static void create(struct req *r) {
  static const char sql_prog[] =
    "SELECT 1 FROM programmes WHERE id = $1 AND ($2::boolean OR id = ANY($3::uuid[]))";
  static const char sql_insert[] =
    "INSERT INTO participants (programme_id, kind, given_name, family_name, status) "
    "VALUES ($1, $2, $3, $4, coalesce($5, 'applied')) RETURNING id::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *prog = NULL, *ins = NULL, *res = NULL;
  char *text = NULL;
  fields_check(r->body, PARTICIPANT, "", errors, &unknown);
  check_languages(r->body, errors);
  const char *status = json_string_value(json_object_get(r->body, "status"));
  if (status && strcmp(status, "applied") && strcmp(status, "screened") && strcmp(status, "waiting"))
    problem_add(errors, "/status", "a new participant starts as applied, screened or waiting");
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r)) goto out;
  const char *pp[] = {json_string_value(json_object_get(r->body, "programme_id")), claims_all(r),
                      claims_prg(r)};
  if (!(prog = req_exec(r, sql_prog, 3, pp))) goto out;
  if (PQntuples(prog) == 0) problem_add(errors, "/programme_id", "is not a programme you work in");
  if (!partners_exist(r, r->body, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
  const char *ip[] = {pp[0], json_string_value(json_object_get(r->body, "kind")),
                      json_string_value(json_object_get(r->body, "given_name")),
                      json_string_value(json_object_get(r->body, "family_name")), status};
  if (!(ins = req_exec(r, sql_insert, 5, ip))) goto out;
  text = json_dumps(r->body, JSON_COMPACT);
  const char *ap[] = {PQgetvalue(ins, 0, 0), text, VIEW_PARAMS(r)};
  if (!text || !(res = req_exec(r, SQL_APPLY, 7, ap)) || !req_commit(r)) goto out;
  char loc[80];
  snprintf(loc, sizeof loc, "/v1/participants/%s", PQgetvalue(ins, 0, 0));
  set_header(r, "Location", loc);
  reply_json_text(r, 201, PQgetvalue(res, 0, 0), true);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  free(text);
  PQclear(prog);
  PQclear(ins);
  PQclear(res);
}

static void patch(struct req *r) {
  json_t *errors = json_array();
  bool unknown = false;
  bool self = r->claims.role == ROLE_MENTOR || r->claims.role == ROLE_MENTEE;
  PGresult *cur = NULL, *res = NULL;
  json_t *merged = NULL, *patch_doc = json_deep_copy(r->body);
  char *text = NULL;
  const char *key;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(patch_doc, tmp, key, v) {
    if (v_enum(key, READ_ONLY) >= 0) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/%s", key);
      problem_add(errors, ptr, "is read-only");
      json_object_del(patch_doc, key);
    }
  }
  fields_check_patch(patch_doc, PARTICIPANT, "", errors, &unknown);
  check_languages(patch_doc, errors);
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(cur = load(r, SQL_VIEW_FOR_UPDATE))) goto out;
  if (self) {
    if (strcmp(r->claims.sub, r->param[0]) != 0) {
      reply_problem(r, 403, "you may change only your own record");
      goto out;
    }
    json_object_foreach(patch_doc, key, v) {
      if (v_enum(key, SELF_EDITABLE) < 0) {
        reply_problem(r, 403, "you may not change %s on your own record; ask your coach", key);
        goto out;
      }
    }
  }
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  merged = json_loads(PQgetvalue(cur, 0, 1), 0, NULL);
  if (!merged) {
    reply_problem(r, 500, "could not read the stored participant");
    goto out;
  }
  merge_patch(merged, patch_doc);
  /* each value was checked above; a merge patch may still remove a required field */
  for (const struct field *f = PARTICIPANT; f->name; f++)
    if (f->required && !json_object_get(merged, f->name)) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/%s", f->name);
      problem_add(errors, ptr, "is required and cannot be removed");
    }
  if (!partners_exist(r, patch_doc, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(merged, JSON_COMPACT);
  const char *p[] = {r->param[0], text, VIEW_PARAMS(r)};
  if (text && (res = req_exec(r, SQL_APPLY, 7, p)) && req_commit(r))
    reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(merged);
  json_decref(patch_doc);
  free(text);
  PQclear(cur);
  PQclear(res);
}

#define VIEWERS (STAFF | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE) | ROLE_BIT(ROLE_INTEGRATION))

static const struct route routes[] = {
  {"GET", "/v1/participants", list, 0, VIEWERS},
  {"POST", "/v1/participants", create, R_BODY, STAFF},
  {"GET", "/v1/participants/{id}", get_one, 0, VIEWERS},
  {"PATCH", "/v1/participants/{id}", patch, R_BODY | R_MERGE_PATCH,
   STAFF | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE)},
  {NULL, NULL, NULL, 0, 0}};

void participants_register(void) { routes_add(routes); }
