# shellcheck shell=bash
# The QEMU end-to-end tests in two lanes at once. One guest under TCG keeps about 1.3 of the two
# cores busy (its boot is mostly one thread, and the tests wait on ssh), so two guests overlap
# well. Run alone, after the lanes: swarm.rs (three guests of its own) and cloud_init.rs (its
# datasource probes have 10 s budgets, and the EC2 one once found no metadata service with
# another guest beside it). Within a
# lane each test binary still runs one guest at a time. Sourced by scripts/test.

# Balanced by their times in the last serial CI run: install 1050 s + persistence 370, against
# system 930 + artifacts 150 + initrd 80 + image_store 45 + boot 30.
E2E_LANES=("install persistence" "system artifacts initrd image_store boot")
E2E_ALONE=(cloud_init swarm)

# Fails when a file in tests/e2e/tests is in no lane, so that a new test is never skipped.
e2e_lanes_cover_every_test() {
  local file name
  for file in tests/e2e/tests/*.rs; do
    name=$(basename "$file" .rs)
    if [[ " ${E2E_LANES[*]} ${E2E_ALONE[*]} " != *" $name "* ]]; then
      echo "tests/e2e/tests/$name.rs is in no lane: add it to E2E_LANES in scripts/lib/e2e-lanes.sh" >&2
      return 1
    fi
  done
}

# cargo test for the binaries named in $2 (space-separated), each line prefixed with [$1].
e2e_lane() {
  local label=$1 name args=()
  for name in $2; do
    args+=(--test "$name")
  done
  cargo test --no-fail-fast -p ros-e2e "${args[@]}" -- --test-threads=1 2>&1 | sed -u "s/^/[$label] /"
}

run_e2e_lanes() {
  local pids=() failed=0 i
  e2e_lanes_cover_every_test
  # Build once, so that the lanes do not wait on each other for Cargo's lock.
  cargo test -p ros-e2e --no-run --quiet
  cargo test --quiet -p ros-e2e --lib
  for i in "${!E2E_LANES[@]}"; do
    echo "==> lane $((i + 1)): ${E2E_LANES[$i]}"
    e2e_lane "lane $((i + 1))" "${E2E_LANES[$i]}" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
  done
  echo "==> alone: ${E2E_ALONE[*]}"
  e2e_lane alone "${E2E_ALONE[*]}" || failed=1
  return "$failed"
}
