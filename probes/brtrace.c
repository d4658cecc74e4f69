/* brtrace: one BPF program, one event struct, every hook.
 *
 * Tracepoints are attached as raw tracepoints (args are the tracepoint's C
 * arguments, e.g. the sk_buff pointer), which every kernel since 4.17 allows
 * even without kprobes. Function hooks (kprobes, or fentry where allowed) use
 * the same emit_skb() path. All kernel struct fields are read with
 * bpf_probe_read_kernel() at OFF_* offsets the loader takes from the running
 * kernel's BTF, so the headers tree bcc compiles with does not matter.
 *
 * Parameters arrive as -D cflags (see probes/loader.py):
 *   OFF_*             struct member offsets (BTF)
 *   VXLAN_PORT        UDP port of the VXLAN devices to look inside (8472, flannel)
 *   FILTER_ICMP_ID    only ICMP echo/reply with brt_cfg's id (outer or VXLAN-inner)
 *   FILTER_HOST       only packets from/to this IPv4 address (u32, network order)
 *   FILTER_PROTO      only this IP protocol;  FILTER_PORT  only this L4 port
 *   FIB_ADDR_A/B      route lookups for brt_cfg's fib_a/fib_b always pass the filter
 *   FIB6_ADDR_A/B     the same for its IPv6 addresses (fib6_a/fib6_b)
 *                     (the values themselves are load-time constants: struct brt_cfg)
 *   ONLY_DROPS        emit only kfree_skb events (brtrace drops)
 *   NAT_FOLLOW        a --host/--port or expression match stays followed through NAT
 *                     (nat_follow_*)
 *   FILTER_NETNS      only devices in the namespaces (inodes) the loader puts in
 *                     netns_allow (brtrace agent --netns: two agents, one kernel)
 *   RINGBUF_PAGES     ring buffer size in pages
 *   SPILL_PAGES       size of the spill ring (reserve()) in pages
 *   BRT_NCPU, CPU_POS_WORDS, CPU_POS_TAIL, CPU_RING_*, *_SLOTS, *_SLOT_BYTES
 *                     the per-CPU rings of hop, raw and route records (probes/cpuring.py)
 *   BRT_FULL_RECORDS  a whole event's record for every event: no hop, route or raw records
 *   <S>_WIN_LO/LEN    one probe read covering the fields of a struct the probes read
 *                     together (S = SKB, SKBM, DEV, FLP, NHC; loader.WINDOWS), when
 *                     they lie close enough; else one read per field
 *   SKB_WIN_META      the SKB window also covers the SKBM fields (loader.MERGED)
 *   BRT_CAST_FN       BTF id of bpf_rdonly_cast, with BRT_SKB_BTF, BRT_BYTES_BTF and
 *                     BRT_CAST_MARK, when the kernel lets raw tracepoints call it
 *                     (loader.cast_macros): the fixed filter's reject path (cast_reject)
 *
 * the pcap-filter expression, if any, as the generated header brt_filter.h
 * (tracer/pcapf/translate.py: brt_pcap_l2/brt_pcap_l3, BRT_PCAP_INNER),
 * and the schema arrives as the generated header brt_schema.h (probes/cgen.py,
 * from tracer/schema): hook ids HOOK_<NAME> and their layers LAYER_<NAME>,
 * the BRT_F_* flags, the lists the one hook macro expands (BRT_TP_SKB_HOOKS,
 * BRT_KPROBE_SKB_HOOKS, BRT_FENTRY_SKB_HOOKS: only the function hooks that
 * attach that way this load), BRT_KPROBE_<fn>/BRT_FENTRY_<fn> for the
 * hand-written function handlers, and compile-time checks of brtrace.h's
 * struct against the schema. Adding a hook is a row in tracer/schema/hooks.py,
 * plus a handler here only if its skb is not simply an argument.
 */
/* pt_regs is kernel entry ABI on x86_64, identical across versions: safe to take from any headers tree. */
#include <uapi/linux/ptrace.h>
#include "brtrace.h"
#include "brt_schema.h"

#ifndef RINGBUF_PAGES
#define RINGBUF_PAGES 1024
#endif
#ifndef SPILL_PAGES
#define SPILL_PAGES 64
#endif
#ifndef VXLAN_PORT
#define VXLAN_PORT 8472
#endif
#ifndef VXLAN_PORT3 /* a VXLAN device's dstport in the topology (tracer/filter.with_topology) */
#define VXLAN_PORT3 VXLAN_PORT
#endif
#ifndef VXLAN_PORT2
#define VXLAN_PORT2 4789
#endif
/* A route lookup is tied to the packet that last matched on its CPU when no
 * other packet passed a hook there since (emit_skb clears it) and within this
 * window. 2 ms, not 200 us: under emulation (the 6.1 VM of `make vmtest`) the
 * first packet after attaching takes ~0.5 ms from ip_rcv to its lookup.
 * (Not the correlator's FIB_WINDOW_NS, which is how long an untied lookup
 * waits in user space for its packet.) */
#define FIB_TIE_NS 2000000ULL
/* An input lookup's tie (fib_stamp): its packet's record was taken in this
 * jiffy or the one before (at most two ticks: 8 ms at HZ=250). */
#define FIB_TIE_JIFFIES 1
#define MAC_UNSET 0xffff
#define ETH_IP 0x0800
#define ETH_ARP 0x0806
#define ETH_IPV6 0x86DD
#define ETH_8021Q 0x8100
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58

#define L2_HOOK 0
#define L3_HOOK 1
/* early_reject's verdicts (cast_reject) */
#define EARLY_UNDECIDED 0
#define EARLY_NOT_OURS 1
#define EARLY_PLAIN 2
#define EARLY_PLAIN_VXLAN 3

BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
/* Where an event goes when `events` refuses it (see reserve()); user space
 * drains both and puts spilled events back in time order (probes/drain.py). */
BPF_RINGBUF_OUTPUT(spill, SPILL_PAGES);
BPF_PERCPU_ARRAY(lost, u64, 1);
/* Every event the probes tried to emit: received + lost == produced, exactly. */
BPF_PERCPU_ARRAY(produced, u64, 1);

static __always_inline void count_produced(void)
{
    u32 zero = 0;
    u64 *n = produced.lookup(&zero);
    if (n)
        __sync_fetch_and_add(n, 1);
}

#ifdef FILTER_NETNS
BPF_HASH(netns_allow, u32, u8, 64);

/* An event of a namespace this program does not serve: handed back, and not
 * counted as produced (so received + lost == produced still holds). */
static __always_inline int netns_refused(void *ev, u32 inum)
{
    if (netns_allow.lookup(&inum))
        return 0;
    u32 zero = 0;
    u64 *n = produced.lookup(&zero);
    if (n)
        __sync_fetch_and_add(n, -1);
    bpf_ringbuf_discard(ev, 0);
    return 1;
}
#define NETNS_REFUSED(ev) netns_refused(ev, (ev)->netns)
/* The same for a per-CPU ring's record: nothing to hand back, it is simply not published. */
static __always_inline int netns_other(u32 inum)
{
    return !netns_allow.lookup(&inum);
}
#define NETNS_OTHER(r) netns_other((r)->netns)
#else
#define NETNS_REFUSED(ev) 0
#define NETNS_OTHER(r) 0
#endif

#define RD(dst, base, off) bpf_probe_read_kernel(&(dst), sizeof(dst), (void *)((u64)(base) + (off)))

#ifdef BRT_CAST_FN
/* bpf_rdonly_cast(obj, btf_id) (kernel/bpf/helpers.c, read in 6.18): obj as a
 * pointer to that BTF type, read with plain loads the JIT guards (a fault
 * reads 0), no helper call; the verifier turns the call itself into a move.
 * bcc's LLVM cannot emit a kfunc call, so this calls helper BRT_CAST_MARK,
 * which the loader rewrites into the kfunc call (probes/loader.py:
 * patch_casts). BRT_SKB_BTF: struct sk_buff; BRT_BYTES_BTF: a struct that is
 * one byte array, for header bytes. */
static void *(*brt_rdonly_cast)(void *obj, u64 btf_id) = (void *)BRT_CAST_MARK;
/* volatile: one load per field, never merged across two members (the verifier checks each) */
#define CLD(T, p, off) (*(volatile T *)((u8 *)(p) + (off)))

#ifdef BRT_CAST_VOID
/* bpf_rdonly_cast(p, 0) (BPF_FEAT_RDONLY_CAST_TO_VOID, 6.16+; probes/plan.py
 * proves it per boot): untyped read-only memory the verifier lets a program
 * read at any offset, computed ones included (a pcap expression's X + k past
 * the IPv4 header's length, which a typed byte array refuses), each load
 * guarded by the JIT as above. The packet and the device are then read in
 * place: no bpf_probe_read_kernel copy (~25 ns a call on 6.18 with
 * retpolines) into the scratch first. */
#define KMEM(p) ((u8 *)brt_rdonly_cast((void *)(p), 0))
#endif
#endif

struct brt_parsed {
    struct brt_key outer;
    struct brt_key inner;
    u32 vni;
    u16 ethertype;
    u16 vlan;
    u8 src_mac[6];
    u8 dst_mac[6];
    u8 inner_src_mac[6];
    u8 inner_dst_mac[6];
    u8 saddr6[16];  /* the IPv6 key's addresses (brt_event.saddr6) */
    u8 daddr6[16];
    u8 flags;
    u8 inner_l2;    /* buffer offset of the VXLAN-inner frame (pcap --inner) */
};

static __always_inline u16 bswap16(u16 v) { return (v >> 8) | (v << 8); }

/* Headers are read once per hook into a per-CPU buffer (one probe read, not
 * one per header: the reads were most of the cost for packets the filter
 * rejects), then parsed from there. HB() masks every offset into the buffer
 * so the verifier sees each access in bounds; the parsers check offsets
 * against the bytes actually read (n) before using them. */
#define HDR_BUF 128
#define HDR_SLACK 32
#define HB(b, o) ((b)[(o) & (HDR_BUF - 1)])
#define HOFF(o) ((o) & (HDR_BUF - 1))

#ifdef BRT_CAST_VOID
/* The parsers read the packet in place (emit_skb), where every load is one the
 * JIT guards: one load per field, not one per byte (a u8 pointer's memcpy). */
static __always_inline u16 hb16(u8 *b, u32 o) { return bswap16(CLD(u16, b, HOFF(o))); }
static __always_inline u32 hb32(u8 *b, u32 o) { return CLD(u32, b, HOFF(o)); }
static __always_inline void hmac(u8 *dst, u8 *b, u32 o)
{
    u32 hi = CLD(u32, b, HOFF(o));
    u16 lo = CLD(u16, b, HOFF(o) + 4);
    __builtin_memcpy(dst, &hi, 4);
    __builtin_memcpy(dst + 4, &lo, 2);
}
static __always_inline void hip6(u8 *dst, u8 *b, u32 o)
{
    u64 hi = CLD(u64, b, HOFF(o));
    u64 lo = CLD(u64, b, HOFF(o) + 8);
    __builtin_memcpy(dst, &hi, 8);
    __builtin_memcpy(dst + 8, &lo, 8);
}
#else
static __always_inline u16 hb16(u8 *b, u32 o) { return (HB(b, o) << 8) | HB(b, o + 1); }

/* 4 bytes as they lie in memory (addresses stay in network order) */
static __always_inline u32 hb32(u8 *b, u32 o)
{
    u32 v;
    __builtin_memcpy(&v, &b[HOFF(o)], 4);
    return v;
}
static __always_inline void hmac(u8 *dst, u8 *b, u32 o) { __builtin_memcpy(dst, &b[HOFF(o)], 6); }
static __always_inline void hip6(u8 *dst, u8 *b, u32 o) { __builtin_memcpy(dst, &b[HOFF(o)], 16); }
#endif

/* IPv4 header + the first 8 bytes of L4 into a key. Returns the L4 offset or 0. */
static __always_inline u32 parse_ip(u8 *b, u32 n, u32 off, struct brt_key *k)
{
    if (off + 20 > n || (HB(b, off) >> 4) != 4)
        return 0;
    u32 ihl = (HB(b, off) & 0x0f) * 4;
    k->saddr = hb32(b, off + 12);
    k->daddr = hb32(b, off + 16);
    k->ip_id = hb16(b, off + 4);
    k->ttl = HB(b, off + 8);
    k->proto = HB(b, off + 9);
    k->icmp_type = 0xff;
    if (hb16(b, off + 6) & 0x1fff) /* a later fragment: no L4 header */
        return 0;
    u32 l4 = off + ihl;
    if (ihl < 20 || l4 + 8 > n)
        return 0;
    if (k->proto == PROTO_ICMP) {
        k->icmp_type = HB(b, l4);
        k->icmp_code = HB(b, l4 + 1);
        k->sport = hb16(b, l4 + 4);
        k->dport = hb16(b, l4 + 6);
    } else if (k->proto == PROTO_TCP || k->proto == PROTO_UDP) {
        k->sport = hb16(b, l4);
        k->dport = hb16(b, l4 + 2);
    }
    return l4;
}

/* IPv6: the fixed header, then at most IP6_EXT_MAX extension headers skipped
 * (hop-by-hop 0, routing 43, destination options 60: (len + 1) * 8 bytes;
 * fragment 44: 8 bytes, and a later fragment has no L4 header), then the
 * first 8 bytes of L4. The key holds the addresses' last 4 bytes (what
 * packet keys compare), the flow label's low 16 bits as ip_id, the hop limit
 * as ttl; a6/b6 the whole addresses, and v6 |= bit once the header is read.
 * ICMPv6 echo puts its id and sequence where ICMP's go. Returns the L4
 * offset or 0. */
#define IP6_EXT_MAX 4
static __always_inline u32 parse_ip6(u8 *b, u32 n, u32 off, struct brt_key *k, u8 *a6, u8 *b6,
                                     u8 *v6, u8 bit)
{
    if (off + 40 > n || (HB(b, off) >> 4) != 6)
        return 0;
    hip6(a6, b, off + 8);
    hip6(b6, b, off + 24);
    *v6 |= bit;
    k->saddr = hb32(b, off + 20);
    k->daddr = hb32(b, off + 36);
    k->ip_id = hb16(b, off + 2);
    k->ttl = HB(b, off + 7);
    k->icmp_type = 0xff;
    u8 nh = HB(b, off + 6);
    u32 l4 = off + 40;
#pragma unroll
    for (int i = 0; i < IP6_EXT_MAX; i++) {
        if (nh != 0 && nh != 43 && nh != 60 && nh != 44)
            break;
        if (l4 + 8 > n)
            return 0;
        if (nh == 44 && (hb16(b, l4 + 2) & 0xfff8)) {
            k->proto = HB(b, l4); /* a later fragment: no L4 header */
            return 0;
        }
        u32 len = nh == 44 ? 8 : (HB(b, l4 + 1) + 1) * 8;
        nh = HB(b, l4);
        l4 += len;
    }
    k->proto = nh;
    if (l4 + 8 > n)
        return 0;
    if (nh == PROTO_ICMPV6) {
        k->icmp_type = HB(b, l4);
        k->icmp_code = HB(b, l4 + 1);
        if (k->icmp_type == 128 || k->icmp_type == 129) {
            k->sport = hb16(b, l4 + 4);
            k->dport = hb16(b, l4 + 6);
        }
    } else if (nh == PROTO_TCP || nh == PROTO_UDP) {
        k->sport = hb16(b, l4);
        k->dport = hb16(b, l4 + 2);
    }
    return l4;
}

static __always_inline void parse_arp(u8 *b, u32 n, u32 off, struct brt_key *k)
{
    if (off + 28 > n)
        return;
    k->saddr = hb32(b, off + 14);
    k->daddr = hb32(b, off + 24);
    k->sport = hb16(b, off + 6); /* ARP opcode */
    k->icmp_type = 0xff;
}

/* Ethernet (+ one 802.1Q tag) at off; returns the L3 offset (0: too short), sets ethertype. */
static __always_inline u32 parse_eth(u8 *b, u32 n, u32 off, u8 *dst, u8 *src, u16 *etype, u16 *vlan)
{
    if (off + 14 > n)
        return 0;
    hmac(dst, b, off);
    hmac(src, b, off + 6);
    u16 t = hb16(b, off + 12);
    off += 14;
    if (t == ETH_8021Q) {
        if (off + 4 > n)
            return 0;
        *vlan = hb16(b, off) & 0x0fff;
        t = hb16(b, off + 2);
        off += 4;
    }
    *etype = t;
    return off;
}

static __always_inline void parse_vxlan(u8 *b, u32 n, u32 l4off, struct brt_parsed *p)
{
    if (p->outer.proto != PROTO_UDP || !(p->outer.dport == VXLAN_PORT || p->outer.dport == VXLAN_PORT2 ||
                                          p->outer.dport == VXLAN_PORT3))
        return;
    if (l4off + 16 > n || !(HB(b, l4off + 8) & 0x08))
        return;
    p->vni = (HB(b, l4off + 12) << 16) | (HB(b, l4off + 13) << 8) | HB(b, l4off + 14);
    p->inner_l2 = l4off + 16;
    u16 it = 0, iv = 0;
    u32 l3 = parse_eth(b, n, l4off + 16, p->inner_dst_mac, p->inner_src_mac, &it, &iv);
    if (l3 && it == ETH_IP && parse_ip(b, n, l3, &p->inner))
        p->flags |= BRT_F_INNER;
    else if (l3 && it == ETH_ARP) {
        parse_arp(b, n, l3, &p->inner);
        p->flags |= BRT_F_INNER;
    } else if (l3 && it == ETH_IPV6) {
        parse_ip6(b, n, l3, &p->inner, p->saddr6, p->daddr6, &p->flags, BRT_F_INNER_V6);
        if (p->flags & BRT_F_INNER_V6)
            p->flags |= BRT_F_INNER;
    }
}

/* Filter values that change from one run to the next (ping's ICMP id, the
 * addresses whose route lookups it keeps) are written here by the loader
 * before anything attaches (tracer/filter.py: cfg_values; probes/loader.py,
 * probes/cacheload.py). As -D values they made every ping a new compile and a
 * new compiled-program cache key (probes/progcache.py); which of them a load
 * uses stays a -D (FILTER_ICMP_ID, FIB_ADDR_A/B, FIB6_ADDR_A/B). */
struct brt_cfg {
    u64 fib6_a[2]; /* IPv6 addresses as two u64 halves, as loaded from an in6_addr */
    u64 fib6_b[2];
    u32 fib_a;     /* IPv4, network order as loaded */
    u32 fib_b;
    u32 icmp_id;
    u32 pad;
};
_Static_assert(sizeof(struct brt_cfg) == BRT_CFG_SIZE, "struct brt_cfg: tracer/filter.py CFG_FORMAT differs");
BPF_ARRAY(brt_cfg, struct brt_cfg, 1);

static __always_inline struct brt_cfg *cfg(void)
{
    u32 zero = 0;
    return brt_cfg.lookup(&zero);
}

static __always_inline int key_match(struct brt_key *k)
{
#ifdef FILTER_ICMP_ID /* an echo of ICMP or ICMPv6, with brt_cfg's id */
    if (k->proto == PROTO_ICMP ? (k->icmp_type != 0 && k->icmp_type != 8)
                               : (k->proto != PROTO_ICMPV6 || (k->icmp_type != 128 && k->icmp_type != 129)))
        return 0;
    struct brt_cfg *cf = cfg();
    if (!cf || k->sport != cf->icmp_id)
        return 0;
#endif
#ifdef FILTER_HOST
    if (k->saddr != (u32)FILTER_HOST && k->daddr != (u32)FILTER_HOST)
        return 0;
#endif
#ifdef FILTER_PROTO
    if (k->proto != FILTER_PROTO)
        return 0;
#endif
#ifdef FILTER_PORT
    if (k->sport != FILTER_PORT && k->dport != FILTER_PORT)
        return 0;
#endif
    return k->saddr != 0 || k->proto != 0;
}

/* The pcap-filter expression (brtrace trace EXPR), translated from libpcap's
 * classic BPF into brt_filter.h by tracer/pcapf/translate.py for this load:
 * brt_pcap_l2() on a frame, brt_pcap_l3() on a bare IP packet. Without an
 * expression the header is empty. */
#include "brt_filter.h"

#if defined(FILTER_ICMP_ID) || defined(FILTER_HOST) || defined(FILTER_PROTO) || defined(FILTER_PORT)
#define BRT_FIXED_FILTER 1
#endif
#if defined(BRT_FIXED_FILTER) || defined(BRT_PCAP_FILTER)
#define BRT_FILTERED 1 /* some packets are not ours */
#endif

#ifdef BRT_CAST_VOID /* the packet in place (KMEM): whole loads, not HB's bytes */
#define PCAP_IN_PLACE brt_pcap_l2_kmem
#define PCAP_L3_IN_PLACE brt_pcap_l3_kmem
#define HB_IN_PLACE 1 /* emit_skb's header bytes are the packet itself */
#else
#define HB_IN_PLACE 0
#define PCAP_IN_PLACE brt_pcap_l2
#define PCAP_L3_IN_PLACE brt_pcap_l3
#endif

/* The expression on the headers read (b[0..n), starting at the frame, or at
 * the IP header when l3), wl bytes long on the wire; 1 without an expression.
 * in_place: b is the packet itself (KMEM), a compile-time constant at every
 * call, so each inlined copy keeps one of the two forms (the verifier refuses
 * one load instruction on two kinds of pointer). */
static __always_inline int pcap_outer(u8 *b, u32 n, u8 l3, u32 wl, const int in_place)
{
#ifdef BRT_PCAP_FILTER
    if (!l3)
        return (in_place ? PCAP_IN_PLACE(b, n, 0, wl) : brt_pcap_l2(b, n, 0, wl)) != 0;
#ifdef BRT_PCAP_L3
    return (in_place ? PCAP_L3_IN_PLACE(b, n, 0, wl) : brt_pcap_l3(b, n, 0, wl)) != 0;
#else
    return 0;
#endif
#else
    return 1;
#endif
}

/* With --inner: the expression on the frame inside VXLAN (hb: the headers as
 * read, or the packet in place with BRT_CAST_VOID). */
static __always_inline int pcap_inner(u8 *hb, u32 hn, struct brt_parsed *p, u32 wl)
{
#ifdef BRT_PCAP_INNER /* the inner frame runs to the packet's end: its length is the rest */
    return (p->flags & BRT_F_INNER) && PCAP_IN_PLACE(hb, hn, p->inner_l2, wl - p->inner_l2);
#else
    return 0;
#endif
}

static __always_inline int packet_match(struct brt_parsed *p)
{
#ifdef BRT_FIXED_FILTER
    if (key_match(&p->outer))
        return 1;
    return (p->flags & BRT_F_INNER) && key_match(&p->inner);
#else
    return 1;
#endif
}

/* ---- following a matched packet through NAT (issue 17) ----
 *
 * NAT rewrites the headers the filter matched on: DNAT turns a request to the
 * published 198.51.100.2:8080 into one to 172.17.0.2:80, and from then on
 * neither address is the one --host named. A packet the filter matched is
 * therefore remembered by its skb (nat_follow_skb: the same sk_buff carries
 * it through PREROUTING, the forward and the veth, as seen on 6.18), with
 * its IP id and protocol as a fingerprint, because a freed skb's address is
 * soon reused: its kfree_skb clears it, and a consumed skb (consume_skb is
 * not attached: it would cost every packet of the machine) is told apart by
 * the fingerprint and the age. Every header a followed skb shows is the
 * rewritten tuple: its reverse goes to nat_follow_reply, and the reply
 * (whose tuple is exactly that reverse until conntrack undoes the NAT) is
 * followed by it. Both maps are LRU, so a busy machine bounds them.
 * --host/--port and pcap-filter expressions follow (NAT rewrites the
 * addresses and ports they name: 'tcp and host 198.51.100.2' loses the
 * request at DNAT as --host does), not ping's ICMP id alone, and IPv4 only;
 * and only with NAT_FOLLOW: the loader sets it where a namespace has a NAT
 * rule. Cost for packets the filter rejects: one array read while nothing
 * has matched (nat_follow_armed: ~7 ns a run on 6.18, bench probecost),
 * two hash lookups once something has. */
#if defined(NAT_FOLLOW) && (defined(FILTER_HOST) || defined(FILTER_PORT) || defined(BRT_PCAP_FILTER)) && \
    !defined(ONLY_DROPS)
#define BRT_NAT_FOLLOW 1
#define FOLLOW_SKB_NS 1000000000ULL    /* a packet crosses a host in far less than 1 s */
#define FOLLOW_REPLY_NS 30000000000ULL /* a reply, or the next one of a connection */

struct brt_follow {
    u64 ts;
    u32 saddr; /* the tuple the filter matched: NAT changes one side of it */
    u32 daddr;
    u16 sport;
    u16 dport;
    u16 ip_id;
    u8 proto;
};

struct brt_tuple {
    u32 saddr;
    u32 daddr;
    u16 sport; /* ICMP: the echo id (sport), 0 (dport): both directions carry the same */
    u16 dport;
    u8 proto;
    u8 pad[3];
};

BPF_TABLE("lru_hash", u64, struct brt_follow, nat_follow_skb, 8192);
BPF_TABLE("lru_hash", struct brt_tuple, u64, nat_follow_reply, 8192);
BPF_ARRAY(nat_follow_armed, u8, 1);

static __always_inline void follow_tuple(struct brt_key *k, struct brt_tuple *t, int reverse)
{
    __builtin_memset(t, 0, sizeof(*t));
    t->proto = k->proto;
    t->saddr = reverse ? k->daddr : k->saddr;
    t->daddr = reverse ? k->saddr : k->daddr;
    if (k->proto == PROTO_ICMP) {
        t->sport = k->sport;
    } else {
        t->sport = reverse ? k->dport : k->sport;
        t->dport = reverse ? k->sport : k->dport;
    }
}

/* The filter matched this skb as it was received: follow it from here on.
 * Only receive hooks mark: netfilter rewrites a received packet after
 * netif_receive_skb (PREROUTING DNAT, POSTROUTING SNAT of a forwarded one),
 * and an LRU update at every hop of every matched packet cost ~80 ns a run
 * (bench probecost, 6.18); a locally sent packet is first seen already
 * rewritten (OUTPUT/POSTROUTING run before net_dev_queue), so marking it
 * would follow nothing. An skb marked at the veth is not marked again at
 * the bridge: one lookup instead of an update. */
static __always_inline void follow_mark(u64 skb, struct brt_key *k, u64 now, u16 hook)
{
    if (!k->saddr || !(hook == HOOK_NETIF_RECEIVE_SKB || hook == HOOK_NETIF_RX || hook == HOOK_IP_RCV ||
                       hook == HOOK_BR_HANDLE_FRAME))
        return; /* and not IPv4: NAT follows nothing here */
    struct brt_follow *old = nat_follow_skb.lookup(&skb);
    if (old && old->ip_id == k->ip_id && old->proto == k->proto && now - old->ts < FOLLOW_SKB_NS)
        return;
    struct brt_follow v = {.ts = now, .saddr = k->saddr, .daddr = k->daddr, .sport = k->sport,
                           .dport = k->dport, .ip_id = k->ip_id, .proto = k->proto};
    nat_follow_skb.update(&skb, &v);
    u32 zero = 0;
    u8 *armed = nat_follow_armed.lookup(&zero);
    if (armed && !*armed)
        *armed = 1;
}

/* Whether anything matched yet (then a packet the filter rejects may be a rewritten one). */
static __always_inline int follow_armed(void)
{
    u32 zero = 0;
    u8 *armed = nat_follow_armed.lookup(&zero);
    return armed && *armed;
}

/* A packet the filter did not match: one it matched before NAT rewrote it
 * (same skb), or the reply to a rewritten one. Returns 1 to emit it. */
static __always_inline int follow_nat(u64 skb, struct brt_key *k, u16 hook)
{
    u32 zero = 0;
    u8 *armed = nat_follow_armed.lookup(&zero);
    if (!armed || !*armed || !k->saddr)
        return 0;
    struct brt_tuple t;
    struct brt_follow *v = nat_follow_skb.lookup(&skb);
    if (v) {
        u64 now = bpf_ktime_get_ns();
        if (v->ip_id != k->ip_id || v->proto != k->proto || now - v->ts > FOLLOW_SKB_NS) {
            nat_follow_skb.delete(&skb); /* a reused skb: another packet */
            return 0;
        }
        /* NAT rewrites one side: SNAT/MASQUERADE the source, DNAT the
         * destination. The same tuple is not NAT's doing (the filter rejects
         * the packet for another reason: a VLAN tag taken off, another
         * device), and both sides new is another packet in a reused skb (a
         * kernel RST has IP id 0, as the last one had). DNAT and SNAT of one
         * packet (a hairpin) change both: not followed past the second. */
        int same_src = v->saddr == k->saddr && v->sport == k->sport;
        int same_dst = v->daddr == k->daddr && v->dport == k->dport;
        if (same_src == same_dst)
            return 0;
        if (hook == HOOK_KFREE_SKB) {
            nat_follow_skb.delete(&skb);
        } else {
            follow_tuple(k, &t, 1); /* the reply will carry the rewritten tuple, reversed */
            nat_follow_reply.update(&t, &now);
        }
        return 1;
    }
    follow_tuple(k, &t, 0);
    u64 *seen = nat_follow_reply.lookup(&t);
    return seen && bpf_ktime_get_ns() - *seen < FOLLOW_REPLY_NS;
}
#else
#define follow_armed() 0
#endif

/* A device name cut at its first NUL. Runtimes create a veth under a temporary
 * name and rename it to eth0 inside the container; the rename (dev_change_name
 * -> dev_get_valid_name -> strscpy, read in 6.18) writes the new name and its
 * terminator but leaves the old name's tail behind it, so the 16 bytes read
 * whole would carry "eth0\0\0\0\0887" to user space. */
#define IFNAME_LEN 16
static __always_inline void cut_name(char *ifname)
{
    int end = 0;
#pragma unroll
    for (int i = 0; i < IFNAME_LEN; i++) {
        end |= ifname[i] == 0;
        if (end)
            ifname[i] = 0;
    }
}

/* 8 bytes of a name as cut_name leaves them, in a register: the bytes before
 * the first NUL, zeros from it on; 0 once an earlier word had the NUL (*cut).
 * The lowest byte flagged by the zero-byte test below is the first NUL
 * (borrows only flag bytes above a real one); x86 is little-endian, so it is
 * the first character's end. cut_name's 16 byte loads, tests and stores on
 * the record were ~7 % of a hop record's time (perf samples, 6.18). */
static __always_inline u64 name_word(u64 w, int *cut)
{
    if (*cut)
        return 0;
    u64 z = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
    if (!z)
        return w;
    *cut = 1;
    return w & (((z & -z) >> 7) - 1);
}

/* A word stored at p in one 8-byte store. A memcpy into a u8 array is
 * lowered to 8 byte stores and 7 shifts (the BPF target assumes no
 * alignment): 128 stores for a record's headers[], 16 for a name. Every
 * record's ifname and headers[] start 8-aligned (asserted below), and so do
 * the records in both kinds of ring. */
#define STORE64(p, w) (*(u64 *)__builtin_assume_aligned((p), 8) = (w))
_Static_assert(offsetof(struct brt_event, ifname) % 8 == 0 && offsetof(struct brt_event, headers) % 8 == 0 &&
               offsetof(struct brt_hop, ifname) % 8 == 0 && offsetof(struct brt_route, ifname) % 8 == 0 &&
               offsetof(struct brt_raw, ifname) % 8 == 0 && offsetof(struct brt_raw, headers) % 8 == 0,
               "STORE64: names and headers 8-aligned");

/* A device as an event or a hop names it: its index, name and namespace. */
struct brt_devref {
    u32 *ifindex;
    char *ifname;
    u32 *netns;
};
#define DEVREF(r) ((struct brt_devref){&(r)->ifindex, (r)->ifname, &(r)->netns})

/* ifindex, name and netns of a device: with DEV_WIN_LO/DEV_WIN_LEN the
 * net_device fields come from one probe read (they are 72 bytes apart in 6.18). */
static __always_inline void fill_devref(struct brt_devref r, void *dev)
{
    if (!dev)
        return;
    void *net = 0;
#ifdef BRT_CAST_VOID
    u8 *d = KMEM(dev);
    *r.ifindex = CLD(u32, d, OFF_DEV_IFINDEX);
    int cut = 0;
    u64 w0 = name_word(CLD(u64, d, OFF_DEV_NAME), &cut);
    STORE64(r.ifname, w0);
    STORE64(r.ifname + 8, name_word(CLD(u64, d, OFF_DEV_NAME + 8), &cut));
    net = (void *)CLD(u64, d, OFF_DEV_ND_NET);
    if (net)
        *r.netns = CLD(u32, KMEM(net), OFF_NET_INUM);
    return;
#elif defined(DEV_WIN_LO)
    u8 w[DEV_WIN_LEN];
    if (bpf_probe_read_kernel(w, sizeof(w), dev + DEV_WIN_LO) < 0)
        return;
    __builtin_memcpy(r.ifindex, &w[OFF_DEV_IFINDEX - DEV_WIN_LO], sizeof(u32));
    __builtin_memcpy(r.ifname, &w[OFF_DEV_NAME - DEV_WIN_LO], IFNAME_LEN);
    __builtin_memcpy(&net, &w[OFF_DEV_ND_NET - DEV_WIN_LO], sizeof(net));
#else
    bpf_probe_read_kernel(r.ifindex, sizeof(u32), dev + OFF_DEV_IFINDEX);
    bpf_probe_read_kernel(r.ifname, IFNAME_LEN, dev + OFF_DEV_NAME);
    RD(net, dev, OFF_DEV_ND_NET);
#endif
    cut_name(r.ifname);
    if (net)
        bpf_probe_read_kernel(r.netns, sizeof(u32), net + OFF_NET_INUM);
}
#define fill_dev(ev, dev) fill_devref(DEVREF(ev), (dev))

/* whole: also clear headers[] (ring memory holds earlier events' bytes);
 * not needed when copy_headers writes all of it. now: the caller's clock
 * reading, or 0 (each helper call costs ~20 ns on a retpoline kernel). */
static __always_inline struct brt_event *reserve(int whole, u64 now)
{
    count_produced();
    struct brt_event *ev = events.ringbuf_reserve(sizeof(struct brt_event));
    /* At a 2-CPU flood on 6.18 about 1 reservation in 10^4 is refused with
     * the ring mostly empty: no nesting (counted), not a full ring (a 4x ring
     * changes nothing). The ring's lock in __bpf_ringbuf_reserve
     * (kernel/bpf/ringbuf.c, read in 6.18) is a resilient spinlock that may
     * give up. An immediate second try on the same ring got a third of
     * them; the spill ring, with its own lock, took every one of 306 in two
     * 1.9M-event floods. It also takes the overflow of a full main ring. */
    if (!ev)
        ev = spill.ringbuf_reserve(sizeof(struct brt_event));
    if (!ev) {
        u32 zero = 0;
        u64 *n = lost.lookup(&zero);
        if (n)
            __sync_fetch_and_add(n, 1);
        return 0;
    }
    if (whole)
        __builtin_memset(ev, 0, sizeof(*ev));
    else
        __builtin_memset(ev, 0, offsetof(struct brt_event, headers));
    ev->ts_ns = now ? now : bpf_ktime_get_ns();
    ev->cpu = bpf_get_smp_processor_id();
    return ev;
}

/* Hop records (emit_hop) with the default snaplen, where headers[] holds
 * exactly the bytes the parser may read (HDR_BUF): equal bytes then mean an
 * equal parse and equal headers[]. Not while NAT is followed (a verdict there
 * depends on maps, not only on the packet's bytes), not with an expression
 * that tests the length (wire_len is not in hop_sig), not for drops only
 * (one event per skb). BRT_FULL_RECORDS: none (tests compare). */
#if BRT_SNAPLEN == HDR_BUF && !defined(BRT_NAT_FOLLOW) && !defined(ONLY_DROPS) && \
    !defined(BRT_PCAP_LEN) && !defined(BRT_FULL_RECORDS)
#define BRT_HOPS 1
#define HOP_WORDS (HDR_BUF / 8)
#endif

/* Per-CPU working state of the skb path: the header buffer, the arguments an
 * entry hands to the tail-called parser, the packet that last matched, and
 * what its last full record held (hops). */
struct brt_scratch {
    u8 hdr[HDR_BUF + HDR_SLACK];
#ifdef SKB_WIN_LO
    u8 skbw[SKB_WIN_LEN];   /* the sk_buff window (read_skbf); too big for the stack */
#endif
    u64 skb;            /* tail-call arguments (see tail_emit) */
    u64 dev;
    u64 location;
    u32 reason;
    u16 hook;
    u8 mode;
    u8 busy;
    u8 early;           /* early_reject's verdict (EARLY_*) */
#ifdef BRT_PCAP_FILTER
    u8 vhdr[HDR_BUF + HDR_SLACK]; /* the frame with its out-of-band VLAN tag put back (vlan_frame) */
#endif
    u64 cur_ts;         /* the packet that last matched on this CPU: route */
    u64 cur_skb;        /* lookups carry no skb, so they are tied to it */
    u64 cur_jif;        /* jiffies when cur_ts was taken (fib_stamp) */
    u32 hdr_n;          /* the header length passed through memory (emit_skb: copy_headers) */
    u8 route_busy;      /* emit_route is writing this CPU's route ring (its one writer) */
#ifdef BRT_HOPS
    u64 hop_skb;        /* the skb of this CPU's last full record; 0: none, or not delivered */
    u64 hop_base;       /* that record's ts_ns */
    u64 hop_sig;        /* what else its parse depended on (hop_sig) */
    u64 hop_w[HOP_WORDS]; /* its headers[]: hdr_len bytes, zeros after them */
#endif
};
BPF_PERCPU_ARRAY(scratch, struct brt_scratch, 1);

/* ---- per-CPU rings: hop, raw and route records (probes/cpuring.py reads them) ----
 *
 * Each CPU has its own ring of fixed slots in an mmapable array, and a head
 * (slots written) and a tail (slots read, the drain's) in cpu_pos, each on
 * its own cache line. Each ring has one writer per CPU: hop and raw records
 * are written only by the skb path while it holds this CPU's scratch
 * (hold_scratch), route records only by brt_tp_fib_table_lookup while it
 * holds the scratch's route_busy (a nested one takes the full path). So a
 * slot is written with plain stores and published by storing head + 1 after
 * it. On x86 (bpfsys.py's only ABI) stores are seen in program order, so the
 * drain, having read head, finds every slot below it complete.
 *
 * Why not BPF ring buffers, as before: each record paid a spinlock with
 * interrupts off, a locked exchange and two helper calls. Hop and raw
 * records here instead of in ring buffers took a traced packet's probe time
 * from 1,890 to 1,544 ns, route records then to 1,421 (bench probecost,
 * 5 rounds each beside the step before, 6.18).
 * A slot is the ring buffer's record layout (an 8-byte header, here always
 * 0, then the struct), so the drain sees the same records as before.
 * A full ring refuses (0): the full path writes the event, as for a full
 * BPF ring. Records written here are counted by the heads, not `produced`. */
#ifndef BRT_NCPU
#define BRT_NCPU 1
#define CPU_POS_WORDS 16
#define CPU_POS_TAIL 8
#define CPU_RING_HOPS 0
#define CPU_RING_RAWS 1
#define CPU_RING_ROUTES 2
#define CPU_RINGS 3
#define HOP_SLOTS 1024
#define RAW_SLOTS 1024
#define ROUTE_SLOTS 1024
#define HOP_SLOT_BYTES 88
#define RAW_SLOT_BYTES 208
#define ROUTE_SLOT_BYTES 88
#endif
struct brt_hop_slot { u64 rb_hdr; struct brt_hop h; };
struct brt_raw_slot { u64 rb_hdr; struct brt_raw r; };
struct brt_route_slot { u64 rb_hdr; struct brt_route r; };
_Static_assert(sizeof(struct brt_hop_slot) == HOP_SLOT_BYTES, "hop slot != hop_record_dtype");
_Static_assert(sizeof(struct brt_raw_slot) == RAW_SLOT_BYTES, "raw slot != raw_record_dtype");
_Static_assert(sizeof(struct brt_route_slot) == ROUTE_SLOT_BYTES, "route slot != route_record_dtype");
#define POW2(n) ((n) > 0 && ((n) & ((n) - 1)) == 0)
_Static_assert(POW2(HOP_SLOTS) && POW2(RAW_SLOTS) && POW2(ROUTE_SLOTS), "slots: powers of two");
#define BRT_F_MMAPABLE (1U << 10) /* BPF_F_MMAPABLE, uapi/linux/bpf.h */
BPF_F_TABLE("array", u32, struct brt_hop_slot, cpu_hops, BRT_NCPU * HOP_SLOTS, BRT_F_MMAPABLE);
BPF_F_TABLE("array", u32, struct brt_raw_slot, cpu_raws, BRT_NCPU * RAW_SLOTS, BRT_F_MMAPABLE);
BPF_F_TABLE("array", u32, struct brt_route_slot, cpu_routes, BRT_NCPU * ROUTE_SLOTS, BRT_F_MMAPABLE);
struct brt_ring_pos { u64 w[CPU_POS_WORDS]; }; /* w[0]: head; w[CPU_POS_TAIL]: tail */
BPF_F_TABLE("array", u32, struct brt_ring_pos, cpu_pos, BRT_NCPU * CPU_RINGS, BRT_F_MMAPABLE);

/* This CPU's head of ring `ring` and, in *idx, the slot it points at; 0 when
 * the ring is full (the drain has not read `slots` records back yet). */
static __always_inline u64 *cpu_head(u32 ring, u32 slots, u32 *idx)
{
    u32 cpu = bpf_get_smp_processor_id();
    u32 k = cpu * CPU_RINGS + ring;
    struct brt_ring_pos *p = cpu_pos.lookup(&k);
    if (!p)
        return 0;
    u64 h = p->w[0];
    if (h - *(volatile u64 *)&p->w[CPU_POS_TAIL] >= slots)
        return 0;
    *idx = cpu * slots + (u32)(h & (slots - 1));
    return &p->w[0];
}

/* The slot is complete: make it the drain's. */
static __always_inline void cpu_publish(u64 *head)
{
    asm volatile("" ::: "memory"); /* the slot's stores before the head's */
    *(volatile u64 *)head = *head + 1;
}

/* The sk_buff fields the skb path needs. With SKB_WIN_LO/SKB_WIN_LEN (the
 * loader passes them when the fields lie within a couple of hundred bytes,
 * as in 6.x) they come from one probe read instead of ten: this runs for
 * every packet at every hook, matched by the filter or not. */
struct brt_skbf {
    void *head;
    void *data;
    u32 tail;
    u16 mac;
    u16 nh;
    u16 proto;
    u16 vlan;
#ifdef BRT_PCAP_LEN
    u32 len; /* what an expression's len/greater/less test (wire_len) */
#endif
};

/* len, pkt_type and dev: needed only once the filter kept the packet. */
static __always_inline void *fill_skb_meta(struct brt_scratch *s, u32 *len, u8 *pkt_type, void *skb)
{
    void *dev = 0;
    u8 pt = 0;
#ifdef BRT_CAST_VOID
    u8 *k = KMEM(skb);
    *len = CLD(u32, k, OFF_SKB_LEN);
    pt = CLD(u8, k, OFF_SKB_PKT_TYPE);
    dev = (void *)CLD(u64, k, OFF_SKB_DEV);
#elif defined(SKB_WIN_META) && defined(SKB_WIN_LO)
    /* read_skbf's window already holds them: a probe read costs the same
     * for 8 bytes as for 200 (~25 ns on 6.18 with retpolines), so the
     * window spans these too and an emitted event needs no read of its own */
    u8 *w = s->skbw;
    __builtin_memcpy(len, &w[OFF_SKB_LEN - SKB_WIN_LO], sizeof(u32));
    __builtin_memcpy(&pt, &w[OFF_SKB_PKT_TYPE - SKB_WIN_LO], sizeof(pt));
    __builtin_memcpy(&dev, &w[OFF_SKB_DEV - SKB_WIN_LO], sizeof(dev));
#elif defined(SKBM_WIN_LO)
    u8 w[SKBM_WIN_LEN];
    if (bpf_probe_read_kernel(w, sizeof(w), skb + SKBM_WIN_LO) < 0)
        return 0;
    __builtin_memcpy(len, &w[OFF_SKB_LEN - SKBM_WIN_LO], sizeof(u32));
    __builtin_memcpy(&pt, &w[OFF_SKB_PKT_TYPE - SKBM_WIN_LO], sizeof(pt));
    __builtin_memcpy(&dev, &w[OFF_SKB_DEV - SKBM_WIN_LO], sizeof(dev));
#else
    bpf_probe_read_kernel(len, sizeof(u32), skb + OFF_SKB_LEN);
    RD(pt, skb, OFF_SKB_PKT_TYPE);
    RD(dev, skb, OFF_SKB_DEV);
#endif
    *pkt_type = (pt >> PKT_TYPE_SHIFT) & 7;
    return dev;
}

/* protocol, network and mac header offsets (adjacent u16s: 176..183 in 6.18):
 * one 8-byte load where the untyped cast allows it and they share 8 bytes.
 * Every load of the reject path is one the JIT guards (~8 instructions on
 * x86), and the reject path runs for every packet at every hook. */
#if defined(BRT_CAST_VOID) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    OFF_SKB_NETWORK_HEADER >= OFF_SKB_PROTOCOL && OFF_SKB_NETWORK_HEADER + 2 <= OFF_SKB_PROTOCOL + 8 && \
    OFF_SKB_MAC_HEADER >= OFF_SKB_PROTOCOL && OFF_SKB_MAC_HEADER + 2 <= OFF_SKB_PROTOCOL + 8
#define BRT_SKB_WORD 1
#endif

#ifdef BRT_CAST_FN
/* p cast for plain loads: untyped where the kernel allows it (any load size
 * at any offset), else as the BTF type btf_id (struct sk_buff, the byte array). */
static __always_inline u8 *plain_cast(void *p, u64 btf_id)
{
#ifdef BRT_CAST_VOID
    return KMEM(p);
#else
    return brt_rdonly_cast(p, btf_id);
#endif
}
#define skb_cast(skb) plain_cast((skb), BRT_SKB_BTF)
#define bytes_cast(p) plain_cast((p), BRT_BYTES_BTF)

static __always_inline void skb_offsets(u8 *k, struct brt_skbf *f)
{
#ifdef BRT_SKB_WORD
    u64 w = CLD(u64, k, OFF_SKB_PROTOCOL);
    f->proto = (u16)w;
    f->nh = (u16)(w >> (8 * (OFF_SKB_NETWORK_HEADER - OFF_SKB_PROTOCOL)));
    f->mac = (u16)(w >> (8 * (OFF_SKB_MAC_HEADER - OFF_SKB_PROTOCOL)));
#else
    f->mac = CLD(u16, k, OFF_SKB_MAC_HEADER);
    f->nh = CLD(u16, k, OFF_SKB_NETWORK_HEADER);
    f->proto = CLD(u16, k, OFF_SKB_PROTOCOL);
#endif
}
#endif

static __always_inline int read_skbf(struct brt_scratch *s, void *skb, struct brt_skbf *f)
{
#ifdef BRT_CAST_FN /* plain loads: the probe read of the window cost ~27 ns a hook (bench, 6.18) */
    u8 *k = skb_cast(skb);
    f->head = (void *)CLD(u64, k, OFF_SKB_HEAD);
    f->data = (void *)CLD(u64, k, OFF_SKB_DATA);
    f->tail = CLD(u32, k, OFF_SKB_TAIL);
    skb_offsets(k, f);
    f->vlan = CLD(u16, k, OFF_SKB_VLAN_TCI);
#ifdef BRT_PCAP_LEN
    f->len = CLD(u32, k, OFF_SKB_LEN);
#endif
    return f->head ? 0 : -1; /* a load that faulted read 0 */
#else
#ifdef SKB_WIN_LO
    u8 *w = s->skbw;
    if (bpf_probe_read_kernel(w, SKB_WIN_LEN, skb + SKB_WIN_LO) < 0)
        return -1;
#define SKBF(dst, off) __builtin_memcpy(&(dst), &w[(off) - SKB_WIN_LO], sizeof(dst))
#else
#define SKBF(dst, off) RD(dst, skb, off)
#endif
    SKBF(f->head, OFF_SKB_HEAD);
    SKBF(f->data, OFF_SKB_DATA);
    SKBF(f->tail, OFF_SKB_TAIL);
    SKBF(f->mac, OFF_SKB_MAC_HEADER);
    SKBF(f->nh, OFF_SKB_NETWORK_HEADER);
    SKBF(f->proto, OFF_SKB_PROTOCOL);
    SKBF(f->vlan, OFF_SKB_VLAN_TCI);
#undef SKBF
#ifdef BRT_PCAP_LEN
    RD(f->len, skb, OFF_SKB_LEN);
#endif
    return 0;
#endif
}

/* Where the packet's headers start (mac, or network header at an L3 hook
 * whose skb has no usable mac header), from the offsets the skb records. */
static __always_inline u32 header_start(struct brt_skbf *f, int mode, u8 *l3)
{
    if (mode == L3_HOOK && f->nh != MAC_UNSET && f->nh != 0) {
        *l3 = !(f->mac != MAC_UNSET && f->mac + 14 <= f->nh);
        return *l3 ? f->nh : f->mac;
    }
    *l3 = 0;
    return f->mac != MAC_UNSET ? f->mac : (u32)((u64)f->data - (u64)f->head);
}

/* The frame's length on the wire from start (cBPF's len, as tcpdump sees it):
 * skb->len counts from skb->data, which a receive hook finds already moved
 * past the MAC header (eth_type_trans, read in 6.18), a transmit hook at it. */
static __always_inline u32 wire_len(struct brt_skbf *f, u32 start)
{
#ifdef BRT_PCAP_LEN
    return f->len + (u32)((u64)f->data - (u64)f->head) - start;
#else
    return 0;
#endif
}

/* How many header bytes from start the parsers and the expression may read:
 * the linear data, at most HDR_BUF (what read_headers copies). */
static __always_inline u32 header_len(struct brt_skbf *f, u32 start)
{
    u32 n = f->tail > start ? (f->tail - start) & 0xffff : 0;
    return n >= HDR_BUF ? HDR_BUF : n;
}

/* Read up to HDR_BUF header bytes from start into b; returns how many. Past
 * them the buffer holds an earlier (maybe unrelated) packet's bytes: the
 * parsers and the expression test offsets against n, and copy_headers copies
 * only n. Clearing it here cost every rejected short packet a 128-byte memset
 * at every hook (~4 ns of ~65; bench probecost). */
static __always_inline u32 read_headers(u8 *b, struct brt_skbf *f, u32 start)
{
    u64 n = header_len(f, start);
    if (!n)
        return 0;
    asm volatile("" : "+r"(n)); /* make the verifier see the bound on the register passed */
    if (n > HDR_BUF || bpf_probe_read_kernel(b, n, f->head + start) < 0)
        return 0;
    return n;
}

static __always_inline void parse_skb(struct brt_skbf *f, u8 *b, u32 n, u32 start, int mode, u8 l3,
                                      struct brt_parsed *p)
{
    u32 off;
    p->vlan = f->vlan & 0x0fff;
    if (mode == L3_HOOK && f->nh != MAC_UNSET && f->nh != 0) {
        p->ethertype = bswap16(f->proto);
        off = f->nh - start;
        if (!l3) { /* the MACs only: the network header is where the skb says */
            u16 et = 0, vl = 0;
            if (parse_eth(b, n, 0, p->dst_mac, p->src_mac, &et, &vl))
                p->flags |= BRT_F_MAC;
        }
    } else {
        off = parse_eth(b, n, 0, p->dst_mac, p->src_mac, &p->ethertype, &p->vlan);
        if (!off)
            return;
        p->flags |= BRT_F_MAC;
    }
    if (p->ethertype == ETH_IP) {
        u32 l4 = parse_ip(b, n, off, &p->outer);
        if (l4)
            parse_vxlan(b, n, l4, p);
    } else if (p->ethertype == ETH_ARP) {
        parse_arp(b, n, off, &p->outer);
    } else if (p->ethertype == ETH_IPV6) {
        u32 l4 = parse_ip6(b, n, off, &p->outer, p->saddr6, p->daddr6, &p->flags, BRT_F_V6);
#ifndef BRT_PCAP_INNER /* --inner looks inside VXLAN over IPv4 only: an IPv6 underlay's many
                        * header layouts times the expression passed the verifier's budget (E2BIG, 6.18) */
        if (l4)
            parse_vxlan(b, n, l4, p);
#endif
    }
}

/* The first snaplen header bytes: from the buffer already read when it holds
 * them, else one more probe read. */
static __always_inline void copy_headers(u8 *headers, u16 *hdr_len, u8 *b, u32 n, struct brt_skbf *f,
                                         u32 start)
{
#if BRT_SNAPLEN <= HDR_BUF
    if (n >= BRT_SNAPLEN) {
#if defined(BRT_CAST_VOID) && BRT_SNAPLEN % 8 == 0
        /* b is the packet in place, of unknown alignment: one guarded 8-byte
         * load per word (a memcpy from a u8 pointer is 128 byte loads) */
#pragma unroll
        for (int i = 0; i < BRT_SNAPLEN / 8; i++)
            STORE64(&headers[8 * i], CLD(u64, b, 8 * i));
#else
        __builtin_memcpy(headers, b, BRT_SNAPLEN);
#endif
        *hdr_len = BRT_SNAPLEN;
        return;
    }
    /* a short packet: its own n bytes, zeros after them (see read_headers) */
    __builtin_memset(headers, 0, BRT_SNAPLEN);
    u64 len = n;
    asm volatile("" : "+r"(len));
    if (len > 0 && len <= BRT_SNAPLEN && bpf_probe_read_kernel(headers, len, b) == 0)
        *hdr_len = len;
#else
    if (f->tail <= start)
        return;
    u64 len = (f->tail - start) & 0xffff;
    if (len > BRT_SNAPLEN)
        len = BRT_SNAPLEN;
    asm volatile("" : "+r"(len));
    if (len > BRT_SNAPLEN)
        return;
    if (bpf_probe_read_kernel(headers, len, f->head + start) == 0)
        *hdr_len = len;
#endif
}

#ifdef BRT_PCAP_FILTER
/* A frame whose 802.1Q tag the skb carries out of band (vlan_tci: veth and
 * most NICs offload it, so the tag is in no header brtrace reads) as it is on
 * the wire: what tcpdump's "vlan" tests, and what the expression's offsets
 * after the tag assume. Returns the bytes in s->vhdr. */
static __always_inline u32 vlan_frame(struct brt_scratch *s, u8 *hb, u32 n, u16 tci)
{
    u8 *v = s->vhdr;
    __builtin_memcpy(v, hb, 12);
    v[12] = 0x81;
    v[13] = 0x00;
    v[14] = tci >> 8;
    v[15] = tci & 0xff;
    __builtin_memcpy(v + 16, hb + 12, HDR_BUF - 16);
    return n + 4 > HDR_BUF ? HDR_BUF : n + 4;
}
#endif

#if defined(BRT_FIXED_FILTER) && !defined(BRT_PCAP_FILTER)
/* The fixed filter on the headers as read (b[0..n) from start), before the
 * frame is parsed into an event's fields (MACs, VLAN, the whole keys): on a
 * busy node most packets are not ours, and this is what each of them pays at
 * each hook. 1 only when the whole parse could not match either: a plain
 * IPv4 packet (skb->protocol, its header where the frame says, no options,
 * not a fragment) whose key fails and, when it goes to a VXLAN port, whose
 * untagged inner IPv4 packet's key fails too. Anything else goes the whole
 * way, so a packet this rejects is one packet_match would have rejected. */
static __always_inline int quick_reject(u8 *b, u32 n, struct brt_skbf *f, u32 start, u8 l3)
{
    if (f->proto != bswap16(ETH_IP) || f->nh == MAC_UNSET)
        return 0;
    u32 off; /* constants, so the verifier sees every offset below bounded */
    if (l3) { /* b starts at L3 */
        if (f->nh != start)
            return 0;
        off = 0;
    } else { /* a frame whose L3 is right after its type */
        if (f->nh != start + 14 || n < 14 || hb16(b, 12) != ETH_IP)
            return 0;
        off = 14;
    }
    struct brt_key k = {};
    if (parse_ip(b, n, off, &k) != off + 20)
        return 0;
    if (key_match(&k))
        return 0;
    if (k.proto != PROTO_UDP || !(k.dport == VXLAN_PORT || k.dport == VXLAN_PORT2 || k.dport == VXLAN_PORT3))
        return 1;
    /* VXLAN (parse_vxlan): the I flag, then an untagged inner IPv4 frame */
    u32 vx = off + 28;
    if (vx + 50 > n || !(HB(b, vx) & 0x08) || hb16(b, vx + 20) != ETH_IP)
        return 0;
    struct brt_key in = {};
    return parse_ip(b, n, vx + 22, &in) == vx + 42 && !key_match(&in);
}
#endif

#if defined(BRT_FIXED_FILTER) && !defined(BRT_PCAP_FILTER) && !defined(BRT_NAT_FOLLOW) && defined(BRT_CAST_FN)
#define BRT_CAST_REJECT 1
#define BRT_EARLY_PLAIN 1 /* early_reject can say EARLY_PLAIN(_VXLAN) */
/* The IPv4 key at ip (IP header of 20 bytes, 8 bytes of L4 after it), as parse_ip fills it. */
static __always_inline void cast_key(u8 *ip, struct brt_key *k)
{
    k->saddr = CLD(u32, ip, 12);
    k->daddr = CLD(u32, ip, 16);
    k->proto = CLD(u8, ip, 9);
    k->icmp_type = 0xff;
    if (k->proto == PROTO_ICMP) {
        k->icmp_type = CLD(u8, ip, 20);
        k->icmp_code = CLD(u8, ip, 21);
        k->sport = bswap16(CLD(u16, ip, 24));
        k->dport = bswap16(CLD(u16, ip, 26));
    } else if (k->proto == PROTO_TCP || k->proto == PROTO_UDP) {
        k->sport = bswap16(CLD(u16, ip, 20));
        k->dport = bswap16(CLD(u16, ip, 22));
    }
}

/* An IPv4 header of exactly 20 bytes that is not a later fragment (parse_ip
 * would return its L4 offset as off + 20). */
static __always_inline int cast_plain_ip(u8 *ip)
{
    return CLD(u8, ip, 0) == 0x45 && !(bswap16(CLD(u16, ip, 6)) & 0x1fff);
}

/* cast_plain_ip, then cast_key: 0 when the header is not plain. Untyped,
 * three 8-byte loads hold the IP header and the ports (one more for ICMP's
 * id and sequence) instead of a load per field. */
static __always_inline int cast_ip_key(u8 *ip, struct brt_key *k)
{
#if defined(BRT_CAST_VOID) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    u64 w0 = CLD(u64, ip, 0), w1 = CLD(u64, ip, 8), w2 = CLD(u64, ip, 16);
    if ((u8)w0 != 0x45 || (bswap16((u16)(w0 >> 48)) & 0x1fff))
        return 0;
    k->proto = (u8)(w1 >> 8);
    k->saddr = (u32)(w1 >> 32);
    k->daddr = (u32)w2;
    k->icmp_type = 0xff;
    if (k->proto == PROTO_ICMP) {
        u32 w3 = CLD(u32, ip, 24);
        k->icmp_type = (u8)(w2 >> 32);
        k->icmp_code = (u8)(w2 >> 40);
        k->sport = bswap16((u16)w3);
        k->dport = bswap16((u16)(w3 >> 16));
    } else if (k->proto == PROTO_TCP || k->proto == PROTO_UDP) {
        k->sport = bswap16((u16)(w2 >> 32));
        k->dport = bswap16((u16)(w2 >> 48));
    }
    return 1;
#else
    if (!cast_plain_ip(ip))
        return 0;
    cast_key(ip, k);
    return 1;
#endif
}

/* quick_reject's decision, taken in the hook's own program before the scratch
 * is held or brt_emit tail-called: the same packets, the same tests, on the
 * skb's fields and header bytes loaded in place instead of copied out by two
 * bpf_probe_read_kernel calls. EARLY_NOT_OURS; EARLY_UNDECIDED: the whole
 * path decides (and may still reject); EARLY_PLAIN(_VXLAN): ours, in a layout
 * the drain parses itself (emit_raw): an untagged frame (or none, at an L3
 * hook), an IPv4 header of 20 bytes and not a later fragment, and with
 * _VXLAN a VXLAN header, an untagged inner frame and such an IPv4 header in
 * it. Offsets below are constants from the IP header, as the verifier wants
 * them for these pointers. */
static __always_inline int cast_reject(void *skb, int mode)
{
    u8 *k = skb_cast(skb);
    struct brt_skbf f = {};
    f.head = (void *)CLD(u64, k, OFF_SKB_HEAD);
    f.data = (void *)CLD(u64, k, OFF_SKB_DATA);
    f.tail = CLD(u32, k, OFF_SKB_TAIL);
    skb_offsets(k, &f);
    if (!f.head || f.proto != bswap16(ETH_IP) || f.nh == MAC_UNSET)
        return 0;
    u8 l3 = 0;
    u32 start = header_start(&f, mode, &l3);
    if (l3 ? f.nh != start : f.nh != start + 14)
        return 0;
    if (!l3) {
        u8 *fr = bytes_cast(f.head + start);
        if (CLD(u16, fr, 12) != bswap16(ETH_IP))
            return 0;
    }
    u32 avail = f.tail > f.nh ? f.tail - f.nh : 0; /* quick_reject's n, less the frame header */
    u8 *ip = bytes_cast(f.head + f.nh);
    struct brt_key key = {};
    if (avail < 28 || !cast_ip_key(ip, &key))
        return EARLY_UNDECIDED;
    int ours = key_match(&key);
    if (key.proto != PROTO_UDP ||
        !(key.dport == VXLAN_PORT || key.dport == VXLAN_PORT2 || key.dport == VXLAN_PORT3))
        return ours ? EARLY_PLAIN : EARLY_NOT_OURS;
    /* VXLAN at ip + 28: the I flag, an untagged inner IPv4 frame at + 36, its IP header at + 50 */
    if (avail < 78 || !(CLD(u8, ip, 28) & 0x08) || CLD(u16, ip, 48) != bswap16(ETH_IP))
        return EARLY_UNDECIDED;
    struct brt_key ik = {};
    if (!cast_ip_key(ip + 50, &ik))
        return EARLY_UNDECIDED;
    return ours || key_match(&ik) ? EARLY_PLAIN_VXLAN : EARLY_NOT_OURS;
}
#endif

#if defined(BRT_PCAP_FILTER) && !defined(BRT_PCAP_INNER) && defined(BRT_CAST_VOID)
#define BRT_CAST_PCAP_REJECT 1
/* The expression's verdict, taken in the hook's own program before the
 * scratch is held or brt_emit tail-called, on the packet read in place: what
 * emit_skb decides before any parsing (outer_matches, follow_armed), for the
 * same bytes. A frame whose VLAN tag the skb carries out of band needs the
 * tag put back (vlan_frame, in the scratch): the whole path decides it, as
 * it does with --inner (the inner frame is found by the parser). 1: not ours. */
static __always_inline int cast_pcap_reject(void *skb, int mode)
{
    struct brt_skbf f = {.mac = MAC_UNSET, .nh = MAC_UNSET};
    if (read_skbf(0, skb, &f) < 0)
        return 0;
    u8 l3 = 0;
    u32 start = header_start(&f, mode, &l3);
    if (!l3 && f.vlan)
        return 0;
    return !pcap_outer(KMEM(f.head + start), header_len(&f, start), l3, wire_len(&f, start), 1) &&
           !follow_armed();
}
#define early_reject cast_pcap_reject
#elif defined(BRT_CAST_REJECT)
#define early_reject cast_reject
#endif

/* The frame a pcap-filter expression sees (a VLAN tag put back where the
 * kernel had taken it out of the frame), and whether the expression keeps it:
 * always 1 without an expression. */
static __always_inline int outer_matches(struct brt_scratch *s, u8 *hb, u32 n, u32 wl, struct brt_skbf *f,
                                         u8 l3)
{
#ifdef BRT_PCAP_FILTER
    /* its own copy of the expression: hb may be the packet in place, and the
     * verifier refuses one load instruction on two kinds of pointer */
    if (!l3 && f->vlan && n >= 14)
        return pcap_outer(s->vhdr, vlan_frame(s, hb, n, f->vlan), 0, wl + 4, 0);
#endif
    return pcap_outer(hb, n, l3, wl, HB_IN_PLACE);
}

#ifdef BRT_NAT_FOLLOW
/* A packet of ours: remember its skb and tuple so NAT's rewrite of it stays
 * followed; at its free, forget the skb, whose address is another packet's next. */
static __always_inline void follow_update(u64 skb, struct brt_parsed *p, u64 now, u16 hook)
{
    if (hook != HOOK_KFREE_SKB && !(p->flags & BRT_F_V6)) {
        follow_mark(skb, &p->outer, now, hook);
        return;
    }
    nat_follow_skb.delete(&skb);
}
#endif

/* What the parser found, into the record. */
static __always_inline void fill_parsed(struct brt_event *ev, struct brt_parsed *p, u8 l3)
{
    ev->ethertype = p->ethertype;
    ev->vlan = p->vlan;
    ev->vni = p->vni;
    ev->outer = p->outer;
    ev->inner = p->inner;
    __builtin_memcpy(ev->src_mac, p->src_mac, 6);
    __builtin_memcpy(ev->dst_mac, p->dst_mac, 6);
    __builtin_memcpy(ev->inner_src_mac, p->inner_src_mac, 6);
    __builtin_memcpy(ev->inner_dst_mac, p->inner_dst_mac, 6);
    if (p->flags & (BRT_F_V6 | BRT_F_INNER_V6)) {
        __builtin_memcpy(ev->saddr6, p->saddr6, 16);
        __builtin_memcpy(ev->daddr6, p->daddr6, 16);
    }
    ev->flags = p->flags | (l3 ? BRT_F_L3 : 0);
}

#ifdef BRT_HOPS
#ifdef BRT_CAST_VOID
#define HOP_WORD(hb, i) CLD(u64, (hb), 8 * (i))
#define HOP_TYPE(hb) CLD(u16, (hb), 12) /* the frame's type as it lies in memory */
#else /* the scratch's header buffer, 8-byte aligned at the map value's start */
#define HOP_WORD(hb, i) (*(u64 *)&(hb)[8 * (i)])
#define HOP_TYPE(hb) (*(u16 *)&(hb)[12])
#endif

/* Everything besides the header bytes that parse_skb and copy_headers take
 * from the skb: how many bytes, whether they start at L3, the out-of-band
 * VLAN tag and, where parse_skb takes the frame's layout from the skb (an
 * L3 hook, mode L3_HOOK), skb->protocol and where the network header is.
 * An L3 hook's frame whose own type is skb->protocol (no 802.1Q tag in it)
 * and whose network header follows it parses as an L2 hook's does, so a
 * packet's kfree_skb after its last receive hook can be a hop of it. */
static __always_inline u64 hop_sig(struct brt_skbf *f, u8 *hb, u32 n, u8 l3, int mode, u32 start)
{
    u64 sig = (u64)(n & 0xff) | ((u64)l3 << 8) | ((u64)f->vlan << 16);
    if (mode == L2_HOOK)
        return sig;
    u32 nh = (f->nh - start) & 0xffff;
    if (!l3 && n >= 14 && nh == 14 && f->proto != bswap16(ETH_8021Q) && HOP_TYPE(hb) == f->proto)
        return sig;
    return sig | (1ULL << 9) | ((u64)f->proto << 32) | ((u64)nh << 48);
}

/* Whether the n header bytes at hb are the last full record's (hop_w). */
static __always_inline int hop_same(struct brt_scratch *s, u8 *hb, u32 n)
{
#pragma unroll
    for (int i = 0; i < HOP_WORDS; i++) {
        if (8 * i >= n)
            break;
        u64 w = HOP_WORD(hb, i);
        if (8 * i + 8 > n) /* the last bytes: hop_w has zeros past them */
            w &= (1ULL << ((n - 8 * i) * 8)) - 1;
        if (w != s->hop_w[i])
            return 0;
    }
    return 1;
}

/* The header bytes (at most HDR_BUF, zeros after them) into both this CPU's
 * hop_w, which the next hook compares with (hop_same), and the record's
 * headers[], each word stored from its register. The ring's lines are cold:
 * the consumer on the other CPU read them last. Copying hop_w from headers[]
 * read them back right after a probe read or byte stores had written them,
 * which no store forwards: each load waited for its line (perf cpu-clock
 * samples in the JIT image; bench probecost 1,987 -> 1,913 ns a traced
 * packet, 5 rounds, 6.18). */
static __always_inline void keep_headers(struct brt_scratch *s, u8 *headers, u16 *hdr_len, u8 *hb, u32 n)
{
    u32 len = n >= HDR_BUF ? HDR_BUF : n;
#pragma unroll
    for (int i = 0; i < HOP_WORDS; i++) {
        u64 w = 0;
        if (8 * i < len) {
            w = HOP_WORD(hb, i);
            if (8 * i + 8 > len) /* past the packet's bytes: zeros, as hop_same expects */
                w &= (1ULL << ((len - 8 * i) * 8)) - 1;
        }
        s->hop_w[i] = w;
        STORE64(&headers[8 * i], w);
    }
    *hdr_len = len;
}

/* The same skb as this CPU's last full record, its bytes unchanged: a hop
 * record (what differs from hook to hook) instead of a parse and a full
 * record. 0 when the hop ring refuses it: the full path then emits it. */
static __always_inline int emit_hop(struct brt_scratch *s, u16 hook, void *skb, void *dev, u32 reason,
                                    u64 location)
{
    u32 idx = 0;
    u64 *head = cpu_head(CPU_RING_HOPS, HOP_SLOTS, &idx);
    if (!head)
        return 0;
    struct brt_hop_slot *slot = cpu_hops.lookup(&idx);
    if (!slot)
        return 0;
    struct brt_hop *h = &slot->h;
    __builtin_memset(h, 0, sizeof(*h));
    u64 now = bpf_ktime_get_ns();
    h->ts_ns = now;
    h->skb = (u64)skb;
    h->location = location;
    h->base_ts = s->hop_base;
    h->drop_reason = reason;
    h->cpu = bpf_get_smp_processor_id();
    h->hook = hook;
    void *skb_dev = fill_skb_meta(s, &h->len, &h->pkt_type, skb);
    fill_devref(DEVREF(h), dev ? dev : skb_dev);
    if (NETNS_OTHER(h)) {
        s->cur_skb = 0; /* as emit_skb: its route lookups are not ours either */
        return 1;
    }
    s->cur_ts = now;
    s->cur_jif = bpf_jiffies64();
    s->cur_skb = (u64)skb;
    cpu_publish(head);
    return 1;
}
#endif

/* Raw records (emit_raw) where hops are written (the drain's parse reads the
 * same 128 bytes the probes' would) and early_reject can vouch for a layout. */
#if defined(BRT_HOPS) && defined(BRT_EARLY_PLAIN)
#define BRT_RAW 1

/* A packet early_reject found ours and plain (early: EARLY_PLAIN(_VXLAN)):
 * its header bytes and what the skb says, in a 200-byte record, without the
 * parse (~70 ns of a full record's ~220, bench probecost) and the 296-byte
 * event: the drain parses the fixed offsets such a layout has
 * (tracer/schema/raw.py). Sets what emit_skb's full path sets: this CPU's
 * current packet and the base of its hops. 0 when the raw ring refuses it:
 * the full path then writes it. */
static __always_inline int emit_raw(struct brt_scratch *s, u16 hook, void *skb, void *dev, u32 reason,
                                    u64 location, struct brt_skbf *f, u8 *hb, u32 n, u32 start, u8 l3,
                                    u64 sig, int early)
{
    u32 idx = 0;
    u64 *head = cpu_head(CPU_RING_RAWS, RAW_SLOTS, &idx);
    if (!head)
        return 0;
    struct brt_raw_slot *slot = cpu_raws.lookup(&idx);
    if (!slot)
        return 0;
    struct brt_raw *r = &slot->r;
    u64 now = bpf_ktime_get_ns();
    s->cur_ts = now;
    s->cur_jif = bpf_jiffies64();
    s->cur_skb = (u64)skb;
    s->hop_skb = 0; /* until this record is on its way: a hop must find its base */
    __builtin_memset(r, 0, offsetof(struct brt_raw, headers));
    r->ts_ns = now;
    r->skb = (u64)skb;
    r->location = location;
    r->drop_reason = reason;
    r->cpu = bpf_get_smp_processor_id();
    r->hook = hook;
    r->vlan = f->vlan & 0x0fff;
    r->flags = (l3 ? BRT_F_L3 : BRT_F_MAC) | (early == EARLY_PLAIN_VXLAN ? BRT_F_INNER : 0);
    void *skb_dev = fill_skb_meta(s, &r->len, &r->pkt_type, skb);
    fill_devref(DEVREF(r), dev ? dev : skb_dev);
    if (NETNS_OTHER(r)) {
        s->cur_skb = 0; /* as emit_skb: its route lookups are not ours either */
        return 1;
    }
    keep_headers(s, r->headers, &r->hdr_len, hb, n);
    s->hop_skb = (u64)skb;
    s->hop_sig = sig;
    s->hop_base = now;
    cpu_publish(head);
    return 1;
}
#endif

/* A packet that is not ours: the route lookups that follow it on this CPU
 * carry no skb (emit_route ties them to cur_skb), so they are not ours either. */
static __always_inline int not_ours(struct brt_scratch *s)
{
    s->cur_skb = 0;
    return 0;
}

/* The filter's verdict on a packet the hop and raw paths did not take: 1 if
 * it is ours (*ours set) or one NAT rewrote from ours (followed), with its
 * parse in p; 0 otherwise, decided as early as the filter allows. */
static __always_inline int packet_ours(struct brt_scratch *s, u16 hook, void *skb, struct brt_skbf *f,
                                       u8 *hb, u32 n, u32 start, int mode, u8 l3, const int screened,
                                       struct brt_parsed *p, int *ours)
{
#if defined(BRT_FIXED_FILTER) && !defined(BRT_PCAP_FILTER) && !defined(BRT_NAT_FOLLOW)
    /* Not with NAT following: a rejected packet may be one NAT rewrote
     * (follow_nat), and both together with the IPv6 parser took the
     * verifier past its 1M-instruction budget (E2BIG on 6.18). */
    if (!screened && quick_reject(hb, n, f, start, l3))
        return not_ours(s);
#endif
    u32 wl = wire_len(f, start);
    int outer_ok = outer_matches(s, hb, n, wl, f, l3);
#if defined(BRT_PCAP_FILTER) && !defined(BRT_PCAP_INNER)
    /* decided before any parsing: the cost of a packet that is not ours (unless
     * something matched under NAT following: it may be a rewritten one) */
    if (!outer_ok && !follow_armed())
        return not_ours(s);
#endif
    parse_skb(f, hb, n, start, mode, l3, p);
    *ours = packet_match(p) && (outer_ok || pcap_inner(hb, n, p, wl));
    if (*ours)
        return 1;
#ifdef BRT_NAT_FOLLOW
    if (!(p->flags & BRT_F_V6) && follow_nat((u64)skb, &p->outer, hook))
        return 1;
#endif
    return not_ours(s);
}

/* The full record's headers[]; with hops, also what the next hop of this skb
 * is compared with (hop_w, hop_sig) and stamped from (hop_base). */
static __always_inline void store_headers(struct brt_scratch *s, struct brt_event *ev, void *skb,
                                          struct brt_skbf *f, u8 *hb, u32 n, u32 start, u64 sig, u64 now)
{
    /* n through the scratch: the verifier tracks no map value's contents, so
     * the header length copy_headers gets has one range on every parse path.
     * Passed in its register it carried each path's own bounds from the
     * parsers' checks, no path's state could stand in for another's, and each
     * walked the record's whole construction again: 694k instructions
     * verified for a program of 3.6k, 0.62 s of a 0.78 s start; 308k, 0.30 s
     * with this (6.18, verifier log stats). */
    *(volatile u32 *)&s->hdr_n = n;
#ifdef BRT_HOPS
    keep_headers(s, ev->headers, &ev->hdr_len, hb, *(volatile u32 *)&s->hdr_n);
    s->hop_skb = (u64)skb;
    s->hop_sig = sig;
    s->hop_base = now;
#else
    copy_headers(ev->headers, &ev->hdr_len, hb, *(volatile u32 *)&s->hdr_n, f, start);
#endif
}

/* Parse, filter, emit. s is this CPU's scratch, held (busy) by the caller. */
static __always_inline void emit_skb(struct brt_scratch *s, u16 hook, void *skb, void *dev, int mode,
                                     u32 reason, u64 location, const int screened, int early)
{
    struct brt_skbf f = {.mac = MAC_UNSET, .nh = MAC_UNSET};
    if (read_skbf(s, skb, &f) < 0)
        return;
    u8 l3 = 0;
    u32 start = header_start(&f, mode, &l3);
#ifdef BRT_CAST_VOID
    u8 *hb = KMEM(f.head + start); /* the packet in place */
    u32 n = header_len(&f, start);
#else
    u8 *hb = s->hdr;
    u32 n = read_headers(hb, &f, start);
#endif
    u64 sig = 0;
#ifdef BRT_HOPS
    sig = hop_sig(&f, hb, n, l3, mode, start);
    if (s->hop_skb == (u64)skb && s->hop_sig == sig && hop_same(s, hb, n) &&
        emit_hop(s, hook, skb, dev, reason, location))
        return;
#endif
#ifdef BRT_RAW
    if (early >= EARLY_PLAIN && emit_raw(s, hook, skb, dev, reason, location, &f, hb, n, start, l3, sig, early))
        return;
#endif
    struct brt_parsed p = {};
    int ours = 0;
    if (!packet_ours(s, hook, skb, &f, hb, n, start, mode, l3, screened, &p, &ours))
        return;
    u64 now = bpf_ktime_get_ns();
#ifdef BRT_NAT_FOLLOW
    if (ours)
        follow_update((u64)skb, &p, now, hook);
#endif
    s->cur_ts = now;
    s->cur_jif = bpf_jiffies64();
    s->cur_skb = (u64)skb;
    struct brt_event *ev = reserve(BRT_SNAPLEN > HDR_BUF, now);
#ifdef BRT_HOPS
    s->hop_skb = 0; /* until this record is on its way: a hop must find its base */
#endif
    if (!ev)
        return;
    ev->hook = hook;
    ev->skb = (u64)skb;
    ev->drop_reason = reason;
    ev->location = location;
    void *skb_dev = fill_skb_meta(s, &ev->len, &ev->pkt_type, skb);
    fill_dev(ev, dev ? dev : skb_dev);
    if (NETNS_REFUSED(ev)) {
        s->cur_skb = 0; /* its route lookups are not ours either */
        return;
    }
    fill_parsed(ev, &p, l3);
    store_headers(s, ev, skb, &f, hb, n, start, sig, now);
    events.ringbuf_submit(ev, 0);
}

/* ---- tracepoint backbone (raw tracepoints; argument lists read in 6.18) ----
 *
 * The skb tracepoints share one copy of the packet parser: each entry
 * stores its arguments in this CPU's scratch and tail-calls brt_emit (slot 0
 * of emit_prog, set by the loader). Inlining emit_skb into every entry made
 * compiling a third of brtrace's start-up. The scratch (arguments and header
 * buffer) is held from the store until the event is emitted: an entry that
 * finds it busy (it interrupted another one on this CPU) leaves it alone and
 * its event is counted lost, exactly like a full ring.
 */
BPF_PROG_ARRAY(emit_prog, 1);

static __always_inline void count_lost(void)
{
    count_produced();
    u32 zero = 0;
    u64 *n = lost.lookup(&zero);
    if (n)
        __sync_fetch_and_add(n, 1);
}

/* This CPU's scratch, marked busy; 0 (event counted lost) when already held. */
static __always_inline struct brt_scratch *hold_scratch(void)
{
    u32 zero = 0;
    struct brt_scratch *s = scratch.lookup(&zero);
    if (!s)
        return 0;
    if (s->busy) {
        count_lost();
        return 0;
    }
    s->busy = 1;
    return s;
}

static __always_inline int tail_emit(void *ctx, u16 hook, void *skb, void *dev, u8 mode,
                                     u32 reason, u64 location)
{
    if (!skb)
        return 0;
#ifdef ONLY_DROPS
    if (hook != HOOK_KFREE_SKB)
        return 0;
#endif
#ifdef early_reject
    int early = early_reject(skb, mode);
    if (early == EARLY_NOT_OURS) {
        u32 zero = 0;
        struct brt_scratch *c = scratch.lookup(&zero);
        if (c && !c->busy && c->cur_skb)
            c->cur_skb = 0; /* a route lookup now is for this packet, not ours */
        return 0;
    }
#endif
    struct brt_scratch *s = hold_scratch();
    if (!s)
        return 0;
    s->skb = (u64)skb;
    s->dev = (u64)dev;
    s->location = location;
    s->reason = reason;
    s->hook = hook;
    s->mode = mode;
#ifdef early_reject
    s->early = early;
#endif
    emit_prog.call(ctx, 0);
    s->busy = 0; /* only reached if the tail call failed */
    return 0;
}

/* Whether tail_emit's early_reject already judged the packet, so emit_skb
 * need not run quick_reject's same test on it again (a third IPv4 parse of
 * every packet kept; function hooks call emit_skb unscreened). */
#ifdef early_reject
#define SCREENED 1
#else
#define SCREENED 0
#endif

int brt_emit(struct bpf_raw_tracepoint_args *ctx)
{
    u32 zero = 0;
    struct brt_scratch *s = scratch.lookup(&zero);
    if (!s)
        return 0;
    emit_skb(s, s->hook, (void *)s->skb, (void *)s->dev, s->mode, s->reason, s->location, SCREENED,
             s->early);
    s->busy = 0;
    return 0;
}

/* Function hooks parse inline (no tail call), holding the scratch the same way. */
static __always_inline int emit_direct(u16 hook, void *skb, void *dev, int mode)
{
    if (!skb)
        return 0;
#ifdef ONLY_DROPS
    return 0;
#endif
    struct brt_scratch *s = hold_scratch();
    if (!s)
        return 0;
    emit_skb(s, hook, skb, dev, mode, 0, 0, 0, EARLY_UNDECIDED);
    s->busy = 0;
    return 0;
}

/* The one hook macro: a raw tracepoint whose skb (and device, -1: none) are
 * arguments at fixed indexes. Expanded for every row of BRT_TP_SKB_HOOKS
 * (brt_schema.h, from tracer/schema/hooks.py) into brt_tp_<name>. */
#define TP_ARG(ctx, i) ((i) < 0 ? (void *)0 : (void *)(ctx)->args[(i) < 0 ? 0 : (i)])
#define TP_SKB_HOOK(name, id, skb, dev, layer) \
    int brt_tp_##name(struct bpf_raw_tracepoint_args *ctx) \
    { return tail_emit(ctx, id, TP_ARG(ctx, skb), TP_ARG(ctx, dev), layer, 0, 0); }

BRT_TP_SKB_HOOKS(TP_SKB_HOOK)

/* kfree_skb(skb, location, reason[, rx_sk]) */
int brt_tp_kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
    return tail_emit(ctx, HOOK_KFREE_SKB, (void *)ctx->args[0], 0, LAYER_KFREE_SKB,
                     (u32)ctx->args[2], (u64)ctx->args[1]);
}

/* The flowi4 fields a route lookup asked for (one probe read with FLP_WIN_LO). */
struct brt_flow {
    u32 daddr;
    u32 saddr;
    u32 oif;
    u32 iif;
    u8 proto;
};

static __always_inline int read_flow(void *flp, struct brt_flow *fl)
{
#ifdef BRT_CAST_VOID /* loads in place (see KMEM) */
    u8 *k = KMEM(flp);
    fl->daddr = CLD(u32, k, OFF_FLOWI4_DADDR);
    fl->saddr = CLD(u32, k, OFF_FLOWI4_SADDR);
    fl->oif = CLD(u32, k, OFF_FLOWI4_OIF);
    fl->iif = CLD(u32, k, OFF_FLOWI4_IIF);
    fl->proto = CLD(u8, k, OFF_FLOWI4_PROTO);
    return flp ? 0 : -1;
#else
#ifdef FLP_WIN_LO
    u8 fw[FLP_WIN_LEN];
    if (bpf_probe_read_kernel(fw, sizeof(fw), flp + FLP_WIN_LO) < 0)
        return -1;
#define FLPF(dst, off) __builtin_memcpy(&(dst), &fw[(off) - FLP_WIN_LO], sizeof(dst))
#else
#define FLPF(dst, off) RD(dst, flp, off)
#endif
    FLPF(fl->daddr, OFF_FLOWI4_DADDR);
    FLPF(fl->saddr, OFF_FLOWI4_SADDR);
    FLPF(fl->oif, OFF_FLOWI4_OIF);
    FLPF(fl->iif, OFF_FLOWI4_IIF);
    FLPF(fl->proto, OFF_FLOWI4_PROTO);
#undef FLPF
    return 0;
#endif
}

/* Whether a filtered trace keeps this lookup: tied to our packet (recent), or
 * for one of the addresses the filter names (FIB_ADDR_A/B). */
static __always_inline int fib_pass(struct brt_flow *fl, int recent)
{
#ifdef BRT_FILTERED
    int pass = recent;
#if defined(FIB_ADDR_A) || defined(FIB_ADDR_B)
    struct brt_cfg *cf = cfg();
    if (!cf)
        return pass;
#endif
#ifdef FIB_ADDR_A
    pass |= fl->daddr == cf->fib_a || fl->saddr == cf->fib_a;
#endif
#ifdef FIB_ADDR_B
    pass |= fl->daddr == cf->fib_b || fl->saddr == cf->fib_b;
#endif
    return pass;
#else
    return 1;
#endif
}

/* The chosen next hop: its device (ifindex, name, netns) and IPv4 gateway;
 * returns the gateway's family (AF_INET 2, AF_INET6 10, 0: none). */
static __always_inline u8 fill_nexthop_ref(struct brt_devref r, u32 *gw_out, u32 *nh_ifindex, void *nhc)
{
    void *dev = 0;
    u8 fam = 0;
    u32 gw = 0;
#ifdef BRT_CAST_VOID /* loads in place (see KMEM) */
    u8 *k = KMEM(nhc);
    dev = (void *)CLD(u64, k, OFF_NHC_DEV);
    fam = CLD(u8, k, OFF_NHC_GW_FAMILY);
    gw = CLD(u32, k, OFF_NHC_GW);
#elif defined(NHC_WIN_LO) /* the fib_nh_common fields from one probe read */
    u8 nw[NHC_WIN_LEN];
    if (bpf_probe_read_kernel(nw, sizeof(nw), nhc + NHC_WIN_LO) == 0) {
        __builtin_memcpy(&dev, &nw[OFF_NHC_DEV - NHC_WIN_LO], sizeof(dev));
        __builtin_memcpy(&fam, &nw[OFF_NHC_GW_FAMILY - NHC_WIN_LO], sizeof(fam));
        __builtin_memcpy(&gw, &nw[OFF_NHC_GW - NHC_WIN_LO], sizeof(gw));
    }
#else
    RD(dev, nhc, OFF_NHC_DEV);
    RD(fam, nhc, OFF_NHC_GW_FAMILY);
    RD(gw, nhc, OFF_NHC_GW);
#endif
    if (fam == 2)
        *gw_out = gw;
    fill_devref(r, dev);
    *nh_ifindex = *r.ifindex;
    return fam;
}
#define fill_nexthop(ev, nhc) fill_nexthop_ref(DEVREF(ev), &(ev)->fib_gw, &(ev)->fib_nh_ifindex, (nhc))

/* A route lookup's time, and whether it is tied to this CPU's current packet
 * (recent). An input lookup (the flow's iif a device: ip_route_input_slow
 * sets it to the receiving one, while output lookups and fib_validate_source
 * set LOOPBACK_IFINDEX; net/ipv4/route.c and fib_frontend.c, read in 6.18)
 * runs in its packet's receive path, after that packet's netif_receive_skb on
 * this CPU: it is stamped BRT_ROUTE_STAMP_NS (1 ns, tracer/schema/event.py)
 * after the record of that hook instead of reading the clock (~40 ns of a
 * route record's ~110, bench probecost), which keeps it between that hook
 * and the packet's next one. jiffies (inlined by
 * the verifier on 64-bit JITs) stand in for the clock in the tie's test. A
 * lookup of any other kind reads the clock, as before: an output lookup may
 * come before its own packet exists. 0: no current packet (the caller reads
 * the clock when it writes the record). */
static __always_inline u64 fib_stamp(struct brt_scratch *c, u64 cur, u32 iif, int *recent)
{
    *recent = 0;
    if (!cur)
        return 0;
    if (iif > LOOPBACK_IFINDEX && bpf_jiffies64() - c->cur_jif <= FIB_TIE_JIFFIES) {
        *recent = 1;
        return c->cur_ts + BRT_ROUTE_STAMP_NS;
    }
    u64 now = bpf_ktime_get_ns();
    *recent = now - c->cur_ts < FIB_TIE_NS;
    return now;
}

/* An IPv4 route lookup as a route record (struct brt_route: 80 bytes, not a
 * whole event's 296 to clear and write; the drain makes it the event,
 * tracer/schema/routes.py). 0 when the route ring refuses it: the caller
 * then writes the whole event, or counts it lost. */
static __always_inline int emit_route(struct bpf_raw_tracepoint_args *ctx, u64 skb, u64 now,
                                      struct brt_flow *fl, void *nhc, int recent)
{
    u32 idx = 0;
    u64 *head = cpu_head(CPU_RING_ROUTES, ROUTE_SLOTS, &idx);
    if (!head)
        return 0;
    struct brt_route_slot *slot = cpu_routes.lookup(&idx);
    if (!slot)
        return 0;
    struct brt_route *r = &slot->r;
    __builtin_memset(r, 0, sizeof(*r));
    r->ts_ns = now ? now : bpf_ktime_get_ns();
    r->skb = skb;
    r->cpu = bpf_get_smp_processor_id();
    r->hook = HOOK_FIB_TABLE_LOOKUP;
    r->flags = BRT_F_ROUTE;
    r->fib_table = (u32)ctx->args[0];
    r->fib_err = (s32)ctx->args[3];
    r->saddr = fl->saddr;
    r->daddr = fl->daddr;
    r->proto = fl->proto;
    r->fib_oif = fl->oif;
    r->fib_iif = fl->iif;
    if (nhc && r->fib_err == 0)
        fill_nexthop_ref(DEVREF(r), &r->fib_gw, &r->fib_nh_ifindex, nhc);
#ifdef FILTER_NETNS /* as the whole event's path below */
    if (!r->netns && !recent)
        r->netns = 1;
    if (r->netns && NETNS_OTHER(r))
        return 1;
#endif
    cpu_publish(head);
    return 1;
}

/* fib_table_lookup(tb_id, flp, nhc, err): no skb, tied to this CPU's current one. */
int brt_tp_fib_table_lookup(struct bpf_raw_tracepoint_args *ctx)
{
#ifdef ONLY_DROPS
    return 0;
#endif
    void *nhc = (void *)ctx->args[2];
    u32 zero = 0;
    struct brt_scratch *c = scratch.lookup(&zero);
    if (!c)
        return 0;
    u64 cur = c->cur_skb;
#if defined(BRT_FILTERED) && !defined(FIB_ADDR_A) && !defined(FIB_ADDR_B)
    if (!cur)
        return 0; /* filtered, and the last packet on this CPU did not match: not ours, nothing read */
#endif
    struct brt_flow fl = {};
    if (read_flow((void *)ctx->args[1], &fl) < 0)
        return 0;
    int recent = 0;
    u64 now = fib_stamp(c, cur, fl.iif, &recent);
    if (!fib_pass(&fl, recent))
        return 0;
#ifndef BRT_FULL_RECORDS
    /* A lookup run in an interrupt of another one on this CPU (an output
     * lookup in process context, then a packet's in softirq) must not write
     * the ring that one is writing: it takes the full path's locked ring. */
    if (!c->route_busy) {
        c->route_busy = 1;
        int done = emit_route(ctx, recent ? cur : 0, now, &fl, nhc, recent);
        c->route_busy = 0;
        if (done)
            return 0;
    }
#endif
    struct brt_event *ev = reserve(1, now);
    if (!ev)
        return 0;
    ev->hook = HOOK_FIB_TABLE_LOOKUP;
    ev->skb = recent ? cur : 0;
    ev->flags = BRT_F_ROUTE;
    ev->fib_table = (u32)ctx->args[0];
    ev->fib_err = (s32)ctx->args[3];
    ev->outer.saddr = fl.saddr;
    ev->outer.daddr = fl.daddr;
    ev->outer.icmp_type = 0xff;
    ev->outer.proto = fl.proto;
    ev->fib_oif = fl.oif;
    ev->fib_iif = fl.iif;
    if (nhc && ev->fib_err == 0)
        fill_nexthop(ev, nhc);
#ifdef FILTER_NETNS /* a failed lookup names no device: it is ours when its packet was */
    if (!ev->netns && !recent) {
        ev->netns = 1; /* never an inode: refused below */
    }
    if (ev->netns && NETNS_REFUSED(ev))
        return 0;
#endif
    events.ringbuf_submit(ev, 0);
    return 0;
}

/* fib6_table_lookup(net, res, table, flp) (include/trace/events/fib6.h, read in
 * 6.18): an IPv6 route lookup. Emitted as a route lookup (HOOK_FIB_TABLE_LOOKUP)
 * with BRT_F_V6, the flow's addresses in saddr6/daddr6, so one route path in
 * user space serves both families; tied to this CPU's packet like IPv4's.
 * err as the tracepoint computes it: ip6_rt_type_to_error(res->fib6_type). */
static __always_inline s32 fib6_type_err(u8 type)
{
    switch (type) {
    case 7: return -113; /* RTN_UNREACHABLE (also the null entry: no route): -EHOSTUNREACH */
    case 8: return -13;  /* RTN_PROHIBIT: -EACCES */
    case 9: return -11;  /* RTN_THROW: -EAGAIN */
    case 3: case 5: case 6: case 10: case 11: return -22; /* -EINVAL */
    default: return 0;
    }
}

/* Whether an IPv6 lookup not tied to our packet is still ours: for one of the
 * addresses the filter names (FIB6_ADDR_A/B, each as two u64 halves as loaded).
 * A sender's own output lookup comes before its packet exists, as IPv4's does. */
static __always_inline int fib6_pass(const u64 *sa, const u64 *da)
{
    int pass = 0;
#if defined(FIB6_ADDR_A) || defined(FIB6_ADDR_B)
    struct brt_cfg *cf = cfg();
    if (!cf)
        return 0;
#endif
#ifdef FIB6_ADDR_A
    pass |= (da[0] == cf->fib6_a[0] && da[1] == cf->fib6_a[1]) || (sa[0] == cf->fib6_a[0] && sa[1] == cf->fib6_a[1]);
#endif
#ifdef FIB6_ADDR_B
    pass |= (da[0] == cf->fib6_b[0] && da[1] == cf->fib6_b[1]) || (sa[0] == cf->fib6_b[0] && sa[1] == cf->fib6_b[1]);
#endif
    return pass;
}

/* A v6 route lookup's flow (addresses, protocol, interfaces) and the
 * gateway the tracepoint's gw reads, into its record. */
static __always_inline void fill_route6(struct brt_event *ev, void *flp, void *res, u64 *sa, u64 *da,
                                        u64 cur, u32 iif)
{
    void *nh = 0;
    RD(nh, res, OFF_F6R_NH);
    __builtin_memcpy(ev->saddr6, sa, 16);
    __builtin_memcpy(ev->daddr6, da, 16);
    __builtin_memcpy(&ev->outer.saddr, &ev->saddr6[12], 4);
    __builtin_memcpy(&ev->outer.daddr, &ev->daddr6[12], 4);
    ev->outer.icmp_type = 0xff;
    RD(ev->outer.proto, flp, OFF_FLOWI6_PROTO);
    RD(ev->fib_oif, flp, OFF_FLOWI6_OIF);
    ev->fib_iif = iif;
    if (!cur)
        RD(ev->fib_iif, flp, OFF_FLOWI6_IIF);
    /* The gateway as the tracepoint's gw reads it (res->nh->fib_nh_gw6): its 16
     * bytes go where a route event has nothing, the inner key (BRT_F_GW6). */
    _Static_assert(sizeof(ev->inner) >= 16, "the inner key holds an IPv6 gateway");
    if (nh && ev->fib_err == 0 && fill_nexthop(ev, nh + OFF_F6NH_NHC) == 10
        && bpf_probe_read_kernel(&ev->inner, 16, nh + OFF_F6NH_NHC + OFF_NHC_GW) == 0)
        ev->flags |= BRT_F_GW6;
}

int brt_tp_fib6_table_lookup(struct bpf_raw_tracepoint_args *ctx)
{
#ifdef ONLY_DROPS
    return 0;
#endif
    u32 zero = 0;
    struct brt_scratch *c = scratch.lookup(&zero);
    if (!c)
        return 0;
    void *res = (void *)ctx->args[1], *flp = (void *)ctx->args[3];
    u64 cur = c->cur_skb;
    u32 iif = 0;
    if (cur)
        RD(iif, flp, OFF_FLOWI6_IIF);
    int recent = 0;
    u64 now = fib_stamp(c, cur, iif, &recent);
#if !defined(FIB6_ADDR_A) && !defined(FIB6_ADDR_B)
    if (!recent)
        return 0; /* kept only for a packet that just matched: nothing else read */
#endif
    u64 sa[2] = {}, da[2] = {};
    bpf_probe_read_kernel(sa, 16, flp + OFF_FLOWI6_SADDR);
    bpf_probe_read_kernel(da, 16, flp + OFF_FLOWI6_DADDR);
    if (!recent && !fib6_pass(sa, da))
        return 0;
    u32 table = 0;
    u8 type = 0;
    RD(table, (void *)ctx->args[2], OFF_F6T_ID);
    RD(type, res, OFF_F6R_TYPE);
    s32 err = fib6_type_err(type);
    /* RT6_TABLE_LOCAL's miss: every lookup tries it first. Left out before the
     * reservation: a discarded one was counted produced, never received nor lost. */
    if (err && table == 255)
        return 0;
    struct brt_event *ev = reserve(1, now);
    if (!ev)
        return 0;
    ev->hook = HOOK_FIB_TABLE_LOOKUP;
    ev->skb = recent ? cur : 0;
    ev->flags = BRT_F_ROUTE | BRT_F_V6;
    ev->fib_table = table;
    ev->fib_err = err;
    fill_route6(ev, flp, res, sa, da, cur, iif);
    if (ev->netns && NETNS_REFUSED(ev))
        return 0;
    events.ringbuf_submit(ev, 0);
    return 0;
}

/* br_fdb_update(br, source port, addr, vid, flags): the bridge learned a MAC. */
int brt_tp_br_fdb_update(struct bpf_raw_tracepoint_args *ctx)
{
#ifdef ONLY_DROPS
    return 0;
#endif
    void *port = (void *)ctx->args[1];
    struct brt_event *ev = reserve(1, 0);
    if (!ev)
        return 0;
    ev->hook = HOOK_BR_FDB_UPDATE;
    ev->flags = BRT_F_FDB;
    ev->fdb_vlan = (u16)ctx->args[3];
    bpf_probe_read_kernel(ev->fdb_mac, 6, (void *)ctx->args[2]);
    if (port) {
        void *dev = 0;
        RD(dev, port, OFF_NBP_DEV);
        fill_dev(ev, dev);
    }
    if (NETNS_REFUSED(ev))
        return 0;
    events.ringbuf_submit(ev, 0);
    return 0;
}

/* ---- function hooks: kprobes where the kernel has them (signatures read in 6.1/6.18) ----
 *
 * Only the handlers of the hooks that attach as kprobes this load are
 * compiled: every one inlines the whole packet parser, and compile time is
 * startup time. The same macro shape as TP_SKB_HOOK, from BRT_KPROBE_SKB_HOOKS. */
#define KP_ARG0(ctx) PT_REGS_PARM1(ctx)
#define KP_ARG1(ctx) PT_REGS_PARM2(ctx)
#define KP_ARG2(ctx) PT_REGS_PARM3(ctx)
#define KP_ARG3(ctx) PT_REGS_PARM4(ctx)
#define KPROBE_SKB_HOOK(fn, id, skb, dev, layer) \
    int brt_kp_##fn(struct pt_regs *ctx) \
    { return emit_direct(id, (void *)KP_ARG##skb(ctx), 0, layer); }

BRT_KPROBE_SKB_HOOKS(KPROBE_SKB_HOOK)

#ifdef BRT_KPROBE_br_handle_frame
/* br_handle_frame(struct sk_buff **pskb): rx handler of every bridge port. */
int brt_kp_br_handle_frame(struct pt_regs *ctx)
{
    void *skb = 0;
    bpf_probe_read_kernel(&skb, sizeof(skb), (void *)PT_REGS_PARM1(ctx));
    return emit_direct(HOOK_BR_HANDLE_FRAME, skb, 0, LAYER_BR_HANDLE_FRAME);
}
#endif

#ifdef BRT_KPROBE_br_forward
/* br_forward(to, skb, local_rcv, local_orig): the event names the output port. */
int brt_kp_br_forward(struct pt_regs *ctx)
{
    void *to = (void *)PT_REGS_PARM1(ctx), *dev = 0;
    if (to)
        RD(dev, to, OFF_NBP_DEV);
    return emit_direct(HOOK_BR_FORWARD, (void *)PT_REGS_PARM2(ctx), dev, LAYER_BR_FORWARD);
}
#endif

/* ---- fentry variants, compiled in only for hooks the loader proved attachable ---- */
#define FENTRY_SKB_HOOK(fn, id, skb, dev, layer) \
    KFUNC_PROBE(fn) { return emit_direct(id, (void *)ctx[skb], 0, layer); }

BRT_FENTRY_SKB_HOOKS(FENTRY_SKB_HOOK)

#ifdef BRT_FENTRY_br_handle_frame
KFUNC_PROBE(br_handle_frame)
{
    void *skb = 0;
    bpf_probe_read_kernel(&skb, sizeof(skb), (void *)ctx[0]);
    return emit_direct(HOOK_BR_HANDLE_FRAME, skb, 0, LAYER_BR_HANDLE_FRAME);
}
#endif
#ifdef BRT_FENTRY_br_forward
KFUNC_PROBE(br_forward)
{
    void *to = (void *)ctx[0], *dev = 0;
    if (to)
        RD(dev, to, OFF_NBP_DEV);
    return emit_direct(HOOK_BR_FORWARD, (void *)ctx[1], dev, LAYER_BR_FORWARD);
}
#endif
