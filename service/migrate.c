#include "service/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/validate.h"

const struct embedded_file *embedded_find(const char *name) {
  for (const struct embedded_file *f = embedded_files; f->name; f++)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

static PGconn *open_db(const char *conninfo) {
  PGconn *c = PQconnectdb(conninfo);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "koppel: cannot connect to the database: %s", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  PQclear(PQexec(c, "SET client_min_messages = warning"));
  return c;
}

static int exec_ok(PGconn *c, const char *sql, const char *what) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType s = PQresultStatus(r);
  int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  if (!ok) fprintf(stderr, "koppel: %s failed: %s", what, PQerrorMessage(c));
  PQclear(r);
  return ok ? 0 : -1;
}

/* Version number of a migration file name "sql/0003_x.sql", or -1. */
static long long version_of(const char *name) {
  if (strncmp(name, "sql/", 4) != 0) return -1;
  char digits[5];
  memcpy(digits, name + 4, 4);
  digits[4] = 0;
  long long v;
  if (name[8] != '_' || !v_strtonum(digits, 1, 9999, &v)) return -1;
  return v;
}

int migrate_run(const char *conninfo) {
  PGconn *c = open_db(conninfo);
  if (!c) return -1;
  int rc = -1;
  PGresult *r = NULL;
  if (exec_ok(c,
              "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
              "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
              "creating schema_migrations") ||
      exec_ok(c, "SELECT pg_advisory_lock(727272)", "taking the migration lock"))
    goto out;

  long long newest_known = 0;
  for (const struct embedded_file *f = embedded_files; f->name; f++)
    if (version_of(f->name) > newest_known) newest_known = version_of(f->name);
  r = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) goto out;
  long long newest_db = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  r = NULL;
  if (newest_db > newest_known) {
    fprintf(stderr,
            "koppel: the database has migration %04lld but this binary knows only up to %04lld; "
            "refusing to run an older binary against a newer schema\n",
            newest_db, newest_known);
    goto out;
  }
  int applied = 0;
  for (const struct embedded_file *f = embedded_files; f->name; f++) {
    long long v = version_of(f->name);
    if (v < 0) continue;
    char vs[16];
    snprintf(vs, sizeof vs, "%lld", v);
    const char *p[] = {vs, f->name + 4};
    r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, p, NULL, NULL, 0);
    int seen = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    r = NULL;
    if (seen) continue;
    if (exec_ok(c, "BEGIN", "BEGIN") || exec_ok(c, f->data, f->name)) {
      exec_ok(c, "ROLLBACK", "ROLLBACK");
      goto out;
    }
    r = PQexecParams(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, NULL, p,
                     NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    r = NULL;
    if (!ok || exec_ok(c, "COMMIT", "COMMIT")) goto out;
    printf("koppel: applied %s\n", f->name);
    applied++;
  }
  printf("koppel: schema is at %04lld (%d migration%s applied now)\n",
         newest_db > newest_known ? newest_db : newest_known, applied, applied == 1 ? "" : "s");
  rc = 0;
out:
  PQclear(r);
  PQclear(PQexec(c, "SELECT pg_advisory_unlock(727272)"));
  PQfinish(c);
  return rc;
}

int seed_demo(const char *conninfo) {
  PGconn *c = open_db(conninfo);
  if (!c) return -1;
  int rc = 0;
  for (const struct embedded_file *f = embedded_files; f->name && rc == 0; f++) {
    if (strncmp(f->name, "demo/", 5) != 0) continue;
    if (exec_ok(c, "BEGIN", "BEGIN") || exec_ok(c, f->data, f->name) || exec_ok(c, "COMMIT", "COMMIT"))
      rc = -1;
    else printf("koppel: loaded %s\n", f->name);
  }
  PQfinish(c);
  return rc;
}
