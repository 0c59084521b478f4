/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CO-RE ("compile once, run everywhere") without libbpf's headers: readable
 * names for clang's builtins. Each builtin makes clang emit one record in
 * .BTF.ext (instruction, local type, access path, kind); the loader rewrites
 * that instruction for the running kernel's BTF. docs/CORE.md explains how.
 *
 * The kind numbers are the kernel's `enum bpf_core_relo_kind` seen through
 * each builtin's own numbering (clang's BPFCoreSharedInfo.h).
 */
#ifndef RETRANS_BPF_CORE_H
#define RETRANS_BPF_CORE_H

/* Second argument of __builtin_preserve_field_info. */
enum core_field_info {
	CORE_FIELD_BYTE_OFFSET = 0, /* byte_off: where the field starts */
	CORE_FIELD_BYTE_SIZE = 1,   /* byte_sz: how many bytes to load */
	CORE_FIELD_EXISTS = 2,      /* field_exists: 1 or 0 */
	CORE_FIELD_SIGNED = 3,      /* signed: 1 for a signed int or enum */
	CORE_FIELD_LSHIFT_U64 = 4,  /* lshift_u64: bitfield extraction, step 1 */
	CORE_FIELD_RSHIFT_U64 = 5,  /* rshift_u64: bitfield extraction, step 2 */
};

/* Second argument of __builtin_btf_type_id. */
enum core_type_id {
	CORE_TYPE_ID_LOCAL = 0,  /* local_type_id: the id in this object's BTF */
	CORE_TYPE_ID_TARGET = 1, /* target_type_id: the id in the kernel's BTF */
};

/* Second argument of __builtin_preserve_type_info. */
enum core_type_info {
	CORE_TYPE_EXISTS = 0,  /* type_exists */
	CORE_TYPE_SIZE = 1,    /* type_size */
	CORE_TYPE_MATCHES = 2, /* type_matches (clang 15 and later) */
};

/* Second argument of __builtin_preserve_enum_value. */
enum core_enum_value_info {
	CORE_ENUMVAL_EXISTS = 0, /* enumval_exists */
	CORE_ENUMVAL_VALUE = 1,  /* enumval_value */
};

/* Facts about a field, as the running kernel lays it out: core_field_offset(sk->sk_mark). */
#define core_field_offset(field) __builtin_preserve_field_info(field, CORE_FIELD_BYTE_OFFSET)
#define core_field_size(field) __builtin_preserve_field_info(field, CORE_FIELD_BYTE_SIZE)
#define core_field_exists(field) __builtin_preserve_field_info(field, CORE_FIELD_EXISTS)
#define core_field_signed(field) __builtin_preserve_field_info(field, CORE_FIELD_SIGNED)
#define core_field_lshift(field) __builtin_preserve_field_info(field, CORE_FIELD_LSHIFT_U64)
#define core_field_rshift(field) __builtin_preserve_field_info(field, CORE_FIELD_RSHIFT_U64)

/* Facts about a type: core_type_exists(struct sock). */
#define core_type_exists(type) __builtin_preserve_type_info(*(typeof(type) *)0, CORE_TYPE_EXISTS)
#define core_type_size(type) __builtin_preserve_type_info(*(typeof(type) *)0, CORE_TYPE_SIZE)
#define core_type_matches(type) __builtin_preserve_type_info(*(typeof(type) *)0, CORE_TYPE_MATCHES)
#define core_type_id_local(type) __builtin_btf_type_id(*(typeof(type) *)0, CORE_TYPE_ID_LOCAL)
#define core_type_id_kernel(type) __builtin_btf_type_id(*(typeof(type) *)0, CORE_TYPE_ID_TARGET)

/* Facts about an enumerator: core_enum_value(enum tcp_ca_state, TCP_CA_Loss). */
#define core_enum_value_exists(enum_type, value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)value, CORE_ENUMVAL_EXISTS)
#define core_enum_value(enum_type, value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)value, CORE_ENUMVAL_VALUE)

/*
 * The address of a field, relocated: &sk->sk_mark at the kernel's offset.
 * For programs that must copy kernel memory (tracepoint/, kprobe/):
 *   core_read(&mark, &sk->sk_mark);
 */
#define core_field_address(field) __builtin_preserve_access_index(field)
#define core_read(destination, field_address) \
	bpf_probe_read_kernel(destination, sizeof(*(destination)), __builtin_preserve_access_index(field_address))

/*
 * A bitfield read directly (tp_btf/, fentry/: the verifier knows the
 * pointer's type): load byte_sz bytes at byte_off, shift the field to the
 * top of 64 bits, then back down, with sign extension if the field is signed.
 * Every step is a relocated constant, so the unused load widths are dead code.
 */
#define core_read_bitfield(s, field) ({                                            \
	const void *_at = (const void *)(s) + core_field_offset((s)->field);      \
	unsigned long long _value;                                                 \
	asm volatile("" : "+r"(_at)); /* keep the offset a separate add */        \
	switch (core_field_size((s)->field)) {                                     \
	case 1: _value = *(const unsigned char *)_at; break;                       \
	case 2: _value = *(const unsigned short *)_at; break;                      \
	case 4: _value = *(const unsigned int *)_at; break;                        \
	default: _value = *(const unsigned long long *)_at; break;                 \
	}                                                                          \
	_value <<= core_field_lshift((s)->field);                                  \
	if (core_field_signed((s)->field))                                         \
		_value = (unsigned long long)((long long)_value >> core_field_rshift((s)->field)); \
	else                                                                       \
		_value >>= core_field_rshift((s)->field);                          \
	_value;                                                                    \
})

#endif
