/* The baseline's init, shipped inside ucrt as bytes: the floor must not
 * depend on a C toolchain on the benchmarking host, and 92 bytes of code
 * say exactly what the floor does. Source (GNU as):
 *
 *	_start:	mov $39, %eax; syscall		# getpid
 *		cmp $1, %eax; jne 2f		# not PID 1: exit(0)
 *		mov $1, %eax; mov $1, %edi	# write(1, "!", 1)
 *		lea msg(%rip), %rsi; mov $1, %edx; syscall
 *		mov $16, %eax; mov $1, %edi	# ioctl(1, TCSBRK, 1): tcdrain
 *		mov $0x5409, %esi; mov $1, %edx; syscall
 *		mov $169, %eax			# reboot(MAGIC1, MAGIC2, RESTART)
 *		mov $0xfee1dead, %edi; mov $0x28121969, %esi
 *		mov $0x01234567, %edx; syscall
 *	1:	jmp 1b
 *	2:	mov $60, %eax; xor %edi, %edi; syscall
 *	msg:	.byte '!'
 *
 * The PID 1 test keeps it harmless when run on a host by mistake. The
 * kernel's reboot=t turns the restart into a triple fault, which QEMU's
 * -no-reboot turns into its exit: the same way ucrt's VMs end. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "bench/bench.h"
#include "err.h"
#include "util.h"

static const uint8_t bench_floor_code[] = {
	0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x83, 0xf8, 0x01, 0x75, 0x46,
	0xb8, 0x01, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d,
	0x35, 0x3e, 0x00, 0x00, 0x00, 0xba, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05,
	0xb8, 0x10, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0xbe, 0x09,
	0x54, 0x00, 0x00, 0xba, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xb8, 0xa9,
	0x00, 0x00, 0x00, 0xbf, 0xad, 0xde, 0xe1, 0xfe, 0xbe, 0x69, 0x19, 0x12,
	0x28, 0xba, 0x67, 0x45, 0x23, 0x01, 0x0f, 0x05, 0xeb, 0xfe, 0xb8, 0x3c,
	0x00, 0x00, 0x00, 0x31, 0xff, 0x0f, 0x05, 0x21,
};

#define BENCH_FLOOR_BASE 0x400000ull

int bench_floor_init_write(const char *path, struct err *err)
{
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		uint8_t code[sizeof(bench_floor_code)];
	} __attribute__((packed)) img;
	uint64_t code_off = offsetof(__typeof__(img), code);
	_cleanup_close_ int fd = -1;
	int r;

	memset(&img, 0, sizeof(img));
	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS64;
	img.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img.eh.e_ident[EI_VERSION] = EV_CURRENT;
	img.eh.e_ident[EI_OSABI] = ELFOSABI_SYSV;
	img.eh.e_type = ET_EXEC;
	img.eh.e_machine = EM_X86_64;
	img.eh.e_version = EV_CURRENT;
	img.eh.e_entry = BENCH_FLOOR_BASE + code_off;
	img.eh.e_phoff = offsetof(__typeof__(img), ph);
	img.eh.e_ehsize = sizeof(Elf64_Ehdr);
	img.eh.e_phentsize = sizeof(Elf64_Phdr);
	img.eh.e_phnum = 1;
	/* One segment mapping the whole file: headers and code. */
	img.ph.p_type = PT_LOAD;
	img.ph.p_flags = PF_R | PF_X;
	img.ph.p_offset = 0;
	img.ph.p_vaddr = img.ph.p_paddr = BENCH_FLOOR_BASE;
	img.ph.p_filesz = img.ph.p_memsz = sizeof(img);
	img.ph.p_align = 0x1000;
	memcpy(img.code, bench_floor_code, sizeof(bench_floor_code));

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0755);
	if (fd < 0)
		return err_setx(err, errno, "creating %s", path);
	if ((r = write_all(fd, &img, sizeof(img))) < 0)
		return err_setx(err, -r, "writing %s", path);
	return 0;
}
