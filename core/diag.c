/* diag: a list of FILE:LINE problems found while loading a configuration. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void diags_add(struct diags *d, enum diag_severity sev, const char *file, int line, const char *fmt,
               ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	d->v[d->n].sev = sev;
	d->v[d->n].file = xstrdup(file ? file : "?");
	d->v[d->n].line = line;
	d->v[d->n].text = xstrdup(text);
	d->n++;
	if (sev == DIAG_ERROR)
		d->errors++;
	else
		d->warnings++;
}

void diag_format(const struct diag *g, char *out, size_t n)
{
	const char *sev = g->sev == DIAG_ERROR ? "error" : "warning";

	if (g->line > 0)
		snprintf(out, n, "%s:%d: %s: %s", g->file, g->line, sev, g->text);
	else
		snprintf(out, n, "%s: %s: %s", g->file, sev, g->text);
}

void diags_print(const struct diags *d, FILE *f)
{
	char line[1400];

	for (size_t i = 0; i < d->n; i++) {
		diag_format(&d->v[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
}

void diags_first_error(const struct diags *d, char *out, size_t n)
{
	out[0] = '\0';
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].sev == DIAG_ERROR) {
			diag_format(&d->v[i], out, n);
			return;
		}
	}
}

void diags_free(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].text);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}
