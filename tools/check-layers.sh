#!/bin/sh
# check-layers: fails when an arrow between trainfs's parts points the
# wrong way (`make check-layers`).
#
#   sh tools/check-layers.sh [BUILD [ALLOW]]
#
# Two checks:
#
#  1. Includes, layer by layer: util/ includes nothing of ours but util/;
#     store/ only store/ and util/; jobs/ only jobs/, store/ and util/;
#     fs/ anything.  Read from the '#include "..."' lines of fs/ jobs/
#     store/ util/ (any depth: jobs/core/x.c is in jobs/).
#  2. Calls, module by module, from the object files in BUILD (default
#     build; `make` must have built them): a symbol undefined in a.o and
#     defined in b.o is an arrow a -> b.  An arrow from a lower layer to a
#     higher one is an error, and so is any pair of modules that call each
#     other (a -> b and b -> a), listed with the symbols of each side.
#
# ALLOW (default tools/layers.allow) lists pairs of modules known to call
# each other today, one "a.c b.c  # why" a line; they are reported as
# allowed instead of failing.  An entry no longer needed is reported too,
# so the list only shrinks.  Exit status 1 on any error.
set -eu

build=${1:-build}
allow=${2:-tools/layers.allow}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# ---- 1. includes ----
find util store jobs fs -name '*.[ch]' | sort |
xargs grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' |
awk -F: 'function layer(p) {
		if (p ~ /^util\//) return 0; if (p ~ /^store\//) return 1
		if (p ~ /^jobs\//) return 2; if (p ~ /^fs\//) return 3
		return -1 }
	{ inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
	  to = layer(inc); from = layer($1)
	  if (to > from) { top = $1; sub(/\/.*/, "", top)
		itop = inc; sub(/\/.*/, "", itop)
		printf "error: layers: %s:%s includes \047%s\047: %s/ may not include %s/\n", \
			$1, $2, inc, top, itop } }' >"$tmp/includes"
if [ -s "$tmp/includes" ]; then
	cat "$tmp/includes"
	fail=1
fi

# ---- 2. calls, from the objects ----
objs=$(cd "$build" 2>/dev/null &&
       find util store jobs fs -name '*.o' 2>/dev/null | sort || true)
if [ -z "$objs" ]; then
	echo "error: layers: no object files in '$build/' (run make first)"
	exit 1
fi
for o in $objs; do
	src=${o%.o}.c
	nm "$build/$o" | awk -v m="$src" \
		'$1 == "U" { print "U", m, $2 } \
		 NF == 3 && $2 ~ /^[TDBRCGSV]$/ { print "D", m, $3 }'
done >"$tmp/syms"
# The arrows: "from to symbol", one line each.
awk 'NR == FNR { if ($1 == "D") def[$3] = $2; next }
     $1 == "U" && ($3 in def) && def[$3] != $2 { print $2, def[$3], $3 }' \
	"$tmp/syms" "$tmp/syms" | sort -u >"$tmp/arrows"

# Upward calls.
awk 'function layer(p) {
		if (p ~ /^util\//) return 0; if (p ~ /^store\//) return 1
		if (p ~ /^jobs\//) return 2; return 3 }
	layer($2) > layer($1) { a = $1; sub(/\/.*/, "", a)
		b = $2; sub(/\/.*/, "", b)
		printf "error: layers: %s calls %s of %s: %s/ may not call %s/\n", \
			$1, $3, $2, a, b }' "$tmp/arrows" >"$tmp/upward"
if [ -s "$tmp/upward" ]; then
	cat "$tmp/upward"
	fail=1
fi

# Pairs that call each other, "a b" with a < b.
awk '{ e[$1 " " $2] = 1 }
     END { for (k in e) { split(k, p, " ");
	   if (p[1] < p[2] && (p[2] " " p[1]) in e) print p[1], p[2] } }' \
	"$tmp/arrows" | sort >"$tmp/pairs"
: >"$tmp/allowed"
if [ -f "$allow" ]; then
	sed -e 's/#.*//' "$allow" | awk 'NF >= 2 {
		if ($1 < $2) print $1, $2; else print $2, $1 }' |
		sort >"$tmp/allowed"
fi
symbols() { # the symbols FROM calls in TO, on one line
	awk -v f="$1" -v t="$2" '$1 == f && $2 == t { printf " %s", $3 }' \
		"$tmp/arrows"
}
while read -r a b; do
	if grep -qx "$a $b" "$tmp/allowed"; then
		kind="allowed"
	else
		kind="error"
		fail=1
	fi
	echo "$kind: layers: $a and $b call each other"
	echo "  $a ->$(symbols "$a" "$b")"
	echo "  $b ->$(symbols "$b" "$a")"
done <"$tmp/pairs"
while read -r a b; do
	grep -qx "$a $b" "$tmp/pairs" ||
		echo "note: layers: '$a $b' in $allow no longer call each other: drop it"
done <"$tmp/allowed"

if [ "$fail" = 0 ]; then
	echo "layers: $(cut -d' ' -f1,2 "$tmp/arrows" | sort -u | wc -l)" \
	     "arrows between modules, every one the right way" \
	     "($(wc -l <"$tmp/allowed") allowed pairs)"
fi
exit "$fail"
