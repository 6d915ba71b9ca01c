#!/usr/bin/env python3
"""Flash and RAM of a linked image per part, from the GNU ld map file (only input sections the
linker kept, i.e. after --gc-sections). Flash = .vectors/.text/.rodata/.data (its load copy);
RAM = .data/.bss/COMMON.

usage: map_sizes.py IMAGE.map"""
import re
import sys

# Objects of libkiln-target.a by part (anything else there is the device core).
PARTS = {
    "port": {"startup.o", "uart_cmsdk.o", "flash_ram.o", "heap.o", "device_keys.o"},
    "sf": {"kiln_sf.o", "sf_msg.o"},
    "listener": {"ftcd_listener.o", "ftcd_frame.o"},
}
LINE = re.compile(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$")


def owner(path):
    m = re.search(r"lib(kiln|cbor|mbedtls)-target\.a\((.+)\)$", path)
    if m and m.group(1) == "kiln":
        for part, objs in PARTS.items():
            if m.group(2) in objs:
                return "kiln-" + part
        return "kiln-core"
    if m:
        return m.group(1)
    if path.endswith("/main.o"):
        return "firmware-main"
    return "libc-libgcc"


def kind(section):
    if re.match(r"\.(text|rodata|vectors)", section):
        return "flash"
    if section.startswith(".data"):
        return "both"
    if section.startswith(".bss") or section == "COMMON":
        return "ram"
    return None


def main():
    sizes = {}
    started = False
    pending = None
    for raw in open(sys.argv[1], encoding="utf-8", errors="replace"):
        line = raw.rstrip("\n")
        if line.startswith("Linker script and memory map"):
            started = True
            continue
        if not started:
            continue
        m = LINE.match(line)
        if m is None:
            # A long section name stands alone; its address and size follow on the next line.
            n = re.match(r"^ (\.\S+|COMMON)$", line)
            pending = n.group(1) if n else None
            continue
        section = m.group(1) or pending
        pending = None
        if section is None or int(m.group(2), 16) == 0 and int(m.group(3), 16) == 0:
            continue
        k = kind(section)
        size = int(m.group(3), 16)
        if k is None or size == 0:
            continue
        flash, ram = sizes.setdefault(owner(m.group(4)), [0, 0])
        sizes[owner(m.group(4))] = [flash + (size if k in ("flash", "both") else 0),
                                    ram + (size if k in ("ram", "both") else 0)]
    for part in sorted(sizes):
        print("part %-14s flash=%d ram=%d" % (part, sizes[part][0], sizes[part][1]))
    kiln = [sum(v[i] for p, v in sizes.items() if p.startswith("kiln-") and p != "kiln-port")
            for i in (0, 1)]
    print("kiln (core, secure-factory client, listener; without the board port) flash=%d ram=%d"
          % (kiln[0], kiln[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
