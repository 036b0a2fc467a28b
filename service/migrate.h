/* Schema migrations (sql/NNNN_*.sql, embedded) and the demo data set. */
#ifndef KOPPEL_MIGRATE_H
#define KOPPEL_MIGRATE_H
#include "service/embedded.h"

/* Applies every migration the database has not seen, each in its own
 * transaction, recorded in schema_migrations. Refuses (returns -1) when the
 * database has a migration newer than this binary knows. 0 on success. */
int migrate_run(const char *conninfo);
/* Loads the demo programme (idempotent). 0 on success. */
int seed_demo(const char *conninfo);
/* The embedded file with that name, or NULL. Borrowed. */
const struct embedded_file *embedded_find(const char *name);

#endif
