/* brtrace: the one event struct every hook emits.
 *
 * Mirrored field by field by probes/layout.py (a numpy dtype); keep both in
 * step. Every field has a fixed offset and natural alignment so user space can
 * decode a whole ring-buffer batch as one array instead of one callback per
 * event. Kernel structs are never included for their layout: offsets come
 * from the running kernel's BTF as -D cflags (see probes/offsets.py).
 */
#ifndef BRTRACE_H
#define BRTRACE_H

#ifndef BRT_SNAPLEN
#define BRT_SNAPLEN 128
#endif

/* Hook ids: the same numbers as tracer.model.Hook. */
#define HOOK_NET_DEV_QUEUE 1
#define HOOK_NET_DEV_START_XMIT 2
#define HOOK_NETIF_RECEIVE_SKB 3
#define HOOK_NETIF_RX 4
#define HOOK_FIB_TABLE_LOOKUP 5
#define HOOK_KFREE_SKB 6
#define HOOK_BR_FDB_UPDATE 7
#define HOOK_BR_HANDLE_FRAME 20
#define HOOK_VETH_XMIT 21
#define HOOK_IP_FORWARD 22
#define HOOK_BR_FORWARD 23
#define HOOK_BR_PASS_FRAME_UP 24
#define HOOK_VXLAN_XMIT 25
#define HOOK_VXLAN_RCV 26
#define HOOK_IP_RCV 27
#define HOOK_IP_FINISH_OUTPUT2 28

/* flags */
#define BRT_F_L3 1      /* headers[] starts at the IP header, not Ethernet */
#define BRT_F_INNER 2   /* inner holds a VXLAN-encapsulated packet's key */
#define BRT_F_ROUTE 4   /* fib_* fields are set */
#define BRT_F_FDB 8     /* fdb_* fields are set */
#define BRT_F_MAC 16    /* src_mac/dst_mac are set */

struct brt_key {
    u32 saddr;          /* network byte order */
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
    u16 hdr_len;
    struct brt_key outer;
    struct brt_key inner;
    u8 headers[BRT_SNAPLEN];
};

#endif
