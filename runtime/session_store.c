/* session_store: the request bodies of sessions on disk. */
#include "session_store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "xalloc.h"

#define SUFFIX ".json"

/* One body the store knows: held by sessions, or released and waiting for
 * a state file without it. */
struct entry {
	char hash[65];
	unsigned refs;
	bool saved;           /* its file is written */
	bool doomed;          /* nobody holds it: deleted after a later commit */
	unsigned released_at; /* the epoch handed out last when it was released */
};

/* One write or deletion, in the order asked. */
struct job {
	uv_work_t work;
	struct session_store *s;
	struct job *next;
	bool write;
	char hash[65];
	char *data; /* the body (a write), or NULL */
	size_t len;
	char path[PATH_MAX], tmp[PATH_MAX + 64]; /* dir is short enough (open) */
	int err;
	struct errmsg e;
};

struct session_store {
	uv_loop_t *loop;
	char *dir;
	session_store_saved_fn saved;
	void *data;
	struct entry **v; /* sorted by hash */
	size_t n, cap;
	struct job *head, *tail; /* not started yet */
	struct job *running;     /* with a worker, or NULL */
	bool closing;
	unsigned epoch, seq;
	int last_err; /* so that a failing disk is logged once, not per body */
};

bool session_store_hash_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* The slot of hash in s->v (found or where it would go), by bisection. */
static size_t find_slot(const struct session_store *s, const char *hash, bool *ret_found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->v[mid]->hash, hash);
		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

static struct entry *find(const struct session_store *s, const char *hash)
{
	bool found;
	size_t i = find_slot(s, hash, &found);

	return found ? s->v[i] : NULL;
}

static struct entry *add_entry(struct session_store *s, const char *hash)
{
	bool found;
	size_t i = find_slot(s, hash, &found);
	struct entry *en;

	if (found)
		return s->v[i];
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	en = xcalloc(1, sizeof(*en));
	text_copy(en->hash, sizeof(en->hash), hash);
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i] = en;
	s->n++;
	return en;
}

static void remove_entry(struct session_store *s, const char *hash)
{
	bool found;
	size_t i = find_slot(s, hash, &found);

	if (!found)
		return;
	free(s->v[i]);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

static void body_path(const struct session_store *s, const char *hash, char *out, size_t n)
{
	snprintf(out, n, "%s/%s" SUFFIX, s->dir, hash);
}

int session_store_open(uv_loop_t *loop, const char *dir, session_store_saved_fn saved, void *data,
                       struct session_store **ret, struct errmsg *e)
{
	struct session_store *s;
	struct stat st;

	if (strlen(dir) + 1 + 64 + sizeof(SUFFIX) + 32 >= PATH_MAX)
		return errmsg_set(e, -ENAMETOOLONG, "session directory %s: path too long", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return errmsg_set(e, -errno, "cannot create the session directory %s: %s", dir,
		                  strerror(errno));
	if (lstat(dir, &st) < 0)
		return errmsg_set(e, -errno, "session directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return errmsg_set(e, -ENOTDIR, "session directory %s is not a directory", dir);
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->dir = xstrdup(dir);
	s->saved = saved;
	s->data = data;
	*ret = s;
	return 0;
}

static void job_free(struct job *j)
{
	free(j->data);
	free(j);
}

static void store_free(struct session_store *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->dir);
	free(s);
}

void session_store_close(struct session_store *s)
{
	struct job *j, *next;

	if (!s)
		return;
	s->closing = true;
	for (j = s->head; j; j = next) {
		next = j->next;
		job_free(j);
	}
	s->head = s->tail = NULL;
	if (!s->running)
		store_free(s);
}

/* ---- the jobs, one at a time ---- */

/* The job's file work (on a worker, or on the loop at shutdown). */
static void job_run(struct job *j)
{
	if (!j->write) {
		if (unlink(j->path) < 0 && errno != ENOENT)
			j->err = errmsg_set(&j->e, -errno, "cannot delete %s: %s", j->path,
			                    strerror(errno));
		return;
	}
	j->err = fileio_write_tmp(j->tmp, j->data, j->len, 0600, &j->e);
	if (j->err == 0)
		j->err = fileio_commit(j->tmp, j->path, &j->e);
}

static void work_cb(uv_work_t *w)
{
	job_run(w->data);
}

static void next_job(struct session_store *s);

/* What a finished job means, on the loop. */
static void job_done(struct session_store *s, struct job *j)
{
	struct entry *en = find(s, j->hash);

	if (j->err < 0 && j->err != s->last_err)
		log_warning("session body not %s: %s", j->write ? "saved" : "deleted", j->e.text);
	else if (j->err == 0 && s->last_err < 0)
		log_notice("session bodies are saved to %s again", s->dir);
	s->last_err = j->err;
	if (!j->write || j->err < 0 || !en || en->saved)
		return;
	en->saved = true;
	if (s->saved)
		s->saved(s->data, j->hash);
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct session_store *s = j->s;

	if (status < 0 && j->err == 0) /* cancelled: never ran */
		j->err = errmsg_set(&j->e, status, "%s: not written (%s)", j->path,
		                    uv_strerror(status));
	s->running = NULL;
	if (s->closing) {
		job_free(j);
		store_free(s);
		return;
	}
	job_done(s, j);
	job_free(j);
	next_job(s);
}

static void next_job(struct session_store *s)
{
	struct job *j = s->head;

	if (s->running || !j)
		return;
	s->head = j->next;
	if (!s->head)
		s->tail = NULL;
	s->running = j;
	if (uv_queue_work(s->loop, &j->work, work_cb, after_work_cb) < 0) {
		job_run(j); /* no worker: on the loop rather than not at all */
		after_work_cb(&j->work, 0);
	}
}

static void queue(struct session_store *s, bool write, const char *hash, const char *data,
                  size_t len)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->work.data = j;
	j->write = write;
	text_copy(j->hash, sizeof(j->hash), hash);
	body_path(s, hash, j->path, sizeof(j->path));
	/* A name of its own: the shutdown flush may write the same body meanwhile. */
	snprintf(j->tmp, sizeof(j->tmp), "%s.tmp.%ld.%u", j->path, (long)getpid(), s->seq++);
	if (write) {
		j->data = xmalloc(len ? len : 1);
		memcpy(j->data, data, len);
		j->len = len;
	}
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	next_job(s);
}

/* ---- holding and releasing ---- */

void session_store_hold(struct session_store *s, const char *hash, const char *data, size_t len)
{
	struct entry *en;

	if (!s)
		return;
	en = add_entry(s, hash);
	en->refs++;
	en->doomed = false;
	if (en->refs > 1 || en->saved)
		return;
	if (!data) { /* the file is there: it was just read */
		en->saved = true;
		return;
	}
	/* A write of this body may be queued already (held, released, held
	 * again): another one costs a rename, and keeps the order simple. */
	queue(s, true, hash, data, len);
}

void session_store_release(struct session_store *s, const char *hash)
{
	struct entry *en;

	if (!s || !(en = find(s, hash)) || en->refs == 0)
		return;
	if (--en->refs > 0)
		return;
	en->doomed = true;
	en->released_at = s->epoch;
}

bool session_store_saved(const struct session_store *s, const char *hash)
{
	const struct entry *en = s ? find(s, hash) : NULL;

	return en && en->refs > 0 && en->saved;
}

unsigned session_store_epoch(struct session_store *s)
{
	return s ? ++s->epoch : 0;
}

void session_store_committed(struct session_store *s, unsigned epoch)
{
	size_t i = 0;

	if (!s || s->closing)
		return;
	while (i < s->n) {
		struct entry *en = s->v[i];
		char hash[65];
		if (!en->doomed || en->refs > 0 || en->released_at >= epoch) {
			i++;
			continue;
		}
		/* The entry goes now: a later hold writes the body again, after
		 * this deletion (the jobs keep their order). */
		text_copy(hash, sizeof(hash), en->hash);
		remove_entry(s, hash);
		queue(s, false, hash, NULL, 0);
	}
}

int session_store_flush(struct session_store *s)
{
	struct job *j, *next, *run = NULL;
	int first = 0;

	if (!s)
		return 0;
	/* The job with a worker goes again here (under another temp name):
	 * its answer would come after the last state file. */
	if (s->running && s->running->write) {
		run = xcalloc(1, sizeof(*run));
		*run = *s->running;
		run->data = xmalloc(run->len ? run->len : 1);
		memcpy(run->data, s->running->data, run->len);
		snprintf(run->tmp, sizeof(run->tmp), "%s.tmp.%ld.%u", run->path, (long)getpid(),
		         s->seq++);
		run->next = s->head;
		s->head = run;
	}
	for (j = s->head; j; j = next) {
		next = j->next;
		job_run(j);
		if (j->err < 0 && first == 0)
			first = j->err;
		job_done(s, j);
		job_free(j);
	}
	s->head = s->tail = NULL;
	return first;
}

int session_store_read(const struct session_store *s, const char *hash, size_t cap, char **ret_data,
                       size_t *ret_len, struct errmsg *e)
{
	char path[PATH_MAX];

	body_path(s, hash, path, sizeof(path));
	return fileio_read(path, "session body", cap, ret_data, ret_len, e);
}

int session_store_clean(struct session_store *s)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (!s || !(d = opendir(s->dir)))
		return 0;
	while ((de = readdir(d))) {
		char hash[65], path[PATH_MAX];
		const char *dot = strchr(de->d_name, '.');
		bool ours = dot && dot - de->d_name == 64 &&
		            (strcmp(dot, SUFFIX) == 0 || strncmp(dot, SUFFIX ".tmp.", 10) == 0);
		const struct entry *en;

		if (!ours)
			continue; /* not a body's file: someone else's business */
		memcpy(hash, de->d_name, 64);
		hash[64] = '\0';
		if (!session_store_hash_valid(hash))
			continue;
		en = find(s, hash);
		if (strcmp(dot, SUFFIX) == 0 && en && en->refs > 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->dir, de->d_name);
		if (unlink(path) == 0)
			n++;
	}
	closedir(d);
	return n;
}
