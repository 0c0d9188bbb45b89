/* The command table: CMD(group, name, function, summary). group is NULL for
 * top-level commands, else e.g. "image" for `ucrt image pull`. One line per
 * command; the functions live in cmd-*.c. No include guard: expanded with
 * different CMD definitions. */
CMD(NULL, "version", cmd_version, "print version information")
CMD("rootfs", "build", cmd_rootfs_build, "build an ext4 image from layer tarballs")
CMD("network", "ls", cmd_network_ls, "list container address leases and filter counters")
CMD("network", "prune", cmd_network_prune, "clean network leftovers of crashed runs")
CMD("network", "rm", cmd_network_rm, "delete the container bridge and its NAT rules")
CMD("vm", "boot", cmd_vm_boot, "boot microVMs to guest-init and print the boot timeline")
