/* Participants: mentors and mentees, their intake, status path and views.
 * Who sees what is decided in SQL (participant_view in sql/0001_init.sql):
 * staff in their programmes, integration clients their own employees,
 * mentors and mentees themselves and their counterparts. */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "api/checks.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/log.h"
#include "service/problem.h"
#include "service/validate.h"

/* Fields the service maintains; a PATCH naming them is told so (422), not "unknown". */
static const char *const READ_ONLY[] = {"id", "programme_id", "kind", "status_changed_at",
                                        "waiting_since", "created_at", "updated_at", "certificates", NULL};
/* What mentors and mentees may change on their own record. */
static const char *const SELF_EDITABLE[] = {"email", "phone", "region", "availability", "languages",
                                            "short_profile", "cv_url", "consent", NULL};

/* The current year in UTC, for participant_check_screening. */
static int utc_year(void) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  return tm.tm_year + 1900;
}

/* After the write, in its transaction: entering waiting from screening
 * needs every eligibility rule to pass or an override_reason (sql/0013,
 * participant_screening_gate raises the 409 and records the override). */
static const char SQL_GATE[] = "SELECT participant_screening_gate($1, $2, $3)";

#define VIEW_PARAMS(r) \
  role_name((r)->claims.role), (r)->claims.sub, claims_all(r), claims_prg(r), \
    ((r)->claims.partner[0] ? (r)->claims.partner : NULL)

/* The current document (sql/0017: built from exactly these row versions, and
 * participant_docs_usable() written out so that it is planned with the
 * statement rather than run as a function per statement) or none. Most
 * participants hold no certificate: an index probe answers for them, the
 * ordered aggregate (a sort per row) runs only for the others. */
#define DOC_JOIN(pid)                                                                              \
  "LEFT JOIN participant_docs d ON d.participant_id = " pid " AND d.row_xmin = p.xmin "            \
  "AND d.row_ctid = p.ctid AND d.certs = CASE WHEN EXISTS (SELECT FROM certificates c WHERE "      \
  "c.participant_id = " pid ") THEN (SELECT string_agg(c.xmin::text || '/' || c.ctid::text, ',' "  \
  "ORDER BY c.ctid) FROM certificates c WHERE c.participant_id = " pid ") ELSE '' END "             \
  "AND EXISTS (SELECT FROM participant_docs_vetted) AND NOT EXISTS (SELECT FROM "                  \
  "participant_docs_vetted v LEFT JOIN pg_proc f ON f.oid = v.proc WHERE f.xmin IS DISTINCT FROM " \
  "v.proc_xmin) "

static const char SQL_VIEW[] =
  "SELECT participant_view_text(p, $2, $3, $4, $5, $6, d.doc) "
  "FROM participants p " DOC_JOIN("p.id") "WHERE p.id = $1";
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

/* The list's statement, one per scope, set of filters given and limit, so
 * that PostgreSQL's generic plan (kept per connection after five
 * executions) is as good as a custom one. A single statement with
 * "$n IS NULL OR ..." for every filter, and a LIMIT given as a parameter
 * (planned as "a tenth of the rows"), needed a custom plan, i.e. planning,
 * on every request. $1-$5 are the caller (VIEW_PARAMS), $6 the last seq
 * seen, the filters given follow from $7 in the order of list_filters; the
 * limit is written into the statement, or (when too many statements were
 * made already) is the last parameter. */
enum list_scope { SCOPE_ALL, SCOPE_PROGRAMMES, SCOPE_EMPLOYER, SCOPE_MENTOR, SCOPE_MENTEE, SCOPE_NONE, SCOPES };

static const char *const list_scope_sql[SCOPES] = {
  [SCOPE_ALL] = "true",
  [SCOPE_PROGRAMMES] = "p.programme_id = ANY($4::uuid[])",
  [SCOPE_EMPLOYER] = "p.employer_partner_id = $5::uuid",
  [SCOPE_MENTOR] = "(p.id = $2::uuid OR EXISTS (SELECT 1 FROM pairs x WHERE x.mentor_id = $2::uuid "
                   "AND x.mentee_id = p.id AND x.status <> 'declined'))",
  [SCOPE_MENTEE] = "(p.id = $2::uuid OR EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = $2::uuid "
                   "AND x.mentor_id = p.id AND x.status <> 'declined'))",
  [SCOPE_NONE] = "false"};

/* Each filter's condition; %1$d is its parameter's number. sector and
 * occupation match hierarchically: "85" finds "85.31". */
static const char *const list_filters[] = {
  "p.programme_id = $%1$d::uuid",
  "p.status = $%1$d::text",
  "p.kind = $%1$d::text",
  "EXISTS (SELECT 1 FROM unnest(p.sectors) s WHERE s = $%1$d::text OR s LIKE $%1$d::text || '%%')",
  "EXISTS (SELECT 1 FROM unnest(p.occupations) o WHERE o LIKE $%1$d::text || '%%')",
  "lower(p.region) = lower($%1$d::text)",
  "p.status = 'waiting' AND p.waiting_since < $%1$d::date + 1",
  "(p.given_name || ' ' || p.family_name) ILIKE "
  "'%%' || replace(replace(replace($%1$d::text, '\\', '\\\\'), '%%', '\\%%'), '_', '\\_') || '%%'",
  "p.updated_at >= $%1$d::timestamptz",
  "p.rejection_referred_to_partner_id = $%1$d::uuid"};
#define LIST_FILTERS (sizeof list_filters / sizeof list_filters[0])

/* Statements are built on first use and kept for the life of the process:
 * the prepared statement cache (service/db.c) knows one by its address.
 * With the limit written in: up to LIST_MADE of them, in an open-addressed
 * table keyed by scope, limit (1-200) and filters; beyond that, the one with
 * the limit as a parameter (one per scope and filters). */
#define LIST_SLOTS 2048
#define LIST_MADE 1024
static struct {
  unsigned key;
  const char *sql;
} list_made[LIST_SLOTS];
static int list_made_count;
static const char *list_param_limit[SCOPES << LIST_FILTERS];
static pthread_mutex_t list_sql_lock = PTHREAD_MUTEX_INITIALIZER;

static char *list_build(enum list_scope scope, unsigned mask, int limit) {
  char buf[4096];
  int n = snprintf(buf, sizeof buf,
                   "SELECT participant_view_text(p, $1, $2, $3, $4, $5, d.doc), p.seq "
                   "FROM participants p " DOC_JOIN("p.id") "WHERE p.seq > $6::bigint AND %s",
                   list_scope_sql[scope]);
  int param = 7;
  for (unsigned i = 0; i < LIST_FILTERS; i++) {
    if (!(mask & (1u << i))) continue;
    n += snprintf(buf + n, sizeof buf - (size_t)n, " AND ");
    n += snprintf(buf + n, sizeof buf - (size_t)n, list_filters[i], param++);
  }
  if (limit > 0)
    snprintf(buf + n, sizeof buf - (size_t)n, " ORDER BY p.seq LIMIT %d", limit + 1);
  else
    snprintf(buf + n, sizeof buf - (size_t)n, " ORDER BY p.seq LIMIT $%d::int + 1", param);
  return strdup(buf);
}

/* The slot of list_made holding key, or the empty slot where it belongs
 * (LIST_MADE < LIST_SLOTS: there always is one). */
static unsigned list_slot(unsigned key) {
  unsigned i = (key * 2654435761u) % LIST_SLOTS;
  while (__atomic_load_n(&list_made[i].sql, __ATOMIC_ACQUIRE) && list_made[i].key != key)
    i = (i + 1) % LIST_SLOTS;
  return i;
}

/* The statement for scope, filters mask and limit; *limit_param is set when
 * the limit is to be passed as the last parameter. NULL when out of memory. */
static const char *list_statement(enum list_scope scope, unsigned mask, int limit, bool *limit_param) {
  unsigned key = (unsigned)scope << 18 | (unsigned)limit << 10 | mask; /* limit >= 1: never 0 */
  *limit_param = false;
  const char *sql = __atomic_load_n(&list_made[list_slot(key)].sql, __ATOMIC_ACQUIRE);
  if (sql) return sql;
  pthread_mutex_lock(&list_sql_lock);
  if (list_made_count < LIST_MADE) {
    unsigned i = list_slot(key); /* again: another thread may have added entries meanwhile */
    if (!(sql = list_made[i].sql) && (sql = list_build(scope, mask, limit))) {
      list_made[i].key = key;
      __atomic_store_n(&list_made[i].sql, sql, __ATOMIC_RELEASE);
      list_made_count++;
    }
  } else {
    unsigned k = (unsigned)scope << LIST_FILTERS | mask;
    if (!(sql = list_param_limit[k]) && (sql = list_build(scope, mask, 0))) list_param_limit[k] = sql;
    *limit_param = true;
  }
  pthread_mutex_unlock(&list_sql_lock);
  return sql;
}

static enum list_scope list_scope_of(const struct req *r) {
  switch (r->claims.role) {
  case ROLE_COORDINATOR:
  case ROLE_COACH: return r->claims.prg_all ? SCOPE_ALL : SCOPE_PROGRAMMES;
  case ROLE_INTEGRATION: return r->claims.partner[0] ? SCOPE_EMPLOYER : SCOPE_NONE;
  case ROLE_MENTOR: return SCOPE_MENTOR;
  case ROLE_MENTEE: return SCOPE_MENTEE;
  default: return SCOPE_NONE;
  }
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "programme_id", "status", "kind", "sector",
                                        "occupation", "region", "waiting_since", "q", "updated_since",
                                        "referred_to_partner_id", NULL};
  int limit;
  long long after;
  const char *f[LIST_FILTERS]; /* in the order of list_filters */
  if (!req_check_query(r, allowed) || !req_page(r, "participants", &limit, &after) ||
      !req_query_uuid(r, "programme_id", &f[0]) || !req_query_enum(r, "status", participant_statuses, &f[1]) ||
      !req_query_enum(r, "kind", participant_kinds, &f[2]) ||
      !query_code(r, "sector", v_nace, "a NACE Rev. 2 code (A-U, 85, 85.3 or 85.31)", &f[3]) ||
      !query_code(r, "occupation", v_isco, "an ISCO-08 code of 1 to 4 digits", &f[4]) ||
      !query_len(r, "region", &f[5]) || !req_query_date(r, "waiting_since", &f[6]) ||
      !query_len(r, "q", &f[7]) || !req_query_timestamp(r, "updated_since", &f[8]) ||
      !req_query_uuid(r, "referred_to_partner_id", &f[9]))
    return;
  enum list_scope scope = list_scope_of(r);
  /* The referral is staff's view of a rejection: others asking by it see nothing. */
  if (f[9] && scope != SCOPE_ALL && scope != SCOPE_PROGRAMMES) scope = SCOPE_NONE;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[7 + LIST_FILTERS] = {VIEW_PARAMS(r), a};
  int np = 6;
  unsigned mask = 0;
  for (unsigned i = 0; i < LIST_FILTERS; i++)
    if (f[i]) {
      mask |= 1u << i;
      p[np++] = f[i];
    }
  bool limit_param;
  const char *sql = list_statement(scope, mask, limit, &limit_param);
  if (!sql) {
    reply_problem(r, 503, "out of memory");
    return;
  }
  if (limit_param) p[np++] = l;
  PGresult *res = req_exec(r, sql, np, p);
  if (!res) return;
  reply_page_rows(r, res, limit, "participants");
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
  "  birth_year = (j->>'birth_year')::int, work_permit = (j->>'work_permit')::boolean, "
  "  employment_status = j->'employment'->>'status', "
  "  employment_retired_on = (j->'employment'->>'retired_on')::date, "
  "  rejection_reason = j->'rejection'->>'reason', "
  "  rejection_referred_to_partner_id = (j->'rejection'->>'referred_to_partner_id')::uuid, "
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
  const char *to = json_string_value(json_object_get(json_object_get(p, "rejection"), "referred_to_partner_id"));
  if (to) {
    const char *params[] = {to};
    PGresult *res = req_exec(r, sql, 1, params);
    if (!res) return false;
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
      problem_add(errors, "/rejection/referred_to_partner_id", "is not a known partner");
    PQclear(res);
  }
  return true;
}

/* Whether programme $1 exists and is in the caller's prg claim. */
static const char SQL_PROGRAMME_OK[] =
  "SELECT 1 FROM programmes WHERE id = $1 AND ($2::boolean OR id = ANY($3::uuid[]))";

static void create(struct req *r) {
  static const char sql_insert[] =
    "INSERT INTO participants (programme_id, kind, given_name, family_name, status) "
    "VALUES ($1, $2, $3, $4, coalesce($5, 'applied')) RETURNING id::text";
  json_t *errors = json_array();
  bool unknown = false;
  PGresult *prog = NULL, *ins = NULL, *res = NULL, *gate = NULL;
  char *text = NULL;
  json_t *doc = json_deep_copy(r->body);
  fields_check(r->body, participant_fields, "", errors, &unknown);
  participant_check_languages(r->body, "", errors);
  if (!json_array_size(errors)) participant_check_screening(r->body, doc, NULL, utc_year(), "", errors);
  const char *status = json_string_value(json_object_get(r->body, "status"));
  if (status && strcmp(status, "applied") && strcmp(status, "screened") && strcmp(status, "waiting"))
    problem_add(errors, "/status", "a new participant starts as applied, screened or waiting");
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r)) goto out;
  const char *pp[] = {json_string_value(json_object_get(r->body, "programme_id")), claims_all(r),
                      claims_prg(r)};
  if (!(prog = req_exec(r, SQL_PROGRAMME_OK, 3, pp))) goto out;
  if (PQntuples(prog) == 0) problem_add(errors, "/programme_id", "is not a programme you work in");
  if (!partners_exist(r, r->body, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
  const char *ip[] = {pp[0], json_string_value(json_object_get(r->body, "kind")),
                      json_string_value(json_object_get(r->body, "given_name")),
                      json_string_value(json_object_get(r->body, "family_name")), status};
  if (!(ins = req_exec(r, sql_insert, 5, ip))) goto out;
  text = json_dumps(doc, JSON_COMPACT);
  const char *ap[] = {PQgetvalue(ins, 0, 0), text, VIEW_PARAMS(r)};
  const char *gp[] = {PQgetvalue(ins, 0, 0), NULL,
                      json_string_value(json_object_get(r->body, "override_reason"))};
  if (!text || !(res = req_exec(r, SQL_APPLY, 7, ap)) || !(gate = req_exec(r, SQL_GATE, 3, gp)) ||
      !req_commit(r))
    goto out;
  reply_created(r, "/v1/participants/", PQgetvalue(ins, 0, 0), PQgetvalue(res, 0, 0));
  goto out;
invalid:
  reply_invalid(r, errors, unknown);
  errors = NULL;
out:
  json_decref(errors);
  json_decref(doc);
  free(text);
  PQclear(prog);
  PQclear(ins);
  PQclear(res);
  PQclear(gate);
}

/* What an integration client (an employer's HR system) may not write: the
 * status, which the programme's staff move, and another employer. True, with
 * the reason in why, when doc asks for either. */
static bool hr_forbidden(struct req *r, const json_t *doc, char *why, size_t len) {
  const json_t *employer = json_object_get(doc, "employer_partner_id");
  static const char *const STAFF_ONLY[] = {"status", "rejection", "override_reason", NULL};
  for (int i = 0; STAFF_ONLY[i]; i++)
    if (json_object_get(doc, STAFF_ONLY[i])) {
      snprintf(why, len, "integration clients may not set %s; the programme's staff screen and move participants",
               STAFF_ONLY[i]);
      return true;
    }
  if (employer &&
      !(json_is_string(employer) && strcasecmp(json_string_value(employer), r->claims.partner) == 0)) {
    snprintf(why, len, "integration clients write only their own employees: employer_partner_id must be %s",
             r->claims.partner);
    return true;
  }
  return false;
}

static void patch(struct req *r) {
  json_t *errors = json_array();
  bool unknown = false;
  bool self = r->claims.role == ROLE_MENTOR || r->claims.role == ROLE_MENTEE;
  bool hr = r->claims.role == ROLE_INTEGRATION;
  PGresult *cur = NULL, *res = NULL, *gate = NULL;
  json_t *merged = NULL, *patch_doc = json_deep_copy(r->body);
  char was[16] = "";
  char *text = NULL;
  fields_strip(patch_doc, READ_ONLY, "is read-only", errors);
  fields_check_patch(patch_doc, participant_fields, "", errors, &unknown);
  participant_check_languages(patch_doc, "", errors);
  if (json_array_size(errors)) goto invalid;
  if (!req_begin(r) || !(cur = load(r, SQL_VIEW_FOR_UPDATE))) goto out;
  if (self) {
    if (strcmp(r->claims.sub, r->param[0]) != 0) {
      reply_problem(r, 403, "you may change only your own record");
      goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(patch_doc, key, v) {
      if (v_enum(key, SELF_EDITABLE) < 0) {
        reply_problem(r, 403, "you may not change %s on your own record; ask your coach", key);
        goto out;
      }
    }
  }
  /* load() found one of this client's employees; it keeps them its own */
  char why[200];
  if (hr && hr_forbidden(r, patch_doc, why, sizeof why)) {
    reply_problem(r, 403, "%s", why);
    goto out;
  }
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  merged = json_loads(PQgetvalue(cur, 0, 1), 0, NULL);
  if (!merged) {
    reply_problem(r, 500, "could not read the stored participant");
    goto out;
  }
  const char *stored_status = json_string_value(json_object_get(merged, "status"));
  snprintf(was, sizeof was, "%s", stored_status ? stored_status : "");
  merge_patch(merged, patch_doc);
  participant_check_screening(patch_doc, merged, was, utc_year(), "", errors);
  /* each value was checked above; a merge patch may still remove a required field */
  for (const struct field *f = participant_fields; f->name; f++)
    if (f->required && !json_object_get(merged, f->name)) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/%s", f->name);
      problem_add(errors, ptr, "is required and cannot be removed");
    }
  if (!partners_exist(r, patch_doc, errors)) goto out;
  if (json_array_size(errors)) goto invalid;
  text = json_dumps(merged, JSON_COMPACT);
  const char *p[] = {r->param[0], text, VIEW_PARAMS(r)};
  const char *gp[] = {r->param[0], was, json_string_value(json_object_get(patch_doc, "override_reason"))};
  if (text && (res = req_exec(r, SQL_APPLY, 7, p)) && (gate = req_exec(r, SQL_GATE, 3, gp)) && req_commit(r))
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
  PQclear(gate);
}

/* ---------------------------------------------------------------- HR systems: upsert by external_ref
 * An employer's HR system keeps its employees who mentor in step with Koppel,
 * keyed by its own id: (employer_partner_id, external_ref) is unique. PUT
 * /v1/participants/by-external-ref/{ref} upserts one, POST
 * /v1/participants/batch many, each item in its own transaction. On update,
 * HR owns only what it sends: absent fields stay as they are, null clears.
 * The shared core answers into a struct outcome instead of replying, so a
 * batch can collect one answer per item. */

/* What the upsert of one employee came to. */
struct outcome {
  int status;         /* 201 created, 200 updated or unchanged, or the problem's status */
  const char *result; /* "created", "updated", "unchanged"; NULL on a problem */
  char id[37];
  char *view;         /* the participant as the caller sees it (malloc'ed), on success */
  char detail[600];   /* a problem's detail, when errors is NULL */
  json_t *errors;     /* validation problems {pointer, message} (owned), or NULL */
  bool unknown;       /* errors name an unknown field: 400 rather than 422 */
  PGresult *failed;   /* a failed statement (owned); its SQLSTATE decides the answer */
};

static void outcome_free(struct outcome *o) {
  free(o->view);
  json_decref(o->errors);
  PQclear(o->failed);
  memset(o, 0, sizeof *o);
}

/* Records a problem in o; false, so a failing check can return refuse(...). */
__attribute__((format(printf, 3, 4)))
static bool refuse(struct outcome *o, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(o->detail, sizeof o->detail, fmt, ap);
  va_end(ap);
  o->status = status;
  return false;
}

/* Runs a statement for the core: on failure keeps the result in o->failed. */
static PGresult *o_exec(struct req *r, struct outcome *o, const char *sql, int n, const char *const *p) {
  PGresult *res = db_exec(r->db, sql, n, p);
  if (db_ok(res)) return res;
  if (!res) refuse(o, 500, "out of memory");
  o->failed = res;
  if (res) o->status = 500;
  return NULL;
}

/* An external reference: 1 to 100 characters, none a slash or a control character. */
static bool ref_ok(const char *s) {
  size_t n = utf8_length(s);
  return n >= 1 && n <= 100 && participant_ref_chars_ok(s);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The router hands path segments over still percent-encoded: decodes {ref}
 * into out. False unless the result is valid UTF-8 and ref_ok. */
static bool ref_decode(const char *in, char *out, size_t outlen) {
  size_t n = 0;
  for (const char *c = in; *c; c++) {
    if (n + 1 >= outlen) return false;
    if (*c == '%') {
      int hi = hexval(c[1]), lo = hi < 0 ? -1 : hexval(c[2]);
      if (lo < 0) return false;
      out[n++] = (char)(hi * 16 + lo);
      c += 2;
    } else {
      out[n++] = *c;
    }
  }
  out[n] = 0;
  if (memchr(out, 0, n)) return false; /* %00 */
  json_t *utf8 = json_stringn(out, n); /* NULL unless valid UTF-8 */
  bool ok = utf8 && ref_ok(out);
  json_decref(utf8);
  return ok;
}

/* Whether the If-Match header value lists the ETag of current (strong
 * comparison; "*" matches anything that exists). */
static bool if_match_ok(const char *header, const char *current) {
  char tag[32];
  etag_of(current, strlen(current), tag, sizeof tag);
  size_t tl = strlen(tag);
  for (const char *p = header; *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    if (!*p) break;
    if (*p == '*') return true;
    bool weak = strncmp(p, "W/", 2) == 0; /* a weak tag never matches strongly */
    if (weak) p += 2;
    if (*p != '"') return false;
    const char *end = strchr(p + 1, '"');
    if (!end) return false;
    if (!weak && (size_t)(end - p) + 1 == tl && memcmp(p, tag, tl) == 0) return true;
    p = end + 1;
  }
  return false;
}

/* Checks an upsert body before any query (participant_check_upsert), then,
 * for integration clients, that it asks for nothing hr_forbidden refuses.
 * prefix: the body's pointer in the request. */
static bool upsert_check(struct req *r, const char *ref, const json_t *body, const char *prefix,
                         struct outcome *o) {
  o->errors = json_array();
  participant_check_upsert(body, ref, r->claims.role == ROLE_INTEGRATION, prefix, o->errors, &o->unknown);
  if (json_array_size(o->errors)) return refuse(o, o->unknown ? 400 : 422, "the request body is not valid");
  json_decref(o->errors);
  o->errors = NULL;
  if (r->claims.role == ROLE_INTEGRATION && hr_forbidden(r, body, o->detail, sizeof o->detail)) {
    o->status = 403;
    return false;
  }
  return true;
}

static const char SQL_BY_REF[] =
  "SELECT participant_view(p, $3, $4, $5, $6, $7)::text, participant_json(p)::text, p.id::text "
  "FROM participants p WHERE p.employer_partner_id = $1 AND p.external_ref = $2 FOR UPDATE";
/* The unique index participants_external_ref decides a race between two
 * creators: the second waits for the first to commit, then inserts nothing. */
static const char SQL_INSERT_BY_REF[] =
  "INSERT INTO participants (programme_id, kind, given_name, family_name, status, employer_partner_id, "
  "  external_ref) VALUES ($1, $2, $3, $4, coalesce($5, 'applied'), $6, $7) "
  "ON CONFLICT (employer_partner_id, external_ref) WHERE external_ref IS NOT NULL DO NOTHING "
  "RETURNING id::text";
static const char SQL_PARTNERS_KNOWN[] =
  "SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1), "
  "  $2::uuid IS NULL OR EXISTS (SELECT 1 FROM partners WHERE id = $2)";

/* Creates employee ref of employer from body, inside the open transaction.
 * Returns false with o->status 0 when a concurrent request created it first. */
static bool upsert_create(struct req *r, const char *ref, const char *employer, const json_t *body,
                          const char *prefix, const char *if_match, struct outcome *o) {
  static const char *const NEEDED[] = {"programme_id", "kind", "given_name", "family_name", NULL};
  PGresult *prog = NULL, *ins = NULL, *res = NULL, *gate = NULL;
  json_t *j = json_deep_copy(body);
  char *text = NULL, ptr[96];
  bool ok = false;
  if (if_match) {
    json_decref(j);
    return refuse(o, 412, "If-Match was sent but there is no participant %s to match", ref);
  }
  o->errors = json_array();
  participant_check_screening(body, j, NULL, utc_year(), prefix, o->errors);
  for (int i = 0; NEEDED[i]; i++)
    if (!json_object_get(body, NEEDED[i])) {
      snprintf(ptr, sizeof ptr, "%s/%s", prefix, NEEDED[i]);
      problem_add(o->errors, ptr, "is required to create a participant");
    }
  const char *status = json_string_value(json_object_get(body, "status"));
  snprintf(ptr, sizeof ptr, "%s/status", prefix);
  if (status && strcmp(status, "applied") && strcmp(status, "screened") && strcmp(status, "waiting"))
    problem_add(o->errors, ptr, "a new participant starts as applied, screened or waiting");
  const char *pp[] = {json_string_value(json_object_get(body, "programme_id")), claims_all(r), claims_prg(r)};
  if (pp[0]) {
    if (!(prog = o_exec(r, o, SQL_PROGRAMME_OK, 3, pp))) goto out;
    snprintf(ptr, sizeof ptr, "%s/programme_id", prefix);
    if (PQntuples(prog) == 0) problem_add(o->errors, ptr, "is not a programme you work in");
  }
  if (json_array_size(o->errors)) {
    refuse(o, 422, "the request body is not valid");
    goto out;
  }
  json_decref(o->errors);
  o->errors = NULL;
  const char *ip[] = {pp[0], json_string_value(json_object_get(body, "kind")),
                      json_string_value(json_object_get(body, "given_name")),
                      json_string_value(json_object_get(body, "family_name")), status, employer, ref};
  if (!(ins = o_exec(r, o, SQL_INSERT_BY_REF, 7, ip))) goto out;
  if (PQntuples(ins) == 0) goto out; /* created meanwhile: the caller updates it */
  json_object_set_new(j, "employer_partner_id", json_string(employer));
  json_object_set_new(j, "external_ref", json_string(ref));
  text = json_dumps(j, JSON_COMPACT);
  const char *ap[] = {PQgetvalue(ins, 0, 0), text, VIEW_PARAMS(r)};
  if (!text) {
    refuse(o, 500, "out of memory");
    goto out;
  }
  const char *gp[] = {PQgetvalue(ins, 0, 0), NULL, json_string_value(json_object_get(body, "override_reason"))};
  if (!(res = o_exec(r, o, SQL_APPLY, 7, ap)) || !(gate = o_exec(r, o, SQL_GATE, 3, gp))) goto out;
  snprintf(o->id, sizeof o->id, "%s", PQgetvalue(ins, 0, 0));
  o->view = strdup(PQgetvalue(res, 0, 0));
  o->status = 201;
  o->result = "created";
  ok = o->view != NULL;
  if (!ok) refuse(o, 500, "out of memory");
out:
  json_decref(j);
  free(text);
  PQclear(prog);
  PQclear(ins);
  PQclear(res);
  PQclear(gate);
  return ok;
}

/* Updates the locked row cur (view, stored json, id) from body: a merge, so
 * absent fields stay; nothing is written when nothing would change. */
static bool upsert_update(struct req *r, const PGresult *cur, const json_t *body, const char *prefix,
                          const char *if_match, struct outcome *o) {
  PGresult *prog = NULL, *res = NULL, *gate = NULL;
  json_t *stored = NULL, *merged = NULL;
  char *text = NULL, ptr[96];
  bool ok = false;
  const char *view = PQgetvalue(cur, 0, 0);
  if (if_match && !if_match_ok(if_match, view))
    return refuse(o, 412, "the participant has changed since you read it (If-Match %.100s)", if_match);
  if (!(stored = json_loads(PQgetvalue(cur, 0, 1), 0, NULL)))
    return refuse(o, 500, "could not read the stored participant");
  const char *prg = json_string_value(json_object_get(body, "programme_id"));
  const char *kind = json_string_value(json_object_get(body, "kind"));
  const char *was_prg = json_string_value(json_object_get(stored, "programme_id"));
  const char *was_kind = json_string_value(json_object_get(stored, "kind"));
  if (prg) {
    const char *pp[] = {prg, claims_all(r), claims_prg(r)};
    if (!(prog = o_exec(r, o, SQL_PROGRAMME_OK, 3, pp))) goto out;
    if (PQntuples(prog) == 0) {
      o->errors = json_array();
      snprintf(ptr, sizeof ptr, "%s/programme_id", prefix);
      problem_add(o->errors, ptr, "is not a programme you work in");
      refuse(o, 422, "the request body is not valid");
      goto out;
    }
  }
  if ((prg && was_prg && strcmp(prg, was_prg) != 0) || (kind && was_kind && strcmp(kind, was_kind) != 0)) {
    refuse(o, 409, "programme_id and kind cannot change once a participant exists (it is a %s in programme %s)",
           was_kind ? was_kind : "?", was_prg ? was_prg : "?");
    goto out;
  }
  merged = json_deep_copy(stored);
  merge_patch(merged, body);
  const char *was = json_string_value(json_object_get(stored, "status"));
  o->errors = json_array();
  participant_check_screening(body, merged, was, utc_year(), prefix, o->errors);
  if (json_array_size(o->errors)) {
    refuse(o, 422, "the request body is not valid");
    goto out;
  }
  json_decref(o->errors);
  o->errors = NULL;
  snprintf(o->id, sizeof o->id, "%s", PQgetvalue(cur, 0, 2));
  o->status = 200;
  if (json_equal(merged, stored)) {
    o->result = "unchanged";
    o->view = strdup(view);
  } else {
    text = json_dumps(merged, JSON_COMPACT);
    const char *ap[] = {o->id, text, VIEW_PARAMS(r)};
    if (!text) {
      refuse(o, 500, "out of memory");
      goto out;
    }
    const char *gp[] = {o->id, was, json_string_value(json_object_get(body, "override_reason"))};
    if (!(res = o_exec(r, o, SQL_APPLY, 7, ap)) || !(gate = o_exec(r, o, SQL_GATE, 3, gp))) goto out;
    /* a value spelled differently (a timestamp's offset) may store the same row */
    o->result = strcmp(PQgetvalue(res, 0, 0), view) == 0 ? "unchanged" : "updated";
    o->view = strdup(PQgetvalue(res, 0, 0));
  }
  ok = o->view != NULL;
  if (!ok) refuse(o, 500, "out of memory");
out:
  json_decref(stored);
  json_decref(merged);
  free(text);
  PQclear(prog);
  PQclear(res);
  PQclear(gate);
  return ok;
}

/* The upsert of employee ref from a checked body, inside the open transaction.
 * if_match: the If-Match header (PUT only) or NULL. */
static bool upsert_apply(struct req *r, const char *ref, const json_t *body, const char *prefix,
                         const char *if_match, struct outcome *o) {
  bool hr = r->claims.role == ROLE_INTEGRATION;
  const char *employer =
    hr ? r->claims.partner : json_string_value(json_object_get(body, "employer_partner_id"));
  const char *referrer = json_string_value(json_object_get(body, "referred_by_partner_id"));
  const char *kp[] = {employer, referrer};
  PGresult *known = o_exec(r, o, SQL_PARTNERS_KNOWN, 2, kp);
  if (!known) return false;
  bool employer_known = strcmp(PQgetvalue(known, 0, 0), "t") == 0;
  bool referrer_known = strcmp(PQgetvalue(known, 0, 1), "t") == 0;
  PQclear(known);
  if (hr && !employer_known)
    return refuse(o, 403, "the partner %s of this token is not a registered partner", employer);
  if (!employer_known || !referrer_known) {
    char ptr[96];
    o->errors = json_array();
    snprintf(ptr, sizeof ptr, "%s/employer_partner_id", prefix);
    if (!employer_known) problem_add(o->errors, ptr, "is not a known partner");
    snprintf(ptr, sizeof ptr, "%s/referred_by_partner_id", prefix);
    if (!referrer_known) problem_add(o->errors, ptr, "is not a known partner");
    return refuse(o, 422, "the request body is not valid");
  }
  const char *p[] = {employer, ref, VIEW_PARAMS(r)};
  for (int round = 0; round < 2; round++) {
    PGresult *cur = o_exec(r, o, SQL_BY_REF, 7, p);
    if (!cur) return false;
    if (PQntuples(cur) == 1) {
      bool ok = !PQgetisnull(cur, 0, 0)
        ? upsert_update(r, cur, body, prefix, if_match, o)
        : refuse(o, 404, "no participant %s of partner %s is visible to you", ref, employer);
      PQclear(cur);
      return ok;
    }
    PQclear(cur);
    if (upsert_create(r, ref, employer, body, prefix, if_match, o) || o->status) return o->status < 400;
  }
  return refuse(o, 503, "the participant %s was created and removed concurrently; retry", ref);
}

static void upsert_reply(struct req *r, struct outcome *o) {
  if (o->failed) {
    reply_db_error(r, o->failed);
  } else if (o->errors) {
    reply_invalid(r, o->errors, o->unknown);
    o->errors = NULL;
  } else {
    reply_problem(r, o->status ? o->status : 500, "%s", o->detail);
  }
}

static void put_by_ref(struct req *r) {
  char ref[404];
  struct outcome o;
  memset(&o, 0, sizeof o);
  if (!ref_decode(r->param[0], ref, sizeof ref)) {
    reply_problem(r, 422, "the external reference in the path must be 1 to 100 characters of UTF-8, "
                          "percent-encoded, without a slash or control characters");
    return;
  }
  if (!upsert_check(r, ref, r->body, "", &o) || !req_begin(r) ||
      !upsert_apply(r, ref, r->body, "", req_header(r, "If-Match"), &o) || !req_commit(r)) {
    upsert_reply(r, &o); /* does nothing when req_begin or req_commit answered */
    outcome_free(&o);
    return;
  }
  if (o.status == 201) {
    char loc[80];
    snprintf(loc, sizeof loc, "/v1/participants/%s", o.id);
    set_header(r, "Location", loc);
  }
  reply_json_text(r, o.status, o.view, true);
  outcome_free(&o);
}

/* ---------------------------------------------------------------- batch */

/* Maps a batch item's failed statement as reply_db_error maps a request's;
 * a pointer raised by our SQL is made relative to the request body. */
static void batch_db_problem(struct req *r, struct outcome *o, const char *prefix) {
  const PGresult *res = o->failed;
  const char *state = db_sqlstate(res);
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
  if (strncmp(state, "KP", 2) == 0 && isdigit((unsigned char)state[2])) {
    int status = atoi(state + 2);
    if (status < 400 || status > 499) status = 409;
    if (detail && detail[0] == '/') {
      char ptr[160];
      snprintf(ptr, sizeof ptr, "%s%s", prefix, detail);
      o->errors = json_array();
      problem_add(o->errors, ptr, "%s", msg ? msg : "is not valid");
    }
    refuse(o, status, "%s", msg ? msg : "conflict");
  } else if (strcmp(state, "23505") == 0) {
    refuse(o, 409, "a record with the same unique value exists already");
  } else if (strcmp(state, "23503") == 0) {
    refuse(o, 422, "a referenced record does not exist");
  } else if (strcmp(state, "23514") == 0 || strncmp(state, "22", 2) == 0) {
    refuse(o, 422, "a value breaks a rule: %s", msg ? msg : "check failed");
  } else if (strcmp(state, "57014") == 0) {
    refuse(o, 503, "the database took too long to answer; send this item again");
  } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
    refuse(o, 503, "a concurrent change conflicted; send this item again");
  } else if (strncmp(state, "08", 2) == 0 || !*state) {
    refuse(o, 503, "the database is unavailable; send this item again");
  } else {
    log_error(r->request_id, "database error %s: %s", state, msg ? msg : "?");
    refuse(o, 500, "the server could not complete the item (reference %s)", r->request_id);
  }
  PQclear(o->failed);
  o->failed = NULL;
}

/* Upserts item i in its own transaction (retried once after a deadlock or
 * serialization failure); the answer lands in o. The items do not mark an
 * Idempotency-Key claim as taken effect (req_commit would): a batch cut
 * short by a crash may simply run again, and its items come back unchanged. */
static void batch_item(struct req *r, const json_t *items, size_t i, struct outcome *o) {
  const json_t *item = json_array_get(items, i);
  char prefix[32];
  snprintf(prefix, sizeof prefix, "/items/%zu", i);
  if (!json_is_object(item)) {
    o->errors = json_array();
    problem_add(o->errors, prefix, "must be an object");
    refuse(o, 422, "the item is not valid");
    return;
  }
  if (!upsert_check(r, NULL, item, prefix, o)) return;
  const char *ref = json_string_value(json_object_get(item, "external_ref"));
  long twin = participant_batch_twin(items, i, r->claims.role == ROLE_INTEGRATION);
  if (twin >= 0) {
    char ptr[64];
    snprintf(ptr, sizeof ptr, "%s/external_ref", prefix);
    o->errors = json_array();
    problem_add(o->errors, ptr, "names the same employee as item %ld; send each employee once per batch", twin);
    refuse(o, 422, "the item is not valid");
    return;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    PGconn *pg = db_pg(r->db);
    bool ok = db_begin(r->db, r->claims.sub, role_name(r->claims.role), r->request_id);
    if (!ok) refuse(o, 503, "the database is unavailable; send this item again");
    else ok = upsert_apply(r, ref, item, prefix, NULL, o);
    if (ok) {
      PGresult *c = PQexec(pg, "COMMIT");
      if (!(db_ok(c) && strcmp(PQcmdStatus(c), "COMMIT") == 0)) {
        free(o->view);
        o->view = NULL;
        o->result = NULL;
        o->failed = c;
        c = NULL;
        ok = false;
      }
      PQclear(c);
    }
    if (!ok && PQtransactionStatus(pg) != PQTRANS_IDLE) PQclear(PQexec(pg, "ROLLBACK"));
    const char *state = db_sqlstate(o->failed);
    if (!ok && attempt == 0 && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
      outcome_free(o);
      continue;
    }
    if (o->failed) batch_db_problem(r, o, prefix);
    return;
  }
}

/* The problem object of a refused item (errors stolen from o). */
static json_t *item_problem(struct outcome *o) {
  char detail[600];
  const json_t *first = json_array_get(o->errors, 0);
  if (first)
    snprintf(detail, sizeof detail, "%s %s%s", json_string_value(json_object_get(first, "pointer")),
             json_string_value(json_object_get(first, "message")),
             json_array_size(o->errors) > 1 ? " (and more, see errors)" : "");
  else
    snprintf(detail, sizeof detail, "%s", o->detail);
  int status = o->status ? o->status : 500;
  if (first && o->unknown) status = 400;
  json_t *p = problem_new(status, NULL, detail, o->errors);
  o->errors = NULL;
  return p;
}

static void batch(struct req *r) {
  static const char *const RESULTS[] = {"created", "updated", "unchanged", "errors", NULL};
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(r->body, participant_batch_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  if (!req_db(r)) return;
  const json_t *items = json_object_get(r->body, "items");
  json_t *answers = json_array();
  json_int_t count[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < json_array_size(items); i++) {
    struct outcome o;
    memset(&o, 0, sizeof o);
    batch_item(r, items, i, &o);
    const json_t *ref = json_object_get(json_array_get(items, i), "external_ref");
    json_t *a = json_pack("{s:I, s:O}", "index", (json_int_t)i, "external_ref",
                          json_is_string(ref) ? ref : json_null());
    if (o.result) {
      json_object_set_new(a, "result", json_string(o.result));
      json_object_set_new(a, "id", json_string(o.id));
      count[v_enum(o.result, RESULTS)]++;
    } else {
      json_object_set_new(a, "result", json_string("error"));
      json_object_set_new(a, "problem", item_problem(&o));
      count[3]++;
    }
    json_array_append_new(answers, a);
    outcome_free(&o);
  }
  reply_json(r, 200, json_pack("{s:o, s:I, s:I, s:I, s:I}", "items", answers, RESULTS[0], count[0],
                               RESULTS[1], count[1], RESULTS[2], count[2], RESULTS[3], count[3]));
}

#define VIEWERS (STAFF | ROLE_BIT(ROLE_MENTOR) | ROLE_BIT(ROLE_MENTEE) | ROLE_BIT(ROLE_INTEGRATION))
#define HR_WRITERS (ROLE_BIT(ROLE_COORDINATOR) | ROLE_BIT(ROLE_INTEGRATION))

static const struct route routes[] = {
  {"GET", "/v1/participants", list, 0, VIEWERS},
  {"POST", "/v1/participants", create, R_BODY, STAFF},
  {"GET", "/v1/participants/{id}", get_one, 0, VIEWERS},
  {"PATCH", "/v1/participants/{id}", patch, R_BODY | R_MERGE_PATCH, VIEWERS},
  {"PUT", "/v1/participants/by-external-ref/{ref}", put_by_ref, R_BODY, HR_WRITERS},
  {"POST", "/v1/participants/batch", batch, R_BODY, HR_WRITERS},
  {NULL, NULL, NULL, 0, 0}};

void participants_register(void) { routes_add(routes); }
