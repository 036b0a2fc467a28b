/* Webhooks: subscriptions (/v1/webhooks), their deliveries
 * (/v1/webhooks/{id}/deliveries, /v1/webhook-deliveries/{id}) and the worker
 * that sends the events the outbox triggers write (sql/0009_webhooks.sql).
 *
 * Subscriptions are organisation-wide: they receive the events of every
 * programme, so only a coordinator with prg "*" manages them.
 *
 * The worker is one thread per process with its own connection. It claims
 * one due delivery at a time with FOR UPDATE SKIP LOCKED (so any number of
 * replicas can run it), leases it by moving next_attempt_at a minute ahead,
 * POSTs the stored body signed with the subscription's secret, and records
 * the outcome: delivered, retried later with exponential backoff, or failed
 * after the last attempt. A delivery waits while an earlier event of the
 * same object is still pending for the same subscription, so receivers see
 * each object's events in order. Delivery is at least once: a receiver
 * dedupes by the event's id. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/fields.h"
#include "service/http.h"
#include "service/jsonutil.h"
#include "service/log.h"
#include "service/netguard.h"
#include "service/problem.h"
#include "service/validate.h"

static const char *const DELIVERY_STATUSES[] = {"pending", "delivered", "failed", NULL};
static const char *const BOOLS[] = {"true", "false", NULL};

/* A target_url in body that resolves to a non-public address (SSRF) is a
 * 422, unless KOPPEL_WEBHOOK_ALLOW_PRIVATE=1; false when it answered. */
static bool target_public(struct req *r, const json_t *body) {
  const char *url = json_string_value(json_object_get(body, "target_url"));
  char why[400];
  if (!url || r->app->cfg.webhook_allow_private || !netguard_url_blocked(url, why, sizeof why)) return true;
  json_t *errors = json_array();
  problem_add(errors, "/target_url", "must reach a public address: %s (KOPPEL_WEBHOOK_ALLOW_PRIVATE=1 allows it)",
              why);
  reply_invalid(r, errors, false);
  return false;
}

/* Every route: coordinators only (the route table), and organisation-wide. */
static bool org_wide(struct req *r) {
  if (r->claims.prg_all) return true;
  reply_problem(r, 403, "webhooks are organisation-wide: only a coordinator with prg \"*\" manages them");
  return false;
}

static bool id_ok(struct req *r, const char *what) {
  if (v_uuid(r->param[0])) return true;
  reply_problem(r, 404, "there is no %s %s", what, r->param[0]);
  return false;
}

static const char SQL_GET[] = "SELECT webhook_json(w)::text FROM webhooks w WHERE w.id = $1";
static const char SQL_GET_FOR_UPDATE[] = "SELECT webhook_json(w)::text FROM webhooks w WHERE w.id = $1 FOR UPDATE";

/* Reads one subscription; sends 404 (or an error) and returns NULL otherwise. */
static PGresult *load(struct req *r, const char *sql) {
  const char *p[] = {r->param[0]};
  PGresult *res = req_exec(r, sql, 1, p);
  if (res && PQntuples(res) == 0) {
    PQclear(res);
    reply_problem(r, 404, "there is no webhook %s", r->param[0]);
    return NULL;
  }
  return res;
}

static void list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "active", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT w.seq, webhook_json(w) AS j FROM webhooks w "
    "  WHERE w.seq > $1 AND ($2::boolean IS NULL OR w.active = $2) "
    "    AND ($3::timestamptz IS NULL OR w.updated_at >= $3) "
    "  ORDER BY w.seq LIMIT $4::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $4) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $4 FROM page)";
  int limit;
  long long after;
  const char *active, *since;
  if (!org_wide(r) || !req_check_query(r, allowed) || !req_page(r, "webhooks", &limit, &after) ||
      !req_query_enum(r, "active", BOOLS, &active) || !req_query_timestamp(r, "updated_since", &since))
    return;
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {a, active, since, l};
  PGresult *res = req_exec(r, sql, 4, p);
  if (!res) return;
  reply_page(r, res, "webhooks");
  PQclear(res);
}

/* A generated secret: "whsec_" and 48 hex digits (192 random bits). */
static bool new_secret(char *out, size_t len) {
  unsigned char rnd[24];
  if (len < 6 + 2 * sizeof rnd + 1 || getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return false;
  memcpy(out, "whsec_", 6);
  for (size_t i = 0; i < sizeof rnd; i++) snprintf(out + 6 + 2 * i, 3, "%02x", rnd[i]);
  return true;
}

/* The one answer that shows the secret: 201 with the representation plus
 * "secret". Its ETag is the ETag of the representation a GET returns, so an
 * If-Match taken from here works. */
static void create(struct req *r) {
  static const char sql[] =
    "INSERT INTO webhooks (target_url, event_types, secret, active, description) "
    "SELECT j->>'target_url', "
    "  ARRAY(SELECT t FROM jsonb_array_elements_text(j->'event_types') WITH ORDINALITY AS x(t, o) ORDER BY o), $2, "
    "  coalesce((j->>'active')::boolean, true), j->>'description' "
    "FROM (SELECT $1::jsonb AS j) s "
    "RETURNING id::text, webhook_json(webhooks)::text, "
    "  (webhook_json(webhooks) || jsonb_build_object('secret', secret))::text";
  if (!org_wide(r)) return;
  json_t *errors = json_array();
  bool unknown = false;
  fields_check(r->body, webhook_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  if (!target_public(r, r->body)) return;
  char secret[64];
  const char *given = json_string_value(json_object_get(r->body, "secret"));
  if (!given && !new_secret(secret, sizeof secret)) {
    reply_problem(r, 500, "could not generate a secret");
    return;
  }
  char *text = json_dumps(r->body, JSON_COMPACT);
  const char *p[] = {text, given ? given : secret};
  PGresult *res = NULL;
  if (text && req_begin(r) && (res = req_exec(r, sql, 2, p)) && req_commit(r)) {
    char loc[80], tag[32];
    snprintf(loc, sizeof loc, "/v1/webhooks/%s", PQgetvalue(res, 0, 0));
    set_header(r, "Location", loc);
    etag_of(PQgetvalue(res, 0, 1), strlen(PQgetvalue(res, 0, 1)), tag, sizeof tag);
    set_header(r, "ETag", tag);
    reply_json_text(r, 201, PQgetvalue(res, 0, 2), false);
  }
  if (!text) reply_problem(r, 500, "out of memory");
  PQclear(res);
  free(text);
}

static void get_one(struct req *r) {
  static const char *const allowed[] = {NULL};
  if (!org_wide(r) || !req_check_query(r, allowed) || !id_ok(r, "webhook")) return;
  PGresult *res = load(r, SQL_GET);
  if (!res) return;
  reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

/* A merge patch of target_url, event_types, active, description; "secret"
 * replaces the secret (rotation) and is not shown in the answer. */
static void patch(struct req *r) {
  static const char sql[] =
    "UPDATE webhooks SET target_url = j->>'target_url', "
    "  event_types = ARRAY(SELECT t FROM jsonb_array_elements_text(j->'event_types') "
    "    WITH ORDINALITY AS x(t, o) ORDER BY o), "
    "  secret = coalesce(j->>'secret', secret), active = (j->>'active')::boolean, "
    "  description = j->>'description' "
    "FROM (SELECT $2::jsonb AS j) s WHERE id = $1 RETURNING webhook_json(webhooks)::text";
  if (!org_wide(r) || !id_ok(r, "webhook")) return;
  json_t *errors = json_array();
  bool unknown = false;
  fields_check_patch(r->body, webhook_fields, "", errors, &unknown);
  if (json_array_size(errors)) {
    reply_invalid(r, errors, unknown);
    return;
  }
  json_decref(errors);
  if (!target_public(r, r->body)) return;
  PGresult *cur = NULL, *res = NULL;
  json_t *merged = NULL;
  char *text = NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  merged = json_loads(PQgetvalue(cur, 0, 0), 0, NULL);
  if (merged) merge_patch(merged, r->body);
  text = merged ? json_dumps(merged, JSON_COMPACT) : NULL;
  if (!text) {
    reply_problem(r, 500, "out of memory");
    goto out;
  }
  const char *p[] = {r->param[0], text};
  if ((res = req_exec(r, sql, 2, p)) && req_commit(r)) reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
out:
  json_decref(merged);
  free(text);
  PQclear(cur);
  PQclear(res);
}

/* Deleting a subscription deletes its deliveries; pending ones are never sent. */
static void delete(struct req *r) {
  static const char sql[] = "DELETE FROM webhooks WHERE id = $1";
  if (!org_wide(r) || !id_ok(r, "webhook")) return;
  PGresult *cur = NULL, *res = NULL;
  if (!req_begin(r) || !(cur = load(r, SQL_GET_FOR_UPDATE))) goto out;
  if (!req_if_match(r, PQgetvalue(cur, 0, 0))) goto out;
  const char *p[] = {r->param[0]};
  if ((res = req_exec(r, sql, 1, p)) && req_commit(r)) reply_empty(r, 204);
out:
  PQclear(cur);
  PQclear(res);
}

/* ---- deliveries */

static void deliveries_list(struct req *r) {
  static const char *const allowed[] = {"limit", "cursor", "status", "updated_since", NULL};
  static const char sql[] =
    "WITH page AS (SELECT d.seq, webhook_delivery_json(d) AS j FROM webhook_deliveries d "
    "  WHERE d.webhook_id = $1 AND d.seq > $2 AND ($3::text IS NULL OR d.status = $3) "
    "    AND ($4::timestamptz IS NULL OR d.updated_at >= $4) "
    "  ORDER BY d.seq LIMIT $5::int + 1), "
    "shown AS (SELECT * FROM page ORDER BY seq LIMIT $5) "
    "SELECT coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '[]')::text, "
    "  (SELECT max(seq) FROM shown), (SELECT count(*) > $5 FROM page)";
  int limit;
  long long after;
  const char *status, *since;
  char scope[64];
  /* a cursor is valid for the subscription that issued it only */
  snprintf(scope, sizeof scope, "webhook-deliveries:%.36s", r->param[0]);
  if (!org_wide(r) || !req_check_query(r, allowed) || !id_ok(r, "webhook") ||
      !req_page(r, scope, &limit, &after) || !req_query_enum(r, "status", DELIVERY_STATUSES, &status) ||
      !req_query_timestamp(r, "updated_since", &since))
    return;
  PGresult *hook = load(r, SQL_GET);
  if (!hook) return;
  PQclear(hook);
  char a[24], l[12];
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%d", limit);
  const char *p[] = {r->param[0], a, status, since, l};
  PGresult *res = req_exec(r, sql, 5, p);
  if (!res) return;
  reply_page(r, res, scope);
  PQclear(res);
}

static void delivery_get(struct req *r) {
  static const char *const allowed[] = {NULL};
  static const char sql[] =
    "SELECT webhook_delivery_json(d)::text FROM webhook_deliveries d WHERE d.id = $1";
  if (!org_wide(r) || !req_check_query(r, allowed) || !id_ok(r, "webhook delivery")) return;
  const char *p[] = {r->param[0]};
  PGresult *res = req_exec(r, sql, 1, p);
  if (!res) return;
  if (PQntuples(res) == 0) reply_problem(r, 404, "there is no webhook delivery %s", r->param[0]);
  else reply_json_text(r, 200, PQgetvalue(res, 0, 0), true);
  PQclear(res);
}

/* Sends a delivery's event again as a new delivery (its own id, attempts
 * from 0, redelivery_of the old one); the event and its body are the same.
 * 409 while the subscription is inactive or the event is still pending for it. */
static void redeliver(struct req *r) {
  static const char sql_cur[] =
    "SELECT w.active, EXISTS (SELECT 1 FROM webhook_deliveries x WHERE x.webhook_id = d.webhook_id "
    "  AND x.event_id = d.event_id AND x.status = 'pending') "
    "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1 FOR SHARE OF w";
  static const char sql[] =
    "INSERT INTO webhook_deliveries (webhook_id, event_id, object_id, object_seq, redelivery_of) "
    "SELECT d.webhook_id, d.event_id, d.object_id, d.object_seq, d.id FROM webhook_deliveries d WHERE d.id = $1 "
    "RETURNING id::text, webhook_delivery_json(webhook_deliveries)::text";
  if (!org_wide(r) || !id_ok(r, "webhook delivery")) return;
  if (r->body && json_object_size(r->body)) { /* no body, or an empty object */
    static const struct field NONE[] = {{NULL, 0, false, false, 0, 0, NULL, NULL, NULL, NULL, NULL}};
    json_t *errors = json_array();
    bool unknown = false;
    fields_check(r->body, NONE, "", errors, &unknown);
    reply_invalid(r, errors, unknown);
    return;
  }
  const char *p[] = {r->param[0]};
  PGresult *cur = NULL, *res = NULL;
  if (!req_begin(r) || !(cur = req_exec(r, sql_cur, 1, p))) goto out;
  if (PQntuples(cur) == 0) {
    reply_problem(r, 404, "there is no webhook delivery %s", r->param[0]);
    goto out;
  }
  if (strcmp(PQgetvalue(cur, 0, 0), "t") != 0) {
    reply_problem(r, 409, "the webhook is not active; activate it first (PATCH active: true)");
    goto out;
  }
  if (strcmp(PQgetvalue(cur, 0, 1), "t") == 0) {
    reply_problem(r, 409, "this event is still pending for the webhook; it will be sent without a redelivery");
    goto out;
  }
  if ((res = req_exec(r, sql, 1, p)) && req_commit(r)) {
    reply_created(r, "/v1/webhook-deliveries/", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
  }
out:
  PQclear(cur);
  PQclear(res);
}

#define COORD ROLE_BIT(ROLE_COORDINATOR)

static const struct route routes[] = {
  {"GET", "/v1/webhooks", list, 0, COORD},
  {"POST", "/v1/webhooks", create, R_BODY, COORD},
  {"GET", "/v1/webhooks/{id}", get_one, 0, COORD},
  {"PATCH", "/v1/webhooks/{id}", patch, R_BODY | R_MERGE_PATCH, COORD},
  {"DELETE", "/v1/webhooks/{id}", delete, 0, COORD},
  {"GET", "/v1/webhooks/{id}/deliveries", deliveries_list, 0, COORD},
  {"GET", "/v1/webhook-deliveries/{id}", delivery_get, 0, COORD},
  {"POST", "/v1/webhook-deliveries/{id}/redeliver", redeliver, R_BODY_OPTIONAL, COORD},
  {NULL, NULL, NULL, 0, 0}};

/* ---------------------------------------------------------------- the worker */

#define LEASE "interval '60 seconds'" /* longer than one attempt can take */
#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS 10000L
#define MAX_BACKOFF_MS 3600000LL
#define POLL_MS 1000
#define PRUNE_EVERY_S 3600

static struct worker {
  pthread_t thread;
  bool started, curl_ready;
  atomic_bool stop;
  atomic_llong backlog; /* pending deliveries at the last look, -1 before the first */
  atomic_llong oldest_ms; /* created_at of the oldest of them (Unix ms), 0 when none */
  long long looked_ms;    /* when the worker last counted them (CLOCK_MONOTONIC ms) */
  int wake[2];          /* webhooks_stop writes to wake[1] */
  const char *conninfo; /* borrowed from the app's configuration */
  int statement_timeout_ms;
  long long backoff_ms;
  long long max_attempts;
  bool listen;
  bool options; /* startup options; off with KOPPEL_DB_PREPARED=off, like the pool's */
  bool allow_private; /* KOPPEL_WEBHOOK_ALLOW_PRIVATE: deliver to non-public addresses too */
  PGconn *pg;
  CURL *curl;
} W = {.wake = {-1, -1}, .backlog = -1};

/* The worker's own connection (not from the request pool): the same
 * session settings as the pool's, and LISTEN unless switched off (LISTEN
 * does not work through pgbouncer in transaction mode; polling still does). */
static PGconn *worker_connect(void) {
  char opts[160];
  snprintf(opts, sizeof opts, "-c statement_timeout=%d -c TimeZone=UTC -c DateStyle=ISO",
           W.statement_timeout_ms);
  const char *keys[] = {"dbname", "application_name", "connect_timeout", "options", NULL};
  const char *vals[] = {W.conninfo, "koppel-webhooks", "3", opts, NULL};
  if (!W.options) keys[3] = NULL; /* a pooler refuses them: the database's settings hold (0011) */
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    return NULL;
  }
  if (W.listen) {
    PGresult *res = PQexec(c, "LISTEN koppel_webhooks");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
      PQfinish(c);
      return NULL;
    }
  }
  return c;
}

/* A statement on the worker's connection (unnamed, so pgbouncer in
 * transaction mode is fine). NULL and the connection dropped on failure. */
static PGresult *wexec(const char *sql, int n, const char *const *p) {
  PGresult *res = PQexecParams(W.pg, sql, n, NULL, p, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  log_error("", "webhooks: %s", res ? PQresultErrorMessage(res) : "out of memory");
  PQclear(res);
  if (PQstatus(W.pg) != CONNECTION_OK) {
    PQfinish(W.pg);
    W.pg = NULL;
  }
  return NULL;
}

/* Sleeps up to ms, or until a notification arrives or webhooks_stop wakes us. */
static void wait_for(int ms) {
  struct pollfd fds[2] = {{.fd = W.wake[0], .events = POLLIN}, {.fd = -1, .events = POLLIN}};
  if (W.pg && W.listen) {
    /* a notification that arrived during the last statement is already
     * buffered: poll would not see it */
    PQconsumeInput(W.pg);
    PGnotify *n = PQnotifies(W.pg);
    if (n) {
      do PQfreemem(n);
      while ((n = PQnotifies(W.pg)));
      return;
    }
    fds[1].fd = PQsocket(W.pg);
  }
  if (poll(fds, 2, ms) <= 0) return;
  if (fds[0].revents) {
    char buf[16];
    while (read(W.wake[0], buf, sizeof buf) > 0) {
    }
  }
  if (fds[1].fd >= 0 && fds[1].revents && W.pg) {
    PQconsumeInput(W.pg);
    PGnotify *n;
    while ((n = PQnotifies(W.pg))) PQfreemem(n);
  }
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud) {
  (void)ptr;
  (void)ud;
  return size * nmemb;
}

/* Aborts a transfer in flight when the process is stopping. */
static int stopping(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)ud;
  (void)a;
  (void)b;
  (void)c;
  (void)d;
  return atomic_load(&W.stop) ? 1 : 0;
}

/* "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" into out. */
static bool sign(const char *secret, const char *body, time_t t, char *out, size_t len) {
  char ts[24];
  int tn = snprintf(ts, sizeof ts, "%lld.", (long long)t);
  size_t bl = strlen(body);
  unsigned char *msg = malloc((size_t)tn + bl);
  if (!msg) return false;
  memcpy(msg, ts, (size_t)tn);
  memcpy(msg + tn, body, bl);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int ml = 0;
  bool ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, (size_t)tn + bl, mac, &ml) != NULL;
  free(msg);
  if (!ok || len < 40 + 2 * (size_t)ml) return false;
  size_t o = (size_t)snprintf(out, len, "t=%lld,v1=", (long long)t);
  for (unsigned int i = 0; i < ml; i++) o += (size_t)snprintf(out + o, len - o, "%02x", mac[i]);
  return true;
}

/* Opens curl's connection only to a public address (unless allowed): the
 * check at subscription time does not hold when DNS answers differently now. */
static curl_socket_t open_public(void *refused, curlsocktype purpose, struct curl_sockaddr *a) {
  if (purpose != CURLSOCKTYPE_IPCXN || (!W.allow_private && netguard_blocked(&a->addr))) {
    *(bool *)refused = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

struct outcome {
  long status;         /* the receiver's HTTP status, 0 when none */
  char error[256];     /* why it failed, "" on success */
  bool interrupted;    /* the process is stopping: not an attempt */
};

/* POSTs one event. 2xx is delivered; anything else (another status, a
 * redirect, a timeout, a refused connection) is a failed attempt. */
static void post_event(const char *id, const char *url, const char *secret, const char *type,
                       const char *body, struct outcome *o) {
  memset(o, 0, sizeof *o);
  char sig[160], h_sig[200], h_event[96], h_delivery[96], errbuf[CURL_ERROR_SIZE] = "";
  if (!sign(secret, body, time(NULL), sig, sizeof sig)) {
    snprintf(o->error, sizeof o->error, "could not sign the body");
    return;
  }
  snprintf(h_sig, sizeof h_sig, "X-Koppel-Signature: %s", sig);
  snprintf(h_event, sizeof h_event, "X-Koppel-Event: %s", type);
  snprintf(h_delivery, sizeof h_delivery, "X-Koppel-Delivery: %s", id);
  const char *lines[] = {"Content-Type: application/json", "User-Agent: Koppel-Webhooks/1", h_event,
                         h_delivery, h_sig, "Expect:", NULL};
  struct curl_slist *headers = NULL;
  for (int i = 0; lines[i]; i++) {
    struct curl_slist *h = curl_slist_append(headers, lines[i]);
    if (!h) {
      curl_slist_free_all(headers);
      snprintf(o->error, sizeof o->error, "out of memory");
      return;
    }
    headers = h;
  }
  CURL *c = W.curl;
  curl_easy_reset(c); /* keeps the connection cache: a receiver's connection is reused */
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stopping);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  bool refused = false;
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_public);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &refused);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &o->status);
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    o->interrupted = true;
    snprintf(o->error, sizeof o->error, "interrupted: the service stopped");
  } else if (rc != CURLE_OK && refused) {
    o->status = 0;
    snprintf(o->error, sizeof o->error, "refused: the target resolves to a non-public address "
                                        "(KOPPEL_WEBHOOK_ALLOW_PRIVATE=1 allows it)");
  } else if (rc != CURLE_OK) {
    o->status = 0;
    snprintf(o->error, sizeof o->error, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
  } else if (o->status < 200 || o->status > 299) {
    snprintf(o->error, sizeof o->error, "the receiver answered %ld", o->status);
  }
  curl_slist_free_all(headers);
}

static const char SQL_CLAIM[] =
  "WITH due AS (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
  "  WHERE d.status = 'pending' AND d.next_attempt_at <= clock_timestamp() AND w.active "
  "    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id "
  "      AND e.object_id = d.object_id AND e.status = 'pending' AND e.object_seq < d.object_seq) "
  "  ORDER BY d.next_attempt_at, d.seq LIMIT 1 FOR UPDATE OF d SKIP LOCKED) "
  "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = clock_timestamp(), "
  "  next_attempt_at = clock_timestamp() + " LEASE " "
  "FROM due, webhooks w, webhook_events e WHERE d.id = due.id AND w.id = d.webhook_id AND e.id = d.event_id "
  "RETURNING d.id, d.attempts, w.target_url, w.secret, e.type, e.body";

/* Claims and sends one due delivery: 1 when one was attempted, 0 when none
 * is due, -1 on a database error. */
static int deliver_one(void) {
  static const char sql_ok[] =
    "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = clock_timestamp(), "
    "  next_attempt_at = NULL, last_status_code = $2, last_error = NULL WHERE id = $1 AND status = 'pending'";
  static const char sql_fail[] =
    "UPDATE webhook_deliveries SET last_status_code = $2, last_error = $3, "
    "  status = CASE WHEN attempts >= $4::int THEN 'failed' ELSE 'pending' END, "
    "  next_attempt_at = CASE WHEN attempts >= $4::int THEN NULL "
    "    ELSE clock_timestamp() + $5::bigint * interval '1 millisecond' END "
    "WHERE id = $1 AND status = 'pending'";
  static const char sql_undo[] =
    "UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = clock_timestamp() "
    "WHERE id = $1 AND status = 'pending'";
  PGresult *claim = wexec(SQL_CLAIM, 0, NULL);
  if (!claim) return -1;
  if (PQntuples(claim) == 0) {
    PQclear(claim);
    return 0;
  }
  const char *id = PQgetvalue(claim, 0, 0);
  long long attempt = atoll(PQgetvalue(claim, 0, 1));
  const char *type = PQgetvalue(claim, 0, 4);
  struct outcome o;
  post_event(id, PQgetvalue(claim, 0, 2), PQgetvalue(claim, 0, 3), type, PQgetvalue(claim, 0, 5), &o);
  char code[16], max[16], delay[24];
  snprintf(code, sizeof code, "%ld", o.status);
  snprintf(max, sizeof max, "%lld", W.max_attempts);
  long long ms = W.backoff_ms;
  for (long long i = 1; i < attempt && ms < MAX_BACKOFF_MS; i++) ms *= 2;
  if (ms > MAX_BACKOFF_MS) ms = MAX_BACKOFF_MS;
  snprintf(delay, sizeof delay, "%lld", ms);
  PGresult *res;
  if (o.interrupted) {
    const char *p[] = {id};
    res = wexec(sql_undo, 1, p);
  } else if (!*o.error) {
    const char *p[] = {id, code};
    res = wexec(sql_ok, 2, p);
  } else {
    const char *p[] = {id, o.status ? code : NULL, o.error, max, delay};
    res = wexec(sql_fail, 5, p);
  }
  log_info("webhook delivery %s (%s) attempt %lld: %s", id, type, attempt,
           o.interrupted ? "interrupted" : *o.error ? o.error : "delivered");
  bool recorded = res != NULL;
  PQclear(res);
  PQclear(claim);
  return recorded ? 1 : -1;
}

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

/* Milliseconds until the next delivery is due (at most POLL_MS), and the
 * backlog for /metrics: pending deliveries and the oldest one's creation. */
static int next_wait(void) {
  static const char sql[] =
    "SELECT (SELECT ceil(extract(epoch FROM min(d.next_attempt_at) - clock_timestamp()) * 1000)::bigint "
    "          FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
    "         WHERE d.status = 'pending' AND w.active AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e "
    "           WHERE e.webhook_id = d.webhook_id AND e.object_id = d.object_id AND e.status = 'pending' "
    "             AND e.object_seq < d.object_seq)), p.n, p.oldest "
    "  FROM (SELECT count(*) AS n, coalesce(floor(extract(epoch FROM min(created_at)) * 1000), 0)::bigint AS oldest "
    "          FROM webhook_deliveries WHERE status = 'pending') p";
  PGresult *res = wexec(sql, 0, NULL);
  if (!res) return POLL_MS;
  long long ms = PQgetisnull(res, 0, 0) ? POLL_MS : atoll(PQgetvalue(res, 0, 0));
  atomic_store(&W.oldest_ms, atoll(PQgetvalue(res, 0, 2)));
  atomic_store(&W.backlog, atoll(PQgetvalue(res, 0, 1)));
  W.looked_ms = mono_ms();
  PQclear(res);
  /* at least 10 ms: a due delivery another replica holds must not make us spin */
  return ms < 10 ? 10 : ms > POLL_MS ? POLL_MS : (int)ms;
}

/* Events older than 30 days with nothing pending go, with their deliveries. */
static void prune(void) {
  static const char sql[] =
    "DELETE FROM webhook_events e WHERE e.occurred_at < clock_timestamp() - interval '30 days' "
    "  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')";
  PQclear(wexec(sql, 0, NULL));
}

static void *worker_main(void *arg) {
  (void)arg;
  time_t last_prune = 0;
  int down_ms = 0; /* while the database is unreachable: 250 ms doubling to 30 s */
  while (!atomic_load(&W.stop)) {
    if (!W.pg) {
      W.pg = worker_connect();
      if (!W.pg) {
        if (down_ms == 0) log_error("", "webhooks: cannot reach the database; retrying");
        down_ms = down_ms ? (down_ms >= 15000 ? 30000 : down_ms * 2) : 250;
        wait_for(down_ms);
        continue;
      }
      if (down_ms) log_info("webhooks: connected to the database again");
      down_ms = 0;
    }
    if (time(NULL) - last_prune >= PRUNE_EVERY_S) {
      prune();
      last_prune = time(NULL);
    }
    int n = deliver_one();
    /* while busy, still count the backlog about once a second */
    if (n > 0 && W.pg && mono_ms() - W.looked_ms >= POLL_MS) next_wait();
    if (n > 0 || !W.pg) continue;
    wait_for(n < 0 ? POLL_MS : next_wait());
  }
  PQfinish(W.pg);
  W.pg = NULL;
  return NULL;
}

/* An integer setting from the environment in [min, max], or def when unset. */
static bool env_int(const char *name, long long min, long long max, long long def, long long *out) {
  const char *v = getenv(name);
  *out = def;
  if (!v || !*v) return true;
  if (v_strtonum(v, min, max, out)) return true;
  log_error("", "configuration error: %s must be an integer from %lld to %lld, got '%s'", name, min, max, v);
  return false;
}

int webhooks_start(struct app *app) {
  routes_add(routes);
  long long listen = 1;
  const char *l = getenv("KOPPEL_WEBHOOK_LISTEN");
  if (l && *l) {
    if (strcmp(l, "on") == 0) listen = 1;
    else if (strcmp(l, "off") == 0) listen = 0;
    else {
      log_error("", "configuration error: KOPPEL_WEBHOOK_LISTEN must be on or off, got '%s'", l);
      return -1;
    }
  }
  if (!env_int("KOPPEL_WEBHOOK_BACKOFF_MS", 1, MAX_BACKOFF_MS, 1000, &W.backoff_ms) ||
      !env_int("KOPPEL_WEBHOOK_MAX_ATTEMPTS", 1, 100, 20, &W.max_attempts))
    return -1;
  W.listen = listen != 0;
  W.options = app->cfg.db_prepared;
  W.allow_private = app->cfg.webhook_allow_private;
  W.conninfo = app->cfg.database_url;
  W.statement_timeout_ms = app->cfg.statement_timeout_ms;
  /* before any other thread runs: curl_global_init is not thread-safe */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    log_error("", "webhooks: could not initialise libcurl");
    return -1;
  }
  W.curl_ready = true;
  if (!(W.curl = curl_easy_init()) || pipe2(W.wake, O_CLOEXEC | O_NONBLOCK) != 0 ||
      pthread_create(&W.thread, NULL, worker_main, NULL) != 0) {
    log_error("", "webhooks: could not start the delivery worker");
    return -1;
  }
  W.started = true;
  return 0;
}

void webhooks_stop(void) {
  if (W.started) {
    atomic_store(&W.stop, true);
    ssize_t w = write(W.wake[1], "x", 1);
    (void)w;
    pthread_join(W.thread, NULL);
    W.started = false;
  }
  for (int i = 0; i < 2; i++)
    if (W.wake[i] >= 0) {
      close(W.wake[i]);
      W.wake[i] = -1;
    }
  if (W.curl) curl_easy_cleanup(W.curl);
  W.curl = NULL;
  if (W.curl_ready) curl_global_cleanup();
  W.curl_ready = false;
}

long long webhooks_backlog(void) { return atomic_load(&W.backlog); }

double webhooks_oldest_pending_seconds(void) {
  long long oldest = atomic_load(&W.oldest_ms);
  if (atomic_load(&W.backlog) <= 0 || oldest <= 0) return 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double age = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - (double)oldest / 1000.0;
  return age > 0 ? age : 0;
}
