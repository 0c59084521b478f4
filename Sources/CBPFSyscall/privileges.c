#define _GNU_SOURCE
#include "cbpf_privileges.h"

#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int cbpf_capget(int tid, uint32_t effective[2], uint32_t permitted[2],
                uint32_t inheritable[2])
{
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, tid };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &header, data) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		effective[i] = data[i].effective;
		permitted[i] = data[i].permitted;
		inheritable[i] = data[i].inheritable;
	}
	return 0;
}

int cbpf_capset(const uint32_t effective[2], const uint32_t permitted[2],
                const uint32_t inheritable[2])
{
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++) {
		data[i].effective = effective[i];
		data[i].permitted = permitted[i];
		data[i].inheritable = inheritable[i];
	}
	return syscall(SYS_capset, &header, data) < 0 ? -errno : 0;
}

int cbpf_prctl(int option, unsigned long arg2, unsigned long arg3,
               unsigned long arg4, unsigned long arg5)
{
	int ret = prctl(option, arg2, arg3, arg4, arg5);
	return ret < 0 ? -errno : ret;
}

int cbpf_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

/* Raw syscalls only: this also runs inside a signal handler. The set*id calls
 * are the raw ones on purpose: glibc's wrappers would broadcast to every
 * thread from inside a handler. */
int cbpf_drop_thread_privileges(const struct cbpf_privilege_drop *drop,
                                int *failed_step)
{
	*failed_step = CBPF_STEP_NONE;
	if (drop->drop_bounding_set) {
		for (int cap = 0; cap <= drop->last_capability; cap++) {
			/* EINVAL: a capability this kernel does not have. */
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
				*failed_step = CBPF_STEP_BOUNDING_SET;
				return -errno;
			}
		}
	}
	/* EINVAL: a kernel before 4.3 has no ambient set. */
	if (drop->clear_ambient &&
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		*failed_step = CBPF_STEP_AMBIENT;
		return -errno;
	}
	if (drop->switch_user) {
		if (syscall(SYS_setgroups, 0, NULL) < 0) {
			*failed_step = CBPF_STEP_SETGROUPS;
			return -errno;
		}
		if (syscall(SYS_setresgid, drop->gid, drop->gid, drop->gid) < 0) {
			*failed_step = CBPF_STEP_SETRESGID;
			return -errno;
		}
		if (syscall(SYS_setresuid, drop->uid, drop->uid, drop->uid) < 0) {
			*failed_step = CBPF_STEP_SETRESUID;
			return -errno;
		}
	}
	const uint32_t none[2] = { 0, 0 };
	int ret = cbpf_capset(none, none, none);
	if (ret < 0) {
		*failed_step = CBPF_STEP_CAPSET;
		return ret;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*failed_step = CBPF_STEP_NO_NEW_PRIVS;
		return -errno;
	}
	return 0;
}

static struct cbpf_privilege_drop signal_drop;
static uint32_t signal_finished;
static int signal_first_error;
static int signal_first_step;

static void privilege_signal_handler(int signal)
{
	(void)signal;
	int saved_errno = errno;
	int step = CBPF_STEP_NONE;
	int ret = cbpf_drop_thread_privileges(&signal_drop, &step);
	if (ret < 0) {
		int expected = 0;
		if (__atomic_compare_exchange_n(&signal_first_error, &expected, -ret, 0,
		                                __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			__atomic_store_n(&signal_first_step, step, __ATOMIC_RELAXED);
	}
	/* Release: the error above is visible to whoever sees the count. */
	__atomic_add_fetch(&signal_finished, 1, __ATOMIC_RELEASE);
	errno = saved_errno;
}

int cbpf_privilege_signal_number(void)
{
	return SIGRTMAX - 3;
}

int cbpf_privilege_signal_install(const struct cbpf_privilege_drop *drop)
{
	signal_drop = *drop;
	__atomic_store_n(&signal_first_error, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&signal_first_step, CBPF_STEP_NONE, __ATOMIC_RELAXED);
	__atomic_store_n(&signal_finished, 0, __ATOMIC_RELEASE);
	struct sigaction action;
	memset(&action, 0, sizeof(action));
	action.sa_handler = privilege_signal_handler;
	action.sa_flags = SA_RESTART;
	sigfillset(&action.sa_mask);
	return sigaction(cbpf_privilege_signal_number(), &action, NULL) < 0 ? -errno : 0;
}

int cbpf_privilege_signal_send(int tid)
{
	long ret = syscall(SYS_tgkill, getpid(), tid, cbpf_privilege_signal_number());
	return ret < 0 ? -errno : 0;
}

void cbpf_privilege_signal_results(uint32_t *finished, int *first_error,
                                   int *first_failed_step)
{
	*finished = __atomic_load_n(&signal_finished, __ATOMIC_ACQUIRE);
	*first_error = __atomic_load_n(&signal_first_error, __ATOMIC_RELAXED);
	*first_failed_step = __atomic_load_n(&signal_first_step, __ATOMIC_RELAXED);
}

int cbpf_privilege_signal_uninstall(void)
{
	struct sigaction action;
	memset(&action, 0, sizeof(action));
	/* Not SIG_DFL: a signal still pending somewhere would end the process. */
	action.sa_handler = SIG_IGN;
	return sigaction(cbpf_privilege_signal_number(), &action, NULL) < 0 ? -errno : 0;
}
