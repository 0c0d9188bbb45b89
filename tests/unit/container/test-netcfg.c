/* The network options of run (netcfg.c): the modes, the default from
 * UCRT_NETWORK, and what --network user refuses (its address is fixed and
 * it has no tap for a filter). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "container/container.h"
#include "err.h"
#include "tests/lib/tap.h"

int main(void)
{
	struct ctr_net_opts o = { 0 };
	struct err e = { 0 };

	t_is(ctr_net_opt_set(&o, CTR_NET_OPT_MODE, "user", &e), 0, "--network user parses");
	t_is(o.mode, CTR_NET_USER, "... as CTR_NET_USER");
	t_streq(ctr_net_mode_name(o.mode), "user", "... and is named user (network.json round trip)");
	t_is(ctr_net_opts_finish(&o, 4, &e), 0, "user mode with 4 instances is fine");
	t_is(ctr_net_opt_set(&o, CTR_NET_OPT_DNS, "192.0.2.53", &e), 0, "--dns with user");
	t_is(ctr_net_opts_finish(&o, 1, &e), 0, "... is accepted (the guest's resolv.conf)");
	t_is(ctr_net_opt_set(&o, CTR_NET_OPT_IP, "10.0.2.9", &e), 0, "--ip parses");
	t_is(ctr_net_opts_finish(&o, 1, &e), -EINVAL, "... but not with --network user");
	t_ok(strstr(err_msg(&e), "--ip") && strstr(err_msg(&e), "user"), "... saying so: %s", err_msg(&e));
	ctr_net_opts_free(&o);
	o.mode = CTR_NET_USER;
	t_is(ctr_net_opt_set(&o, CTR_NET_OPT_POLICY, "deny-all", &e), 0, "--network-policy parses");
	t_is(ctr_net_opts_finish(&o, 1, &e), -EINVAL, "... but has no filter to go to in user mode");
	ctr_net_opts_free(&o);
	t_is(ctr_net_opt_set(&o, CTR_NET_OPT_MODE, "slirp", &e), -EINVAL, "an unknown mode is refused");
	t_ok(strstr(err_msg(&e), "none, bridge or user") != NULL, "... naming the modes: %s", err_msg(&e));
	setenv("UCRT_NETWORK", "user", 1);
	t_is(ctr_net_opts_finish(&o, 1, &e), 0, "UCRT_NETWORK=user");
	t_is(o.mode, CTR_NET_USER, "... sets the default");
	ctr_net_opts_free(&o);
	return t_done();
}
