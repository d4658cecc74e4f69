"""A small reader of the kernel's BTF (``/sys/kernel/btf/vmlinux``).

Why: bcc compiles against whatever headers tree exists, and on this kind of
machine that is Debian's 6.1 tree while the running kernel is newer, so
``struct sk_buff`` & co. would be read at wrong offsets. The running kernel
describes its own layouts in BTF; brtrace takes every offset from there and
hands it to the C program as ``-D`` cflags. Pure Python, no bcc.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BTF_PATH = "/sys/kernel/btf/vmlinux"
_MAGIC = 0xEB9F

# BTF kinds (include/uapi/linux/btf.h, read in 6.18)
K_INT, K_PTR, K_ARRAY, K_STRUCT, K_UNION, K_ENUM, K_FWD, K_TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
K_VOLATILE, K_CONST, K_RESTRICT, K_FUNC, K_FUNC_PROTO, K_VAR, K_DATASEC = 9, 10, 11, 12, 13, 14, 15
K_FLOAT, K_DECL_TAG, K_TYPE_TAG, K_ENUM64 = 16, 17, 18, 19

# Bytes of kind-specific data after the 12-byte common header: (fixed, per vlen item)
_EXTRA = {
    K_INT: (4, 0), K_ARRAY: (12, 0), K_STRUCT: (0, 12), K_UNION: (0, 12), K_ENUM: (0, 8),
    K_FUNC_PROTO: (0, 8), K_VAR: (4, 0), K_DATASEC: (0, 12), K_DECL_TAG: (4, 0), K_ENUM64: (0, 12),
}
_MODIFIERS = (K_TYPEDEF, K_VOLATILE, K_CONST, K_RESTRICT, K_TYPE_TAG)


class BTFError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Member:
    """Where a (possibly nested) member lives: byte offset, and bit field data."""

    offset: int  # bytes from the start of the outer struct
    size: int  # bytes of the member's type (0 if unknown)
    bit_offset: int = 0  # bit within the byte, for bit fields
    bit_size: int = 0  # 0 = not a bit field


class BTF:
    """Indexes named structs, unions and enums; resolves members on demand."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 24:
            raise BTFError("BTF blob too short")
        magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            "<HBBIIIII", data, 0)
        if magic != _MAGIC:
            raise BTFError("not a BTF blob (bad magic)")
        self._data = data
        self._types_start = hdr_len + type_off
        self._types_end = self._types_start + type_len
        self._str_start = hdr_len + str_off
        self._str_end = self._str_start + str_len
        self._offsets: list[int] = [0]  # type id -> byte offset of its record
        self._by_name: dict[tuple[int, str], int] = {}
        self._index()

    @classmethod
    def load(cls, path: str = BTF_PATH) -> BTF:
        try:
            with open(path, "rb") as f:
                return cls(f.read())
        except OSError as exc:
            raise BTFError(f"cannot read {path}: {exc.strerror}") from exc

    def _name(self, off: int) -> str:
        start = self._str_start + off
        end = self._data.index(b"\0", start, self._str_end)
        return self._data[start:end].decode("ascii", "replace")

    def _index(self) -> None:
        data, pos, end = self._data, self._types_start, self._types_end
        unpack = struct.unpack_from
        wanted = (K_STRUCT, K_UNION, K_ENUM, K_ENUM64, K_TYPEDEF, K_FUNC)
        while pos < end:
            name_off, info, _ = unpack("<III", data, pos)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            self._offsets.append(pos)
            if name_off and kind in wanted:
                self._by_name.setdefault((kind, self._name(name_off)), len(self._offsets) - 1)
            fixed, per = _EXTRA.get(kind, (0, 0))
            pos += 12 + fixed + per * vlen

    def _header(self, tid: int) -> tuple[int, int, int, int, bool]:
        name_off, info, size_or_type = struct.unpack_from("<III", self._data, self._offsets[tid])
        return name_off, (info >> 24) & 0x1F, info & 0xFFFF, size_or_type, bool(info >> 31)

    def _resolve(self, tid: int) -> int:
        """Skip typedefs and qualifiers to the real type."""
        while tid:
            _, kind, _, nxt, _ = self._header(tid)
            if kind not in _MODIFIERS:
                return tid
            tid = nxt
        return 0

    def type_size(self, tid: int) -> int:
        tid = self._resolve(tid)
        if not tid:
            return 0
        _, kind, _, size, _ = self._header(tid)
        if kind == K_PTR:
            return 8
        if kind == K_ARRAY:
            elem, _idx, nelems = struct.unpack_from("<III", self._data, self._offsets[tid] + 12)
            return self.type_size(int(elem)) * int(nelems)
        return size if kind in (K_INT, K_STRUCT, K_UNION, K_ENUM, K_ENUM64, K_FLOAT) else 0

    def struct_id(self, name: str) -> int:
        for kind in (K_STRUCT, K_UNION):
            if (kind, name) in self._by_name:
                return self._by_name[(kind, name)]
        raise BTFError(f"struct {name} not in BTF")

    def func_id(self, name: str) -> int:
        """BTF id of a kernel function (what fentry attaches to); 0 if absent."""
        return self._by_name.get((K_FUNC, name), 0)

    def byte_array_struct(self, min_size: int) -> int:
        """Id of the smallest struct that is one byte array of at least min_size bytes; 0: none.

        The probes cast a packet's header bytes to it (bpf_rdonly_cast needs a
        struct type) and the verifier lets them load any bytes inside the array
        (kernel/bpf/btf.c: btf_struct_walk, read in 6.18). Which struct it is
        does not matter, only that it is one plain array (x86's edid_info here)."""
        best, best_size = 0, 0
        for (kind, _name), tid in self._by_name.items():
            if kind != K_STRUCT:
                continue
            members = self._members(tid)
            if len(members) != 1 or members[0][2] != 0:
                continue
            arr = self._resolve(members[0][1])
            if self._header(arr)[1] != K_ARRAY:
                continue
            elem, _idx, nelems = struct.unpack_from("<III", self._data, self._offsets[arr] + 12)
            size = int(nelems)
            if self.type_size(int(elem)) == 1 and min_size <= size and (not best or size < best_size):
                best, best_size = tid, size
        return best

    def _members(self, tid: int) -> list[tuple[str, int, int, int]]:
        """(name, type id, bit offset, bitfield size) of a struct/union's members."""
        _, kind, vlen, _, kflag = self._header(tid)
        if kind not in (K_STRUCT, K_UNION):
            return []
        out = []
        base = self._offsets[tid] + 12
        for i in range(vlen):
            name_off, mtype, moff = struct.unpack_from("<III", self._data, base + 12 * i)
            bits, bsize = (moff & 0xFFFFFF, moff >> 24) if kflag else (moff, 0)
            out.append((self._name(name_off) if name_off else "", mtype, bits, bsize))
        return out

    def _find(self, tid: int, name: str) -> tuple[int, int, int] | None:
        """Depth-first through anonymous members: (bit offset, type id, bitfield size)."""
        for mname, mtype, bits, bsize in self._members(self._resolve(tid)):
            if mname == name:
                return bits, mtype, bsize
            if not mname:
                sub = self._find(mtype, name)
                if sub is not None:
                    return bits + sub[0], sub[1], sub[2]
        return None

    def member(self, struct_name: str, path: str) -> Member:
        """Offset of ``a.b.c`` inside ``struct struct_name`` (anonymous levels skipped)."""
        tid = self.struct_id(struct_name)
        bits, size, bsize = 0, 0, 0
        for part in path.split("."):
            found = self._find(tid, part)
            if found is None:
                raise BTFError(f"struct {struct_name} has no member {path}")
            bits += found[0]
            tid, bsize = found[1], found[2]
            size = self.type_size(tid)
        return Member(offset=bits // 8, size=size, bit_offset=bits % 8, bit_size=bsize)

    def enum(self, name: str) -> dict[int, str]:
        """Values of a named enum, e.g. ``skb_drop_reason`` for drop reason names."""
        tid = self._by_name.get((K_ENUM, name)) or self._by_name.get((K_ENUM64, name))
        if tid is None:
            raise BTFError(f"enum {name} not in BTF")
        _, kind, vlen, _, _ = self._header(tid)
        base, out = self._offsets[tid] + 12, {}
        for i in range(vlen):
            if kind == K_ENUM:
                name_off, val = struct.unpack_from("<Ii", self._data, base + 8 * i)
            else:
                name_off, lo, hi = struct.unpack_from("<III", self._data, base + 12 * i)
                val = lo | (hi << 32)
            out[val] = self._name(name_off)
        return out
