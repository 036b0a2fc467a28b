#include "service/idempotency.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool key_ok(const char *k) {
  size_t n = strlen(k);
  if (n < 1 || n > 255) return false;
  for (size_t i = 0; i < n; i++)
    if (k[i] < 0x21 || k[i] > 0x7e) return false;
  return true;
}

/* SHA-256 (hex) of method, path and the request body in canonical form, so
 * the same JSON with other whitespace or key order counts as the same request. */
static void request_hash(struct req *r, char out[65]) {
  char *canon = r->body ? json_dumps(r->body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
    EVP_DigestUpdate(ctx, r->method, strlen(r->method));
    EVP_DigestUpdate(ctx, " ", 1);
    EVP_DigestUpdate(ctx, r->u->url_path, strlen(r->u->url_path));
    EVP_DigestUpdate(ctx, "\n", 1);
    if (canon) EVP_DigestUpdate(ctx, canon, strlen(canon));
    EVP_DigestFinal_ex(ctx, md, &len);
  }
  EVP_MD_CTX_free(ctx);
  free(canon);
  for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", i < len ? md[i] : 0);
  out[64] = 0;
}

static void subject_of(struct req *r, char *out, size_t len) {
  snprintf(out, len, "%s:%s", role_name(r->claims.role), r->claims.sub);
}

bool idem_begin(struct req *r, bool *claimed) {
  static const char sql_expire[] =
    "DELETE FROM idempotency_keys WHERE subject = $1 AND created_at < now() - interval '24 hours'";
  static const char sql_claim[] =
    "INSERT INTO idempotency_keys (subject, key, method, path, request_hash) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT DO NOTHING RETURNING 1";
  static const char sql_stored[] =
    "SELECT request_hash, completed_at IS NOT NULL, status, content_type, location, etag, body, "
    "  effect_committed, created_at < now() - $3::int * interval '1 millisecond' "
    "FROM idempotency_keys WHERE subject = $1 AND key = $2";
  /* A claim that is older than any request can run, whose request never
   * committed, belongs to a request that died (a crash): take it over. */
  static const char sql_takeover[] =
    "UPDATE idempotency_keys SET created_at = now() WHERE subject = $1 AND key = $2 "
    "AND completed_at IS NULL AND NOT effect_committed "
    "AND created_at < now() - $3::int * interval '1 millisecond' RETURNING 1";
  *claimed = false;
  const char *key = req_header(r, "Idempotency-Key");
  if (!key) return true;
  if (!key_ok(key)) {
    reply_problem(r, 400, "the Idempotency-Key header must be 1 to 255 visible ASCII characters");
    return false;
  }
  char subject[80], hash[65];
  subject_of(r, subject, sizeof subject);
  request_hash(r, hash);
  const char *p[] = {subject, key, r->method, r->u->url_path, hash};
  PGresult *res = req_exec(r, sql_expire, 1, p);
  if (!res) return false;
  PQclear(res);
  if (!(res = req_exec(r, sql_claim, 5, p))) return false;
  bool fresh = PQntuples(res) == 1;
  PQclear(res);
  if (fresh) {
    *claimed = true;
    return true;
  }
  /* no request runs longer than a few statement timeouts plus the pool wait */
  char lease[16];
  snprintf(lease, sizeof lease, "%d", 4 * r->app->cfg.statement_timeout_ms + r->app->cfg.pool_wait_ms);
  const char *sp[] = {subject, key, lease};
  if (!(res = req_exec(r, sql_stored, 3, sp))) return false;
  if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), hash) == 0 &&
      strcmp(PQgetvalue(res, 0, 1), "t") != 0 && strcmp(PQgetvalue(res, 0, 7), "t") != 0 &&
      strcmp(PQgetvalue(res, 0, 8), "t") == 0) {
    PQclear(res);
    if (!(res = req_exec(r, sql_takeover, 3, sp))) return false;
    bool taken = PQntuples(res) == 1;
    PQclear(res);
    if (taken) {
      *claimed = true;
      return true;
    }
    if (!(res = req_exec(r, sql_stored, 3, sp))) return false;
  }
  if (PQntuples(res) == 0) {
    /* expired and removed between our statements: treat as in progress */
    reply_problem(r, 409, "a request with this Idempotency-Key is being processed; retry shortly");
  } else if (strcmp(PQgetvalue(res, 0, 0), hash) != 0) {
    reply_problem(r, 422, "this Idempotency-Key was used with a different request (method, path or body)");
  } else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0 && strcmp(PQgetvalue(res, 0, 7), "t") == 0) {
    reply_problem(r, 409, "the first request with this Idempotency-Key took effect, but its response "
                          "was lost (the server stopped); read the resource instead of retrying");
  } else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
    set_header(r, "Retry-After", "1");
    reply_problem(r, 409, "the first request with this Idempotency-Key is still being processed");
  } else {
    if (!PQgetisnull(res, 0, 4)) set_header(r, "Location", PQgetvalue(res, 0, 4));
    if (!PQgetisnull(res, 0, 5)) set_header(r, "ETag", PQgetvalue(res, 0, 5));
    set_header(r, "Idempotent-Replayed", "true");
    int status = atoi(PQgetvalue(res, 0, 2));
    reply_raw(r, status, PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 6),
              (size_t)PQgetlength(res, 0, 6));
  }
  PQclear(res);
  return false;
}

bool idem_mark_effect(struct req *r) {
  static const char sql[] =
    "UPDATE idempotency_keys SET effect_committed = true WHERE subject = $1 AND key = $2";
  char subject[80];
  subject_of(r, subject, sizeof subject);
  const char *p[] = {subject, req_header(r, "Idempotency-Key")};
  PGresult *res = db_exec(r->db, sql, 2, p);
  bool ok = db_ok(res);
  PQclear(res);
  return ok;
}

void idem_finish(struct req *r) {
  static const char sql_forget[] =
    "DELETE FROM idempotency_keys WHERE subject = $1 AND key = $2 AND NOT effect_committed";
  static const char sql_store[] =
    "UPDATE idempotency_keys SET status = $3, content_type = $4, location = $5, etag = $6, body = $7, "
    "completed_at = now() WHERE subject = $1 AND key = $2";
  const char *key = req_header(r, "Idempotency-Key");
  if (!key || !r->db) return;
  PGconn *pg = db_pg(r->db);
  if (PQtransactionStatus(pg) != PQTRANS_IDLE) PQclear(PQexec(pg, "ROLLBACK"));
  char subject[80], status[8];
  subject_of(r, subject, sizeof subject);
  snprintf(status, sizeof status, "%d", r->status);
  PGresult *res;
  if (r->status >= 500 || r->status == 0) {
    /* nothing took effect: let a retry run (a request that did take effect
     * keeps its claim, and a retry learns that its response was lost) */
    const char *p[] = {subject, key};
    res = db_exec(r->db, sql_forget, 2, p);
  } else {
    size_t n = r->resp->binary_body_length;
    char *body = malloc(n + 1);
    if (!body) return;
    if (n) memcpy(body, r->resp->binary_body, n);
    body[n] = 0;
    const char *p[] = {subject, key, status, u_map_get_case(r->resp->map_header, "Content-Type"),
                       u_map_get_case(r->resp->map_header, "Location"),
                       u_map_get_case(r->resp->map_header, "ETag"), body};
    res = db_exec(r->db, sql_store, 7, p);
    free(body);
  }
  PQclear(res);
}
