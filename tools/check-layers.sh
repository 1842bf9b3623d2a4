#!/bin/sh
# check-layers: fails when an arrow between trainfs's parts points the
# wrong way (`make check-layers`).
#
#   sh tools/check-layers.sh [BUILD [ALLOW]]
#
# Two checks:
#
#  1. Includes, layer by layer, lowest first: util/, store/, then the
#     rooms of jobs/ (model/: pure rules; run/: where trainers run;
#     artifacts/: packing and the trainer's own files; core/: the only
#     code that takes a job's or the registry's lock), then fs/.  A file
#     includes only its own layer and those below.  Read from the
#     '#include "..."' lines of fs/ jobs/ store/ util/.
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
awk -F: 'function part(p) { if (p ~ /^jobs\//) sub(/\/[^\/]*$/, "", p)
		else sub(/\/.*/, "", p); return p }
	function layer(p) {
		if (p ~ /^util\//) return 0; if (p ~ /^store\//) return 1
		if (p ~ /^jobs\/model\//) return 2
		if (p ~ /^jobs\/run\//) return 3
		if (p ~ /^jobs\/artifacts\//) return 4
		if (p ~ /^jobs\//) return 5; if (p ~ /^fs\//) return 6
		return -1 }
	{ inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
	  to = layer(inc); from = layer($1)
	  if (to > from) { top = part($1); itop = part(inc)
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
	[ -f "$src" ] || continue # left by an older layout of the tree
	nm "$build/$o" | awk -v m="$src" \
		'$1 == "U" { print "U", m, $2 } \
		 NF == 3 && $2 ~ /^[TDBRCGSV]$/ { print "D", m, $3 }'
done >"$tmp/syms"
# The arrows: "from to symbol", one line each.
awk 'NR == FNR { if ($1 == "D") def[$3] = $2; next }
     $1 == "U" && ($3 in def) && def[$3] != $2 { print $2, def[$3], $3 }' \
	"$tmp/syms" "$tmp/syms" | sort -u >"$tmp/arrows"

# Upward calls.
awk 'function part(p) { if (p ~ /^jobs\//) sub(/\/[^\/]*$/, "", p)
		else sub(/\/.*/, "", p); return p }
	function layer(p) {
		if (p ~ /^util\//) return 0; if (p ~ /^store\//) return 1
		if (p ~ /^jobs\/model\//) return 2
		if (p ~ /^jobs\/run\//) return 3
		if (p ~ /^jobs\/artifacts\//) return 4
		if (p ~ /^jobs\//) return 5; return 6 }
	layer($2) > layer($1) { a = part($1); b = part($2)
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
