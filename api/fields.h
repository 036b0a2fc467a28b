/* The field tables of the request bodies (api/fields.c): what each module
 * checks its JSON bodies against with fields_check / fields_check_patch
 * (service/jsonutil.h), shared with the libFuzzer target tests/fuzz/fuzz_body.c.
 * Every table ends with an entry whose name is NULL. Survey tables: api/survey_check.h;
 * the rules across fields: api/checks.h. */
#ifndef KOPPEL_FIELDS_H
#define KOPPEL_FIELDS_H
#include <stdbool.h>

#include "service/jsonutil.h"

/* A certificate kind: 1 to 64 of a-z, 0-9 and _. */
bool certificate_kind_ok(const char *s);

/* Lists a module also filters by (query parameters); NULL-terminated. */
extern const char *const activity_kinds[];
extern const char *const activity_audiences[];
extern const char *const participant_kinds[];
extern const char *const participant_statuses[];
extern const char *const partner_kinds[];
extern const char *const programme_statuses[];
extern const char *const staff_roles[];
extern const char *const training_modes[];

extern const struct field activity_fields[];              /* POST /v1/activities */
extern const struct field activity_patch_fields[];        /* PATCH /v1/activities/{id} */
extern const struct field activity_registration_fields[]; /* POST /v1/activities/{id}/registrations */
extern const struct field certificate_fields[];           /* POST /v1/participants/{id}/certificates */
extern const struct field feedback_fields[];              /* POST /v1/pairs/{id}/feedback */
extern const struct field meeting_fields[];               /* meetings: POST, PATCH */
extern const struct field outcome_fields[];               /* outcomes: POST, PATCH */
extern const struct field pair_proposal_fields[];         /* POST /v1/pairs */
extern const struct field pair_change_fields[];           /* PATCH /v1/pairs/{id} */
extern const struct field pair_decline_fields[];          /* POST /v1/pairs/{id}/decline */
extern const struct field pair_close_fields[];            /* POST /v1/pairs/{id}/close */
extern const struct field pair_note_fields[];             /* POST /v1/pairs/{id}/notes */
extern const struct field participant_fields[];           /* participants: POST, PATCH, batch items */
extern const struct field participant_batch_fields[];     /* POST /v1/participants/batch (the wrapper) */
extern const struct field partner_fields[];               /* partners: POST, PATCH */
extern const struct field programme_fields[];             /* programmes: POST, PATCH */
extern const struct field programme_match_weights[];      /* programme_fields' rules.match_weights */
extern const struct field programme_topics_fields[];      /* PUT /v1/programmes/{id}/topics */
extern const struct field staff_fields[];                 /* POST /v1/staff; PATCH: staff_fields + 1 (no id) */
extern const struct field training_fields[];              /* POST /v1/trainings */
extern const struct field training_patch_fields[];        /* PATCH /v1/trainings/{id} */
extern const struct field training_enrolment_fields[];    /* POST /v1/trainings/{id}/enrolments */
extern const struct field webhook_fields[];               /* webhooks: POST, PATCH */

#endif
