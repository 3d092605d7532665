#!/bin/busybox sh
# The guest's init, run by busybox sh (see xtask/src/vm/).
#
# Stage 1, PID 1 in the initramfs: loads the modules listed in
# /modules/load, mounts the host root read-only over 9p under a tmpfs
# overlay, mounts the cache's module tree over /lib/modules and
# switch_roots into the overlay (a chroot would break module autoloading).
#
# Stage 2, PID 1 in the overlay: mounts the kernel filesystems, runs the
# host-written script "$run/command" with stdout and stderr on their
# virtio ports, ends each stream with the token from "$run/token", writes
# the exit code to the status port and waits for the host to stop the VM.
#
# The kernel command line gives vswitch_vm_run (the run's directory) and
# vswitch_vm_modules (the module tree), both host paths.

set -u

if [ "${1:-}" != stage2 ]; then
    bb=/bin/busybox
    fail() {
        echo "vswitch-vm: $*"
        $bb poweroff -f
    }
    $bb mkdir -p /proc /sys /mnt/host /mnt/rw /mnt/root
    $bb mount -t proc proc /proc
    $bb mount -t sysfs sysfs /sys
    $bb mount -t devtmpfs devtmpfs /dev
    echo "vswitch-vm: init"

    while read -r module; do
        $bb insmod "/modules/$module" || fail "insmod $module failed"
    done </modules/load

    run= modules=
    for word in $($bb cat /proc/cmdline); do
        case $word in
        vswitch_vm_run=*) run=${word#*=} ;;
        vswitch_vm_modules=*) modules=${word#*=} ;;
        esac
    done

    $bb mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose \
        hostroot /mnt/host || fail "mounting the host root failed"
    $bb mount -t tmpfs -o mode=0755 tmpfs /mnt/rw
    $bb mkdir /mnt/rw/upper /mnt/rw/work
    $bb mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work \
        overlay /mnt/root || fail "mounting the overlay failed"
    $bb mkdir -p /mnt/root/lib/modules
    $bb mount --bind "/mnt/root$modules" /mnt/root/lib/modules ||
        fail "mounting the module tree failed"

    # What udev would do: /dev/virtio-ports/<name> for each port.
    $bb mkdir -p /dev/virtio-ports
    for port in /sys/class/virtio-ports/*; do
        $bb ln -s "../${port##*/}" "/dev/virtio-ports/$($bb cat "$port/name")"
    done

    $bb mkdir -p /mnt/root/.vswitch-vm
    $bb cp /bin/busybox /init /mnt/root/.vswitch-vm/
    for fs in dev proc sys; do
        $bb mount --move "/$fs" "/mnt/root/$fs"
    done
    exec $bb switch_root /mnt/root /.vswitch-vm/busybox sh /.vswitch-vm/init stage2 "$run"
fi

bb=/.vswitch-vm/busybox
run=$2
$bb mount -t tmpfs -o mode=0755 tmpfs /run
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts devpts /dev/pts
$bb mount -t tmpfs tmpfs /dev/shm
$bb mount -t bpf bpf /sys/fs/bpf
$bb mount -t debugfs debugfs /sys/kernel/debug
$bb mount -t tracefs tracefs /sys/kernel/tracing
$bb mount -t cgroup2 cgroup2 /sys/fs/cgroup
$bb hostname vswitch-vm
$bb ip link set lo up

ports=/dev/virtio-ports
token=$($bb cat "$run/token")
exec 3>"$ports/vswitch.stdout" 4>"$ports/vswitch.stderr"
echo "vswitch-vm: running"
$bb sh "$run/command" </dev/null >&3 2>&4
code=$?
printf %s "$token" >&3
printf %s "$token" >&4
echo "$code" >"$ports/vswitch.status"
echo "vswitch-vm: exit $code"
$bb sleep 60
$bb poweroff -f
