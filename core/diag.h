/* diag: a list of FILE:LINE problems found while loading a configuration,
 * printed by --check-config and logged by a rejected reload. */
#ifndef WARMD_DIAG_H
#define WARMD_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag {
	enum diag_severity sev;
	char *file;
	int line; /* 0 when unknown */
	char *text;
};

struct diags {
	struct diag *v;
	size_t n, cap;
	size_t errors, warnings;
};

void diags_add(struct diags *d, enum diag_severity sev, const char *file, int line, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
/* Formats item i as "FILE:LINE: error: text" into out. */
void diag_format(const struct diag *g, char *out, size_t n);
void diags_print(const struct diags *d, FILE *f);
/* The first error, formatted, or "" when there is none. */
void diags_first_error(const struct diags *d, char *out, size_t n);
void diags_free(struct diags *d);

#endif
