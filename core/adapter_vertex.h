/* adapter_vertex: Claude on Google Cloud's Vertex AI, rawPredict (no I/O). */
#ifndef WARMD_ADAPTER_VERTEX_H
#define WARMD_ADAPTER_VERTEX_H

#include "adapter.h"

#define VERTEX_ANTHROPIC_VERSION "vertex-2023-10-16"

extern const struct adapter_ops adapter_vertex_ops;

/* "/v1/projects/P/locations/R/publishers/anthropic/models/M:rawPredict",
 * each name path-encoded (malloc'd, never NULL). */
char *adapter_vertex_path(const char *project, const char *region, const char *model);

#endif
