/* status_ref: the reference encoder of a target's status (status_ref.c). */
#ifndef WARMD_TEST_STATUS_REF_H
#define WARMD_TEST_STATUS_REF_H

#include <json-c/json.h>
#include <stdbool.h>

#include "target.h"

json_object *status_ref_tree(const struct target *t, double now, bool paused_all);

#endif
