#define _GNU_SOURCE
#include "cbpf.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One gate for every bpf(2) command: the exact attribute size, -errno. */
static int sys_bpf(enum bpf_cmd cmd, union bpf_attr *attr, unsigned int size)
{
	long ret = syscall(__NR_bpf, cmd, attr, size);
	return ret < 0 ? -errno : (int)ret;
}

#define ATTR_SIZE(field) (offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))
#define PTR(p) ((uint64_t)(uintptr_t)(p))

int cbpf_map_create(uint32_t map_type, const char *name, uint32_t key_size,
                    uint32_t value_size, uint32_t max_entries,
                    uint32_t map_flags, int btf_fd, uint32_t btf_key_type_id,
                    uint32_t btf_value_type_id)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = map_type;
	attr.key_size = key_size;
	attr.value_size = value_size;
	attr.max_entries = max_entries;
	attr.map_flags = map_flags;
	if (name)
		strncpy(attr.map_name, name, sizeof(attr.map_name) - 1);
	attr.btf_fd = btf_fd > 0 ? (uint32_t)btf_fd : 0;
	attr.btf_key_type_id = btf_key_type_id;
	attr.btf_value_type_id = btf_value_type_id;
	return sys_bpf(BPF_MAP_CREATE, &attr, ATTR_SIZE(btf_value_type_id));
}

int cbpf_map_update_elem(int map_fd, const void *key, const void *value,
                         uint64_t flags)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)map_fd;
	attr.key = PTR(key);
	attr.value = PTR(value);
	attr.flags = flags;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &attr, ATTR_SIZE(flags));
}

int cbpf_map_lookup_elem(int map_fd, const void *key, void *value)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)map_fd;
	attr.key = PTR(key);
	attr.value = PTR(value);
	return sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr, ATTR_SIZE(flags));
}

int cbpf_map_get_next_key(int map_fd, const void *key, void *next_key)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)map_fd;
	attr.key = PTR(key);
	attr.next_key = PTR(next_key);
	return sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr, ATTR_SIZE(next_key));
}

int cbpf_map_freeze(int map_fd)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)map_fd;
	return sys_bpf(BPF_MAP_FREEZE, &attr, ATTR_SIZE(map_fd));
}

int cbpf_btf_load(const void *btf, uint32_t btf_size, char *log_buf,
                  uint32_t log_size, uint32_t log_level)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.btf = PTR(btf);
	attr.btf_size = btf_size;
	attr.btf_log_buf = PTR(log_buf);
	attr.btf_log_size = log_size;
	attr.btf_log_level = log_level;
	return sys_bpf(BPF_BTF_LOAD, &attr, ATTR_SIZE(btf_log_level));
}

int cbpf_prog_load(uint32_t prog_type, const char *name, const void *insns,
                   uint32_t insn_count, const char *license,
                   uint32_t kern_version, int prog_btf_fd,
                   const void *func_info, uint32_t func_info_rec_size,
                   uint32_t func_info_count, const void *line_info,
                   uint32_t line_info_rec_size, uint32_t line_info_count,
                   uint32_t expected_attach_type, uint32_t attach_btf_id,
                   int attach_btf_obj_fd,
                   char *log_buf, uint32_t log_size, uint32_t log_level)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = prog_type;
	attr.insns = PTR(insns);
	attr.insn_cnt = insn_count;
	attr.license = PTR(license);
	attr.kern_version = kern_version;
	if (name)
		strncpy(attr.prog_name, name, sizeof(attr.prog_name) - 1);
	attr.prog_btf_fd = prog_btf_fd > 0 ? (uint32_t)prog_btf_fd : 0;
	attr.func_info = PTR(func_info);
	attr.func_info_rec_size = func_info_rec_size;
	attr.func_info_cnt = func_info_count;
	attr.line_info = PTR(line_info);
	attr.line_info_rec_size = line_info_rec_size;
	attr.line_info_cnt = line_info_count;
	attr.expected_attach_type = expected_attach_type;
	attr.attach_btf_id = attach_btf_id;
	attr.attach_btf_obj_fd = attach_btf_obj_fd > 0 ? (uint32_t)attach_btf_obj_fd : 0;
	attr.log_buf = PTR(log_buf);
	attr.log_size = log_size;
	attr.log_level = log_level;
	return sys_bpf(BPF_PROG_LOAD, &attr, ATTR_SIZE(attach_btf_obj_fd));
}

int cbpf_link_create_tracing(int prog_fd, uint32_t attach_type)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = (uint32_t)prog_fd;
	attr.link_create.attach_type = attach_type;
	return sys_bpf(BPF_LINK_CREATE, &attr, ATTR_SIZE(link_create.flags));
}

int cbpf_iter_create(int link_fd)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.iter_create.link_fd = (uint32_t)link_fd;
	return sys_bpf(BPF_ITER_CREATE, &attr, ATTR_SIZE(iter_create.flags));
}

long cbpf_read(int fd, void *buffer, size_t length)
{
	long n;
	do {
		n = read(fd, buffer, length);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int cbpf_raw_tracepoint_open(int prog_fd)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.raw_tracepoint.prog_fd = (uint32_t)prog_fd;
	return sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &attr, ATTR_SIZE(raw_tracepoint.prog_fd));
}

int cbpf_link_create_perf_event(int prog_fd, int perf_event_fd)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = (uint32_t)prog_fd;
	attr.link_create.target_fd = (uint32_t)perf_event_fd;
	attr.link_create.attach_type = BPF_PERF_EVENT;
	return sys_bpf(BPF_LINK_CREATE, &attr, ATTR_SIZE(link_create.perf_event));
}

int cbpf_obj_get_info_by_fd(int fd, void *info, uint32_t *info_len)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = (uint32_t)fd;
	attr.info.info_len = *info_len;
	attr.info.info = PTR(info);
	int ret = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr, ATTR_SIZE(info));
	if (ret == 0)
		*info_len = attr.info.info_len;
	return ret;
}

int cbpf_prog_get_xlated_insns(int prog_fd, void *insns, uint32_t *insns_len)
{
	struct bpf_prog_info info;
	uint32_t info_len = sizeof(info);
	memset(&info, 0, sizeof(info));
	info.xlated_prog_len = *insns_len;
	info.xlated_prog_insns = PTR(insns);
	int ret = cbpf_obj_get_info_by_fd(prog_fd, &info, &info_len);
	if (ret == 0)
		*insns_len = info.xlated_prog_insns ? info.xlated_prog_len : 0;
	return ret;
}

int cbpf_enable_stats(uint32_t stats_type)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.enable_stats.type = stats_type;
	return sys_bpf(BPF_ENABLE_STATS, &attr, ATTR_SIZE(enable_stats));
}

int cbpf_prog_get_next_id(uint32_t start_id, uint32_t *next_id)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.start_id = start_id;
	int ret = sys_bpf(BPF_PROG_GET_NEXT_ID, &attr, ATTR_SIZE(open_flags));
	if (ret == 0)
		*next_id = attr.next_id;
	return ret;
}

int cbpf_link_get_next_id(uint32_t start_id, uint32_t *next_id)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.start_id = start_id;
	int ret = sys_bpf(BPF_LINK_GET_NEXT_ID, &attr, ATTR_SIZE(open_flags));
	if (ret == 0)
		*next_id = attr.next_id;
	return ret;
}

int cbpf_prog_get_fd_by_id(uint32_t id)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_id = id;
	return sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr, ATTR_SIZE(open_flags));
}

int cbpf_link_get_fd_by_id(uint32_t id)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.link_id = id;
	return sys_bpf(BPF_LINK_GET_FD_BY_ID, &attr, ATTR_SIZE(open_flags));
}

int cbpf_map_get_next_id(uint32_t start_id, uint32_t *next_id)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.start_id = start_id;
	int ret = sys_bpf(BPF_MAP_GET_NEXT_ID, &attr, ATTR_SIZE(open_flags));
	if (ret == 0)
		*next_id = attr.next_id;
	return ret;
}

int cbpf_map_get_fd_by_id(uint32_t id)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_id = id;
	return sys_bpf(BPF_MAP_GET_FD_BY_ID, &attr, ATTR_SIZE(open_flags));
}

int cbpf_perf_event_open(uint32_t type, uint64_t config, uint64_t sample_type,
                         uint64_t sample_period, uint32_t wakeup,
                         int use_watermark, int pid, int cpu, int group_fd,
                         unsigned long flags)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = type;
	attr.config = config;
	attr.sample_type = sample_type;
	attr.sample_period = sample_period;
	attr.watermark = use_watermark ? 1 : 0;
	attr.wakeup_events = wakeup; /* shares storage with wakeup_watermark */
	long ret = syscall(__NR_perf_event_open, &attr, pid, cpu, group_fd, flags);
	return ret < 0 ? -errno : (int)ret;
}

int cbpf_ioctl_int(int fd, unsigned long request, int arg)
{
	int ret = ioctl(fd, request, arg);
	return ret < 0 ? -errno : ret;
}

int cbpf_epoll_create(void)
{
	int ret = epoll_create1(EPOLL_CLOEXEC);
	return ret < 0 ? -errno : ret;
}

int cbpf_epoll_add(int epoll_fd, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event event;
	memset(&event, 0, sizeof(event));
	event.events = events;
	event.data.u64 = data;
	int ret = epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
	return ret < 0 ? -errno : ret;
}

int cbpf_epoll_wait(int epoll_fd, struct epoll_event *events, int max_events,
                    int timeout_ms)
{
	int ret = epoll_wait(epoll_fd, events, max_events, timeout_ms);
	return ret < 0 ? -errno : ret;
}

int cbpf_eventfd(void)
{
	int ret = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return ret < 0 ? -errno : ret;
}

int cbpf_eventfd_signal(int fd)
{
	uint64_t one = 1;
	return write(fd, &one, sizeof(one)) < 0 ? -errno : 0;
}

int cbpf_mmap(int fd, size_t length, long offset, int writable, int shared, void **address)
{
	void *mapped = mmap(NULL, length, writable ? PROT_READ | PROT_WRITE : PROT_READ,
	                    shared ? MAP_SHARED : MAP_PRIVATE, fd, offset);
	if (mapped == MAP_FAILED)
		return -errno;
	*address = mapped;
	return 0;
}

int cbpf_munmap(void *address, size_t length)
{
	return munmap(address, length) < 0 ? -errno : 0;
}

uint64_t cbpf_ring_load_head(const struct perf_event_mmap_page *page)
{
	return __atomic_load_n(&page->data_head, __ATOMIC_ACQUIRE);
}

void cbpf_ring_store_tail(struct perf_event_mmap_page *page, uint64_t tail)
{
	__atomic_store_n(&page->data_tail, tail, __ATOMIC_RELEASE);
}

uint64_t cbpf_load_acquire_u64(const void *address)
{
	return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}

uint32_t cbpf_load_acquire_u32(const void *address)
{
	return __atomic_load_n((const uint32_t *)address, __ATOMIC_ACQUIRE);
}

void cbpf_store_release_u64(void *address, uint64_t value)
{
	__atomic_store_n((uint64_t *)address, value, __ATOMIC_RELEASE);
}
