/*
 * Credentials of the calling thread: capget/capset (Glibc declares neither),
 * prctl (variadic in Glibc, so Swift cannot call it) and the user switch.
 *
 * Linux keeps capabilities, the bounding and ambient sets, no_new_privs and
 * uid/gid per THREAD. The exporter drops its privileges while it is still
 * single-threaded, so every thread started later inherits the drop; these
 * wrappers act on the calling thread only. The order and the checks are
 * Swift's (Sources/BPFSyscall/PrivilegeDrop.swift).
 */
#ifndef CBPF_PRIVILEGES_H
#define CBPF_PRIVILEGES_H

#include <stdint.h>
#include <sys/types.h>
#include <linux/capability.h>
#include <linux/prctl.h>

/* The highest capability these headers know (the kernel's may be higher or lower:
 * /proc/sys/kernel/cap_last_cap says). */
static const int CBPF_CAP_LAST_CAP = CAP_LAST_CAP;

static const int CBPF_PR_CAPBSET_DROP = PR_CAPBSET_DROP;
static const int CBPF_PR_CAP_AMBIENT = PR_CAP_AMBIENT;
static const unsigned long CBPF_PR_CAP_AMBIENT_CLEAR_ALL = PR_CAP_AMBIENT_CLEAR_ALL;
static const int CBPF_PR_SET_NO_NEW_PRIVS = PR_SET_NO_NEW_PRIVS;
static const int CBPF_PR_GET_NO_NEW_PRIVS = PR_GET_NO_NEW_PRIVS;

/* Each set is two 32-bit words (capability version 3). Return 0 or -errno. */
int cbpf_capget(int tid, uint32_t effective[2], uint32_t permitted[2],
                uint32_t inheritable[2]);
int cbpf_capset(const uint32_t effective[2], const uint32_t permitted[2],
                const uint32_t inheritable[2]);

/* prctl(2) with every argument explicit; returns the result or -errno. */
int cbpf_prctl(int option, unsigned long arg2, unsigned long arg3,
               unsigned long arg4, unsigned long arg5);

/* setgroups(0, NULL), setresgid(g, g, g), setresuid(u, u, u): 0 or -errno. */
int cbpf_clear_groups(void);
int cbpf_setresgid(uint32_t gid);
int cbpf_setresuid(uint32_t uid);

#endif
