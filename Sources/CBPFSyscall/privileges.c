#define _GNU_SOURCE
#include "cbpf_privileges.h"

#include <errno.h>
#include <grp.h>
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
	effective[0] = data[0].effective;
	effective[1] = data[1].effective;
	permitted[0] = data[0].permitted;
	permitted[1] = data[1].permitted;
	inheritable[0] = data[0].inheritable;
	inheritable[1] = data[1].inheritable;
	return 0;
}

int cbpf_capset(const uint32_t effective[2], const uint32_t permitted[2],
                const uint32_t inheritable[2])
{
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {
		{ effective[0], permitted[0], inheritable[0] },
		{ effective[1], permitted[1], inheritable[1] },
	};
	return syscall(SYS_capset, &header, data) < 0 ? -errno : 0;
}

int cbpf_prctl(int option, unsigned long arg2, unsigned long arg3,
               unsigned long arg4, unsigned long arg5)
{
	int ret = prctl(option, arg2, arg3, arg4, arg5);
	return ret < 0 ? -errno : ret;
}

int cbpf_clear_groups(void)
{
	return setgroups(0, NULL) < 0 ? -errno : 0;
}

int cbpf_setresgid(uint32_t gid)
{
	return setresgid(gid, gid, gid) < 0 ? -errno : 0;
}

int cbpf_setresuid(uint32_t uid)
{
	return setresuid(uid, uid, uid) < 0 ? -errno : 0;
}
