/* The command table: CMD(group, name, function, summary). group is NULL for
 * top-level commands, else e.g. "image" for `ucrt image pull`. One line per
 * command; the functions live in cmd-*.c. No include guard: expanded with
 * different CMD definitions. */
CMD(NULL, "version", cmd_version, "print version information")
CMD("rootfs", "build", cmd_rootfs_build, "build an ext4 image from layer tarballs")
