/* The picture written to a file (SVG as is, PNG through rsvg-convert when
 * installed, a clear error when not), programs on PATH, and the last line
 * of captured output. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench.h"
#include "err.h"
#include "tests/lib/tap.h"
#include "util.h"

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(void)
{
	char dir[] = "/tmp/ucrt-test-plot.XXXXXX";
	char path[96], line[16];
	struct bench_variant var = { .name = "v", .kind = BENCH_K_UCRT };
	struct bench_run *run;
	size_t n = bench_plan(&run, 1, 0, 2);
	struct bench_report rep = { .mode = BENCH_STARTUP, .image = "i", .variants = &var, .nvariants = 1,
				    .run = run, .nrun = n };
	_cleanup_free_ char *text = NULL;
	struct err e = { 0 };
	size_t len;
	int fd;

	t_plan(10);
	if (!mkdtemp(dir))
		t_skip_all("mkdtemp");
	for (size_t i = 0; i < n; i++) {
		for (int p = 0; p < BENCH_P_COUNT; p++)
			run[i].at[p] = (double)(p + 1) * (double)(i + 1);
		run[i].status = 0;
		run[i].ok = true;
	}
	snprintf(path, sizeof(path), "%s/p.svg", dir);
	t_is(bench_plot_write(&rep, path, dir, &e), 0, "SVG written");
	t_ok(read_file_at(AT_FDCWD, path, 1 << 20, &text, &len) == 0 && !strncmp(text, "<?xml", 5) &&
	     strstr(text, "</svg>"), "... and is the report's SVG");
	unlink(path);
	snprintf(path, sizeof(path), "%s/p.png", dir);
	if (bench_on_path("rsvg-convert")) {
		_cleanup_free_ char *png = NULL;
		t_is(bench_plot_write(&rep, path, dir, &e), 0, "PNG through rsvg-convert");
		t_ok(read_file_at(AT_FDCWD, path, 1 << 24, &png, &len) == 0 && len > 24 &&
		     !memcmp(png, "\x89PNG\r\n\x1a\n", 8) &&
		     be32((unsigned char *)png + 16) == BENCH_SVG_W && be32((unsigned char *)png + 20) == BENCH_SVG_H,
		     "... a PNG of %dx%d", BENCH_SVG_W, BENCH_SVG_H);
		unlink(path);
	} else {
		t_ok(1, "# SKIP rsvg-convert not installed");
		t_ok(1, "# SKIP rsvg-convert not installed");
	}
	setenv("PATH", "/nonexistent", 1);
	t_is(bench_plot_write(&rep, path, dir, &e), -ENOENT, "no rsvg-convert: -ENOENT");
	t_ok(strstr(e.msg, "librsvg2-bin") != NULL, "... saying which package has it");
	t_ok(!bench_on_path("sh"), "nothing found on a PATH that does not exist");
	setenv("PATH", "/usr/bin:/bin", 1);
	t_ok(bench_on_path("sh") && !bench_on_path("no-such-program-ucrt"), "on PATH or not");

	fd = memfd_create("t", MFD_CLOEXEC);
	const char *out = "first\nsecond line is long\n\n";
	write_all(fd, out, strlen(out));
	bench_tail_line(fd, line, sizeof(line));
	t_streq(line, "second line is ", "last non-empty line, cut to the buffer");
	close(fd);
	fd = memfd_create("t", MFD_CLOEXEC);
	bench_tail_line(fd, line, sizeof(line));
	t_streq(line, "", "empty output: empty line");
	close(fd);
	rmdir(dir);
	free(run);
	return t_failed ? 1 : 0;
}
