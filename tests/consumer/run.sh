#!/usr/bin/env bash
# Checks that weft can be used from another project the ways docs/USING.md
# says, against an install in a scratch prefix. Run by CTest (the consumer_*
# tests in tests/CMakeLists.txt), one step per test:
#
#   install        cmake --install into $WEFT_WORK/prefix; check the layout
#   cmake-shared   out-of-tree project: find_package(weft CONFIG), weft::weft
#   cmake-static   the same with weft::weft_static
#   pkgconfig      cc $(pkg-config --cflags --libs weft)
#   cxx            C++11 program, -Wall -Wextra -Wpedantic -Werror, pkg-config
#   subdirectory   weft built inside another project (add_subdirectory, as
#                  FetchContent does): weft::weft and weft::weft_static
#   headers        each public header alone, as C11 and as C++11, -Werror
#   abi            libweft.so: exports, SONAME, NEEDED, no undefined symbols
#
# Environment (set by CTest): WEFT_BUILD (weft's build tree), WEFT_SOURCE,
# WEFT_WORK (scratch directory), WEFT_LIB (the built libweft.so),
# WEFT_VERSION, WEFT_CC, WEFT_CXX (empty if none), WEFT_GENERATOR,
# WEFT_MAKE_PROGRAM, WEFT_SANITIZE, WEFT_INSTALL (ON/OFF), WEFT_LIBDIR and
# WEFT_INCLUDEDIR (CMAKE_INSTALL_LIBDIR/INCLUDEDIR), WEFT_CONFIG (the build
# configuration, for multi-config generators).
#
# Exit status 77 means "skipped" (CTest's SKIP_RETURN_CODE): in sanitizer
# builds for the steps that link a program against the installed library
# (see below), and where a C++ compiler is missing.
set -euo pipefail

step=${1:?usage: run.sh install|cmake-shared|cmake-static|pkgconfig|cxx|subdirectory|headers|abi}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=$WEFT_WORK/prefix
libdir=$prefix/${WEFT_LIBDIR:-lib}
incdir=$prefix/${WEFT_INCLUDEDIR:-include}
major=${WEFT_VERSION%%.*}
warn=(-Wall -Wextra -Wpedantic -Werror)

say() { printf '%s\n' "$*"; }
# has PATTERN: whether stdin has a line matching PATTERN (grep basic regex).
# Reads all of stdin: `cmd | grep -q` may stop reading early, and the
# writer's SIGPIPE then fails the pipeline under pipefail.
has() { local in; in=$(cat); grep -q -e "$1" <<<"$in"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }

# A sanitizer build's libweft.so is not a library anyone installs: it NEEDs
# the sanitizer runtime (or, with clang's TSan, leaves __tsan_* undefined),
# so it loads only into a program built with the same compiler and the same
# -fsanitize flags. Linking the consumers that way would test a set-up no
# user has; what these steps check (the installed files, the CMake package,
# weft.pc) does not depend on sanitizers and is checked by the
# non-sanitizer build (Release in `tools/run test`).
needs_plain_build() {
  [ -z "${WEFT_SANITIZE:-}" ] ||
    skip "sanitizer build (WEFT_SANITIZE=$WEFT_SANITIZE): the installed library only loads into" \
         "programs built with the same -fsanitize flags; consumers are tested in non-sanitizer builds"
  [ "${WEFT_INSTALL:-ON}" = ON ] || skip "WEFT_INSTALL is OFF: no install rules to test"
  [ -f "$prefix/.installed" ] || die "no install in $prefix (the consumer_install test sets it up)"
}

# pkg-config, seeing only the scratch install (and the system's ck.pc).
pc() { PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config "$@"; }

# run_consumer EXE: runs it and checks that it reports success.
run_consumer() {
  local exe=$1 out
  out=$("$exe") || die "$exe failed"
  say "$out"
  case $out in *": ok") ;; *) die "$exe: unexpected output" ;; esac
}

step_install() {
  [ "${WEFT_INSTALL:-ON}" = ON ] || skip "WEFT_INSTALL is OFF: no install rules to test"
  case "${WEFT_LIBDIR:-lib} ${WEFT_INCLUDEDIR:-include}" in
    /*|*" /"*) skip "CMAKE_INSTALL_LIBDIR or _INCLUDEDIR is absolute: it cannot go into a scratch prefix" ;;
  esac
  rm -rf "$prefix"
  local config=()
  [ -n "${WEFT_CONFIG:-}" ] && config=(--config "$WEFT_CONFIG")
  cmake --install "$WEFT_BUILD" "${config[@]}" --prefix "$prefix"
  say "--- installed into $prefix:"
  (cd "$prefix" && find . \( -type f -o -type l \) | sort)

  local f
  for f in "$incdir"/weft.h "$incdir"/weft/{common,coro,future,runtime,version}.h \
           "$libdir/libweft.so.$WEFT_VERSION" "$libdir"/libweft.a \
           "$libdir"/cmake/weft/weft{Config,ConfigVersion,Targets}.cmake \
           "$libdir"/pkgconfig/weft.pc; do
    [ -f "$f" ] || die "not installed: ${f#"$prefix"/}"
  done
  for f in "$WEFT_SOURCE"/include/weft/*.h; do
    cmp -s "$f" "$incdir/weft/${f##*/}" || die "not installed (or differs): include/weft/${f##*/}"
  done
  [ "$(readlink "$libdir/libweft.so.$major")" = "libweft.so.$WEFT_VERSION" ] ||
    die "lib/libweft.so.$major is not a link to libweft.so.$WEFT_VERSION"
  [ "$(readlink "$libdir/libweft.so")" = "libweft.so.$major" ] ||
    die "lib/libweft.so is not a link to libweft.so.$major"
  readelf -d "$libdir/libweft.so.$WEFT_VERSION" | has "Library soname: \[libweft.so.$major\]" ||
    die "installed libweft.so has no SONAME libweft.so.$major"
  # The static library carries the fcontext routines it needs (from Boost's
  # libboost_context.a), so its users need no Boost.
  nm -A --defined-only "$libdir/libweft.a" | has ' T jump_fcontext$' ||
    die "libweft.a does not define jump_fcontext"
  # pkg-config and the version file agree with version.h.
  [ "$(pc --modversion weft)" = "$WEFT_VERSION" ] || die "weft.pc: version $(pc --modversion weft)"
  grep -qx "prefix=$prefix" "$libdir/pkgconfig/weft.pc" ||
    die "weft.pc: prefix is not the install prefix $prefix"
  touch "$prefix/.installed"
  say "install: ok"
}

step_cmake() {
  local target=$1 dir=$WEFT_WORK/cmake-${1#weft::}
  needs_plain_build
  rm -rf "$dir"
  local gen=()
  [ -n "${WEFT_GENERATOR:-}" ] && gen=(-G "$WEFT_GENERATOR")
  [ -n "${WEFT_MAKE_PROGRAM:-}" ] && gen+=(-DCMAKE_MAKE_PROGRAM="$WEFT_MAKE_PROGRAM")
  cmake -S "$here" -B "$dir" "${gen[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$WEFT_CC" \
    -DCMAKE_PREFIX_PATH="$prefix" \
    -DWEFT_CONSUMER_TARGET="$target" -DWEFT_CONSUMER_VERSION="$WEFT_VERSION"
  cmake --build "$dir" --verbose
  local exe=$dir/consumer needed
  needed=$(readelf -d "$exe" | grep NEEDED || true)
  if [ "$target" = weft::weft ]; then
    grep -q "\[libweft.so.$major\]" <<<"$needed" || die "consumer does not NEED libweft.so.$major"
    ldd "$exe" | has "libweft.so.$major => $libdir/libweft.so.$major" ||
      die "consumer does not load libweft.so from $prefix: $(ldd "$exe")"
  else
    ! grep -q libweft <<<"$needed" || die "consumer of weft::weft_static NEEDs libweft: $needed"
    nm --defined-only "$exe" | has ' T weft_runtime_create$' ||
      die "weft_runtime_create is not linked into the static consumer"
  fi
  run_consumer "$exe"
}

step_pkgconfig() {
  needs_plain_build
  local dir=$WEFT_WORK/pkgconfig flags
  rm -rf "$dir" && mkdir -p "$dir"
  flags=$(pc --cflags --libs weft)
  say "pkg-config --cflags --libs weft: $flags"
  say "pkg-config --static --libs weft: $(pc --static --libs weft)"
  pc --static --libs weft | has '-pthread' || die "weft.pc: no -pthread in Libs.private"
  # shellcheck disable=SC2086 # the flags are words
  (set -x; "$WEFT_CC" -std=c11 "${warn[@]}" "$here/consumer.c" -o "$dir/consumer" $flags)
  LD_LIBRARY_PATH=$libdir ldd "$dir/consumer" | has "=> $libdir/libweft.so.$major" ||
    die "consumer does not load libweft.so from $prefix"
  LD_LIBRARY_PATH=$libdir run_consumer "$dir/consumer"
}

step_cxx() {
  [ -n "${WEFT_CXX:-}" ] || skip "no C++ compiler found (g++, clang++ or c++)"
  needs_plain_build
  local dir=$WEFT_WORK/cxx flags
  rm -rf "$dir" && mkdir -p "$dir"
  flags=$(pc --cflags --libs weft)
  # shellcheck disable=SC2086
  (set -x; "$WEFT_CXX" -std=c++11 "${warn[@]}" "$here/consumer.cc" -o "$dir/consumer" $flags)
  LD_LIBRARY_PATH=$libdir run_consumer "$dir/consumer"
}

# weft as a subproject: built from its source tree by the parent project in
# tests/consumer/subdir, which also checks that weft left its settings alone
# and built no tests. Runs in every build: the parent builds its own weft,
# without sanitizers (WEFT_SANITIZE is for weft's own builds only).
step_subdirectory() {
  local dir=$WEFT_WORK/subdirectory exe
  rm -rf "$dir"
  local gen=()
  [ -n "${WEFT_GENERATOR:-}" ] && gen=(-G "$WEFT_GENERATOR")
  [ -n "${WEFT_MAKE_PROGRAM:-}" ] && gen+=(-DCMAKE_MAKE_PROGRAM="$WEFT_MAKE_PROGRAM")
  cmake -S "$here/subdir" -B "$dir" "${gen[@]}" -DCMAKE_C_COMPILER="$WEFT_CC" \
    -DWEFT_CONSUMER_SOURCE="$WEFT_SOURCE"
  cmake --build "$dir"
  for exe in "$dir"/consumer_shared "$dir"/consumer_static; do
    run_consumer "$exe"
  done
}

# Each public header must compile alone (it includes what it needs), as C11
# and as C++11, without a warning. From the source tree, so this runs in
# every build.
step_headers() {
  local dir=$WEFT_WORK/headers h name
  rm -rf "$dir" && mkdir -p "$dir"
  local headers=(weft.h)
  for h in "$WEFT_SOURCE"/include/weft/*.h; do headers+=("weft/${h##*/}"); done
  for h in "${headers[@]}"; do
    name=${h//\//_}
    # Twice: the include guard must work. The typedef keeps a header of
    # macros only from being an empty translation unit.
    printf '#include <%s>\n#include <%s>\ntypedef int weft_header_check;\n' "$h" "$h" >"$dir/$name.c"
    "$WEFT_CC" -std=c11 "${warn[@]}" -fsyntax-only -I"$WEFT_SOURCE/include" "$dir/$name.c" ||
      die "$h: not clean as C11"
    say "C11:   $h ok"
  done
  [ -n "${WEFT_CXX:-}" ] || skip "C headers are clean; no C++ compiler found for the C++11 half"
  for h in "${headers[@]}"; do
    name=${h//\//_}
    cp "$dir/$name.c" "$dir/$name.cc"
    "$WEFT_CXX" -std=c++11 "${warn[@]}" -fsyntax-only -I"$WEFT_SOURCE/include" "$dir/$name.cc" ||
      die "$h: not clean as C++11"
    say "C++11: $h ok"
  done
}

# What libweft.so shows the world. The exported functions must be exactly
# those the headers declare WEFT_API: nothing internal (weft__*), nothing
# from fcontext (jump_fcontext...) or Concurrency Kit (ck_*).
step_abi() {
  local lib=$WEFT_LIB exports declared needed
  exports=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort)
  say "--- nm -D --defined-only libweft.so:"
  say "$exports"
  declared=$(cat "$WEFT_SOURCE"/include/weft.h "$WEFT_SOURCE"/include/weft/*.h |
    grep -oE 'WEFT_API [A-Za-z0-9_ *]*[ *]weft_[A-Za-z0-9_]+ *\(' |
    sed -E 's/.*[ *](weft_[A-Za-z0-9_]+) *\($/\1/' | sort -u)
  [ -n "$declared" ] || die "no WEFT_API declarations found in the headers"
  local bad
  bad=$(grep -v '^weft_[a-z]' <<<"$exports" || true)
  [ -z "$bad" ] || die "exported but not weft_[a-z]*: $bad"
  [ "$exports" = "$declared" ] || die "exports differ from the WEFT_API declarations:
$(diff <(say "$declared") <(say "$exports") | sed 's/^</  declared, not exported:/; s/^>/  exported, not declared:/' | grep -v '^[0-9]')"
  say "exports = the $(wc -l <<<"$exports") WEFT_API functions of the headers: ok"

  readelf -d "$lib" | has "Library soname: \[libweft.so.$major\]" || die "SONAME is not libweft.so.$major"
  say "SONAME libweft.so.$major: ok"

  needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  say "NEEDED: $(tr '\n' ' ' <<<"$needed")"
  local n allowed='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux.*)$'
  [ -n "${WEFT_SANITIZE:-}" ] && allowed='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux.*|lib(a|ub|t)san\.so\..*)$'
  while read -r n; do
    [ -z "$n" ] || grep -Eq "$allowed" <<<"$n" || die "libweft.so NEEDs $n (boost? libstdc++? ck?)"
  done <<<"$needed"
  if [ -z "${WEFT_SANITIZE:-}" ]; then
    # Whole closure: nothing from Boost, C++ or CK, and every symbol bound
    # (it is also linked with -Wl,--no-undefined).
    local closure
    closure=$(ldd -r "$lib" 2>&1)
    say "--- ldd -r libweft.so:"
    say "$closure"
    ! grep -Eq 'boost|libstdc\+\+|libck|libgcc_s' <<<"$closure" || die "libweft.so pulls in boost, libstdc++, libgcc_s or libck"
    ! grep -q 'undefined symbol' <<<"$closure" || die "libweft.so has undefined symbols"
  fi
  say "dependencies: ok"
}

case $step in
  install) step_install ;;
  cmake-shared) step_cmake weft::weft ;;
  cmake-static) step_cmake weft::weft_static ;;
  pkgconfig) step_pkgconfig ;;
  cxx) step_cxx ;;
  subdirectory) step_subdirectory ;;
  headers) step_headers ;;
  abi) step_abi ;;
  *) die "unknown step $step" ;;
esac
