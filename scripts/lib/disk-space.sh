# shellcheck shell=bash
# Free-space checks: a full disk mid-build fails with tar's "No space left on device" far from
# the cause, so scripts say up front how much they need and how much there is.

# free_mib DIR: MiB available to unprivileged writers on DIR's filesystem.
free_mib() {
  df -Pm "$1" | awk 'NR == 2 { print $4 }'
}

# need_free_space DIR MIB WHAT: warns (does not fail) when DIR has less than MIB free.
need_free_space() {
  local dir=$1 need=$2 what=$3 have
  mkdir -p "$dir"
  have=$(free_mib "$dir")
  echo "    disk: ${have} MiB free under ${dir}; ${what} needs about ${need} MiB"
  if [ "$have" -lt "$need" ]; then
    echo "warning: only ${have} MiB free under ${dir}, ${what} needs about ${need} MiB;" \
      "expect 'No space left on device'. Free space there, or move CARGO_TARGET_DIR" \
      "and ROS_CACHE_DIR to a larger disk." >&2
  fi
}
