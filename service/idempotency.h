/* Idempotency-Key on POST: the first response is stored for 24 hours per key
 * and caller; a retry with the same key and request replays it without a
 * second effect; the same key with another request is 422; a retry while the
 * first is still running is 409. */
#ifndef KOPPEL_IDEMPOTENCY_H
#define KOPPEL_IDEMPOTENCY_H
#include <stdbool.h>
#include "service/http.h"

/* Before the handler. Returns true when the handler should run; then, if
 * *claimed is set, call idem_finish after it. Returns false when a reply
 * (replay or problem) was sent instead. */
bool idem_begin(struct req *r, bool *claimed);
/* Inside the handler's transaction, just before COMMIT: records that the
 * request took effect, atomically with the effect. false on a database error. */
bool idem_mark_effect(struct req *r);
/* After the handler: stores the response (or forgets the key after a 5xx). */
void idem_finish(struct req *r);

#endif
