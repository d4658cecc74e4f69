/* brtrace: the one event struct every hook emits.
 *
 * Its schema is tracer/schema/event.py (field, C type, what it becomes in an
 * Event); the decoder's numpy dtype is built from that table, and the
 * generated brt_schema.h (probes/cgen.py) asserts every offset, size and
 * signedness below against it at each compile. Change both together (and
 * bump the recording schema version). Every field has a fixed offset and
 * natural alignment so user space can decode a whole ring-buffer batch as one
 * array instead of one callback per event. Kernel structs are never included
 * for their layout: offsets come from the running kernel's BTF as -D cflags
 * (see probes/offsets.py). Hook ids and the BRT_F_* flags come from
 * brt_schema.h too.
 */
#ifndef BRTRACE_H
#define BRTRACE_H

#ifndef BRT_SNAPLEN
#define BRT_SNAPLEN 128
#endif

struct brt_key {
    u32 saddr;          /* network byte order; IPv6: the last 4 bytes (whole: brt_event.saddr6) */
    u32 daddr;
    u16 ip_id;          /* host order */
    u16 sport;          /* host order; ICMP echo id */
    u16 dport;          /* host order; ICMP echo sequence */
    u8 proto;
    u8 ttl;
    u8 icmp_type;       /* 0xff when not ICMP */
    u8 icmp_code;
    u16 pad;
};                      /* 20 bytes */

struct brt_event {
    u64 ts_ns;
    u64 skb;
    u64 location;
    u32 netns;
    u32 ifindex;
    u32 len;
    u32 drop_reason;
    u32 vni;
    u32 fib_table;
    s32 fib_err;
    u32 fib_oif;
    u32 fib_iif;
    u32 fib_nh_ifindex;
    u32 fib_gw;
    u16 cpu;
    u16 hook;
    u16 ethertype;
    u16 vlan;
    u16 fdb_vlan;
    u8 pkt_type;
    u8 flags;
    char ifname[16];
    u8 src_mac[6];
    u8 dst_mac[6];
    u8 inner_src_mac[6];
    u8 inner_dst_mac[6];
    u8 fdb_mac[6];
    u8 saddr6[16];      /* the IPv6 key's addresses (BRT_F_V6 outer, BRT_F_INNER_V6 inner) */
    u8 daddr6[16];
    u16 hdr_len;
    struct brt_key outer;
    struct brt_key inner;
    u8 headers[BRT_SNAPLEN];
};

/* A repeat of the last full record of the same skb on this CPU, at a later
 * hook (tracer/schema/event.py: BRT_HOP; brtrace.c: emit_hop). */
struct brt_hop {
    u64 ts_ns;
    u64 skb;
    u64 location;
    u64 base_ts;        /* ts_ns of the full record it repeats */
    u32 netns;
    u32 ifindex;
    u32 len;
    u32 drop_reason;
    u16 cpu;
    u16 hook;
    u8 pkt_type;
    u8 pad[3];
    char ifname[16];
};

/* An IPv4 route lookup (tracer/schema/event.py: BRT_ROUTE; brtrace.c: emit_route). */
struct brt_route {
    u64 ts_ns;
    u64 skb;
    u32 netns;
    u32 ifindex;
    u32 fib_table;
    s32 fib_err;
    u32 fib_oif;
    u32 fib_iif;
    u32 fib_nh_ifindex;
    u32 fib_gw;
    u32 saddr;          /* the flow's, network order (brt_event.outer) */
    u32 daddr;
    u16 cpu;
    u16 hook;
    u8 proto;
    u8 flags;
    u8 pad[2];
    char ifname[16];
};

/* A packet the drain parses itself (tracer/schema/event.py: BRT_RAW;
 * brtrace.c: emit_raw): a layout tail_emit's early test proved plain, its
 * header bytes and what the skb says, not the parse's fields. */
struct brt_raw {
    u64 ts_ns;
    u64 skb;
    u64 location;
    u32 netns;
    u32 ifindex;
    u32 len;
    u32 drop_reason;
    u16 cpu;
    u16 hook;
    u16 vlan;
    u16 hdr_len;
    u8 pkt_type;
    u8 flags;           /* BRT_F_L3 or BRT_F_MAC, BRT_F_INNER: a plain VXLAN frame */
    u8 pad[6];
    char ifname[16];
    u8 headers[BRT_SNAPLEN];
};

#endif
