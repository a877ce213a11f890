# SPDX-License-Identifier: MIT
# Independent computations of the example applications' results (coreutils
# and awk, no pith code), for tests/integration/examples.sh.

tab=$(printf '\t')

# wordcount's `count` for one file: word<TAB>count lines in byte order.
expect_word_counts() {
	cat "$@" | tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' | sed '/^$/d' |
		LC_ALL=C sort | uniq -c | awk '{ printf "%s\t%s\n", $2, $1 }'
}

# wordcount's `merge` over files: most frequent first, ties by word.
expect_word_total() {
	expect_word_counts "$@" | LC_ALL=C sort -t "$tab" -k2,2nr -k1,1
}

# matmul: the product of two text matrices, one row per line.
expect_product() {
	awk 'NR == FNR { for (j = 1; j <= NF; j++) A[FNR, j] = $j
			 n = FNR; k = NF; next }
	     { for (j = 1; j <= NF; j++) B[FNR, j] = $j; m = NF }
	     END { for (i = 1; i <= n; i++) {
			line = ""
			for (j = 1; j <= m; j++) {
				s = 0
				for (t = 1; t <= k; t++) s += A[i, t] * B[t, j]
				line = line (j > 1 ? " " : "") sprintf("%d", s)
			}
			print line
		} }' "$1" "$2"
}

# Tally access-log lines (combined format) as logstats reports them,
# unsorted: requests/bytes/malformed, status and path lines.
_log_tally() {
	cat "$@" | awk -F'"' '
	{
		split($2, req, " "); split($3, rest, " ")
		path = req[2]; sub(/\?.*/, "", path)
		b = rest[2] == "-" ? 0 : rest[2]
		n++; bytes += b; st[rest[1]]++; pr[path]++; pb[path] += b
	}
	END {
		printf "requests\t%d\nbytes\t%d\nmalformed\t0\n", n, bytes
		for (s in st) printf "status\t%d\t%d\n", s, st[s]
		for (p in pr) printf "path\t%s\t%d\t%d\n", p, pr[p], pb[p]
	}'
}

# logstats `stats` for one host: HOST FILE...
expect_host_report() {
	local host=$1 t
	shift
	t=$(_log_tally "$@")
	printf 'host\t%s\nfiles\t%d\n' "$host" $#
	printf '%s\n' "$t" | grep -E '^(requests|bytes|malformed)'
	printf '%s\n' "$t" | grep '^status' | sort -t "$tab" -k2,2n
	printf '%s\n' "$t" | grep '^path' | LC_ALL=C sort -t "$tab" -k2,2
}

# logstats `summary` over all hosts: NHOSTS FILE...
expect_summary() {
	local hosts=$1 t
	shift
	t=$(_log_tally "$@")
	printf 'hosts\t%d\n' "$hosts"
	printf '%s\n' "$t" | grep -E '^(requests|bytes|malformed)'
	printf '%s\n' "$t" | grep '^status' | sort -t "$tab" -k2,2n
	printf '%s\n' "$t" | grep '^path' |
		LC_ALL=C sort -t "$tab" -k3,3nr -k2,2
}

# Is the ELF file $1 a function pith accepts? Prints what is wrong.
check_function_elf() {
	local h l
	h=$(readelf -hW "$1") || return 1
	l=$(readelf -lW "$1") || return 1
	printf '%s\n' "$h" | grep -q 'Type:.*EXEC' ||
		{ echo "$1: not ET_EXEC"; return 1; }
	if printf '%s\n' "$l" | grep -qE '^ *(INTERP|DYNAMIC|TLS) '; then
		echo "$1: has PT_INTERP, PT_DYNAMIC or PT_TLS"
		return 1
	fi
	if printf '%s\n' "$l" | awk '$1 == "LOAD" && $7 ~ /W/ && $7 ~ /E/ ||
			$1 == "LOAD" && $8 ~ /W/ && $8 ~ /E/' | grep -q .; then
		echo "$1: a writable and executable segment"
		return 1
	fi
	if printf '%s\n' "$l" | grep -E '^ *GNU_STACK' | grep -q 'RWE'; then
		echo "$1: executable stack"
		return 1
	fi
	# The entry lies in an executable PT_LOAD.
	printf '%s\n%s\n' "$h" "$l" | awk '
		/Entry point address:/ { entry = strtonum_hex($4) }
		$1 == "LOAD" && ($7 ~ /E/ || $8 ~ /E/) {
			lo = strtonum_hex($3); hi = lo + strtonum_hex($6)
			if (entry >= lo && entry < hi) found = 1
		}
		function strtonum_hex(s,   v, i, c) {
			s = tolower(s); sub(/^0x/, "", s); v = 0
			for (i = 1; i <= length(s); i++) {
				c = index("0123456789abcdef", substr(s, i, 1))
				v = v * 16 + c - 1
			}
			return v
		}
		END { exit found ? 0 : 1 }' ||
		{ echo "$1: entry point not in an executable segment"; return 1; }
}
