#include "service/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "service/cursor.h"
#include "service/idempotency.h"
#include "service/jsonutil.h"
#include "service/log.h"
#include "service/problem.h"
#include "service/ratelimit.h"
#include "service/validate.h"

#define MAX_ROUTE_TABLES 32
#define MAX_ROUTES 256
#define NBUCKETS 12
/* Request line and header limits, answered 414 / 431 as problem+json. MHD's
 * per-connection memory (MHD_MEMORY) is larger, so requests between these
 * limits and it reach us; beyond it, MHD answers 414 or 431 itself (with its
 * own short HTML body) and closes the connection. */
#define MAX_URL 8192
#define MAX_HEADERS 100
#define MAX_HEADER_BYTES 32768
#define MHD_MEMORY (128 * 1024)

static const struct route *tables[MAX_ROUTE_TABLES];
static int table_base[MAX_ROUTE_TABLES]; /* index of a table's first route in route_stats */
static int ntables;

/* Metrics: plain atomics, the only mutable globals besides the pool. The
 * route tables are filled before the server starts; counters only grow. */
static const double bucket_ms[NBUCKETS] = {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
struct route_stats {
  const char *method, *route;
  atomic_ulong by_class[6]; /* status class 1xx..5xx, [0] unused */
  atomic_ulong bucket[NBUCKETS];
  atomic_ulong count, sum_us;
};
enum { RS_UNMATCHED, RS_NOT_ALLOWED, RS_OPTIONS, RS_FIRST };
static struct route_stats route_stats[MAX_ROUTES] = {
  [RS_UNMATCHED] = {.method = "ANY", .route = "unmatched"},
  [RS_NOT_ALLOWED] = {.method = "ANY", .route = "method-not-allowed"},
  [RS_OPTIONS] = {.method = "OPTIONS", .route = "any"}};
static int nroutes = RS_FIRST;
static atomic_long m_in_flight;
static atomic_ulong m_db_errors;
static atomic_bool m_draining; /* set on SIGTERM: answer what was sent, then close */
static struct ratelimit *limiter; /* KOPPEL_RATE_LIMIT; NULL when off */
static atomic_ulong m_rate_limited;
#define RATE_SLOTS 65536          /* subjects remembered: 1.5 MiB */

void routes_add(const struct route *routes) {
  if (ntables >= MAX_ROUTE_TABLES) return;
  table_base[ntables] = nroutes;
  for (const struct route *rt = routes; rt->pattern && nroutes < MAX_ROUTES; rt++) {
    route_stats[nroutes].method = rt->method;
    route_stats[nroutes].route = rt->pattern;
    nroutes++;
  }
  tables[ntables++] = routes;
}

/* ---------------------------------------------------------------- replies */

void set_header(struct req *r, const char *name, const char *value) {
  u_map_put(r->resp->map_header, name, value);
}

void reply_raw(struct req *r, int status, const char *ctype, const char *body, size_t len) {
  if (r->status) return; /* one reply per request */
  r->status = status;
  if (ctype) set_header(r, "Content-Type", ctype);
  ulfius_set_binary_body_response(r->resp, (unsigned)status, body ? body : "", body ? len : 0);
}

void reply_empty(struct req *r, int status) {
  if (r->status) return;
  r->status = status;
  r->resp->status = (unsigned)status;
}

/* Whether the If-Match / If-None-Match value lists tag. Strong comparison
 * (If-Match, RFC 9110 13.1.1) never matches a weak W/"..." entry; weak
 * comparison (If-None-Match) ignores the W/ prefix. */
static bool etag_listed(const char *list, const char *tag, bool weak) {
  size_t tl = strlen(tag);
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    if (!*p) break;
    bool is_weak = strncmp(p, "W/", 2) == 0;
    if (is_weak) p += 2;
    if (*p != '"') return false; /* malformed: match nothing */
    const char *end = strchr(p + 1, '"');
    if (!end) return false;
    size_t n = (size_t)(end - p) + 1;
    if ((weak || !is_weak) && n == tl && memcmp(p, tag, n) == 0) return true;
    p = end + 1;
  }
  return false;
}

void reply_json_text(struct req *r, int status, const char *json, bool etag) {
  size_t len = strlen(json);
  if (etag) {
    char tag[32];
    etag_of(json, len, tag, sizeof tag);
    set_header(r, "ETag", tag);
    const char *inm = req_header(r, "If-None-Match");
    bool safe = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (inm && safe && (strcmp(inm, "*") == 0 || etag_listed(inm, tag, true))) {
      reply_empty(r, 304);
      return;
    }
  }
  reply_raw(r, status, "application/json", json, len);
}

void reply_json(struct req *r, int status, json_t *body) {
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!text) {
    reply_problem(r, 500, "could not encode the response");
    return;
  }
  reply_raw(r, status, "application/json", text, strlen(text));
  free(text);
}

static void send_problem_obj(struct req *r, int status, json_t *p) {
  char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
  json_decref(p);
  static const char fallback[] =
    "{\"type\":\"https://koppel.dev/problems/500\",\"title\":\"Internal Server Error\",\"status\":500,"
    "\"detail\":\"out of memory\"}";
  reply_raw(r, text ? status : 500, "application/problem+json", text ? text : fallback,
            text ? strlen(text) : sizeof fallback - 1);
  free(text);
}

void reply_problem(struct req *r, int status, const char *fmt, ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (status == 503) set_header(r, "Retry-After", "2");
  send_problem_obj(r, status, problem_new(status, NULL, detail, NULL));
}

void reply_created(struct req *r, const char *prefix, const char *id, const char *json) {
  char loc[256];
  snprintf(loc, sizeof loc, "%s%s", prefix, id);
  set_header(r, "Location", loc);
  reply_json_text(r, 201, json, true);
}

bool req_no_body(struct req *r) {
  static const struct field NONE[] = {{0}};
  if (!r->body || json_object_size(r->body) == 0) return true;
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(r->body, NONE, "", errors, &unknown);
  reply_invalid(r, errors, unknown);
  return false;
}

void reply_invalid(struct req *r, json_t *errors, bool unknown) {
  int status = unknown ? 400 : 422;
  char detail[600] = "the request body is not valid";
  json_t *first = json_array_get(errors, 0);
  if (first)
    snprintf(detail, sizeof detail, "%s %s%s", json_string_value(json_object_get(first, "pointer")),
             json_string_value(json_object_get(first, "message")),
             json_array_size(errors) > 1 ? " (and more, see errors)" : "");
  send_problem_obj(r, status, problem_new(status, NULL, detail, errors));
}

void reply_db_error(struct req *r, const PGresult *res) {
  const char *state = db_sqlstate(res);
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
  if (strncmp(state, "KP", 2) == 0 && isdigit((unsigned char)state[2])) {
    /* raised by our own SQL: KP409 → 409, message is meant for the client */
    int status = atoi(state + 2);
    if (status < 400 || status > 499) status = 409;
    if (detail && detail[0] == '/') {
      json_t *errs = json_array();
      problem_add(errs, detail, "%s", msg ? msg : "is not valid");
      send_problem_obj(r, status, problem_new(status, NULL, msg, errs));
    } else {
      reply_problem(r, status, "%s", msg ? msg : "conflict");
    }
    return;
  }
  if (strcmp(state, "23505") == 0) {
    reply_problem(r, 409, "a record with the same unique value exists already%s%s",
                  detail ? ": " : "", detail ? detail : "");
  } else if (strcmp(state, "23503") == 0) {
    const char *c = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    reply_problem(r, strstr(msg ? msg : "", "update or delete") ? 409 : 422,
                  "a referenced record does not exist or is still referenced (%s)", c ? c : "foreign key");
  } else if (strcmp(state, "23514") == 0 || strncmp(state, "22", 2) == 0) {
    reply_problem(r, 422, "a value breaks a rule: %s", msg ? msg : "check failed");
  } else if (strcmp(state, "57014") == 0) {
    atomic_fetch_add(&m_db_errors, 1);
    reply_problem(r, 503, "the database took too long to answer");
  } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
    /* a deadlock or serialization failure: the dispatcher runs the handler
     * once more in a fresh transaction before telling the client */
    if (r->attempt == 0) r->retry = true;
    else reply_problem(r, 503, "a concurrent change conflicted; retry the request");
  } else if (strncmp(state, "08", 2) == 0 || !*state) {
    atomic_fetch_add(&m_db_errors, 1);
    reply_problem(r, 503, "the database is unavailable");
  } else {
    atomic_fetch_add(&m_db_errors, 1);
    log_error(r->request_id, "database error %s: %s", state, msg ? msg : "?");
    reply_problem(r, 500, "the server could not complete the request (reference %s)", r->request_id);
  }
}

/* ---------------------------------------------------------------- request helpers */

const char *req_header(struct req *r, const char *name) {
  return u_map_get_case(r->u->map_header, name);
}

const char *req_query(struct req *r, const char *name) {
  return u_map_get(r->u->map_url, name);
}

bool req_check_query(struct req *r, const char *const *allowed) {
  /* A parameter that is not UTF-8 once decoded never reaches map_url: refused
   * here, or an unknown or invalid one would pass unseen. */
  const char *q = r->u->http_url ? strchr(r->u->http_url, '?') : NULL;
  if (q && !v_query_utf8(q + 1)) {
    reply_problem(r, 400, "the query string is not UTF-8 once percent-decoded");
    return false;
  }
  const char **keys = u_map_enum_keys(r->u->map_url);
  for (int i = 0; keys && keys[i]; i++) {
    if (v_enum(keys[i], allowed) < 0) {
      char ptr[160];
      snprintf(ptr, sizeof ptr, "query parameter '%.100s' is not known here", keys[i]);
      reply_problem(r, 400, "%s", ptr);
      return false;
    }
  }
  return true;
}

static bool bad_query(struct req *r, const char *name, const char *rule) {
  reply_problem(r, 400, "query parameter '%s' %s", name, rule);
  return false;
}

bool req_page(struct req *r, const char *scope, int *limit, long long *after) {
  const char *l = req_query(r, "limit"), *c = req_query(r, "cursor");
  long long n = 50;
  if (l && !v_strtonum(l, 1, 200, &n)) return bad_query(r, "limit", "must be an integer from 1 to 200");
  *limit = (int)n;
  *after = 0;
  if (c && !cursor_decode(r->app->cfg.cursor_secret, scope, c, after))
    return bad_query(r, "cursor", "is not a cursor this list issued (it was changed or belongs to another list)");
  return true;
}

bool req_query_uuid(struct req *r, const char *name, const char **out) {
  *out = req_query(r, name);
  return !*out || v_uuid(*out) || bad_query(r, name, "must be a UUID");
}

bool req_query_date(struct req *r, const char *name, const char **out) {
  *out = req_query(r, name);
  return !*out || v_date(*out) || bad_query(r, name, "must be a date YYYY-MM-DD");
}

bool req_query_timestamp(struct req *r, const char *name, const char **out) {
  *out = req_query(r, name);
  return !*out || v_timestamp(*out) || bad_query(r, name, "must be an RFC 3339 date-time");
}

bool req_query_enum(struct req *r, const char *name, const char *const *values, const char **out) {
  *out = req_query(r, name);
  if (!*out || v_enum(*out, values) >= 0) return true;
  char list[400] = "must be one of:";
  for (int i = 0; values[i]; i++) {
    strncat(list, i ? ", " : " ", sizeof list - strlen(list) - 1);
    strncat(list, values[i], sizeof list - strlen(list) - 1);
  }
  return bad_query(r, name, list);
}

struct db_conn *req_db(struct req *r) {
  if (!r->db) r->db = db_acquire(r->app->pool);
  if (!r->db) reply_problem(r, 503, "the database is unavailable, retry shortly");
  return r->db;
}

struct db_conn *req_take_db(struct req *r) {
  struct db_conn *c = r->db;
  r->db = NULL;
  return c;
}

bool req_begin(struct req *r) {
  if (!req_db(r)) return false;
  if (!db_begin(r->db, r->authed ? r->claims.sub : "", r->authed ? role_name(r->claims.role) : "",
                r->request_id)) {
    reply_problem(r, 503, "the database is unavailable, retry shortly");
    return false;
  }
  return true;
}

bool req_commit(struct req *r) {
  if (r->idem_claimed && !idem_mark_effect(r)) {
    reply_problem(r, 503, "the database is unavailable, retry shortly");
    return false;
  }
  PGresult *res = PQexec(db_pg(r->db), "COMMIT");
  bool ok = db_ok(res) && strcmp(PQcmdStatus(res), "COMMIT") == 0;
  if (!ok) reply_db_error(r, res);
  PQclear(res);
  return ok;
}

bool req_if_match(struct req *r, const char *current) {
  const char *im = req_header(r, "If-Match");
  if (!im || strcmp(im, "*") == 0) return true;
  char tag[32];
  etag_of(current, strlen(current), tag, sizeof tag);
  if (etag_listed(im, tag, false)) return true;
  reply_problem(r, 412, "the resource has changed since you read it (If-Match %s, current ETag %s)",
                im, tag);
  return false;
}

PGresult *req_exec(struct req *r, const char *sql, int n, const char *const *params) {
  if (!req_db(r)) return NULL;
  PGresult *res = db_exec(r->db, sql, n, params);
  if (db_ok(res)) return res;
  reply_db_error(r, res);
  PQclear(res);
  return NULL;
}

void reply_page_rows(struct req *r, const PGresult *res, int limit, const char *scope) {
  int n = PQntuples(res), shown = n < limit ? n : limit;
  char cursor[200] = "null";
  if (n > limit && shown > 0) {
    long long seq = 0;
    v_strtonum(PQgetvalue(res, shown - 1, 1), 0, 9007199254740991LL, &seq);
    char c[180];
    cursor_encode(r->app->cfg.cursor_secret, scope, seq, c, sizeof c);
    snprintf(cursor, sizeof cursor, "\"%s\"", c);
  }
  static const char head[] = "{\"items\":[", mid[] = "],\"next_cursor\":";
  size_t nc = strlen(cursor), len = sizeof head + sizeof mid + nc + 2;
  for (int i = 0; i < shown; i++) len += (size_t)PQgetlength(res, i, 0) + 1;
  char *body = malloc(len);
  if (!body) {
    reply_problem(r, 500, "out of memory");
    return;
  }
  char *o = body;
  memcpy(o, head, sizeof head - 1), o += sizeof head - 1;
  bool first = true;
  for (int i = 0; i < shown; i++) {
    if (PQgetisnull(res, i, 0)) continue;
    if (!first) *o++ = ',';
    first = false;
    size_t k = (size_t)PQgetlength(res, i, 0);
    memcpy(o, PQgetvalue(res, i, 0), k), o += k;
  }
  memcpy(o, mid, sizeof mid - 1), o += sizeof mid - 1;
  memcpy(o, cursor, nc), o += nc;
  *o++ = '}';
  reply_raw(r, 200, "application/json", body, (size_t)(o - body));
  free(body);
}

void reply_page(struct req *r, const PGresult *res, const char *scope) {
  const char *items = PQntuples(res) ? PQgetvalue(res, 0, 0) : "[]";
  bool more = PQntuples(res) && strcmp(PQgetvalue(res, 0, 2), "t") == 0;
  char cursor[200] = "null";
  if (more) {
    long long seq = 0;
    v_strtonum(PQgetvalue(res, 0, 1), 0, 9007199254740991LL, &seq);
    char c[180];
    cursor_encode(r->app->cfg.cursor_secret, scope, seq, c, sizeof c);
    snprintf(cursor, sizeof cursor, "\"%s\"", c);
  }
  /* pieces copied, not printed: a page is tens of kilobytes */
  static const char head[] = "{\"items\":", mid[] = ",\"next_cursor\":";
  size_t ni = strlen(items), nc = strlen(cursor), len = sizeof head - 1 + ni + sizeof mid - 1 + nc + 1;
  char *body = malloc(len);
  if (!body) {
    reply_problem(r, 500, "out of memory");
    return;
  }
  char *o = body;
  memcpy(o, head, sizeof head - 1), o += sizeof head - 1;
  memcpy(o, items, ni), o += ni;
  memcpy(o, mid, sizeof mid - 1), o += sizeof mid - 1;
  memcpy(o, cursor, nc), o += nc;
  *o++ = '}';
  reply_raw(r, 200, "application/json", body, (size_t)(o - body));
  free(body);
}

const char *claims_all(struct req *r) { return r->claims.prg_all ? "t" : "f"; }
const char *claims_prg(struct req *r) { return r->claims.prg_pg ? r->claims.prg_pg : "{}"; }
bool has_role(struct req *r, unsigned mask) { return r->authed && (mask & ROLE_BIT(r->claims.role)); }

/* ---------------------------------------------------------------- routing */

/* Matches path against pattern; fills params (pointers into buf). */
static bool match(const char *pattern, const char *path, char *buf, size_t buflen,
                  const char **params) {
  int np = 0;
  size_t used = 0;
  const char *p = pattern, *s = path;
  while (*p && *s) {
    if (*p == '{') {
      const char *end = strchr(s, '/');
      size_t n = end ? (size_t)(end - s) : strlen(s);
      if (n == 0 || np >= MAX_PATH_PARAMS || used + n + 1 > buflen) return false;
      memcpy(buf + used, s, n);
      buf[used + n] = 0;
      params[np++] = buf + used;
      used += n + 1;
      s += n;
      p = strchr(p, '}');
      if (!p) return false;
      p++;
    } else if (*p == *s) {
      p++;
      s++;
    } else {
      return false;
    }
  }
  return *p == 0 && *s == 0;
}

static void gen_request_id(char *out) {
  unsigned char rnd[16];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) memset(rnd, 0, sizeof rnd);
  for (int i = 0; i < 16; i++) sprintf(out + 2 * i, "%02x", rnd[i]);
}

static bool request_id_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.' && s[i] != ':')
      return false;
  return true;
}

static bool content_type_json(const char *ct, bool merge_patch) {
  if (!ct) return false;
  size_t n = strcspn(ct, "; \t");
  if (n == 16 && strncasecmp(ct, "application/json", 16) == 0) return true;
  if (merge_patch && n == 28 && strncasecmp(ct, "application/merge-patch+json", 28) == 0) return true;
  return false;
}

static bool authenticate(struct req *r) {
  const char *h = req_header(r, "Authorization");
  if (!h || !*h) {
    set_header(r, "WWW-Authenticate", "Bearer realm=\"koppel\"");
    reply_problem(r, 401, "a Bearer token is required");
    return false;
  }
  const char *why = "the Authorization header must be 'Bearer <token>'";
  if (strncasecmp(h, "Bearer ", 7) == 0) {
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    if (auth_verify(&r->app->cfg, tok, time(NULL), &r->claims, &why) == 0) {
      r->authed = true;
      return true;
    }
  }
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Bearer realm=\"koppel\", error=\"invalid_token\", error_description=\"%s\"", why);
  set_header(r, "WWW-Authenticate", hdr);
  reply_problem(r, 401, "%s", why);
  return false;
}

static bool read_body(struct req *r, unsigned flags) {
  size_t max = r->app->cfg.max_body;
  const char *cl = req_header(r, "Content-Length");
  long long declared = 0;
  if ((cl && v_strtonum(cl, 0, 1LL << 62, &declared) && (size_t)declared > max) ||
      r->u->binary_body_length > max) {
    set_header(r, "Connection", "close");
    reply_problem(r, 413, "the request body is larger than %zu bytes", max);
    return false;
  }
  size_t len = r->u->binary_body_length;
  if (len == 0) {
    if (flags & R_BODY) {
      reply_problem(r, 400, "a JSON object request body is required");
      return false;
    }
    return true;
  }
  if (!content_type_json(req_header(r, "Content-Type"), flags & R_MERGE_PATCH)) {
    reply_problem(r, 415, "the request body must be application/json%s",
                  (flags & R_MERGE_PATCH) ? " or application/merge-patch+json" : "");
    return false;
  }
  json_error_t err;
  r->body = json_loadb(r->u->binary_body, len, JSON_REJECT_DUPLICATES, &err);
  if (!r->body) {
    reply_problem(r, 400, "the request body is not valid JSON: %s (at byte %d)", err.text, err.position);
    return false;
  }
  if (!json_is_object(r->body)) {
    reply_problem(r, 400, "the request body must be a JSON object");
    return false;
  }
  return true;
}

static const char CORS_ALLOW_HEADERS[] =
  "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id";
static const char CORS_EXPOSE_HEADERS[] =
  "ETag, Location, X-Request-Id, Retry-After, Allow, WWW-Authenticate, Idempotent-Replayed";

/* OPTIONS on a known path: a CORS preflight from an allowed origin gets the
 * methods and headers it may use; any other OPTIONS gets Allow. */
static void options(struct req *r, const char *allow) {
  r->stats = RS_OPTIONS;
  r->route = "options";
  const char *origin = req_header(r, "Origin");
  const char *want = req_header(r, "Access-Control-Request-Method");
  set_header(r, "Allow", allow);
  if (origin && want) {
    if (!config_origin_allowed(&r->app->cfg, origin)) {
      reply_problem(r, 403, "the origin %.200s is not allowed (KOPPEL_CORS_ORIGINS)", origin);
      return;
    }
    set_header(r, "Access-Control-Allow-Methods", allow);
    set_header(r, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
    set_header(r, "Access-Control-Max-Age", "600");
  }
  reply_empty(r, 204);
}

/* An oversized URL or header block: 414 / 431, then the connection closes. */
static bool too_large(struct req *r) {
  size_t ulen = r->u->http_url ? strlen(r->u->http_url) : 0;
  size_t n = 0, bytes = 0;
  const char **keys = u_map_enum_keys(r->u->map_header);
  for (; keys && keys[n]; n++) {
    const char *v = u_map_get(r->u->map_header, keys[n]);
    bytes += strlen(keys[n]) + (v ? strlen(v) : 0) + 4;
  }
  if (ulen <= MAX_URL && n <= MAX_HEADERS && bytes <= MAX_HEADER_BYTES) return false;
  r->stats = RS_UNMATCHED;
  r->route = "too-large";
  set_header(r, "Connection", "close");
  if (ulen > MAX_URL) reply_problem(r, 414, "the URL is %zu bytes long; at most %d are accepted", ulen, MAX_URL);
  else reply_problem(r, 431, "the request has %zu header fields of %zu bytes; at most %d fields of %d bytes are accepted",
                     n, bytes, MAX_HEADERS, MAX_HEADER_BYTES);
  return true;
}

/* KOPPEL_RATE_LIMIT: the token's subject (or, for a public route, the
 * client address) past its bucket gets 429 with Retry-After; nothing runs. */
static bool rate_limited(struct req *r) {
  const void *key = r->claims.sub;
  size_t len = strlen(r->claims.sub);
  const struct sockaddr *sa = r->u->client_address;
  if (!r->authed) {
    len = 0;
    if (sa && sa->sa_family == AF_INET) key = &((const struct sockaddr_in *)(const void *)sa)->sin_addr, len = 4;
    if (sa && sa->sa_family == AF_INET6) key = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, len = 16;
  }
  int64_t wait = ratelimit_take(limiter, key, len, ratelimit_now_ns());
  if (!wait) return false;
  atomic_fetch_add(&m_rate_limited, 1);
  long s = ratelimit_retry_after_s(wait);
  char secs[24];
  snprintf(secs, sizeof secs, "%ld", s);
  set_header(r, "Retry-After", secs);
  reply_problem(r, 429, "more than %d requests per second (bursts of %d) from this %s; retry after %ld s",
                r->app->cfg.rate_limit, r->app->cfg.rate_burst, r->authed ? "subject" : "address", s);
  return true;
}

static void dispatch(struct req *r) {
  const char *path = r->u->url_path;
  if (too_large(r)) return;
  char buf[1024];
  char allow[128] = "";
  const struct route *found = NULL;
  bool path_known = false;
  for (int t = 0; t < ntables && !found; t++) {
    for (const struct route *rt = tables[t]; rt->pattern; rt++) {
      if (!match(rt->pattern, path, buf, sizeof buf, r->param)) continue;
      path_known = true;
      if (strcmp(rt->method, r->method) == 0 ||
          (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
        found = rt;
        r->stats = table_base[t] + (int)(rt - tables[t]);
        break;
      }
      if (!strstr(allow, rt->method)) {
        if (*allow) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
        strncat(allow, rt->method, sizeof allow - strlen(allow) - 1);
      }
    }
  }
  if (!found) {
    if (path_known && strcmp(r->method, "OPTIONS") == 0) {
      options(r, allow);
    } else if (path_known) {
      r->stats = RS_NOT_ALLOWED;
      r->route = "method-not-allowed";
      set_header(r, "Allow", allow);
      reply_problem(r, 405, "%s is not allowed on %s; allowed: %s", r->method, path, allow);
    } else {
      r->stats = RS_UNMATCHED;
      r->route = "unmatched";
      reply_problem(r, 404, "there is no resource at %s", path);
    }
    return;
  }
  r->route = found->pattern;
  /* path parameters must match again after the match above reused buf */
  match(found->pattern, path, buf, sizeof buf, r->param);
  if (!(found->flags & R_PUBLIC)) {
    if (!authenticate(r)) return;
    if (limiter && rate_limited(r)) return;
    if (!(found->roles & ROLE_BIT(r->claims.role))) {
      reply_problem(r, 403, "the role %s may not %s %s", role_name(r->claims.role), r->method,
                    found->pattern);
      return;
    }
  } else if (limiter && !(found->flags & R_NO_RATE_LIMIT) && rate_limited(r)) {
    return;
  }
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
    /* writes take no query parameters: a stray one is a client mistake */
    const char **keys = u_map_enum_keys(r->u->map_url);
    if (keys && keys[0]) {
      reply_problem(r, 400, "query parameter '%.100s' is not known here", keys[0]);
      return;
    }
  }
  if ((found->flags & (R_BODY | R_BODY_OPTIONAL)) && !read_body(r, found->flags)) return;
  if (!(found->flags & (R_BODY | R_BODY_OPTIONAL)) && r->u->binary_body_length > r->app->cfg.max_body) {
    reply_problem(r, 413, "the request body is larger than %zu bytes", r->app->cfg.max_body);
    return;
  }
  bool claimed = false;
  if (strcmp(r->method, "POST") == 0 && !(found->flags & R_PUBLIC) && !idem_begin(r, &claimed)) return;
  r->idem_claimed = claimed;
  found->fn(r);
  if (r->retry && !r->status) {
    if (r->db) { /* roll back the failed transaction; keep the connection */
      db_release(r->app->pool, r->db);
      r->db = NULL;
    }
    r->retry = false;
    r->attempt = 1;
    found->fn(r);
  }
  if (!r->status) reply_problem(r, 500, "the handler sent no response");
  if (claimed) idem_finish(r);
}

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* The one ulfius callback: every request comes here (default endpoint). */
static int entry(const struct _u_request *u, struct _u_response *resp, void *user_data) {
  long long t0 = now_us();
  atomic_fetch_add(&m_in_flight, 1);
  struct req r;
  memset(&r, 0, sizeof r);
  r.u = u;
  r.resp = resp;
  r.app = user_data;
  r.method = u->http_verb;
  r.route = "";
  const char *rid = u_map_get_case(u->map_header, "X-Request-Id");
  if (request_id_ok(rid)) snprintf(r.request_id, sizeof r.request_id, "%s", rid);
  else gen_request_id(r.request_id);

  dispatch(&r);

  const char *origin = u_map_get_case(u->map_header, "Origin");
  if (origin && config_origin_allowed(&r.app->cfg, origin)) {
    set_header(&r, "Access-Control-Allow-Origin", origin);
    set_header(&r, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
  }
  if (r.app->cfg.cors_origins) set_header(&r, "Vary", "Origin");
  set_header(&r, "X-Request-Id", r.request_id);
  if (atomic_load(&m_draining)) set_header(&r, "Connection", "close");
  set_header(&r, "Cache-Control", "no-store");
  set_header(&r, "X-Content-Type-Options", "nosniff");
  if (r.db) db_release(r.app->pool, r.db);
  json_decref(r.body);
  long long dur = now_us() - t0;
  log_request(r.request_id, r.method, r.route, r.status, dur, r.authed ? role_name(r.claims.role) : "",
              r.authed ? r.claims.sub : "");
  claims_free(&r.claims);
  struct route_stats *st = &route_stats[r.stats];
  int cls = r.status / 100;
  if (cls >= 1 && cls <= 5) atomic_fetch_add(&st->by_class[cls], 1);
  for (int b = 0; b < NBUCKETS; b++)
    if ((double)dur / 1000.0 <= bucket_ms[b]) atomic_fetch_add(&st->bucket[b], 1);
  atomic_fetch_add(&st->count, 1);
  atomic_fetch_add(&st->sum_us, (unsigned long)dur);
  atomic_fetch_sub(&m_in_flight, 1);
  return U_CALLBACK_COMPLETE;
}

/* Appends printf output to a growing buffer; keeps going after a failure. */
struct sbuf {
  char *p;
  size_t len, cap;
};
__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...) {
  for (int tries = 0; tries < 2 && b->p; tries++) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap + (size_t)n + 1) * 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      free(b->p);
      b->p = NULL;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
}

char *metrics_render(struct app *app) {
  int in_use = 0, size = 0, waiting = 0;
  unsigned long timeouts = 0;
  db_pool_stats(app->pool, &in_use, &size, &timeouts);
  waiting = db_pool_waiting(app->pool);
  struct sbuf b = {malloc(16384), 0, 16384};
  sb_printf(&b, "# HELP koppel_http_requests_total HTTP requests answered, by route and status class.\n"
                "# TYPE koppel_http_requests_total counter\n");
  for (int i = 0; i < nroutes; i++)
    for (int c = 1; c <= 5; c++) {
      unsigned long n = atomic_load(&route_stats[i].by_class[c]);
      if (n)
        sb_printf(&b, "koppel_http_requests_total{method=\"%s\",route=\"%s\",status=\"%dxx\"} %lu\n",
                  route_stats[i].method, route_stats[i].route, c, n);
    }
  sb_printf(&b, "# HELP koppel_http_request_duration_seconds Time to answer a request, by route.\n"
                "# TYPE koppel_http_request_duration_seconds histogram\n");
  for (int i = 0; i < nroutes; i++) {
    unsigned long count = atomic_load(&route_stats[i].count);
    if (!count) continue;
    const char *m = route_stats[i].method, *rt = route_stats[i].route;
    for (int k = 0; k < NBUCKETS; k++)
      sb_printf(&b, "koppel_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %lu\n",
                m, rt, bucket_ms[k] / 1000.0, atomic_load(&route_stats[i].bucket[k]));
    sb_printf(&b, "koppel_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %lu\n",
              m, rt, count);
    sb_printf(&b, "koppel_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n", m, rt,
              (double)atomic_load(&route_stats[i].sum_us) / 1e6);
    sb_printf(&b, "koppel_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %lu\n", m, rt, count);
  }
  sb_printf(&b,
            "# HELP koppel_http_in_flight Requests being answered now.\n"
            "# TYPE koppel_http_in_flight gauge\n"
            "koppel_http_in_flight %ld\n"
            "# HELP koppel_db_pool_size Database connections in the pool.\n"
            "# TYPE koppel_db_pool_size gauge\n"
            "koppel_db_pool_size %d\n"
            "# HELP koppel_db_pool_in_use Database connections lent to requests now.\n"
            "# TYPE koppel_db_pool_in_use gauge\n"
            "koppel_db_pool_in_use %d\n"
            "# HELP koppel_db_pool_waiting Requests waiting for a free connection now.\n"
            "# TYPE koppel_db_pool_waiting gauge\n"
            "koppel_db_pool_waiting %d\n"
            "# HELP koppel_db_pool_timeouts_total Requests that found no free connection in time.\n"
            "# TYPE koppel_db_pool_timeouts_total counter\n"
            "koppel_db_pool_timeouts_total %lu\n"
            "# HELP koppel_db_errors_total Database errors answered with 500 or 503.\n"
            "# TYPE koppel_db_errors_total counter\n"
            "koppel_db_errors_total %lu\n",
            atomic_load(&m_in_flight), size, in_use, waiting, timeouts, atomic_load(&m_db_errors));
  sb_printf(&b, "# HELP koppel_http_rate_limited_total Requests answered 429 (KOPPEL_RATE_LIMIT).\n"
                "# TYPE koppel_http_rate_limited_total counter\n"
                "koppel_http_rate_limited_total %lu\n", atomic_load(&m_rate_limited));
  return b.p;
}

/* ---------------------------------------------------------------- accepting
 *
 * libmicrohttpd's thread pool lets every worker accept from the shared
 * listening socket, and whichever wakes first takes the connection: under
 * 64 keep-alive connections the eight workers held 22, 22, 10, 8, 2, 0, 0
 * and 0 of them (counted in each worker's epoll set), so two threads served
 * two thirds of the load one request after another while others idled, and
 * requests queued behind their neighbours (the single read's p99 was ten
 * times its median). One thread accepts here instead and hands each
 * connection to MHD_add_connection, which gives it to worker fd % threads:
 * connections opened together are spread evenly. Everything else (the
 * connection limit, timeouts, the drain on SIGTERM) stays libmicrohttpd's. */
struct acceptor {
  int fd;
  struct MHD_Daemon *daemon;
  atomic_bool stop;
  pthread_t thread;
};

/* The connection limit is kept here, not by libmicrohttpd: in 0.9.75 a
 * worker that finds itself at its limit while taking an added connection
 * returns without unlocking its cleanup mutex, and hangs at the next
 * connection it closes. Each worker's own limit is therefore set to the
 * whole CONNECTION_LIMIT (never reached), and at the limit this thread stops
 * accepting: new clients wait in the kernel's backlog, as they did when
 * libmicrohttpd accepted. m_open counts connections handed over and not yet
 * closed (MHD_OPTION_NOTIFY_CONNECTION; one that libmicrohttpd fails to set
 * up after taking it, out of memory, stays counted). */
#define CONNECTION_LIMIT 4000
static atomic_int m_open;

static void mhd_connection_notify(void *cls, struct MHD_Connection *c, void **ctx,
                                  enum MHD_ConnectionNotificationCode code) {
  (void)cls, (void)c, (void)ctx;
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) atomic_fetch_sub(&m_open, 1);
}

static void *accept_loop(void *arg) {
  struct acceptor *a = arg;
  while (!atomic_load(&a->stop)) {
    if (atomic_load(&m_open) >= CONNECTION_LIMIT) {
      usleep(10000);
      continue;
    }
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept4(a->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      atomic_fetch_add(&m_open, 1);
      if (MHD_add_connection(a->daemon, fd, (struct sockaddr *)&peer, len) != MHD_YES)
        atomic_fetch_sub(&m_open, 1); /* refused before it started (and closed by MHD) */
      continue;
    }
    if (atomic_load(&a->stop)) break;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
      usleep(10000); /* out of descriptors or memory: let connections finish, then accept again */
    else if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN && errno != EPROTO)
      usleep(1000);
  }
  return NULL;
}

static int listen_on(const struct sockaddr_in *addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Stops accepting; from here a new connection is refused at once. */
static void acceptor_stop(struct acceptor *a) {
  if (a->fd < 0) return;
  atomic_store(&a->stop, true);
  shutdown(a->fd, SHUT_RDWR); /* wakes accept4 */
  pthread_join(a->thread, NULL);
  close(a->fd);
  a->fd = -1;
}

int http_serve(struct app *app) {
  struct _u_instance inst;
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(app->cfg.listen_port);
  const char *host = strcmp(app->cfg.listen_host, "localhost") == 0 ? "127.0.0.1" : app->cfg.listen_host;
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    log_error("", "KOPPEL_LISTEN host must be an IPv4 address, got '%s'", app->cfg.listen_host);
    return 1;
  }
  if (ulfius_init_instance(&inst, app->cfg.listen_port, &addr, NULL) != U_OK) {
    log_error("", "could not initialise the HTTP instance");
    return 1;
  }
  /* ulfius silently truncates past this size: one byte more than we accept
   * lets us tell "too large" (413) from "exactly at the limit". */
  inst.max_post_body_size = app->cfg.max_body + 1;
  inst.allowed_post_processor = U_POST_PROCESS_NONE;
  ulfius_set_default_endpoint(&inst, entry, app);

  struct MHD_OptionItem ops[] = {
    {MHD_OPTION_THREAD_POOL_SIZE, app->cfg.threads, NULL},
    {MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT * (app->cfg.threads > 0 ? app->cfg.threads : 1), NULL},
    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)mhd_connection_notify, NULL},
    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, MHD_MEMORY, NULL},
    {MHD_OPTION_CONNECTION_TIMEOUT, app->cfg.idle_timeout_s, NULL},
    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
    {MHD_OPTION_END, 0, NULL}};
  if (app->cfg.rate_limit > 0 &&
      !(limiter = ratelimit_new(app->cfg.rate_limit, app->cfg.rate_burst, RATE_SLOTS))) {
    log_error("", "could not allocate the rate limiter");
    ulfius_clean_instance(&inst);
    return 1;
  }
  struct acceptor acc = {.fd = listen_on(&addr)};
  if (acc.fd < 0) {
    log_error("", "could not listen on %s:%u: %s", app->cfg.listen_host, app->cfg.listen_port, strerror(errno));
    ulfius_clean_instance(&inst);
    ratelimit_free(limiter);
    limiter = NULL;
    return 1;
  }
  if (ulfius_start_framework_with_mhd_options(&inst,
                                              MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                                                MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG,
                                              ops) != U_OK ||
      (acc.daemon = inst.mhd_daemon,
       pthread_create(&acc.thread, NULL, accept_loop, &acc) != 0)) {
    log_error("", "could not start serving on %s:%u", app->cfg.listen_host, app->cfg.listen_port);
    if (inst.mhd_daemon) ulfius_stop_framework(&inst);
    close(acc.fd);
    ulfius_clean_instance(&inst);
    ratelimit_free(limiter);
    limiter = NULL;
    return 1;
  }
  if (limiter)
    log_info("rate limit: %d requests per second per subject, bursts of %d", app->cfg.rate_limit,
             app->cfg.rate_burst);
  log_info("listening on %s:%u with %d threads and %d database connections", app->cfg.listen_host,
           app->cfg.listen_port, app->cfg.threads, app->cfg.pool_size);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  while (sigwait(&set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM)) {
  }
  log_info("signal %d: no new connections; finishing requests in flight", sig);
  /* Drain: no new connections; every open connection gets the answer to the
   * request it sent, with Connection: close, and no more. Stop once nothing
   * runs and the connections are gone (or only idle ones stay for a second). */
  atomic_store(&m_draining, true);
  /* Until the listening socket is closed the kernel still completes
   * handshakes into the backlog, and those clients would wait for nothing.
   * Closed, a new connection is refused at once. */
  acceptor_stop(&acc);
  int idle_ticks = 0;
  for (int i = 0; i < 80; i++) { /* at most 8 s */
    const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(inst.mhd_daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    unsigned conns = info ? info->num_connections : 0;
    if (atomic_load(&m_in_flight) > 0) idle_ticks = 0;
    else if (conns == 0 || ++idle_ticks >= 10) break;
    usleep(100000);
  }
  ulfius_stop_framework(&inst);
  ulfius_clean_instance(&inst);
  ratelimit_free(limiter);
  limiter = NULL;
  log_info("stopped");
  return 0;
}
