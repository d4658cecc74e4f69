/* brtrace: one BPF program, one event struct, every hook.
 *
 * Tracepoints are attached as raw tracepoints (args are the tracepoint's C
 * arguments, e.g. the sk_buff pointer), which every kernel since 4.17 allows
 * even without kprobes. Function hooks (kprobes, or fentry where allowed) use
 * the same emit() path. All kernel struct fields are read with
 * bpf_probe_read_kernel() at OFF_* offsets the loader takes from the running
 * kernel's BTF, so the headers tree bcc compiles with does not matter.
 *
 * Parameters arrive as -D cflags (see probes/loader.py):
 *   OFF_*             struct member offsets (BTF)
 *   VXLAN_PORT        UDP port of the VXLAN devices to look inside (8472, flannel)
 *   FILTER_ICMP_ID    only ICMP echo/reply with this id (outer or VXLAN-inner)
 *   FILTER_HOST       only packets from/to this IPv4 address (u32, network order)
 *   FILTER_PROTO      only this IP protocol;  FILTER_PORT  only this L4 port
 *   FIB_ADDR_A/B      route lookups for these addresses always pass the filter
 *   ONLY_DROPS        emit only kfree_skb events (brtrace drops)
 *   RINGBUF_PAGES     ring buffer size in pages
 *   SKB_WIN_LO/LEN    one window of struct sk_buff holding every field parse_skb reads
 *   BRT_KPROBES       compile the kprobe variants (some hook attaches as a kprobe)
 *   BRT_FENTRY_<fn>   compile the fentry variant of <fn>
 */
/* pt_regs is kernel entry ABI on x86_64, identical across versions: safe to take from any headers tree. */
#include <uapi/linux/ptrace.h>
#include "brtrace.h"

#ifndef RINGBUF_PAGES
#define RINGBUF_PAGES 1024
#endif
#ifndef VXLAN_PORT
#define VXLAN_PORT 8472
#endif
#ifndef VXLAN_PORT2
#define VXLAN_PORT2 4789
#endif
#define FIB_WINDOW_NS 200000ULL
#define MAC_UNSET 0xffff
#define ETH_IP 0x0800
#define ETH_ARP 0x0806
#define ETH_8021Q 0x8100
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17

#define L2_HOOK 0
#define L3_HOOK 1

BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
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

/* The packet that last matched on this CPU: route lookups carry no skb, so
 * they are tied to it (fib_table_lookup runs on the CPU processing the skb). */
struct brt_cur {
    u64 ts;
    u64 skb;
};
BPF_PERCPU_ARRAY(cur, struct brt_cur, 1);

#define RD(dst, base, off) bpf_probe_read_kernel(&(dst), sizeof(dst), (void *)((u64)(base) + (off)))

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
    u8 flags;
};

static __always_inline u16 bswap16(u16 v) { return (v >> 8) | (v << 8); }

/* IPv4 header + the first 8 bytes of L4 into a key. Returns the L4 offset or 0. */
static __always_inline u32 parse_ip(void *head, u32 off, struct brt_key *k)
{
    u8 ip[20];
    if (bpf_probe_read_kernel(ip, sizeof(ip), head + off) < 0)
        return 0;
    if ((ip[0] >> 4) != 4)
        return 0;
    u32 ihl = (ip[0] & 0x0f) * 4;
    k->saddr = *(u32 *)&ip[12];
    k->daddr = *(u32 *)&ip[16];
    k->ip_id = (ip[4] << 8) | ip[5];
    k->ttl = ip[8];
    k->proto = ip[9];
    k->icmp_type = 0xff;
    u16 frag = ((ip[6] << 8) | ip[7]) & 0x1fff;
    if (frag)
        return 0;
    u8 l4[8];
    if (bpf_probe_read_kernel(l4, sizeof(l4), head + off + ihl) < 0)
        return 0;
    if (k->proto == PROTO_ICMP) {
        k->icmp_type = l4[0];
        k->icmp_code = l4[1];
        k->sport = (l4[4] << 8) | l4[5];
        k->dport = (l4[6] << 8) | l4[7];
    } else if (k->proto == PROTO_TCP || k->proto == PROTO_UDP) {
        k->sport = (l4[0] << 8) | l4[1];
        k->dport = (l4[2] << 8) | l4[3];
    }
    return off + ihl;
}

static __always_inline void parse_arp(void *head, u32 off, struct brt_key *k)
{
    u8 arp[28];
    if (bpf_probe_read_kernel(arp, sizeof(arp), head + off) < 0)
        return;
    k->saddr = *(u32 *)&arp[14];
    k->daddr = *(u32 *)&arp[24];
    k->sport = (arp[6] << 8) | arp[7]; /* ARP opcode */
    k->icmp_type = 0xff;
}

/* Ethernet (+ one 802.1Q tag) at off; returns the L3 offset, sets ethertype. */
static __always_inline u32 parse_eth(void *head, u32 off, u8 *dst, u8 *src, u16 *etype, u16 *vlan)
{
    u8 eth[18];
    if (bpf_probe_read_kernel(eth, sizeof(eth), head + off) < 0)
        return 0;
    __builtin_memcpy(dst, &eth[0], 6);
    __builtin_memcpy(src, &eth[6], 6);
    u16 t = (eth[12] << 8) | eth[13];
    off += 14;
    if (t == ETH_8021Q) {
        *vlan = ((eth[14] << 8) | eth[15]) & 0x0fff;
        t = (eth[16] << 8) | eth[17];
        off += 4;
    }
    *etype = t;
    return off;
}

static __always_inline void parse_vxlan(void *head, u32 l4off, struct brt_parsed *p)
{
    if (p->outer.proto != PROTO_UDP || !(p->outer.dport == VXLAN_PORT || p->outer.dport == VXLAN_PORT2))
        return;
    u8 vx[8];
    if (bpf_probe_read_kernel(vx, sizeof(vx), head + l4off + 8) < 0 || !(vx[0] & 0x08))
        return;
    p->vni = (vx[4] << 16) | (vx[5] << 8) | vx[6];
    u16 it = 0, iv = 0;
    u32 l3 = parse_eth(head, l4off + 16, p->inner_dst_mac, p->inner_src_mac, &it, &iv);
    if (l3 && it == ETH_IP && parse_ip(head, l3, &p->inner))
        p->flags |= BRT_F_INNER;
    else if (l3 && it == ETH_ARP) {
        parse_arp(head, l3, &p->inner);
        p->flags |= BRT_F_INNER;
    }
}

static __always_inline int key_match(struct brt_key *k)
{
#ifdef FILTER_ICMP_ID
    if (k->proto != PROTO_ICMP || (k->icmp_type != 0 && k->icmp_type != 8) || k->sport != FILTER_ICMP_ID)
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

static __always_inline int packet_match(struct brt_parsed *p)
{
#if defined(FILTER_ICMP_ID) || defined(FILTER_HOST) || defined(FILTER_PROTO) || defined(FILTER_PORT)
    if (key_match(&p->outer))
        return 1;
    return (p->flags & BRT_F_INNER) && key_match(&p->inner);
#else
    return 1;
#endif
}

static __always_inline void fill_dev(struct brt_event *ev, void *dev)
{
    if (!dev)
        return;
    void *net = 0;
    RD(ev->ifindex, dev, OFF_DEV_IFINDEX);
    bpf_probe_read_kernel(ev->ifname, sizeof(ev->ifname), dev + OFF_DEV_NAME);
    RD(net, dev, OFF_DEV_ND_NET);
    if (net)
        RD(ev->netns, net, OFF_NET_INUM);
}

static __always_inline struct brt_event *reserve(void)
{
    count_produced();
    struct brt_event *ev = events.ringbuf_reserve(sizeof(struct brt_event));
    if (!ev) {
        u32 zero = 0;
        u64 *n = lost.lookup(&zero);
        if (n)
            __sync_fetch_and_add(n, 1);
        return 0;
    }
    __builtin_memset(ev, 0, sizeof(*ev));
    ev->ts_ns = bpf_ktime_get_ns();
    ev->cpu = bpf_get_smp_processor_id();
    return ev;
}

static __always_inline void remember(void *skb)
{
    u32 zero = 0;
    struct brt_cur *c = cur.lookup(&zero);
    if (c) {
        c->ts = bpf_ktime_get_ns();
        c->skb = (u64)skb;
    }
}

/* The sk_buff fields every hook needs. With SKB_WIN_LO/SKB_WIN_LEN (the loader
 * passes them when the fields lie within a few dozen bytes of each other, as
 * in 6.x) they come from one probe read instead of seven: this runs for every
 * packet at every hook, matched by the filter or not. */
struct brt_skbf {
    void *head;
    void *data;
    u32 tail;
    u16 mac;
    u16 nh;
    u16 proto;
    u16 vlan;
};

static __always_inline int read_skbf(void *skb, struct brt_skbf *f)
{
#ifdef SKB_WIN_LO
    u8 w[SKB_WIN_LEN];
    if (bpf_probe_read_kernel(w, sizeof(w), skb + SKB_WIN_LO) < 0)
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
    return 0;
}

/* Where the packet's headers start, from the offsets the skb records. */
static __always_inline u32 parse_skb(struct brt_skbf *f, void *head, int mode, struct brt_parsed *p, u8 *l3)
{
    u16 mac = f->mac, nh = f->nh, proto = f->proto;
    void *data = f->data;
    p->vlan = f->vlan & 0x0fff;
    u32 start, off;
    if (mode == L3_HOOK && nh != MAC_UNSET && nh != 0) {
        *l3 = 1;
        start = nh;
        p->ethertype = bswap16(proto);
        if (mac != MAC_UNSET && mac + 14 <= nh) {
            u16 et = 0, vl = 0;
            parse_eth(head, mac, p->dst_mac, p->src_mac, &et, &vl);
            p->flags |= BRT_F_MAC;
            *l3 = 0;
            start = mac;
        }
        off = nh;
    } else {
        *l3 = 0;
        start = (mac != MAC_UNSET) ? mac : (u32)((u64)data - (u64)head);
        off = parse_eth(head, start, p->dst_mac, p->src_mac, &p->ethertype, &p->vlan);
        if (!off)
            return start;
        p->flags |= BRT_F_MAC;
    }
    if (p->ethertype == ETH_IP) {
        u32 l4 = parse_ip(head, off, &p->outer);
        if (l4)
            parse_vxlan(head, l4, p);
    } else if (p->ethertype == ETH_ARP) {
        parse_arp(head, off, &p->outer);
    }
    return start;
}

static __always_inline void copy_headers(struct brt_event *ev, u32 tail, void *head, u32 start)
{
    if (tail <= start)
        return;
    u64 n = (tail - start) & 0xffff;
    if (n > BRT_SNAPLEN)
        n = BRT_SNAPLEN;
    /* make the verifier see the bound on the register that is passed */
    asm volatile("" : "+r"(n));
    if (n > BRT_SNAPLEN)
        return;
    if (bpf_probe_read_kernel(ev->headers, n, head + start) == 0)
        ev->hdr_len = n;
}

static __always_inline int emit_skb(void *ctx, u16 hook, void *skb, void *dev, int mode,
                                    u32 reason, u64 location)
{
    if (!skb)
        return 0;
#ifdef ONLY_DROPS
    if (hook != HOOK_KFREE_SKB)
        return 0;
#endif
    struct brt_skbf f = {.mac = MAC_UNSET, .nh = MAC_UNSET};
    if (read_skbf(skb, &f) < 0)
        return 0;
    void *head = f.head;
    struct brt_parsed p = {};
    u8 l3 = 0;
    u32 start = parse_skb(&f, head, mode, &p, &l3);
    if (!packet_match(&p))
        return 0;
    remember(skb);
    struct brt_event *ev = reserve();
    if (!ev)
        return 0;
    ev->hook = hook;
    ev->skb = (u64)skb;
    ev->drop_reason = reason;
    ev->location = location;
    RD(ev->len, skb, OFF_SKB_LEN);
    u8 pt = 0;
    RD(pt, skb, OFF_SKB_PKT_TYPE);
    ev->pkt_type = (pt >> PKT_TYPE_SHIFT) & 7;
    if (!dev)
        RD(dev, skb, OFF_SKB_DEV);
    fill_dev(ev, dev);
    ev->ethertype = p.ethertype;
    ev->vlan = p.vlan;
    ev->vni = p.vni;
    ev->outer = p.outer;
    ev->inner = p.inner;
    __builtin_memcpy(ev->src_mac, p.src_mac, 6);
    __builtin_memcpy(ev->dst_mac, p.dst_mac, 6);
    __builtin_memcpy(ev->inner_src_mac, p.inner_src_mac, 6);
    __builtin_memcpy(ev->inner_dst_mac, p.inner_dst_mac, 6);
    ev->flags = p.flags | (l3 ? BRT_F_L3 : 0);
    copy_headers(ev, f.tail, head, start);
    events.ringbuf_submit(ev, 0);
    return 0;
}

/* ---- tracepoint backbone (raw tracepoints; argument lists read in 6.18) ----
 *
 * The five skb tracepoints share one copy of the packet parser: each entry
 * stores its arguments in a per-CPU slot and tail-calls brt_emit (slot 0 of
 * emit_prog, set by the loader). Inlining emit_skb five times made compiling
 * a third of brtrace's start-up. An entry that finds the slot busy (it
 * interrupted another entry between store and tail call on this CPU) does
 * not overwrite it: its event is counted lost, exactly like a full ring.
 */
struct brt_args {
    u64 skb;
    u64 dev;
    u64 location;
    u32 reason;
    u16 hook;
    u8 mode;
    u8 busy;
};
BPF_PERCPU_ARRAY(args, struct brt_args, 1);
BPF_PROG_ARRAY(emit_prog, 1);

static __always_inline void count_lost(void)
{
    count_produced();
    u32 zero = 0;
    u64 *n = lost.lookup(&zero);
    if (n)
        __sync_fetch_and_add(n, 1);
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
    u32 zero = 0;
    struct brt_args *a = args.lookup(&zero);
    if (!a)
        return 0;
    if (a->busy) {
        count_lost();
        return 0;
    }
    a->busy = 1;
    a->skb = (u64)skb;
    a->dev = (u64)dev;
    a->location = location;
    a->reason = reason;
    a->hook = hook;
    a->mode = mode;
    emit_prog.call(ctx, 0);
    a->busy = 0; /* only reached if the tail call failed */
    return 0;
}

int brt_emit(struct bpf_raw_tracepoint_args *ctx)
{
    u32 zero = 0;
    struct brt_args *a = args.lookup(&zero);
    if (!a)
        return 0;
    void *skb = (void *)a->skb, *dev = (void *)a->dev;
    u16 hook = a->hook;
    u32 reason = a->reason;
    u64 location = a->location;
    int mode = a->mode;
    a->busy = 0;
    return emit_skb(ctx, hook, skb, dev, mode, reason, location);
}

int brt_tp_net_dev_queue(struct bpf_raw_tracepoint_args *ctx)
{
    return tail_emit(ctx, HOOK_NET_DEV_QUEUE, (void *)ctx->args[0], 0, L2_HOOK, 0, 0);
}

int brt_tp_net_dev_start_xmit(struct bpf_raw_tracepoint_args *ctx)
{
    return tail_emit(ctx, HOOK_NET_DEV_START_XMIT, (void *)ctx->args[0], (void *)ctx->args[1], L2_HOOK, 0, 0);
}

int brt_tp_netif_receive_skb(struct bpf_raw_tracepoint_args *ctx)
{
    return tail_emit(ctx, HOOK_NETIF_RECEIVE_SKB, (void *)ctx->args[0], 0, L2_HOOK, 0, 0);
}

int brt_tp_netif_rx(struct bpf_raw_tracepoint_args *ctx)
{
    return tail_emit(ctx, HOOK_NETIF_RX, (void *)ctx->args[0], 0, L2_HOOK, 0, 0);
}

/* kfree_skb(skb, location, reason[, rx_sk]) */
int brt_tp_kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
    return tail_emit(ctx, HOOK_KFREE_SKB, (void *)ctx->args[0], 0, L3_HOOK,
                     (u32)ctx->args[2], (u64)ctx->args[1]);
}

/* fib_table_lookup(tb_id, flp, nhc, err): no skb, tied to this CPU's current one. */
int brt_tp_fib_table_lookup(struct bpf_raw_tracepoint_args *ctx)
{
#ifdef ONLY_DROPS
    return 0;
#endif
    void *flp = (void *)ctx->args[1];
    void *nhc = (void *)ctx->args[2];
    u32 zero = 0;
    struct brt_cur *c = cur.lookup(&zero);
    u64 now = bpf_ktime_get_ns();
    int recent = c && c->ts && now - c->ts < FIB_WINDOW_NS;
#if (defined(FILTER_ICMP_ID) || defined(FILTER_HOST) || defined(FILTER_PROTO) || defined(FILTER_PORT)) \
    && !defined(FIB_ADDR_A) && !defined(FIB_ADDR_B)
    if (!recent)
        return 0; /* filtered and no matched packet on this CPU just now: not ours, nothing read */
#endif
    u32 daddr = 0, saddr = 0;
    RD(daddr, flp, OFF_FLOWI4_DADDR);
    RD(saddr, flp, OFF_FLOWI4_SADDR);
#if defined(FILTER_ICMP_ID) || defined(FILTER_HOST) || defined(FILTER_PROTO) || defined(FILTER_PORT)
    int pass = recent;
#ifdef FIB_ADDR_A
    pass |= daddr == (u32)FIB_ADDR_A || saddr == (u32)FIB_ADDR_A;
#endif
#ifdef FIB_ADDR_B
    pass |= daddr == (u32)FIB_ADDR_B || saddr == (u32)FIB_ADDR_B;
#endif
    if (!pass)
        return 0;
#endif
    struct brt_event *ev = reserve();
    if (!ev)
        return 0;
    ev->hook = HOOK_FIB_TABLE_LOOKUP;
    ev->skb = recent ? c->skb : 0;
    ev->flags = BRT_F_ROUTE;
    ev->fib_table = (u32)ctx->args[0];
    ev->fib_err = (s32)ctx->args[3];
    ev->outer.saddr = saddr;
    ev->outer.daddr = daddr;
    ev->outer.icmp_type = 0xff;
    RD(ev->outer.proto, flp, OFF_FLOWI4_PROTO);
    RD(ev->fib_oif, flp, OFF_FLOWI4_OIF);
    RD(ev->fib_iif, flp, OFF_FLOWI4_IIF);
    if (nhc && ev->fib_err == 0) {
        void *dev = 0;
        u8 fam = 0;
        RD(dev, nhc, OFF_NHC_DEV);
        RD(fam, nhc, OFF_NHC_GW_FAMILY);
        if (fam == 2)
            RD(ev->fib_gw, nhc, OFF_NHC_GW);
        fill_dev(ev, dev);
        ev->fib_nh_ifindex = ev->ifindex;
    }
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
    struct brt_event *ev = reserve();
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
    events.ringbuf_submit(ev, 0);
    return 0;
}

/* ---- function hooks: kprobes where the kernel has them (signatures read in 6.1/6.18) ---- */

/* Compiled only when the loader attaches some kprobe (BRT_KPROBES): every
 * function here inlines the whole packet parser, and compile time is startup time. */
#ifdef BRT_KPROBES
#define SKB_ARG_HOOK(fn, id, parm, mode) \
    int brt_kp_##fn(struct pt_regs *ctx) \
    { return emit_skb(ctx, id, (void *)PT_REGS_PARM##parm(ctx), 0, mode, 0, 0); }

SKB_ARG_HOOK(veth_xmit, HOOK_VETH_XMIT, 1, L2_HOOK)
SKB_ARG_HOOK(ip_forward, HOOK_IP_FORWARD, 1, L3_HOOK)
SKB_ARG_HOOK(br_pass_frame_up, HOOK_BR_PASS_FRAME_UP, 1, L2_HOOK)
SKB_ARG_HOOK(vxlan_xmit, HOOK_VXLAN_XMIT, 1, L2_HOOK)
SKB_ARG_HOOK(vxlan_rcv, HOOK_VXLAN_RCV, 2, L3_HOOK)
SKB_ARG_HOOK(ip_rcv, HOOK_IP_RCV, 1, L3_HOOK)
SKB_ARG_HOOK(ip_finish_output2, HOOK_IP_FINISH_OUTPUT2, 3, L3_HOOK)

/* br_handle_frame(struct sk_buff **pskb): rx handler of every bridge port. */
int brt_kp_br_handle_frame(struct pt_regs *ctx)
{
    void *skb = 0;
    bpf_probe_read_kernel(&skb, sizeof(skb), (void *)PT_REGS_PARM1(ctx));
    return emit_skb(ctx, HOOK_BR_HANDLE_FRAME, skb, 0, L2_HOOK, 0, 0);
}

/* br_forward(to, skb, local_rcv, local_orig): the event names the output port. */
int brt_kp_br_forward(struct pt_regs *ctx)
{
    void *to = (void *)PT_REGS_PARM1(ctx), *dev = 0;
    if (to)
        RD(dev, to, OFF_NBP_DEV);
    return emit_skb(ctx, HOOK_BR_FORWARD, (void *)PT_REGS_PARM2(ctx), dev, L2_HOOK, 0, 0);
}
#endif

/* ---- fentry variants, compiled in only for hooks the loader proved attachable ---- */
#define FENTRY_SKB(fn, id, idx, mode) \
    KFUNC_PROBE(fn) { return emit_skb(ctx, id, (void *)ctx[idx], 0, mode, 0, 0); }

#ifdef BRT_FENTRY_veth_xmit
FENTRY_SKB(veth_xmit, HOOK_VETH_XMIT, 0, L2_HOOK)
#endif
#ifdef BRT_FENTRY_ip_forward
FENTRY_SKB(ip_forward, HOOK_IP_FORWARD, 0, L3_HOOK)
#endif
#ifdef BRT_FENTRY_br_pass_frame_up
FENTRY_SKB(br_pass_frame_up, HOOK_BR_PASS_FRAME_UP, 0, L2_HOOK)
#endif
#ifdef BRT_FENTRY_vxlan_xmit
FENTRY_SKB(vxlan_xmit, HOOK_VXLAN_XMIT, 0, L2_HOOK)
#endif
#ifdef BRT_FENTRY_vxlan_rcv
FENTRY_SKB(vxlan_rcv, HOOK_VXLAN_RCV, 1, L3_HOOK)
#endif
#ifdef BRT_FENTRY_ip_rcv
FENTRY_SKB(ip_rcv, HOOK_IP_RCV, 0, L3_HOOK)
#endif
#ifdef BRT_FENTRY_ip_finish_output2
FENTRY_SKB(ip_finish_output2, HOOK_IP_FINISH_OUTPUT2, 2, L3_HOOK)
#endif
#ifdef BRT_FENTRY_br_handle_frame
KFUNC_PROBE(br_handle_frame)
{
    void *skb = 0;
    bpf_probe_read_kernel(&skb, sizeof(skb), (void *)ctx[0]);
    return emit_skb(ctx, HOOK_BR_HANDLE_FRAME, skb, 0, L2_HOOK, 0, 0);
}
#endif
#ifdef BRT_FENTRY_br_forward
KFUNC_PROBE(br_forward)
{
    void *to = (void *)ctx[0], *dev = 0;
    if (to)
        RD(dev, to, OFF_NBP_DEV);
    return emit_skb(ctx, HOOK_BR_FORWARD, (void *)ctx[1], dev, L2_HOOK, 0, 0);
}
#endif
