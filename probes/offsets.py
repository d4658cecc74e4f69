"""Kernel struct offsets for the C program, taken from the running kernel's BTF.

Each entry names a ``-D`` macro the C program uses and the member it stands
for. Nothing else in brtrace knows a kernel struct layout.
"""

from __future__ import annotations

from probes.btf import BTF, BTFError

# macro -> (struct, member path)
MEMBERS: dict[str, tuple[str, str]] = {
    "OFF_SKB_HEAD": ("sk_buff", "head"),
    "OFF_SKB_DATA": ("sk_buff", "data"),
    "OFF_SKB_LEN": ("sk_buff", "len"),
    "OFF_SKB_TAIL": ("sk_buff", "tail"),
    "OFF_SKB_DEV": ("sk_buff", "dev"),
    "OFF_SKB_NETWORK_HEADER": ("sk_buff", "network_header"),
    "OFF_SKB_MAC_HEADER": ("sk_buff", "mac_header"),
    "OFF_SKB_PROTOCOL": ("sk_buff", "protocol"),
    "OFF_SKB_VLAN_TCI": ("sk_buff", "vlan_tci"),
    "OFF_SKB_PKT_TYPE": ("sk_buff", "pkt_type"),
    "OFF_DEV_NAME": ("net_device", "name"),
    "OFF_DEV_IFINDEX": ("net_device", "ifindex"),
    "OFF_DEV_ND_NET": ("net_device", "nd_net"),
    "OFF_NET_INUM": ("net", "ns.inum"),
    "OFF_FLOWI4_OIF": ("flowi4", "__fl_common.flowic_oif"),
    "OFF_FLOWI4_IIF": ("flowi4", "__fl_common.flowic_iif"),
    "OFF_FLOWI4_PROTO": ("flowi4", "__fl_common.flowic_proto"),
    "OFF_FLOWI4_SADDR": ("flowi4", "saddr"),
    "OFF_FLOWI4_DADDR": ("flowi4", "daddr"),
    "OFF_NHC_DEV": ("fib_nh_common", "nhc_dev"),
    "OFF_NHC_GW": ("fib_nh_common", "nhc_gw"),
    "OFF_NHC_GW_FAMILY": ("fib_nh_common", "nhc_gw_family"),
    "OFF_NBP_DEV": ("net_bridge_port", "dev"),
    "OFF_FLOWI6_OIF": ("flowi6", "__fl_common.flowic_oif"),
    "OFF_FLOWI6_IIF": ("flowi6", "__fl_common.flowic_iif"),
    "OFF_FLOWI6_PROTO": ("flowi6", "__fl_common.flowic_proto"),
    "OFF_FLOWI6_SADDR": ("flowi6", "saddr"),
    "OFF_FLOWI6_DADDR": ("flowi6", "daddr"),
    "OFF_F6R_NH": ("fib6_result", "nh"),
    "OFF_F6R_TYPE": ("fib6_result", "fib6_type"),
    "OFF_F6T_ID": ("fib6_table", "tb6_id"),
    "OFF_F6NH_NHC": ("fib6_nh", "nh_common"),
}


def offset_macros(btf: BTF) -> dict[str, int]:
    """Every OFF_* macro's value, plus PKT_TYPE_SHIFT for the pkt_type bit field.

    Raises BTFError naming the member when the kernel lacks one: brtrace
    would rather refuse to start than read the wrong bytes.
    """
    out: dict[str, int] = {}
    for macro, (struct_name, path) in MEMBERS.items():
        m = btf.member(struct_name, path)
        if m.bit_size and macro != "OFF_SKB_PKT_TYPE":
            raise BTFError(f"{struct_name}.{path} is a bit field; brtrace cannot read it")
        out[macro] = m.offset
        if macro == "OFF_SKB_PKT_TYPE":
            out["PKT_TYPE_SHIFT"] = m.bit_offset
    return out


def drop_reason_names(btf: BTF) -> dict[int, str]:
    """``enum skb_drop_reason`` of the running kernel, without its long prefix."""
    try:
        raw = btf.enum("skb_drop_reason")
    except BTFError:
        return {}
    return {v: n.removeprefix("SKB_DROP_REASON_") for v, n in raw.items()}
