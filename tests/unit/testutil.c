/* testutil: small helpers shared by the Check unit tests. */
#include "testutil.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_tmpdir(void)
{
	char tmpl[] = "/tmp/warmd-unit-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

char *tu_write(const char *dir, const char *name, const char *text)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	f = fopen(path, "w");
	if (!f) {
		free(path);
		return NULL;
	}
	fputs(text, f);
	fclose(f);
	return path;
}

char *tu_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
		free(data);
		data = NULL;
	}
	fclose(f);
	if (data) {
		data[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	return data;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmrf(const char *dir)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_fixture(const char *name, size_t *len)
{
	char path[512];
	char *s;

	snprintf(path, sizeof(path), "%s/%s", TEST_FIXTURES, name);
	s = tu_read(path, len);
	ck_assert_msg(s != NULL, "cannot read %s", path);
	return s;
}

char *tu_fixture_chomped(const char *name, size_t *len)
{
	size_t n;
	char *s = tu_fixture(name, &n);

	while (n && s[n - 1] == '\n')
		s[--n] = '\0';
	if (len)
		*len = n;
	return s;
}
