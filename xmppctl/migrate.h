/* xmppctl storage ...: commands that run locally instead of on the control socket. */
#ifndef XMPPD_XMPPCTL_MIGRATE_H
#define XMPPD_XMPPCTL_MIGRATE_H

/* argv[0] is "storage". Execs xmppd-storage --migrate; returns only on error (exit code). */
int xctl_storage_main(int argc, char **argv);

#endif
