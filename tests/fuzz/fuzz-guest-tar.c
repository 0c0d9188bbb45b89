/* libFuzzer target: guest-init's tar extraction (ucrt cp into a
 * container) fed arbitrary bytes as its stdin, into sandbox/dest: nothing
 * may appear in the sandbox outside dest, whatever the names, links and
 * sizes say. guest-init is a separate static program, so tar.c is
 * compiled into this harness directly. */
#include "guest-init/tar.c"

#include <stdarg.h>

bool gi_debug;
void gi_log(const char *fmt, ...)
{
}
void gi_die(const char *fmt, ...)
{
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char box[64];

static void fuzz_rm(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", box);
	if (system(cmd) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dest[96], in[96];
	char *argv[] = { "ucrt-init", "--tar-extract", dest, NULL };
	int saved, fd, err;
	DIR *d;
	struct dirent *de;

	if (!box[0]) {
		snprintf(box, sizeof(box), "/tmp/ucrt-fuzz-tar.%d", (int)getpid());
		atexit(fuzz_rm);
	}
	fuzz_rm();
	snprintf(dest, sizeof(dest), "%s/dest", box);
	snprintf(in, sizeof(in), "%s/../ucrt-fuzz-tar-in.%d", box, (int)getpid());
	if (mkdir(box, 0700) < 0 || mkdir(dest, 0700) < 0)
		abort();
	fd = open(in, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || gi_write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	saved = dup(STDIN_FILENO);
	err = dup(STDERR_FILENO);
	dup2(fd, STDIN_FILENO);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	dup2(null, STDERR_FILENO);
	close(null);
	gi_tar_main(3, argv);
	dup2(saved, STDIN_FILENO);
	dup2(err, STDERR_FILENO);
	close(saved);
	close(err);
	close(fd);
	unlink(in);
	d = opendir(box);
	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "dest"))
			abort();	/* escaped dest */
	}
	if (d)
		closedir(d);
	return 0;
}
