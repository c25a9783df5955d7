"""A small file system for the disk-full fault: a tmpfs, else an ext4 image on a loop device."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def mount_small_disk(where: Path, size_mb: int = 4) -> str | None:
    """Mount a file system of ``size_mb`` MB at ``where``: a tmpfs, else an ext4 image on a loop
    device (``truncate`` + ``mkfs.ext4`` + ``mount -o loop``). None when mounted, else why not."""
    if os.geteuid() != 0:
        return "mounting a small file system needs root (tmpfs or a loop-mounted image)"
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode == 0:
        return None
    why = [f"tmpfs: {res.stderr.strip() or res.returncode}"]
    image = where.with_name(where.name + ".img")
    for cmd in (["truncate", "-s", f"{size_mb}M", str(image)],
                # no reserved blocks, no journal: the whole image is staging space, even for root
                ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", str(image)],
                ["mount", "-o", "loop", str(image), str(where)]):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError as exc:
            return "; ".join(why + [f"{cmd[0]}: {exc}"])
        if res.returncode != 0:
            return "; ".join(why + [f"{' '.join(cmd[:1])}: {res.stderr.strip() or res.returncode}"])
    return None


def umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)
    where.with_name(where.name + ".img").unlink(missing_ok=True)
