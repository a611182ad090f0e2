#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine that has the .NET SDK.
# Installs what the tests need, starts and stops any server itself.
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

echo "== build"
dotnet build DistributedLog.sln -c Release -nologo -clp:ErrorsOnly

echo "== test"
status=0
for project in tests/*/*.Tests.csproj; do
  echo "-- $project"
  dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=minimal" || status=1
done
exit $status
