/* store_check: a clean store, a blob whose bytes changed (found, then
 * quarantined with repair and the name needing it dropped), leftovers of
 * dead writers, an index that does not parse, repair refused while
 * another handle holds the store lock. e2fsck runs in
 * tests/integration/system-check.sh, on real disks. */
#include "tests/lib/tap.h"
#include "tests/lib/check-report.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "store/store.h"
#include "util.h"

static char root[] = "/tmp/ucrt-store-check-XXXXXX";
static int put_file(const char *sub, const char *name, const char *data)
{
	_cleanup_free_ char *path = xasprintf("%s/%s/%s", root, sub, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, strlen(data));
	close(fd);
	return n < 0 ? -1 : 0;
}

int main(void)
{
	struct store *s;
	struct err e = { 0 };
	struct store_check_stats st;
	if (!mkdtemp(root) || store_open(&s, root, &e) < 0)
		t_skip_all("no store");
	char d[OCI_DIGEST_LEN + 1];
	t_is(store_blob_put(s, "hello", 5, NULL, d, &e), 1, "a blob");
	t_is(store_check(s, false, t_report(), &st, &e), 0, "check runs");
	t_ok(st.blobs == 1 && t_rep.problems == 0, "a clean store: 1 blob, no problem");

	_cleanup_free_ char *blob = xasprintf("%s/blobs/sha256/%s", root, d + 7);
	t_is(put_file("blobs/sha256", d + 7, "jello"), 0, "change the blob's bytes");
	put_file("blobs/sha256", "abc.tmp.99999", "x");
	put_file("ingest", d + 7, "hel");
	t_is(store_check(s, false, t_report(), &st, &e), 0, "check runs");
	t_ok(t_rep.problems == 3 && t_rep.repaired == 0, "found the bad blob, the temp file, the partial (%u)",
	     t_rep.problems);
	struct stat sb;
	t_ok(stat(blob, &sb) == 0, "check alone changes nothing");

	struct store *s2;
	t_is(store_open(&s2, root, &e), 0, "second handle");
	t_is(store_lock(s2, false, true, &e), 0, "which holds the store shared");
	t_is(store_check(s, true, t_report(), &st, &e), -EBUSY, "repair needs the store alone");
	t_ok(strstr(e.msg, "in use") != NULL, "and says so: %s", e.msg);
	t_is(store_check(s, false, t_report(), &st, &e), 0, "check without repair still runs");
	/* The partial's own flock says its writer is gone; the temp file has
	 * no such sign. */
	t_is(t_rep.problems, 2, "but does not judge temp files of possibly live writers");
	store_unlock(s2);
	store_close(s2);

	t_is(store_check(s, true, t_report(), &st, &e), 0, "repair runs");
	t_ok(t_rep.problems == 3 && t_rep.repaired == 3, "repaired all three (%u/%u)", t_rep.repaired, t_rep.problems);
	t_ok(stat(blob, &sb) < 0 && errno == ENOENT, "the bad blob left blobs/");
	_cleanup_free_ char *q = xasprintf("%s/quarantine", root);
	t_ok(stat(q, &sb) == 0 && S_ISDIR(sb.st_mode), "quarantine/ exists");
	t_is(store_check(s, false, t_report(), &st, &e), 0, "check again");
	t_is(t_rep.problems, 0, "clean after repair");

	put_file("images", "index.json", "[{\"name\": 3");
	t_is(store_check(s, false, t_report(), &st, &e), 0, "check with a broken index");
	t_is(t_rep.problems, 1, "the index is reported");
	t_is(store_check(s, true, t_report(), &st, &e), 0, "repair");
	t_is(t_rep.repaired, 1, "the index was moved away");
	t_is(store_check(s, false, t_report(), &st, &e), 0, "check again");
	t_is(t_rep.problems, 0, "clean: an empty index");

	store_close(s);
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", root);
	if (system(rm) != 0)
		t_diag("cleanup failed");
	return t_done();
}
