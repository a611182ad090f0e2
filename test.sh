#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine that has the .NET SDK.
# Installs what the tests need, starts and stops any server itself.
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

echo "== etcd"
# The metadata tests run a real etcd (Debian package etcd-server); install it when missing.
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
fi
etcd --version | head -n 1 || true

echo "== build"
dotnet build DistributedLog.sln -c Release -nologo -clp:ErrorsOnly

echo "== test"
status=0
for project in tests/*/*.Tests.csproj; do
  echo "-- $project"
  dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=minimal" || status=1
done
exit $status
