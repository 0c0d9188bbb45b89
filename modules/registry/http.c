/* libcurl's multi socket interface on the reactor.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to call it back (CURLMOPT_TIMERFUNCTION). Each socket gets a one-shot
 * loop_poll, re-armed after curl has handled the event (so a changed
 * interest set is picked up); the timer is a loop_timer. Completions are
 * read with curl_multi_info_read after every socket action.
 *
 * Transfers are awaited from fibers. curl's callbacks run on the loop stack
 * (inside curl_multi_socket_action) and never switch stacks: the write
 * callback only queues bytes and wakes the waiting fiber for the next
 * round; when the queue is full it pauses the transfer, and the fiber
 * unpauses it once it has drained the queue. */
#include "registry-internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "fiber.h"
#include "log.h"
#include "str.h"
#include "util.h"

#define REG_PEND_MAX (1u << 20)	/* queued bytes before the transfer pauses */
#define REG_DEFAULT_RETRIES 3
#define REG_DEFAULT_STALL_S 20

struct reg_sock {
	struct loop_op op;
	struct reg_client *c;
	curl_socket_t fd;
	int what;
	unsigned armed;		/* poll events of the active op */
	bool removed, in_dispatch;
};

struct reg_xfer {
	struct reg_call *call;
	CURL *easy;
	struct fiber *waiter;
	struct buf pend;
	bool paused, done;
	CURLcode cc;
};

static void sock_arm(struct reg_sock *sk);
static void reg_dispatch(struct reg_client *c, curl_socket_t fd, int ev);

static void sock_poll_done(struct loop_op *op, int res, uint32_t flags)
{
	struct reg_sock *sk = container_of(op, struct reg_sock, op);
	if (sk->removed) {
		free(sk);
		return;
	}
	if (res == -ECANCELED) {	/* interest changed: arm with the new set */
		sock_arm(sk);
		return;
	}
	int ev = 0;
	if (res < 0)
		ev = CURL_CSELECT_ERR;
	else {
		if (res & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (res & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (res & POLLERR)
			ev |= CURL_CSELECT_ERR;
	}
	sk->in_dispatch = true;
	reg_dispatch(sk->c, sk->fd, ev);
	sk->in_dispatch = false;
	if (sk->removed)
		free(sk);
	else
		sock_arm(sk);
}

static void sock_arm(struct reg_sock *sk)
{
	unsigned ev = ((sk->what & CURL_POLL_IN) ? POLLIN : 0) | ((sk->what & CURL_POLL_OUT) ? POLLOUT : 0);
	if (loop_op_active(&sk->op)) {
		if (sk->armed != ev)
			loop_cancel(sk->c->loop, &sk->op);
		return;
	}
	if (!ev)
		return;
	sk->op.cb = sock_poll_done;
	sk->armed = ev;
	int r = loop_poll(sk->c->loop, &sk->op, sk->fd, ev, false);
	if (r < 0)
		log_error("registry: cannot watch socket %d: %s", sk->fd, strerror(-r));
}

static int curl_sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct reg_client *c = userp;
	struct reg_sock *sk = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (!sk)
			return 0;
		curl_multi_assign(c->multi, fd, NULL);
		sk->removed = true;
		if (loop_op_active(&sk->op))
			loop_cancel(c->loop, &sk->op);	/* freed in its callback */
		else if (!sk->in_dispatch)
			free(sk);
		return 0;
	}
	if (!sk) {
		sk = xcalloc(1, sizeof(*sk));
		sk->c = c;
		sk->fd = fd;
		curl_multi_assign(c->multi, fd, sk);
	}
	sk->what = what;
	if (!sk->in_dispatch)	/* else re-armed when the dispatch returns */
		sock_arm(sk);
	return 0;
}

static void reg_timer_fired(struct loop_timer *t)
{
	struct reg_client *c = t->data;
	reg_dispatch(c, CURL_SOCKET_TIMEOUT, 0);
}

static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct reg_client *c = userp;
	loop_timer_stop(c->loop, &c->timer);
	if (timeout_ms >= 0)
		loop_timer_start(c->loop, &c->timer, (uint64_t)timeout_ms * 1000000ull);
	return 0;
}

static void xfer_wake(struct reg_xfer *x)
{
	if (x->waiter)
		fiber_wake(x->waiter);
}

static void reg_dispatch(struct reg_client *c, curl_socket_t fd, int ev)
{
	curl_multi_socket_action(c->multi, fd, ev, &c->running);
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct reg_xfer *x = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode cc = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(c->multi, easy);
		x->cc = cc;
		x->done = true;
		xfer_wake(x);
	}
}

int reg_client_new(struct reg_client **out, struct loop *l, const struct reg_opts *o, struct err *err)
{
	static bool global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return err_set(err, EIO, "cannot initialise libcurl");
		global_done = true;
	}
	struct reg_client *c = xcalloc(1, sizeof(*c));
	c->loop = l;
	if (o)
		c->o = *o;
	else
		reg_opts_default(&c->o);
	if (!c->o.jobs)
		c->o.jobs = 4;
	if (!c->o.retries)
		c->o.retries = REG_DEFAULT_RETRIES;
	if (!c->o.stall_timeout_s)
		c->o.stall_timeout_s = REG_DEFAULT_STALL_S;
	if (!c->o.chunk_size)
		c->o.chunk_size = 16u << 20;
	c->multi = curl_multi_init();
	loop_timer_init(&c->timer, reg_timer_fired, c);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	/* HTTP/2: streams of all blob transfers share one connection. */
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->o.jobs + 2);
	*out = c;
	return 0;
}

static void host_free(struct reg_host *h)
{
	free(h->domain);
	free(h->scheme);
	free(h->user);
	free(h->pass);
	free(h->basic);
	free(h->creds_withheld);
	free(h->ca_blob);
	free(h->client_cert);
	free(h->client_key);
	free(h);
}

void reg_client_free(struct reg_client *c)
{
	if (!c)
		return;
	loop_timer_stop(c->loop, &c->timer);
	/* Closes the cached connections; their REMOVE callbacks cancel
	 * the polls, which free themselves on the next loop round. */
	curl_multi_cleanup(c->multi);
	while (c->hosts) {
		struct reg_host *h = c->hosts;
		c->hosts = h->next;
		host_free(h);
	}
	reg_tokens_free(c->tokens);
	free(c);
}

/* A positive count from the environment, else def (a bad value is
 * reported and ignored: a typo must not turn retries off). */
static unsigned env_count(const char *name, unsigned def, unsigned max)
{
	const char *v = getenv(name);
	uint64_t n;
	if (!v || !*v)
		return def;
	if (str_to_u64(v, &n) < 0 || n == 0 || n > max) {
		log_warn("ignoring %s=%s (want 1..%u)", name, v, max);
		return def;
	}
	return (unsigned)n;
}

void reg_opts_default(struct reg_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_verify = true;
	o->jobs = 4;
	o->retries = env_count("UCRT_REGISTRY_RETRIES", REG_DEFAULT_RETRIES, REG_RETRIES_MAX);
	o->stall_timeout_s = env_count("UCRT_REGISTRY_STALL_TIMEOUT", REG_DEFAULT_STALL_S, REG_STALL_TIMEOUT_MAX);
	o->retry_delay_ms = 200;
	o->chunk_size = 16u << 20;
}

struct reg_run_state {
	void (*fn)(void *);
	void *arg;
	bool done;
};

static void reg_run_main(void *p)
{
	struct reg_run_state *st = p;
	st->fn(st->arg);
}

static void reg_run_exit(void *p)
{
	((struct reg_run_state *)p)->done = true;
}

int reg_run(struct loop *l, void (*fn)(void *arg), void *arg)
{
	struct reg_run_state st = { fn, arg, false };
	struct fiber *f = fiber_spawn(l, reg_run_main, &st, 1u << 20);
	fiber_set_on_exit(f, reg_run_exit, &st);
	while (!st.done) {
		int r = loop_run_once(l, true);
		if (r < 0)
			return r;
	}
	/* Let cancelled socket polls complete so nothing is left behind. */
	loop_drain(l);
	return 0;
}

/* ---- one transfer ---------------------------------------------------- */

static bool status_ok(long s)
{
	return s >= 200 && s < 300;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *p)
{
	struct reg_xfer *x = p;
	struct reg_call *call = x->call;
	size_t n = size * nmemb;
	if (!call->sink || !status_ok(call->status)) {
		size_t max = reg_body_max(call);
		if (call->body.len + n > max) {
			call->too_big = true;	/* reg_call names the limit, not curl's write error */
			return 0;
		}
		buf_append(&call->body, data, n);
		return n;
	}
	if (x->pend.len >= REG_PEND_MAX) {
		x->paused = true;
		xfer_wake(x);
		return CURL_WRITEFUNC_PAUSE;
	}
	buf_append(&x->pend, data, n);
	xfer_wake(x);
	return n;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *p)
{
	struct reg_xfer *x = p;
	reg_header_parse(x->call, data, size * nmemb);
	return size * nmemb;
}

static struct curl_slist *build_headers(const struct reg_call *call, const char *auth)
{
	struct curl_slist *l = NULL;
	char line[512];
	if (call->accept) {
		_cleanup_free_ char *a = xasprintf("Accept: %s", call->accept);
		l = curl_slist_append(l, a);
	}
	if (call->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", call->content_type);
		l = curl_slist_append(l, line);
	}
	if (call->content_range) {
		snprintf(line, sizeof(line), "Content-Range: %s", call->content_range);
		l = curl_slist_append(l, line);
	}
	if (auth) {
		_cleanup_free_ char *a = xasprintf("Authorization: %s", auth);
		l = curl_slist_append(l, a);
	}
	l = curl_slist_append(l, "Expect:");	/* no 100-continue round trip */
	return l;
}

static void setup_easy(struct reg_client *c, struct reg_host *h, struct reg_xfer *x, struct curl_slist *hdrs)
{
	struct reg_call *call = x->call;
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, call->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* URLs come from the registry too (Location, the token realm): never
	 * let one name a file:// or other local-reaching protocol. */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	/* A try that moves no byte for stall_timeout_s (connect and TLS
	 * included) fails and is retried: a try of a stalled registry used to
	 * wait 60 s, five times. A transfer we paused ourselves (the ext4
	 * writer is behind) is not checked by curl. */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->o.stall_timeout_s);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)c->o.stall_timeout_s);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "ucrt/" UCRT_VERSION);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	if (!c->o.tls_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (h->ca_blob) {
		struct curl_blob b = { h->ca_blob, h->ca_len, CURL_BLOB_NOCOPY };
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (h->client_cert && h->client_key) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, h->client_cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, h->client_key);
	}
	if (strcmp(call->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(call->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call->method);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->req_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->req_body ? call->req_body : "");
	}
	if (call->range_from) {
		char r[64];
		snprintf(r, sizeof(r), "%llu-", (unsigned long long)call->range_from);
		curl_easy_setopt(e, CURLOPT_RANGE, r);
	}
}

/* Hand queued bytes to the sink until the transfer ends. The queue and
 * the batch being sunk swap places each round (curl refills one while the
 * sink awaits on the other), so their storage is reused, not reallocated
 * per batch. */
static int xfer_drain(struct reg_xfer *x)
{
	_cleanup_buf_ struct buf work = BUF_INIT;
	for (;;) {
		if (x->pend.len) {
			struct buf t = work;
			work = x->pend;
			x->pend = t;
			if (x->paused) {
				x->paused = false;
				curl_easy_pause(x->easy, CURLPAUSE_CONT);
			}
			int r = x->call->sink(x->call, work.data, work.len);
			buf_reset(&work);
			if (r < 0)
				return r;
			continue;
		}
		if (x->done)
			return 0;
		x->waiter = fiber_current();
		fiber_suspend();
		x->waiter = NULL;
	}
}

static const char *http_version_name(long v)
{
	switch (v) {
	case CURL_HTTP_VERSION_1_0: return "HTTP/1.0";
	case CURL_HTTP_VERSION_1_1: return "HTTP/1.1";
	case CURL_HTTP_VERSION_2_0: return "HTTP/2";
	case CURL_HTTP_VERSION_3: return "HTTP/3";
	default: return "no response";
	}
}

/* Debug only: the negotiated protocol and whether the transfer needed a
 * new connection (0: it reused one, or multiplexed on an HTTP/2 one). */
static void xfer_log(struct reg_client *c, struct reg_xfer *x)
{
	long ver = 0, conns = 0;
	curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &ver);
	curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns);
	c->stats.xfers++;
	c->stats.conns += (unsigned long)MAX(conns, 0L);
	if (ver == CURL_HTTP_VERSION_2_0)
		c->stats.h2++;
	log_debug("registry: %s %s: %ld over %s, %ld new connection%s", x->call->method, x->call->url,
		  x->call->status, http_version_name(ver), conns, conns == 1 ? "" : "s");
}

int reg_http_perform(struct reg_client *c, struct reg_host *h, struct reg_call *call, const char *auth)
{
	struct reg_xfer x = { .call = call };
	x.easy = curl_easy_init();
	struct curl_slist *hdrs = build_headers(call, auth);
	call->status = 0;
	call->too_big = false;
	call->cc = CURLE_OK;
	call->errbuf[0] = 0;
	buf_reset(&call->body);
	setup_easy(c, h, &x, hdrs);
	log_debug("registry: %s %s", call->method, call->url);
	CURLMcode mc = curl_multi_add_handle(c->multi, x.easy);
	int r = 0;
	if (mc != CURLM_OK) {
		call->cc = CURLE_FAILED_INIT;
		snprintf(call->errbuf, sizeof(call->errbuf), "%s", curl_multi_strerror(mc));
	} else {
		r = call->sink ? xfer_drain(&x) : 0;
		while (r >= 0 && !x.done) {
			x.waiter = fiber_current();
			fiber_suspend();
			x.waiter = NULL;
		}
		if (!x.done)	/* the sink failed: stop the transfer */
			curl_multi_remove_handle(c->multi, x.easy);
		call->cc = x.done ? x.cc : CURLE_ABORTED_BY_CALLBACK;
	}
	if (mc == CURLM_OK && log_enabled(LOG_DEBUG))
		xfer_log(c, &x);
	buf_free(&x.pend);
	curl_easy_cleanup(x.easy);
	curl_slist_free_all(hdrs);
	return r;
}

void reg_stats_log(const struct reg_client *c, const struct reg_stats *start, const char *what, const char *ref)
{
	if (!log_enabled(LOG_DEBUG))
		return;
	log_debug("registry: %s %s: %lu transfers, %lu connections opened, %lu over HTTP/2", what, ref,
		  c->stats.xfers - start->xfers, c->stats.conns - start->conns, c->stats.h2 - start->h2);
}
