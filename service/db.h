/* A fixed pool of libpq connections shared by the HTTP worker threads.
 * A connection belongs to one request at a time; statements are prepared
 * once per connection, keyed by the address of their static SQL text. */
#ifndef KOPPEL_DB_H
#define KOPPEL_DB_H
#include <libpq-fe.h>
#include <stdbool.h>

struct db_pool;
struct db_conn;

/* Opens size connections (those that fail are retried on acquire).
 * With prepared = false (a pooler in transaction mode such as pgbouncer sits
 * in between) no statement is prepared and no startup options are sent: set
 * statement_timeout on the database role instead. Returns NULL only on
 * allocation failure. */
struct db_pool *db_pool_new(const char *conninfo, int size, int wait_ms, int statement_timeout_ms,
                            bool prepared);
void db_pool_free(struct db_pool *pool);

/* A healthy connection, or NULL when none is free within wait_ms or the
 * database is unreachable (the caller answers 503). Give it back with db_release. */
struct db_conn *db_acquire(struct db_pool *pool);
/* Returns c to the pool; rolls back an open transaction, resets a broken one. */
void db_release(struct db_pool *pool, struct db_conn *c);

/* Runs a static statement (sql must be a string with static storage: its
 * address names the prepared statement) with text parameters (NULL = SQL NULL).
 * Returns the result, caller PQclears; NULL only when out of memory. */
PGresult *db_exec(struct db_conn *c, const char *sql, int nparams, const char *const *params);
/* A one-off statement without preparing (migrations, BEGIN/COMMIT). */
PGresult *db_exec_once(struct db_conn *c, const char *sql, int nparams, const char *const *params);

bool db_ok(const PGresult *res); /* PGRES_COMMAND_OK or PGRES_TUPLES_OK */
/* BEGIN; sets the audit actor (sub, role, request id) for this transaction. */
bool db_begin(struct db_conn *c, const char *sub, const char *role, const char *request_id);
bool db_commit(struct db_conn *c);
PGconn *db_pg(struct db_conn *c);
/* SQLSTATE of a failed result, "" if none. */
const char *db_sqlstate(const PGresult *res);

/* Number of connections currently lent out, and total acquisitions that timed out. */
void db_pool_stats(struct db_pool *pool, int *in_use, int *size, unsigned long *timeouts);

/* Requests waiting for a free connection right now. */
int db_pool_waiting(struct db_pool *pool);

#endif
