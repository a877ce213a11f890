#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of `make systemdcheck`'s initramfs: load the modules that Debian's
# kernel needs to read the root disk (virtio-blk, ext4: listed in order in
# /lib/modules/order), mount it and hand over to systemd.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r ko; do
	# crc32c-intel needs SSE4.2; crc32c_generic stands in without it.
	insmod "/lib/modules/$ko" 2>/dev/null || true
done </lib/modules/order
mkdir -p /root
for _ in $(seq 100); do
	[ -b /dev/vda ] && break
	sleep 0.1
done
if ! mount -t ext4 -o rw /dev/vda /root; then
	echo "systemdcheck-initramfs: cannot mount /dev/vda" >/dev/ttyS1
	poweroff -f
fi
umount /proc /sys
mount --move /dev /root/dev 2>/dev/null || umount /dev
exec switch_root /root /sbin/init
