/* The HTTP layer: routing table, request context, conventions (auth, body
 * limits, problem+json, request ids, logging, ETags, pagination). Resource
 * modules in api/ register routes and write handlers against this header. */
#ifndef KOPPEL_HTTP_H
#define KOPPEL_HTTP_H
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <ulfius.h>

#include "service/auth.h"
#include "service/config.h"
#include "service/db.h"

struct app {
  struct config cfg;
  struct db_pool *pool;
};

#define MAX_PATH_PARAMS 4

struct req {
  const struct _u_request *u;
  struct _u_response *resp;
  struct app *app;
  const char *method;
  const char *route;                  /* the matched pattern, for logs and metrics */
  const char *param[MAX_PATH_PARAMS]; /* path parameters in order ({id}, {ref}, ...), borrowed */
  struct claims claims;               /* valid when authed */
  bool authed;
  json_t *body;                       /* parsed request body or NULL; owned by the framework */
  struct db_conn *db;                 /* set by req_db(); released by the framework */
  char request_id[65];
  int status;                         /* 0 until a reply is sent */
  int attempt;                        /* 0, or 1 when rerun after a serialization failure */
  bool retry;                         /* set when the transaction should run once more */
  int stats;                          /* index of the route's metrics */
  bool idem_claimed;                  /* this request holds an Idempotency-Key claim */
};

typedef void (*handler_fn)(struct req *r);

/* Who may call a route at all; finer rules (own objects) live in the handler's SQL. */
#define ROLE_BIT(r) (1u << (r))
#define ANY_ROLE 0x7Eu
#define STAFF (ROLE_BIT(ROLE_COORDINATOR) | ROLE_BIT(ROLE_COACH))

enum route_flags {
  R_PUBLIC = 1,        /* no token needed */
  R_BODY = 2,          /* a JSON object body is required */
  R_BODY_OPTIONAL = 4, /* an empty body or a JSON object */
  R_MERGE_PATCH = 8,   /* accepts application/merge-patch+json too */
  R_NO_RATE_LIMIT = 16 /* never limited by KOPPEL_RATE_LIMIT (probes and metrics) */
};

struct route {
  const char *method;  /* "GET", "POST", ... */
  const char *pattern; /* "/v1/participants/{id}" */
  handler_fn fn;
  unsigned flags;
  unsigned roles;      /* ROLE_BIT mask; ignored for R_PUBLIC */
};

/* Adds a NULL-terminated (pattern == NULL) static table of routes. */
void routes_add(const struct route *routes);

/* Starts serving on the configured address; returns when SIGINT/SIGTERM arrives
 * and in-flight requests are done. Returns 0 on a clean stop. */
int http_serve(struct app *app);

/* ---- replies: each handler sends exactly one ---- */
/* A JSON text body (borrowed). With etag, sets ETag (and answers 304 to a
 * matching If-None-Match on GET). */
void reply_json_text(struct req *r, int status, const char *json, bool etag);
/* A jansson body (stolen). */
void reply_json(struct req *r, int status, json_t *body);
/* 201 with Location: prefix followed by id ("/v1/meetings/", id), the JSON text
 * body (borrowed) and its ETag. */
void reply_created(struct req *r, const char *prefix, const char *id, const char *json);
void reply_empty(struct req *r, int status);
void reply_raw(struct req *r, int status, const char *content_type, const char *body, size_t len);
/* A problem+json with detail (printf-style). */
void reply_problem(struct req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A validation problem; errors (stolen) is an array of {pointer, message}.
 * Status 400 when unknown is set, otherwise 422. */
void reply_invalid(struct req *r, json_t *errors, bool unknown);
/* For actions that take no body (or an empty object): true when there is none;
 * otherwise answers 400 naming every member (422 for a read-only one) and
 * returns false. */
bool req_no_body(struct req *r);
/* Maps a failed PGresult to a status: 23505→409, 23503→422, 23514/22xxx→422,
 * KPxxx (raised by our SQL, message as detail)→xxx, 57014/08xxx→503, else 500. */
void reply_db_error(struct req *r, const PGresult *res);
void set_header(struct req *r, const char *name, const char *value);

/* ---- request helpers ---- */
const char *req_header(struct req *r, const char *name);
const char *req_query(struct req *r, const char *name);
/* Rejects query parameters not in allowed (NULL-terminated) with 400; false if sent. */
bool req_check_query(struct req *r, const char *const *allowed);
/* Parses ?limit= (1..200, default 50) and ?cursor= (signed, scope-bound).
 * *after is 0 when no cursor. Sends 400 and returns false on bad values. */
bool req_page(struct req *r, const char *scope, int *limit, long long *after);
/* Parses an optional query parameter as uuid/date/timestamp/enum/int; sends 400
 * naming it on a bad value. *out is NULL when absent. */
bool req_query_uuid(struct req *r, const char *name, const char **out);
bool req_query_date(struct req *r, const char *name, const char **out);
bool req_query_timestamp(struct req *r, const char *name, const char **out);
bool req_query_enum(struct req *r, const char *name, const char *const *values, const char **out);
/* The pooled connection for this request (acquired once); sends 503 and
 * returns NULL when the database is unavailable. */
struct db_conn *req_db(struct req *r);
/* Hands the request's connection to the caller, who must give it back with
 * db_release(r->app->pool, c) — for a streamed response whose callbacks
 * outlive the handler. NULL when the request holds none. */
struct db_conn *req_take_db(struct req *r);
/* BEGIN with the audit actor set; sends 503 and returns false on failure. */
bool req_begin(struct req *r);
/* COMMIT; sends the mapped error and returns false on failure. */
bool req_commit(struct req *r);
/* If-Match against the ETag of current (the JSON text the GET would return).
 * Sends 412 and returns false on a mismatch. */
bool req_if_match(struct req *r, const char *current);

/* Runs sql (static) with params on the request's connection; on failure sends
 * the mapped error and returns NULL. Caller PQclears a non-NULL result. */
PGresult *req_exec(struct req *r, const char *sql, int n, const char *const *params);

/* Replies {"items": [...], "next_cursor": ...} from a result whose first row
 * has columns items (json array text), last_seq (bigint) and more (bool). */
void reply_page(struct req *r, const PGresult *res, const char *scope);
/* The same from one row per item: column 0 the item's JSON text (NULL rows
 * are left out), column 1 its seq; up to limit + 1 rows, the extra one
 * meaning there is a next page. The items are joined here, once, rather than
 * aggregated into one large value in the database. */
void reply_page_rows(struct req *r, const PGresult *res, int limit, const char *scope);

/* Helpers for scoping by the caller's claims: "t"/"f" and the prg array literal. */
const char *claims_all(struct req *r);
const char *claims_prg(struct req *r);
bool has_role(struct req *r, unsigned mask);

/* Prometheus text of the request and pool metrics, for /metrics. Caller frees; NULL if out of memory. */
char *metrics_render(struct app *app);

#endif
