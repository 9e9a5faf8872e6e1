#!/usr/bin/env bash
# Compile-time cost of the runtime facade and of the umbrella header: CPU seconds (user + sys)
# and peak memory of one g++ process per translation unit, at the given optimization level.
#   bench/build_cost.sh [-O2] [g++]
# Reported in docs/benchmarks.md ("Compile time"). Needs Eigen and nlohmann/json headers.
set -euo pipefail
cd "$(dirname "$0")/.."
opt=${1:--O2}
cxx=${2:-g++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c++20 "$opt" -Iinclude -I/usr/include/eigen3 -c -o "$work/out.o")

measure() {  # <label> <g++ arguments...>
    local label=$1
    shift
    /usr/bin/time -f "%U %S %M" -o "$work/time" "$cxx" "${flags[@]}" "$@"
    read -r user sys kb <"$work/time"
    awk -v label="$label" -v u="$user" -v s="$sys" -v kb="$kb" 'BEGIN { printf "| %s | %.1f | %d |\n", label, u + s, kb / 1024 }'
}

echo "$cxx $opt, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "| translation unit | CPU s | peak MB |"
echo "|---|---|---|"
echo '#include "diffuse/diffuse.hpp"' >"$work/umbrella.cpp"
measure "umbrella header diffuse.hpp, included only" "$work/umbrella.cpp"
measure "facade program, header-only (every sampler instantiated here)" bench/build_cost_program.cpp
measure "facade program, DIFFUSE_EXTERN_REGISTRY (sampler table compiled elsewhere)" -DDIFFUSE_EXTERN_REGISTRY \
    bench/build_cost_program.cpp
measure "facade program, config/facade.hpp + diffuse::facade" -DDIFFUSE_COMPILED_FACADE bench/build_cost_program.cpp
measure "diffuse::facade's float TU (once per build)" -DDIFFUSE_EXTERN_REGISTRY src/facade_float.cpp
measure "diffuse::facade's double TU (once per build)" -DDIFFUSE_EXTERN_REGISTRY src/facade_double.cpp
