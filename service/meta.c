#include "service/meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "service/migrate.h"

static void health(struct req *r) { reply_json_text(r, 200, "{\"status\":\"ok\"}", false); }

static void ready(struct req *r) {
  static const char sql[] = "SELECT 1";
  r->db = db_acquire(r->app->pool);
  PGresult *res = r->db ? db_exec(r->db, sql, 0, NULL) : NULL;
  bool ok = res && db_ok(res);
  PQclear(res);
  if (ok) reply_json_text(r, 200, "{\"status\":\"ready\",\"database\":\"ok\"}", false);
  else reply_problem(r, 503, "the database is not reachable");
}

static void openapi(struct req *r) {
  const struct embedded_file *f = embedded_find("./openapi.yaml");
  if (!f) {
    reply_problem(r, 404, "the contract is not built into this binary");
    return;
  }
  reply_raw(r, 200, "application/yaml", f->data, f->len);
}

static void docs(struct req *r) {
  const struct embedded_file *f = embedded_find("./docs.html");
  if (!f) {
    reply_problem(r, 404, "the HTML reference is not built into this binary");
    return;
  }
  set_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  reply_raw(r, 200, "text/html; charset=utf-8", f->data, f->len);
}

/* The webhook backlog as the delivery worker last counted it (about once a
 * second): the same database-wide figure on every replica, so /metrics
 * never waits for the database. Nothing before the worker's first look. */
static char *webhook_metrics(void) {
  long long backlog = webhooks_backlog();
  if (backlog < 0) return strdup("");
  char *out = NULL;
  if (asprintf(&out,
               "# HELP koppel_webhook_backlog Webhook deliveries not yet delivered nor given up (all replicas).\n"
               "# TYPE koppel_webhook_backlog gauge\n"
               "koppel_webhook_backlog %lld\n"
               "# HELP koppel_webhook_oldest_pending_seconds Age of the oldest of those deliveries, 0 when none.\n"
               "# TYPE koppel_webhook_oldest_pending_seconds gauge\n"
               "koppel_webhook_oldest_pending_seconds %.3f\n",
               backlog, webhooks_oldest_pending_seconds()) < 0)
    return NULL;
  return out;
}

static void metrics(struct req *r) {
  char *text = metrics_render(r->app);
  char *hooks = webhook_metrics();
  size_t a = text ? strlen(text) : 0, b = hooks ? strlen(hooks) : 0;
  char *all = text && hooks ? malloc(a + b + 1) : NULL;
  if (!all) {
    free(text);
    free(hooks);
    reply_problem(r, 500, "out of memory");
    return;
  }
  memcpy(all, text, a);
  memcpy(all + a, hooks, b + 1);
  reply_raw(r, 200, "text/plain; version=0.0.4", all, a + b);
  free(all);
  free(text);
  free(hooks);
}

static const struct route routes[] = {
  {"GET", "/health", health, R_PUBLIC | R_NO_RATE_LIMIT, 0},
  {"GET", "/ready", ready, R_PUBLIC | R_NO_RATE_LIMIT, 0},
  {"GET", "/openapi.yaml", openapi, R_PUBLIC, 0},
  {"GET", "/docs", docs, R_PUBLIC, 0},
  {"GET", "/metrics", metrics, R_PUBLIC | R_NO_RATE_LIMIT, 0},
  {NULL, NULL, NULL, 0, 0}};

void meta_register(void) { routes_add(routes); }
