/*
 * Credentials of the calling thread: capget/capset (Glibc declares neither),
 * prctl (variadic in Glibc, so Swift cannot call it) and the user switch.
 *
 * Linux keeps capabilities, the bounding and ambient sets, no_new_privs and
 * even uid/gid per THREAD. glibc's setuid() family makes a change process-wide
 * by signalling every thread (SIGSETXID); capset and prctl have no such
 * broadcast. So a multi-threaded process drops its privileges by running the
 * same drop on every thread, as libcap's psx does: cbpf_drop_thread_privileges
 * is that drop (raw syscalls only, async-signal-safe), and the signal installed
 * by cbpf_privilege_signal_install runs it on the thread it is sent to.
 * Which threads, in what order, and how the result is checked is Swift's job
 * (Sources/BPFSyscall/PrivilegeSyscalls.swift).
 */
#ifndef CBPF_PRIVILEGES_H
#define CBPF_PRIVILEGES_H

#include <stdint.h>
#include <sys/types.h>
#include <linux/capability.h>

/* The highest capability these headers know (the kernel's may be higher or lower:
 * /proc/sys/kernel/cap_last_cap says). */
static const int CBPF_CAP_LAST_CAP = CAP_LAST_CAP;

/* Each set is two 32-bit words (capability version 3). Return 0 or -errno. */
int cbpf_capget(int tid, uint32_t effective[2], uint32_t permitted[2],
                uint32_t inheritable[2]);
int cbpf_capset(const uint32_t effective[2], const uint32_t permitted[2],
                const uint32_t inheritable[2]);

/* prctl(2) with every argument explicit; returns the result or -errno. */
int cbpf_prctl(int option, unsigned long arg2, unsigned long arg3,
               unsigned long arg4, unsigned long arg5);

int cbpf_gettid(void);

/* What cbpf_drop_thread_privileges does, in this order (each step only if asked):
 * 1. drop capabilities 0...last_capability from the bounding set (needs CAP_SETPCAP);
 * 2. clear the ambient set;
 * 3. setgroups(0) (no supplementary groups), setresgid(gid), setresuid(uid);
 * 4. capset with empty effective, permitted and inheritable sets;
 * 5. PR_SET_NO_NEW_PRIVS. */
struct cbpf_privilege_drop {
	int last_capability;
	int drop_bounding_set;
	int clear_ambient;
	int switch_user;
	uint32_t uid;
	uint32_t gid;
};

/* Steps, for error reports. */
enum cbpf_privilege_step {
	CBPF_STEP_NONE = 0,
	CBPF_STEP_BOUNDING_SET = 1,
	CBPF_STEP_AMBIENT = 2,
	CBPF_STEP_SETGROUPS = 3,
	CBPF_STEP_SETRESGID = 4,
	CBPF_STEP_SETRESUID = 5,
	CBPF_STEP_CAPSET = 6,
	CBPF_STEP_NO_NEW_PRIVS = 7,
};

/* Runs the drop on the calling thread. Returns 0, or -errno with *failed_step set. */
int cbpf_drop_thread_privileges(const struct cbpf_privilege_drop *drop,
                                int *failed_step);

/* The real-time signal that runs the drop (SIGRTMAX - 3: glibc reserves the
 * lowest ones, and nothing in this process uses the others). */
int cbpf_privilege_signal_number(void);

/* Copies `drop`, resets the results and installs the handler. 0 or -errno. */
int cbpf_privilege_signal_install(const struct cbpf_privilege_drop *drop);

/* Sends the signal to thread `tid` of this process (tgkill). 0 or -errno
 * (-ESRCH: the thread has exited). */
int cbpf_privilege_signal_send(int tid);

/* How many handlers have finished since the install, and the first failure
 * (0 and CBPF_STEP_NONE when none failed). */
void cbpf_privilege_signal_results(uint32_t *finished, int *first_error,
                                   int *first_failed_step);

/* Ignores the signal from now on (a late one is then discarded, not fatal). 0 or -errno. */
int cbpf_privilege_signal_uninstall(void);

#endif
