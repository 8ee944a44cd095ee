/* fuzz_jsonx: strict JSON parsing and faithful serialisation (common/jsonx.c),
 * which every JSON input of warmd goes through (control requests, provider
 * answers, templates, the state file), and the number printers that write
 * status and the state file.
 *
 * Properties: whatever parses serialises to JSON that parses again and
 * serialises to the same bytes; whatever the printers write (any time, any
 * amount of money, any double) is JSON that warmd itself reads back. */
#include <math.h>

#include "fuzz.h"
#include "jsonx.h"

static void round_trip(const char *s, size_t len, int depth)
{
	json_object *o = NULL, *o2 = NULL;
	struct errmsg e;
	const char *d1, *d2;
	size_t l1, l2;
	char *copy;

	e.text[0] = '\0';
	if (jsonx_parse(s, len, depth, &o, &e) < 0) {
		if (!e.text[0] || o)
			abort();
		return;
	}
	jsonx_check_ranges(o, &e);
	d1 = jsonx_dump(o, &l1);
	copy = malloc(l1 + 1);
	if (!copy)
		abort();
	memcpy(copy, d1, l1 + 1);
	if (jsonx_parse(copy, l1, depth, &o2, &e) < 0)
		abort(); /* we wrote something we refuse to read */
	d2 = jsonx_dump(o2, &l2);
	if (l1 != l2 || memcmp(copy, d2, l1) != 0)
		abort(); /* not stable: a value changed on the way */
	free(copy);
	json_object_put(o2);
	json_object_put(o);
}

/* The printers, fed with the input's bytes as numbers. */
static void printers(const uint8_t *data, size_t size)
{
	json_object *o, *back = NULL, *v;
	struct errmsg e;
	double d;
	int64_t i;
	const char *s;
	size_t len;

	if (size < sizeof(d) + sizeof(i))
		return;
	memcpy(&d, data, sizeof(d));
	memcpy(&i, data + sizeof(d), sizeof(i));
	o = json_object_new_object();
	jsonx_add_time(o, "time", d);
	jsonx_add_double(o, "double", d);
	jsonx_add_usd(o, "usd", i);
	jsonx_add_int(o, "int", i);
	s = jsonx_dump(o, &len);
	if (jsonx_parse(s, len, 0, &back, &e) < 0)
		abort();
	v = jsonx_get(back, "time");
	if (v && (!json_object_is_type(v, json_type_double) ||
	          !(fabs(json_object_get_double(v) - d) <= 0.0005 + fabs(d) * 1e-15)))
		abort(); /* a time reads back as itself, to the millisecond (and float noise) */
	v = jsonx_get(back, "double");
	if (v && json_object_get_double(v) != d)
		abort(); /* the shortest form that reads back exactly */
	v = jsonx_get(back, "usd");
	if (!v || fabs(json_object_get_double(v) - (double)i / 1e12) >
	                  1e-6 * fmax(1, fabs((double)i / 1e12) * 1e-9))
		abort();
	json_object_put(back);
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	round_trip((const char *)data, size, 0);
	round_trip((const char *)data, size, 4);
	printers(data, size);
	return 0;
}
