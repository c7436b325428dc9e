# /etc/cron.d/vhpi: the hourly vhpi backup run, as root, at low CPU and disk priority.
# The config is /root/.very_hungry_pi/config.yaml; until it exists this line does nothing.
# To use the systemd timer instead: comment out the line below, then
#   systemctl enable --now vhpi.timer
# (see /usr/share/doc/vhpi/README.Debian). Two runs at once are harmless: the second one
# finds vhpi's lock taken and exits.
SHELL=/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin

0 * * * *	root	[ -x /usr/bin/vhpi ] && [ -f /root/.very_hungry_pi/config.yaml ] && nice -n 19 ionice -c 3 /usr/bin/vhpi
