/* fuzz: what the libFuzzer targets of tests/fuzz share.
 *
 * Each fuzz_*.c feeds libFuzzer's bytes to one parser of outside input, the
 * way warmd gets them (a socket line, a datagram, a response body, a file).
 * Targets abort() when an invariant the caller relies on breaks, so a wrong
 * answer counts as a crash just like a sanitizer report does. */
#ifndef WARMD_FUZZ_H
#define WARMD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a C string, in an allocation of exactly size + 1 bytes so
 * that ASan catches a read past the NUL. Bytes after an embedded NUL are
 * what a C-string API would never see anyway. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Hands data to an API that only takes a path: an anonymous memory file,
 * named by its /proc/self/fd path in path[64]. Returns the fd (close it
 * when done), or aborts: the harness, not the input, is broken then. */
static inline int fuzz_memfd(const char *name, const uint8_t *data, size_t size, char path[64])
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		abort();
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

/* Writes data to path (created or truncated), or aborts. */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "we");

	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

/* Sends what the code under test prints on stderr (logs) to /dev/null:
 * libFuzzer keeps the stream it captured at start, and the sanitizers
 * write their reports to fd 2, so crash reports still reach the log.
 * FUZZ_VERBOSE=1 keeps the logs (to see what a reproducer does). */
static inline void fuzz_quiet_stderr(void)
{
	FILE *null;

	if (getenv("FUZZ_VERBOSE"))
		return;
	null = fopen("/dev/null", "we");
	if (null)
		stderr = null;
}

#endif
