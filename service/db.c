#include "service/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PREPARED 512

struct db_conn {
  PGconn *pg;
  bool prepared_ok;              /* false behind a transaction-mode pooler */
  struct db_conn *next;          /* free list */
  const char *prepared[MAX_PREPARED]; /* open-addressed set of prepared SQL addresses */
  int nprepared;
};

struct db_pool {
  char *conninfo;
  int size, wait_ms;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct db_conn *free;
  struct db_conn *all;
  int in_use;
  int waiting;
  unsigned long timeouts;
};

static PGconn *connect_pg(const char *conninfo, int statement_timeout_ms, bool options) {
  char opts[256];
  /* Timeouts ride in the startup packet so they hold after every reconnect.
   * No JIT: these are short statements, and a generic plan's cost estimate
   * can pass jit_above_cost and spend hundreds of milliseconds compiling.
   * random_page_cost for a database in memory or on SSD: with the default
   * (4, for spinning disks) a programme's page of participants walked the
   * seq index through ten times the rows instead of (programme_id, seq). */
  snprintf(opts, sizeof opts,
           "-c statement_timeout=%d -c idle_in_transaction_session_timeout=%d -c TimeZone=UTC "
           "-c DateStyle=ISO -c jit=off -c random_page_cost=1.1",
           statement_timeout_ms, statement_timeout_ms * 4);
  const char *keys[] = {"dbname", "application_name", "connect_timeout", "options", NULL};
  const char *vals[] = {conninfo, "koppel", "3", opts, NULL};
  if (!options) keys[3] = NULL; /* poolers refuse startup options they do not know */
  return PQconnectdbParams(keys, vals, 1);
}

struct db_pool *db_pool_new(const char *conninfo, int size, int wait_ms, int statement_timeout_ms,
                            bool prepared) {
  struct db_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->conninfo = strdup(conninfo);
  p->size = size;
  p->wait_ms = wait_ms;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->all = calloc((size_t)size, sizeof *p->all);
  if (!p->all || !p->conninfo) {
    db_pool_free(p);
    return NULL;
  }
  for (int i = 0; i < size; i++) {
    p->all[i].pg = connect_pg(conninfo, statement_timeout_ms, prepared);
    p->all[i].prepared_ok = prepared;
    p->all[i].next = p->free;
    p->free = &p->all[i];
  }
  return p;
}

void db_pool_free(struct db_pool *p) {
  if (!p) return;
  if (p->all)
    for (int i = 0; i < p->size; i++) PQfinish(p->all[i].pg);
  free(p->all);
  free(p->conninfo);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

static void forget_prepared(struct db_conn *c) {
  memset(c->prepared, 0, sizeof c->prepared);
  c->nprepared = 0;
}

/* Makes sure c is connected; PQreset re-establishes a dropped connection. */
static bool healthy(struct db_conn *c) {
  if (PQstatus(c->pg) == CONNECTION_OK) return true;
  PQreset(c->pg);
  forget_prepared(c); /* prepared statements die with the old session */
  return PQstatus(c->pg) == CONNECTION_OK;
}

struct db_conn *db_acquire(struct db_pool *p) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += p->wait_ms / 1000;
  deadline.tv_nsec += (long)(p->wait_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&p->mu);
  p->waiting++;
  while (!p->free) {
    if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT && !p->free) {
      p->timeouts++;
      p->waiting--;
      pthread_mutex_unlock(&p->mu);
      return NULL;
    }
  }
  p->waiting--;
  struct db_conn *c = p->free;
  p->free = c->next;
  p->in_use++;
  pthread_mutex_unlock(&p->mu);
  if (!healthy(c)) {
    db_release(p, c);
    return NULL;
  }
  return c;
}

void db_release(struct db_pool *p, struct db_conn *c) {
  if (!c) return;
  PGTransactionStatusType ts = PQtransactionStatus(c->pg);
  if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
    PGresult *r = PQexec(c->pg, "ROLLBACK");
    PQclear(r);
  } else if (ts == PQTRANS_ACTIVE || ts == PQTRANS_UNKNOWN) {
    /* a connection left mid-command or broken: start it afresh next time */
    PQreset(c->pg);
    forget_prepared(c);
  }
  pthread_mutex_lock(&p->mu);
  c->next = p->free;
  p->free = c;
  p->in_use--;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

static size_t slot_of(const char *sql) {
  uintptr_t h = (uintptr_t)sql;
  h ^= h >> 17;
  h *= 0x9E3779B97F4A7C15ULL;
  return (size_t)(h >> 7) % MAX_PREPARED;
}

/* true if sql is already prepared on c; otherwise reserves its slot. */
static bool lookup_prepared(struct db_conn *c, const char *sql, bool *full) {
  size_t i = slot_of(sql);
  for (int probe = 0; probe < MAX_PREPARED; probe++, i = (i + 1) % MAX_PREPARED) {
    if (c->prepared[i] == sql) return true;
    if (!c->prepared[i]) return false;
  }
  *full = true;
  return false;
}

static void remember_prepared(struct db_conn *c, const char *sql) {
  size_t i = slot_of(sql);
  while (c->prepared[i]) i = (i + 1) % MAX_PREPARED;
  c->prepared[i] = sql;
  c->nprepared++;
}

static PGresult *exec_prepared(struct db_conn *c, const char *sql, int n, const char *const *params);

/* A connection can look fine until its first statement after a database
 * restart fails: outside a transaction nothing is lost by reconnecting and
 * running that statement once more, so the client never sees the restart. */
static bool retryable(struct db_conn *c, PGTransactionStatusType before, const PGresult *res) {
  if (db_ok(res) || before != PQTRANS_IDLE || PQstatus(c->pg) != CONNECTION_BAD) return false;
  return healthy(c);
}

PGresult *db_exec(struct db_conn *c, const char *sql, int n, const char *const *params) {
  PGTransactionStatusType before = PQtransactionStatus(c->pg);
  PGresult *res = exec_prepared(c, sql, n, params);
  if (retryable(c, before, res)) {
    PQclear(res);
    res = exec_prepared(c, sql, n, params);
  }
  return res;
}

static PGresult *exec_prepared(struct db_conn *c, const char *sql, int n, const char *const *params) {
  char name[32];
  snprintf(name, sizeof name, "k%lx", (unsigned long)(uintptr_t)sql);
  bool full = false;
  if (!c->prepared_ok) return db_exec_once(c, sql, n, params);
  if (!lookup_prepared(c, sql, &full)) {
    if (full || c->nprepared >= MAX_PREPARED / 2) return db_exec_once(c, sql, n, params);
    PGresult *pr = PQprepare(c->pg, name, sql, 0, NULL);
    bool ok = PQresultStatus(pr) == PGRES_COMMAND_OK;
    if (!ok) return pr; /* the caller sees the error (syntax, or an aborted transaction) */
    PQclear(pr);
    remember_prepared(c, sql);
  }
  return PQexecPrepared(c->pg, name, n, params, NULL, NULL, 0);
}

PGresult *db_exec_once(struct db_conn *c, const char *sql, int n, const char *const *params) {
  return PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);
}

bool db_ok(const PGresult *res) {
  ExecStatusType s = PQresultStatus(res);
  return res && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

const char *db_sqlstate(const PGresult *res) {
  const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  return s ? s : "";
}

bool db_begin(struct db_conn *c, const char *sub, const char *role, const char *request_id) {
  static const char sql[] =
    "SELECT set_config('koppel.actor', $1, true), set_config('koppel.role', $2, true), "
    "set_config('koppel.request_id', $3, true)";
  PGTransactionStatusType before = PQtransactionStatus(c->pg);
  PGresult *r = PQexec(c->pg, "BEGIN");
  if (retryable(c, before, r)) {
    PQclear(r);
    r = PQexec(c->pg, "BEGIN");
  }
  bool ok = db_ok(r);
  PQclear(r);
  if (!ok) return false;
  const char *p[] = {sub ? sub : "", role ? role : "", request_id ? request_id : ""};
  r = db_exec(c, sql, 3, p);
  ok = db_ok(r);
  PQclear(r);
  return ok;
}

bool db_commit(struct db_conn *c) {
  PGresult *r = PQexec(c->pg, "COMMIT");
  bool ok = db_ok(r) && strcmp(PQcmdStatus(r), "COMMIT") == 0;
  PQclear(r);
  return ok;
}

PGconn *db_pg(struct db_conn *c) { return c->pg; }

void db_pool_stats(struct db_pool *p, int *in_use, int *size, unsigned long *timeouts) {
  pthread_mutex_lock(&p->mu);
  *in_use = p->in_use;
  *size = p->size;
  *timeouts = p->timeouts;
  pthread_mutex_unlock(&p->mu);
}

int db_pool_waiting(struct db_pool *p) {
  pthread_mutex_lock(&p->mu);
  int w = p->waiting;
  pthread_mutex_unlock(&p->mu);
  return w;
}
