#include "service/meta.h"

#include <stdlib.h>
#include <string.h>

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

static void metrics(struct req *r) {
  char *text = metrics_render(r->app);
  if (!text) {
    reply_problem(r, 500, "out of memory");
    return;
  }
  reply_raw(r, 200, "text/plain; version=0.0.4", text, strlen(text));
  free(text);
}

static const struct route routes[] = {
  {"GET", "/health", health, R_PUBLIC, 0},
  {"GET", "/ready", ready, R_PUBLIC, 0},
  {"GET", "/openapi.yaml", openapi, R_PUBLIC, 0},
  {"GET", "/docs", docs, R_PUBLIC, 0},
  {"GET", "/metrics", metrics, R_PUBLIC, 0},
  {NULL, NULL, NULL, 0, 0}};

void meta_register(void) { routes_add(routes); }
