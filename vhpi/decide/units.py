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


def human_duration(seconds: float) -> str:
    """Return a duration for people, coarsely: '40 s', '35 min', '5 h 10 min', '3 days 4 h'."""
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def relative_moment(moment: float, now: float) -> str:
    """Return `moment` relative to `now`: '35 min ago', 'in 25 min', 'now'."""
    if abs(moment - now) < 1:
        return "now"
    if moment < now:
        return f"{human_duration(now - moment)} ago"
    return f"in {human_duration(moment - now)}"
