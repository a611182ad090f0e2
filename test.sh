#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine that has the .NET SDK.
# Installs what the tests need, starts and stops any server itself.
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

echo "== system packages"
# Real servers and tools the tests use, from Debian: etcd (metadata tests, chaos runs), spin (the replication
# protocol's model check), nftables (dropped-packet partitions in chaos runs). Installed when missing.
need=()
command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || need+=(etcd-server)
command -v spin >/dev/null 2>&1 || need+=(spin)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
etcd --version | head -n 1 || true
spin -V || true

echo "== build"
dotnet build DistributedLog.sln -c Release -nologo -clp:ErrorsOnly

echo "== guide samples"
# docs/guide.md must show exactly the code the examples project compiles.
bash examples/check-guide.sh

echo "== test"
status=0
passed=0; failed=0; skipped=0
log=$(mktemp)
for project in tests/*/*.Tests.csproj; do
  echo "-- $project"
  # A hung test becomes a failure naming it (with a dump under TestResults/), not a stalled run.
  dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=minimal" \
    --blame-hang --blame-hang-timeout 10m 2>&1 | tee "$log" || status=1
  # "Passed!  - Failed:     0, Passed:    73, Skipped:     0, Total: ..." (or "Failed!  - ...")
  line=$(grep -E '(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+, +Skipped: +[0-9]+' "$log" | tail -n 1 || true)
  if [ -z "$line" ]; then
    echo "no test summary from $project"; status=1
  else
    f=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$line"); p=$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$line"); s=$(sed -E 's/.*Skipped: +([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  fi
done
rm -f "$log"
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
