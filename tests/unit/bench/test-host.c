/* The baseline's init (an ELF that, not being PID 1, exits 0 at once
 * without a byte of output: it must never reboot a host) and the /proc
 * readers: PSS, first child, meminfo. The init's PID 1 path is measured by
 * tests/integration/bench-startup.sh in a real VM. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "err.h"
#include "tests/lib/tap.h"
#include "util.h"

int main(void)
{
	char dir[] = "/tmp/ucrt-test-bench.XXXXXX";
	char path[64], buf[8];
	_cleanup_free_ char *elf = NULL;
	struct err e = { 0 };
	size_t len;
	int pipefd[2], st;
	pid_t pid;

	t_plan(11);
	if (!mkdtemp(dir))
		t_skip_all("mkdtemp");
	snprintf(path, sizeof(path), "%s/init", dir);
	t_is(bench_floor_init_write(path, &e), 0, "init written");
	t_ok(read_file_at(AT_FDCWD, path, 4096, &elf, &len) == 0 && len > sizeof(Elf64_Ehdr), "read back");
	{
		const Elf64_Ehdr *h = (const void *)elf;
		const Elf64_Phdr *ph = (const void *)(elf + h->e_phoff);
		t_ok(!memcmp(h->e_ident, ELFMAG, SELFMAG) && h->e_machine == EM_X86_64 && h->e_type == ET_EXEC &&
		     h->e_phnum == 1 && ph->p_type == PT_LOAD && ph->p_filesz == len &&
		     h->e_entry >= ph->p_vaddr && h->e_entry < ph->p_vaddr + len,
		     "a static x86-64 executable whose entry lies in its one segment");
	}
	t_ok(pipe(pipefd) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		execl(path, path, (char *)NULL);
		_exit(99);
	}
	close(pipefd[1]);
	t_ok(read(pipefd[0], buf, sizeof(buf)) == 0, "not PID 1: no output");
	close(pipefd[0]);
	t_ok(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "... and exit 0 (it ran)");
	t_ok(bench_floor_init_write("/nonexistent/dir/init", &e) < 0 && strstr(e.msg, "/nonexistent"),
	     "unwritable path: error names it");

	t_ok(bench_pss_kib(getpid()) > 0, "own PSS > 0");
	{
		pid_t other = fork();
		if (other == 0) {
			pause();
			_exit(0);
		}
		pid = fork();
		if (pid == 0) {
			prctl(PR_SET_NAME, "qemu-fake");
			pause();
			_exit(0);
		}
		/* The name is set in the child: wait until it shows (up to 10 s:
		 * a forked child may not run for a while on a loaded machine). */
		for (int i = 0; i < 5000 && bench_find_child(getpid(), "qemu") != pid; i++)
			usleep(2000);
		t_is(bench_find_child(getpid(), "qemu"), pid, "the child named qemu* found, not the first child");
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		t_is(bench_find_child(getpid(), "qemu"), -ESRCH, "none named so: -ESRCH");
		kill(other, SIGKILL);
		waitpid(other, &st, 0);
	}
	t_ok(bench_meminfo_kib("MemTotal") > 0 && bench_meminfo_kib("NoSuchField") == -ENOENT, "meminfo fields");
	unlink(path);
	rmdir(dir);
	return t_failed ? 1 : 0;
}
