"""Formatting figures for people."""


def human_bytes(count: float) -> str:
    """Return a byte count as text with a binary unit, e.g. 1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def format_moment(moment: float) -> str:
    """Return a time since the epoch as local 'YYYY-MM-DD HH:MM:SS'."""
    import time
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))
