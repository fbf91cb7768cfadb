# shellcheck shell=bash
# Debian packages the build and the QEMU runner need on the host, and a helper that installs
# the missing ones (as root) or prints the exact apt-get command.

# shellcheck disable=SC2034
ROS_BUILD_PACKAGES=(dpkg apt debian-archive-keyring tar squashfs-tools xorriso grub-common
  grub-pc-bin grub-efi-amd64-bin mtools kmod zstd libc-bin e2fsprogs
  fdisk dosfstools qemu-utils)
# shellcheck disable=SC2034
ROS_RUN_PACKAGES=(qemu-system-x86 qemu-utils ovmf xorriso)
# shellcheck disable=SC2034
ROS_TEST_PACKAGES=(docker.io busybox-static openssh-client iproute2 coreutils dnsmasq-base dhcpcd-base dosfstools mtools xorriso e2fsprogs mount)

# The cloud-config tests mount loop devices, make swap and grow partitions for real.
ROS_TEST_PACKAGES+=(util-linux fdisk cloud-guest-utils)

# ensure_packages PKG...: installs the missing packages with apt-get when root.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing host packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
      { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
  else
    echo "missing host packages; install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    return 1
  fi
}

# step NAME CMD...: runs one stage with a banner and its duration.
step() {
  local name=$1 start=$SECONDS
  shift
  echo "==> $name"
  "$@"
  echo "==> $name: done in $((SECONDS - start)) s ($(df -Pm . | awk 'NR == 2 { print $4 }') MiB free)"
}
