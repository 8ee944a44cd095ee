/* testutil: small helpers shared by the Check unit tests. */
#ifndef WARMD_TESTUTIL_H
#define WARMD_TESTUTIL_H

#include <stddef.h>

/* Creates a fresh temporary directory and returns its path (static buffer per call: strdup it). */
char *tu_tmpdir(void);
/* Writes text to dir/name and returns the malloc'd full path. */
char *tu_write(const char *dir, const char *name, const char *text);
/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
char *tu_read(const char *path, size_t *len);
/* Removes dir and everything in it. */
void tu_rmrf(const char *dir);
/* Reads tests/fixtures/name whole (malloc'd, NUL-terminated, its length in
 * *len when len is not NULL); fails the test, naming the path, when it cannot. */
char *tu_fixture(const char *name, size_t *len);
/* The same without the newlines at its end (a file as an editor saves it,
 * for bytes compared with a body that ends with none). */
char *tu_fixture_chomped(const char *name, size_t *len);

#endif
