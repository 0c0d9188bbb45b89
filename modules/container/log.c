/* A kept container's output: output.log holds the bytes as the process
 * wrote them (unchanged from earlier versions, so anything that reads it
 * raw still works), output.idx one fixed record per chunk saying when it
 * arrived and on which channel:
 *
 *   u64 time   CLOCK_REALTIME ns when the supervisor got the chunk
 *   u64 off    its first byte's offset in output.log
 *   u32 len
 *   u8  chan   PROTO_CHAN_STDOUT or PROTO_CHAN_STDERR
 *   u8  pad[3]
 *
 * all little-endian. A log written before the index existed, or a torn
 * last record, simply has bytes no record covers: they are printed
 * without a time. Both files are appended through the reactor (sinks);
 * readers (`ucrt logs`) stream them with plain reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/proto.h"
#include "container/container.h"
#include "err.h"
#include "util.h"

#define CTR_LOG_REC 24u

static uint64_t ctr_log_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ctr_log_open(struct ctr_log *lg, struct loop *l, const char *root, const char *id)
{
	_cleanup_free_ char *dp = ctr_path(root, id, "output.log");
	_cleanup_free_ char *ip = ctr_path(root, id, "output.idx");
	struct stat st;
	int fd, ifd;

	memset(lg, 0, sizeof(*lg));
	fd = open(dp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ifd = open(ip, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (ifd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		if (ifd >= 0)
			close(ifd);
		return r;
	}
	lg->off = (uint64_t)st.st_size;
	ctr_sink_init(&lg->data, l, fd);
	ctr_sink_init(&lg->idx, l, ifd);
	lg->open = true;
	return 0;
}

void ctr_log_write(struct ctr_log *lg, int chan, const void *data, size_t len)
{
	uint8_t rec[CTR_LOG_REC] = { 0 };

	if (!lg->open || !len)
		return;
	proto_put64(rec, ctr_log_now_ns());
	proto_put64(rec + 8, lg->off);
	proto_put32(rec + 16, (uint32_t)len);
	rec[20] = (uint8_t)chan;
	ctr_sink_write(&lg->data, data, len);
	ctr_sink_write(&lg->idx, rec, sizeof(rec));
	lg->off += len;
}

bool ctr_log_idle(const struct ctr_log *lg)
{
	return !lg->open || (ctr_sink_idle(&lg->data) && ctr_sink_idle(&lg->idx));
}

void ctr_log_close(struct ctr_log *lg)
{
	if (!lg->open)
		return;
	close(lg->data.fd);
	close(lg->idx.fd);
	ctr_sink_release(&lg->data);
	ctr_sink_release(&lg->idx);
	lg->open = false;
}

/* ---- reading ---- */

struct ctr_log_reader {
	int fd, ifd;			/* output.log, output.idx (-1: none) */
	uint64_t pos;			/* next byte of output.log to read */
	uint8_t buf[65536];
	size_t blen, boff;
	/* index records: the current one and how far the index goes */
	uint8_t rbuf[CTR_LOG_REC * 512];
	size_t rlen, roff;
	bool have_rec;
	int64_t rec_time;
	uint64_t rec_off, rec_end;
	int rec_chan;
	/* the line being read */
	bool in_line;
	struct ctr_log_line line;
};

int ctr_log_reader_open(const char *root, const char *id, struct ctr_log_reader **out)
{
	_cleanup_free_ char *dp = ctr_path(root, id, "output.log");
	_cleanup_free_ char *ip = ctr_path(root, id, "output.idx");
	struct ctr_log_reader *r;
	int fd = open(dp, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->ifd = open(ip, O_RDONLY | O_CLOEXEC);
	*out = r;
	return 0;
}

void ctr_log_reader_free(struct ctr_log_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	if (r->ifd >= 0)
		close(r->ifd);
	free(r);
}

/* The record covering byte pos, reading the index on as needed. Records
 * are checked like any file content: one that goes backwards or claims
 * an absurd length ends the index (the bytes print without a time). */
static void ctr_log_rec_at(struct ctr_log_reader *r, uint64_t pos)
{
	while (!(r->have_rec && pos >= r->rec_off && pos < r->rec_end)) {
		if (r->have_rec && pos < r->rec_off)
			return;	/* a gap before the next record */
		if (r->rlen - r->roff < CTR_LOG_REC) {
			ssize_t n;
			memmove(r->rbuf, r->rbuf + r->roff, r->rlen - r->roff);
			r->rlen -= r->roff;
			r->roff = 0;
			n = r->ifd >= 0 ? read(r->ifd, r->rbuf + r->rlen, sizeof(r->rbuf) - r->rlen) : 0;
			if (n > 0)
				r->rlen += (size_t)n;
			if (r->rlen < CTR_LOG_REC) {
				r->have_rec = false;
				return;	/* not (yet) indexed */
			}
		}
		const uint8_t *p = r->rbuf + r->roff;
		uint64_t off = proto_get64(p + 8), len = proto_get32(p + 16);
		if ((r->have_rec && off < r->rec_end) || len == 0 || p[20] < PROTO_CHAN_STDOUT ||
		    p[20] > PROTO_CHAN_STDERR) {
			close(r->ifd);	/* corrupt: stop trusting it */
			r->ifd = -1;
			r->rlen = r->roff = 0;
			r->have_rec = false;
			return;
		}
		r->roff += CTR_LOG_REC;
		r->have_rec = true;
		r->rec_time = (int64_t)proto_get64(p);
		r->rec_off = off;
		r->rec_end = off + len;
		r->rec_chan = p[20];
	}
}

/* How far the index goes: the end of its last whole record (follow mode
 * reads no further while the writer runs, so every line gets its time).
 * No index, or none written yet: everything. */
static uint64_t ctr_log_indexed_end(struct ctr_log_reader *r)
{
	uint8_t p[CTR_LOG_REC];
	struct stat st;

	if (r->ifd < 0 || fstat(r->ifd, &st) < 0 || st.st_size < (off_t)CTR_LOG_REC)
		return UINT64_MAX;
	if (pread(r->ifd, p, sizeof(p), (st.st_size / CTR_LOG_REC - 1) * CTR_LOG_REC) != (ssize_t)sizeof(p))
		return UINT64_MAX;
	return proto_get64(p + 8) + proto_get32(p + 16);
}

int ctr_log_next(struct ctr_log_reader *r, bool all, struct ctr_log_piece *pc)
{
	for (;;) {
		if (r->boff < r->blen) {
			const uint8_t *p = r->buf + r->boff, *nl;
			size_t n = r->blen - r->boff;
			uint64_t pos = r->pos - n;
			if (!r->in_line) {
				ctr_log_rec_at(r, pos);
				r->line.time_ns = r->have_rec && pos >= r->rec_off ? r->rec_time : 0;
				r->line.chan = r->have_rec && pos >= r->rec_off ? r->rec_chan : PROTO_CHAN_STDOUT;
				r->line.seq++;
				r->in_line = true;
				pc->start = true;
			} else {
				pc->start = false;
			}
			nl = memchr(p, '\n', n);
			if (nl)
				n = (size_t)(nl - p) + 1;
			pc->data = p;
			pc->len = n;
			pc->line = &r->line;
			pc->end = nl != NULL;
			r->boff += n;
			if (nl)
				r->in_line = false;
			return 1;
		}
		uint64_t limit = all ? UINT64_MAX : ctr_log_indexed_end(r);
		size_t want = sizeof(r->buf);
		if (limit <= r->pos)
			return 0;
		if (limit - r->pos < want)
			want = (size_t)(limit - r->pos);
		ssize_t n = pread(r->fd, r->buf, want, (off_t)r->pos);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		r->blen = (size_t)n;
		r->boff = 0;
		r->pos += (uint64_t)n;
	}
}

/* ---- times ---- */

/* Go-style duration: ("1.5h", "10m", "30s", "1h30m", "250ms"). */
static int ctr_duration_ns(const char *s, uint64_t *out)
{
	static const struct { const char *u; double ns; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	double total = 0;

	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		double v;
		size_t best = 0;
		int k = -1;

		if (!(*s >= '0' && *s <= '9') && *s != '.')
			return -EINVAL;
		v = strtod(s, &end);
		if (end == s || v < 0)
			return -EINVAL;
		s = end;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t l = strlen(units[i].u);
			if (strncmp(s, units[i].u, l) == 0 && l > best) {
				best = l;
				k = (int)i;
			}
		}
		if (k < 0)
			return -EINVAL;
		s += best;
		total += v * units[k].ns;
		if (total > 1e19)
			return -ERANGE;
	}
	*out = (uint64_t)total;
	return 0;
}

static int ctr_digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return -EINVAL;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

/* RFC 3339 ("2024-05-01T12:00:00Z", "...T12:00:00.5+02:00"), a date
 * alone, or a time without zone (local, as docker reads it). */
static int ctr_rfc3339_ns(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	int Y, M, D, h = 0, m = 0, sec = 0, zh, zm;
	int64_t frac = 0, t;
	bool zone = false;
	int zsign = 0, zoff = 0;

	if (ctr_digits(&s, 4, &Y) < 0 || *s++ != '-' || ctr_digits(&s, 2, &M) < 0 || *s++ != '-' ||
	    ctr_digits(&s, 2, &D) < 0)
		return -EINVAL;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (ctr_digits(&s, 2, &h) < 0 || *s++ != ':' || ctr_digits(&s, 2, &m) < 0)
			return -EINVAL;
		if (*s == ':') {
			s++;
			if (ctr_digits(&s, 2, &sec) < 0)
				return -EINVAL;
		}
		if (*s == '.') {
			int nd = 0;
			s++;
			while (*s >= '0' && *s <= '9') {
				if (nd < 9) {
					frac = frac * 10 + (*s - '0');
					nd++;
				}
				s++;
			}
			if (!nd)
				return -EINVAL;
			for (; nd < 9; nd++)
				frac *= 10;
		}
		if (*s == 'Z' || *s == 'z') {
			zone = true;
			s++;
		} else if (*s == '+' || *s == '-') {
			zsign = *s++ == '-' ? -1 : 1;
			if (ctr_digits(&s, 2, &zh) < 0 || *s++ != ':' || ctr_digits(&s, 2, &zm) < 0 || zh > 23 ||
			    zm > 59)
				return -EINVAL;
			zone = true;
			zoff = zsign * (zh * 3600 + zm * 60);
		}
	}
	if (*s || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970)
		return -EINVAL;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	t = zone ? (int64_t)timegm(&tm) - zoff : (int64_t)mktime(&tm);
	if (t < 0)
		return -EINVAL;
	*out = t * 1000000000ll + frac;
	return 0;
}

int ctr_log_time_parse(const char *s, int64_t now_ns, int64_t *out_ns)
{
	uint64_t d;
	const char *p;

	if (!s || !*s || strlen(s) > 64)
		return -EINVAL;
	if (ctr_duration_ns(s, &d) == 0) {
		*out_ns = (int64_t)d > now_ns ? 0 : now_ns - (int64_t)d;
		return 0;
	}
	/* Unix seconds, with a fraction: docker's other form. */
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	if (p > s && p - s <= 10 && (!*p || (*p == '.' && p[1]))) {
		int64_t sec = 0, frac = 0;
		int nd = 0;
		for (const char *q = s; q < p; q++)
			sec = sec * 10 + (*q - '0');
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++) {
				if (nd < 9) {
					frac = frac * 10 + (*p - '0');
					nd++;
				}
			}
			if (*p)
				return -EINVAL;
			for (; nd < 9; nd++)
				frac *= 10;
		}
		*out_ns = sec * 1000000000ll + frac;
		return 0;
	}
	return ctr_rfc3339_ns(s, out_ns);
}

void ctr_log_time_format(int64_t ns, char *out, size_t cap)
{
	time_t t = (time_t)(ns / 1000000000ll);
	struct tm tm;
	char day[32];

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%s.%09lldZ", day, (long long)(ns % 1000000000ll));
}
