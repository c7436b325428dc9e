"""vhpi, the Very Hungry Pi: hourly rsync + hard-link snapshots for a home LAN."""

__version__ = "2.0.0"
