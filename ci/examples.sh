#!/usr/bin/env bash
# Builds the examples once (release) and checks what each one prints: the fixed
# lines exactly and in order, and the timings within bounds generous enough for a
# busy 2-core machine. ci/test.sh runs this; it also runs on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ci/toolchain.sh
. ci/toolchain.sh

step "cargo build --release --examples"
cargo build --release --examples --quiet
bin="${CARGO_TARGET_DIR:-target}/release/examples"

failed=0

# fail NAME WHY EXPECTED ACTUAL: report a mismatch (the check goes on, the script
# exits 1 at the end).
fail() {
    printf '\nci/examples.sh: %s: %s\n' "$1" "$2" >&2
    printf -- '--- expected (times normalised) ---\n%s\n' "$3" >&2
    printf -- '--- actual ---\n%s\n' "$4" >&2
    failed=1
}

# in_range VALUE LOW HIGH: whether LOW <= VALUE <= HIGH (decimals allowed).
in_range() {
    [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 1
    awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'
}

# run NAME [ARGS...]: runs an example, its output in $out; a non-zero exit is a failure.
run() {
    printf '\n==> %s\n' "$*"
    local status=0
    out="$("$bin/$1" "${@:2}" 2>&1)" || status=$?
    if [ "$status" -ne 0 ]; then
        fail "$1" "exited with status $status" "(a zero exit status)" "$out"
    fi
    printf '%s\n' "$out"
}

# --- countasync: three counts overlap, so about 1 s in all -------------------------
run countasync
expected="One
One
One
Two
Two
Two
countasync.rs executed in <s> seconds."
normalised="$(printf '%s\n' "$out" | sed -E 's/ in [0-9]+\.[0-9]{2} seconds\.$/ in <s> seconds./')"
if [ "$normalised" != "$expected" ]; then
    fail countasync "unexpected output" "$expected" "$out"
else
    secs="$(printf '%s\n' "$out" | sed -nE 's/^countasync\.rs executed in ([0-9.]+) seconds\.$/\1/p')"
    in_range "$secs" 0.95 1.8 ||
        fail countasync "took $secs s, expected 0.95 to 1.8 s" "$expected" "$out"
fi

# --- say_after: in sequence about 3 s, as tasks about 2 s -------------------------
run say_after
expected="== part 1: await say_after(1) then say_after(2), in sequence ==
started at HH:MM:SS
hello
world
finished at HH:MM:SS
part 1 took <s> seconds

== part 2: spawn both as tasks, then await them (they overlap) ==
started at HH:MM:SS
hello
world
finished at HH:MM:SS
part 2 took <s> seconds"
normalised="$(printf '%s\n' "$out" | sed -E \
    -e 's/^(started|finished) at [0-9]{2}:[0-9]{2}:[0-9]{2}( UTC)?$/\1 at HH:MM:SS/' \
    -e 's/ took [0-9]+\.[0-9]{2} seconds$/ took <s> seconds/')"
if [ "$normalised" != "$expected" ]; then
    fail say_after "unexpected output" "$expected" "$out"
else
    part1="$(printf '%s\n' "$out" | sed -nE 's/^part 1 took ([0-9.]+) seconds$/\1/p')"
    part2="$(printf '%s\n' "$out" | sed -nE 's/^part 2 took ([0-9.]+) seconds$/\1/p')"
    in_range "$part1" 2.95 4.0 ||
        fail say_after "part 1 took $part1 s, expected 2.95 to 4.0 s" "$expected" "$out"
    # Below 2.8 s: the tasks must overlap (in sequence they would take 3 s).
    in_range "$part2" 1.95 2.8 ||
        fail say_after "part 2 took $part2 s, expected 1.95 to 2.8 s" "$expected" "$out"
fi

# --- macros: #[ringloop::main] on an `async fn main() -> io::Result<()>` -----------
run macros
expected="Hello ...
... World!
echoed: hello over TCP
the server echoed 14 bytes"
[ "$out" = "$expected" ] || fail macros "unexpected output" "$expected" "$out"

# --- callbacks: call_soon first, timers in deadline order, the cancelled one never --
run callbacks
expected="cancelled call_later(50 ms): handle.cancelled() = true
scheduled; nothing has run yet
call_soon              fired at +<n> ms
call_later(100 ms)     fired at +<n> ms
call_at(now + 150 ms)  fired at +<n> ms
call_later(200 ms)     fired at +<n> ms
after 300 ms: the cancelled callback never ran"
normalised="$(printf '%s\n' "$out" | sed -E 's/ fired at \+[0-9]+ ms$/ fired at +<n> ms/')"
if [ "$normalised" != "$expected" ]; then
    fail callbacks "unexpected output" "$expected" "$out"
else
    # Each timer fires no earlier than its delay, and not absurdly late.
    while IFS='|' read -r label due; do
        at="$(printf '%s\n' "$out" | sed -nE "s/^$label +fired at \+([0-9]+) ms$/\1/p")"
        in_range "$at" "$due" $((due + 500)) ||
            fail callbacks "${label//\\/} fired at +$at ms, expected +$due to +$((due + 500)) ms" \
                "$expected" "$out"
    done <<'EOF'
call_soon|0
call_later\(100 ms\)|100
call_at\(now \+ 150 ms\)|150
call_later\(200 ms\)|200
EOF
fi

# --- promise: a future set by another task after ~1 s; its done callback first ----
run promise
expected="hello ...
callback: the future is done: '... world'
... world
awaited for <s> seconds"
normalised="$(printf '%s\n' "$out" | sed -E 's/^awaited for [0-9]+\.[0-9]{2} seconds$/awaited for <s> seconds/')"
if [ "$normalised" != "$expected" ]; then
    fail promise "unexpected output" "$expected" "$out"
else
    secs="$(printf '%s\n' "$out" | sed -nE 's/^awaited for ([0-9.]+) seconds$/\1/p')"
    in_range "$secs" 0.95 1.8 ||
        fail promise "took $secs s, expected 0.95 to 1.8 s" "$expected" "$out"
fi

# --- asyncq: producers and consumers around a queue (Real Python's asyncq.py) -------
# `-p 2 -c 4` with random.seed(444): producer 1 makes no item, producer 0 four; every
# line matches Python's `asyncq.py -p 2 -c 4`. The sleeps add up to 23 s of Python
# time, 1.15 s at --time-scale 0.05. Items are random hex: normalised, but each must be
# received once, in the order it was added (FIFO), and right away (a consumer waits).
run asyncq -p 2 -c 4 --time-scale 0.05
expected="Producer 0 sleeping for 4 seconds.
Consumer 0 sleeping for 4 seconds.
Consumer 1 sleeping for 7 seconds.
Consumer 2 sleeping for 4 seconds.
Consumer 3 sleeping for 4 seconds.
Producer 0 added <hex> to queue.
Producer 0 sleeping for 8 seconds.
Consumer 0 got element <hex> in <s> seconds.
Consumer 0 sleeping for 10 seconds.
Producer 0 added <hex> to queue.
Producer 0 sleeping for 7 seconds.
Consumer 2 got element <hex> in <s> seconds.
Consumer 2 sleeping for 8 seconds.
Producer 0 added <hex> to queue.
Producer 0 sleeping for 4 seconds.
Consumer 3 got element <hex> in <s> seconds.
Consumer 3 sleeping for 7 seconds.
Producer 0 added <hex> to queue.
Consumer 1 got element <hex> in <s> seconds.
Consumer 1 sleeping for 1 seconds.
Program completed in <s> seconds."
normalised="$(printf '%s\n' "$out" | sed -E \
    -e 's/<[0-9a-f]{10}>/<hex>/' \
    -e 's/ in [0-9]+\.[0-9]{5} seconds\.$/ in <s> seconds./')"
if [ "$normalised" != "$expected" ]; then
    fail asyncq "unexpected output" "$expected" "$out"
else
    added="$(printf '%s\n' "$out" | sed -nE 's/^Producer [0-9]+ added <([0-9a-f]{10})> to queue\.$/\1/p' | tr '\n' ' ')"
    got="$(printf '%s\n' "$out" | sed -nE 's/^Consumer [0-9]+ got element <([0-9a-f]{10})> in .*$/\1/p' | tr '\n' ' ')"
    [ "$added" = "$got" ] ||
        fail asyncq "items received ($got) are not the items added ($added), in order" \
            "$expected" "$out"
    while read -r waited; do
        in_range "$waited" 0 0.5 ||
            fail asyncq "an item waited $waited s in the queue, expected under 0.5 s" \
                "$expected" "$out"
    done < <(printf '%s\n' "$out" | sed -nE 's/^Consumer .* got element <.*> in ([0-9.]+) seconds\.$/\1/p')
    secs="$(printf '%s\n' "$out" | sed -nE 's/^Program completed in ([0-9.]+) seconds\.$/\1/p')"
    in_range "$secs" 1.15 2.5 ||
        fail asyncq "took $secs s, expected 1.15 to 2.5 s" "$expected" "$out"
fi

# --- chained: CPython's random.seed(444) draws, in the Python original's order; the
# three chains overlap, so about 11 s (in sequence the sleeps would add up to 23 s) --
run chained
expected="part1(1) sleeping for 4 seconds.
part1(2) sleeping for 4 seconds.
part1(3) sleeping for 0 seconds.
Returning part1(3) == result3-1.
part2(3, 'result3-1') sleeping for 4 seconds.
Returning part1(1) == result1-1.
part2(1, 'result1-1') sleeping for 7 seconds.
Returning part1(2) == result2-1.
part2(2, 'result2-1') sleeping for 4 seconds.
Returning part2(3, 'result3-1') == result3-2 derived from result3-1.
-->Chained result3 => result3-2 derived from result3-1 (took <s> seconds).
Returning part2(2, 'result2-1') == result2-2 derived from result2-1.
-->Chained result2 => result2-2 derived from result2-1 (took <s> seconds).
Returning part2(1, 'result1-1') == result1-2 derived from result1-1.
-->Chained result1 => result1-2 derived from result1-1 (took <s> seconds).
Program finished in <s> seconds."
normalised="$(printf '%s\n' "$out" | sed -E \
    -e 's/ \(took [0-9]+\.[0-9]{2} seconds\)\.$/ (took <s> seconds)./' \
    -e 's/^Program finished in [0-9]+\.[0-9]{2} seconds\.$/Program finished in <s> seconds./')"
if [ "$normalised" != "$expected" ]; then
    fail chained "unexpected output" "$expected" "$out"
else
    # Each chain sleeps 4+0, 4+4 and 4+7 seconds.
    while read -r n low high; do
        took="$(printf '%s\n' "$out" | sed -nE "s/^-->Chained result$n => .* \(took ([0-9.]+) seconds\)\.$/\1/p")"
        in_range "$took" "$low" "$high" ||
            fail chained "chain $n took $took s, expected $low to $high s" "$expected" "$out"
    done <<'EOF_CHAINS'
3 3.95 5.5
2 7.95 9.5
1 10.95 12.5
EOF_CHAINS
    secs="$(printf '%s\n' "$out" | sed -nE 's/^Program finished in ([0-9.]+) seconds\.$/\1/p')"
    in_range "$secs" 10.95 12.5 ||
        fail chained "took $secs s, expected 10.95 to 12.5 s" "$expected" "$out"
fi

# --- rand: the same bytes as the Python original (ANSI colours included); the
# longest retry loop sleeps 12 times 1 s, so about 12 s ------------------------------
started="$(date +%s.%N)"
run rand
secs="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')"
expected="$(printf '%b\n' \
    '\033[36mInitiated makerandom(0).' \
    '\033[36mmakerandom(0) == 4 too low; retrying.' \
    '\033[91mInitiated makerandom(1).' \
    '\033[91mmakerandom(1) == 4 too low; retrying.' \
    '\033[35mInitiated makerandom(2).' \
    '\033[35mmakerandom(2) == 0 too low; retrying.' \
    '\033[36mmakerandom(0) == 4 too low; retrying.' \
    '\033[91mmakerandom(1) == 7 too low; retrying.' \
    '\033[36mmakerandom(0) == 4 too low; retrying.' \
    '\033[35mmakerandom(2) == 4 too low; retrying.' \
    '\033[36mmakerandom(0) == 8 too low; retrying.' \
    '\033[91m---> Finished: makerandom(1) == 10\033[0m' \
    '\033[36mmakerandom(0) == 7 too low; retrying.' \
    '\033[36mmakerandom(0) == 8 too low; retrying.' \
    '\033[35mmakerandom(2) == 4 too low; retrying.' \
    '\033[36mmakerandom(0) == 7 too low; retrying.' \
    '\033[36mmakerandom(0) == 1 too low; retrying.' \
    '\033[36mmakerandom(0) == 6 too low; retrying.' \
    '\033[35m---> Finished: makerandom(2) == 9\033[0m' \
    '\033[36mmakerandom(0) == 3 too low; retrying.' \
    '\033[36mmakerandom(0) == 9 too low; retrying.' \
    '\033[36mmakerandom(0) == 7 too low; retrying.' \
    '\033[36m---> Finished: makerandom(0) == 10\033[0m' \
    '' \
    'r1: 10, r2: 10, r3: 9')"
if [ "$out" != "$expected" ]; then
    fail rand "unexpected output" "$expected" "$out"
else
    in_range "$secs" 11.95 14.0 ||
        fail rand "took $secs s, expected 11.95 to 14.0 s" "$expected" "$out"
fi

# --- shield: the shielded saves outlive a timeout and a cancelled waiter; about 4 s --
run shield
expected="== 1: wait_for(0.5 s, shield(save(1))) times out; save(1) goes on ==
save(1): writing for 1 s
main: timed out after 0.5 s; not awaiting save(1) any more
save(1): written
main: saved so far: [1]
== 2: the task awaiting shield(save(2)) is cancelled; save(2) goes on ==
save(2): writing for 1 s
main: the outer task was cancelled after 0.5 s
save(2): written
main: saved so far: [1, 2]
== 3: shield(save(3)) awaited to the end ==
save(3): writing for 1 s
save(3): written
main: got record 3
shield.rs executed in <s> seconds."
normalised="$(printf '%s\n' "$out" | sed -E 's/ in [0-9]+\.[0-9]{2} seconds\.$/ in <s> seconds./')"
if [ "$normalised" != "$expected" ]; then
    fail shield "unexpected output" "$expected" "$out"
else
    secs="$(printf '%s\n' "$out" | sed -nE 's/^shield\.rs executed in ([0-9.]+) seconds\.$/\1/p')"
    in_range "$secs" 3.95 5.5 ||
        fail shield "took $secs s, expected 3.95 to 5.5 s" "$expected" "$out"
fi

# --- to_thread: blocking_io overlaps sleep(1) (about 1 s, not 2); then blocking_io and
# cpu_bound run on pool threads while a task ticks on time at +100, +300 ... +900 ms --
run to_thread
expected="== 1: gather(to_thread(blocking_io), sleep(1)) ==
started main at HH:MM:SS
start blocking_io at HH:MM:SS
blocking_io complete at HH:MM:SS
finished main at HH:MM:SS
part 1 took <s> seconds

== 2: blocking_io and cpu_bound on pool threads, a task ticking ==
start blocking_io at HH:MM:SS
tick 1 at +<n> ms
tick 2 at +<n> ms
tick 3 at +<n> ms
tick 4 at +<n> ms
tick 5 at +<n> ms
blocking_io complete at HH:MM:SS
cpu_bound: sum of i * i for i below 10**7 = 333333283333335000000
the loop ticked 5 times while the pool threads worked
part 2 took <s> seconds"
normalised="$(printf '%s\n' "$out" | sed -E \
    -e 's/ at [0-9]{2}:[0-9]{2}:[0-9]{2}$/ at HH:MM:SS/' \
    -e 's/^(tick [0-9]+) at \+[0-9]+ ms$/\1 at +<n> ms/' \
    -e 's/ took [0-9]+\.[0-9]{2} seconds$/ took <s> seconds/')"
if [ "$normalised" != "$expected" ]; then
    fail to_thread "unexpected output" "$expected" "$out"
else
    # Below 1.5 s: the blocking call and the sleep overlap (in sequence, 2 s).
    for part in 1 2; do
        secs="$(printf '%s\n' "$out" | sed -nE "s/^part $part took ([0-9.]+) seconds\$/\\1/p")"
        in_range "$secs" 0.95 1.5 ||
            fail to_thread "part $part took $secs s, expected 0.95 to 1.5 s" "$expected" "$out"
    done
    # Each tick on time: the loop was not blocked by the pool's jobs.
    for n in 1 2 3 4 5; do
        due=$((100 + 200 * (n - 1)))
        at="$(printf '%s\n' "$out" | sed -nE "s/^tick $n at \\+([0-9]+) ms\$/\\1/p")"
        in_range "$at" "$due" $((due + 90)) ||
            fail to_thread "tick $n at +$at ms, expected +$due to +$((due + 90)) ms" \
                "$expected" "$out"
    done
fi

# --- cat: files to standard output and into a file (-o), standard input (-), a
# missing file reported and skipped; byte for byte the same as coreutils' cat, on
# both drivers ------------------------------------------------------------------------
cat_dir="$(mktemp -d)"
printf 'hello\n' >"$cat_dir/small"
head -c 3000000 /dev/urandom >"$cat_dir/big" # 12 chunks: several reads in flight
: >"$cat_dir/empty"
cat "$cat_dir/small" "$cat_dir/big" "$cat_dir/empty" "$cat_dir/small" >"$cat_dir/expected"
for driver in uring epoll; do
    printf '\n==> cat FILE... and cat -o DST -v FILE (RINGLOOP_DRIVER=%s)\n' "$driver"
    status=0
    RINGLOOP_DRIVER="$driver" "$bin/cat" "$cat_dir/small" "$cat_dir/big" "$cat_dir/empty" \
        "$cat_dir/small" >"$cat_dir/stdout" 2>"$cat_dir/stderr" || status=$?
    if [ "$status" -ne 0 ] || ! cmp -s "$cat_dir/stdout" "$cat_dir/expected"; then
        fail cat "standard output differs from coreutils' cat (status $status)" \
            "$(wc -c <"$cat_dir/expected") bytes" "$(wc -c <"$cat_dir/stdout") bytes; $(cat "$cat_dir/stderr")"
    fi
    status=0
    RINGLOOP_DRIVER="$driver" "$bin/cat" -o "$cat_dir/copy" -v "$cat_dir/big" \
        2>"$cat_dir/stderr" || status=$?
    report="$(cat "$cat_dir/stderr")"
    printf '%s\n' "$report"
    [ "$driver" = uring ] && kind=io_uring || kind=epoll
    if [ "$status" -ne 0 ] || ! cmp -s "$cat_dir/copy" "$cat_dir/big"; then
        fail cat "-o: the copy differs (status $status)" "a copy of $cat_dir/big" "$report"
    elif ! printf '%s\n' "$report" |
        grep -Eq "^cat: copied 3000000 bytes from 1 file\(s\) in [0-9.]+ s \([0-9]+ MiB/s\) on $kind\$"; then
        fail cat "-v: unexpected report" "cat: copied 3000000 bytes from 1 file(s) in <t> s (<r> MiB/s) on $kind" "$report"
    fi
    out="$(printf 'piped\n' | RINGLOOP_DRIVER="$driver" "$bin/cat" - "$cat_dir/small" 2>&1)" ||
        fail cat "standard input: exit status $?" "piped / hello" "$out"
    [ "$out" = "$(printf 'piped\nhello')" ] || fail cat "standard input" "piped
hello" "$out"
    status=0
    out="$(RINGLOOP_DRIVER="$driver" "$bin/cat" "$cat_dir/small" "$cat_dir/missing" "$cat_dir/small" 2>&1)" ||
        status=$?
    expected="hello
cat: $cat_dir/missing: No such file or directory (os error 2)
hello"
    if [ "$status" -ne 1 ] || [ "$out" != "$expected" ]; then
        fail cat "a missing file: status $status (expected 1)" "$expected" "$out"
    fi
done
rm -rf "$cat_dir"

# --- subprocess: `ls -l` with stdout and stderr piped, printed as the Python docs'
# example prints it; then the docs' two commands gathered (the failing `ls` first,
# the `sleep 1` one about 1 s later) -------------------------------------------------
run subprocess
# The listing itself (sizes, dates, owners) varies: its lines are checked for the
# shape of `ls -l` lines, and for some of this repository's entries.
normalised="$(printf '%s\n' "$out" | sed -E \
    -e 's/^total [0-9]+$/total <n>/' \
    -e 's/^[-dlcbps][-rwxsStT]{9}[.+@]? +[0-9]+ .* ([^ ]+)$/<entry> \1/')"
# (The blank line print() adds after the listing is lost to $(...), which drops
# trailing newlines.)
listing="$(printf '%s\n' "$normalised" | sed -n '4,$p')"
expected_head="['ls -l' exited with 0]
[stdout]
total <n>"
if [ "$(printf '%s\n' "$normalised" | head -3)" != "$expected_head" ] ||
    printf '%s\n' "$listing" | grep -qv '^<entry> ' ||
    ! printf '%s\n' "$listing" | grep -qx '<entry> Cargo.toml' ||
    ! printf '%s\n' "$listing" | grep -qx '<entry> src' ||
    printf '%s\n' "$out" | grep -q '^\[stderr\]$'; then
    fail subprocess "unexpected output" "$expected_head
<entry> NAME (one per entry: Cargo.toml, src, ...)

(and no [stderr])" "$out"
fi

start_ns="$(date +%s%N)"
run subprocess 'ls /zzz' 'sleep 1; echo "hello"'
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
expected="['ls /zzz' exited with 2]
[stderr]
ls: cannot access '/zzz': No such file or directory

['sleep 1; echo \"hello\"' exited with 0]
[stdout]
hello"
[ "$out" = "$expected" ] || fail subprocess "unexpected output" "$expected" "$out"
in_range "$elapsed_ms" 950 1900 ||
    fail subprocess "took $elapsed_ms ms, expected 950 to 1900 ms (the commands overlap)" \
        "$expected" "$out"

# --- sharded_kv: two and three shards, a deterministic workload --------------------
run sharded_kv
expected="2 shards, 1000 keys each
shard 0 owns 1000 keys, shard 1 owns 1000 keys
reads: 4000 hits, 0 misses
log: 2000 writes, 1000 of them to another shard's keys"
[ "$out" = "$expected" ] || fail sharded_kv "unexpected output" "$expected" "$out"
run sharded_kv --shards 3 --keys 500
expected="3 shards, 500 keys each
shard 0 owns 486 keys, shard 1 owns 510 keys, shard 2 owns 504 keys
reads: 4500 hits, 0 misses
log: 1500 writes, 1002 of them to another shard's keys"
[ "$out" = "$expected" ] || fail sharded_kv "unexpected output" "$expected" "$out"

# --- chat: started on port 0 in the background; two clients over bash's /dev/tcp
# join, talk and leave; each line each one reads is checked; then it is killed ------
printf '\n==> chat 127.0.0.1:0 (two clients over /dev/tcp)\n'
chat_log="$(mktemp)"
"$bin/chat" 127.0.0.1:0 >"$chat_log" 2>&1 &
chat_pid=$!
port=""
for _ in $(seq 200); do
    port="$(sed -nE 's/^Serving on 127\.0\.0\.1:([0-9]+)$/\1/p' "$chat_log")"
    [ -n "$port" ] && break
    sleep 0.05
done
# chat_read FD WHO: one line from the client on FD, printed as "WHO< line".
chat_read() {
    local line
    if IFS= read -r -t 5 -u "$1" line; then
        printf '%s< %s\n' "$2" "$line"
    else
        printf '%s< (nothing within 5 s)\n' "$2"
    fi
}
chat_transcript() {
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    chat_read 3 alice
    printf 'alice\n' >&3
    chat_read 3 alice
    exec 4<>"/dev/tcp/127.0.0.1/$port"
    chat_read 4 bob
    printf 'bob\n' >&4
    chat_read 4 bob
    chat_read 3 alice
    printf 'hello bob\n' >&3
    chat_read 4 bob
    printf 'hi alice\n' >&4
    chat_read 3 alice
    exec 4>&-
    chat_read 3 alice
    exec 3>&-
}
if [ -z "$port" ]; then
    fail chat "no 'Serving on 127.0.0.1:PORT' line" "Serving on 127.0.0.1:<port>" "$(cat "$chat_log")"
else
    out="$(chat_transcript 2>&1)"
    printf 'Serving on 127.0.0.1:%s\n%s\n' "$port" "$out"
    expected="alice< * welcome to the chat; your nickname?
alice< * welcome alice; nobody else is here
bob< * welcome to the chat; your nickname?
bob< * welcome bob; here: alice
alice< * bob joined
bob< alice: hello bob
alice< bob: hi alice
alice< * bob left"
    [ "$out" = "$expected" ] || fail chat "unexpected conversation" "$expected" "$out"
    served="$(cat "$chat_log")"
    [ "$served" = "Serving on 127.0.0.1:$port" ] ||
        fail chat "unexpected server output" "Serving on 127.0.0.1:$port" "$served"
fi
# SIGTERM: a clean stop (listener closed, runtime dropped), exit status 0.
kill "$chat_pid" 2>/dev/null || true
status=0
wait "$chat_pid" 2>/dev/null || status=$?
[ "$status" -eq 0 ] || fail chat "exit status $status after SIGTERM" "0 (a clean stop)" "$(cat "$chat_log")"
rm -f "$chat_log"

# --- echo_server and echo_client: the Python docs' pair, on every driver; then a
# short echo_bench pass (ringloop beside tokio and monoio, on 1 and 2 server threads)
# to check the benchmark runs -----------------------------------------------------------
for driver in uring epoll; do
    printf '\n==> echo_server 127.0.0.1:0 + echo_client (RINGLOOP_DRIVER=%s)\n' "$driver"
    echo_log="$(mktemp)"
    RINGLOOP_DRIVER="$driver" "$bin/echo_server" 127.0.0.1:0 -v >"$echo_log" 2>&1 &
    echo_pid=$!
    addr=""
    for _ in $(seq 200); do
        addr="$(sed -nE 's/^Serving on (127\.0\.0\.1:[0-9]+)$/\1/p' "$echo_log")"
        [ -n "$addr" ] && break
        sleep 0.05
    done
    if [ -z "$addr" ]; then
        fail echo_server "no 'Serving on 127.0.0.1:PORT' line" "Serving on 127.0.0.1:<port>" "$(cat "$echo_log")"
    else
        run echo_client "$addr"
        expected='Send: "Hello World!"
Received: "Hello World!"
Close the connection'
        [ "$out" = "$expected" ] || fail echo_client "unexpected output" "$expected" "$out"
        # The server's lines for the message, then its end of the connection.
        for _ in $(seq 100); do
            grep -q '^Close the connection$' "$echo_log" && break
            sleep 0.05
        done
        served="$(sed -E 's/from Ok\(127\.0\.0\.1:[0-9]+\)/from <peer>/; s/127\.0\.0\.1:[0-9]+$/<addr>/' "$echo_log")"
        expected_served='Serving on <addr>
Received "Hello World!" from <peer>
Send: "Hello World!"
Close the connection'
        [ "$served" = "$expected_served" ] ||
            fail echo_server "unexpected server output" "$expected_served" "$served"
    fi
    kill "$echo_pid" 2>/dev/null || true
    status=0
    wait "$echo_pid" 2>/dev/null || status=$?
    [ "$status" -eq 0 ] ||
        fail echo_server "exit status $status after SIGTERM" "0 (a clean stop)" "$(cat "$echo_log")"
    rm -f "$echo_log"
done

# --- echo_server on 2 shards: SO_REUSEPORT listeners, then one acceptor; clients
# served, and a clean stop on SIGTERM ------------------------------------------------
for driver in uring epoll; do
    for mode in "" "--acceptor"; do
        printf '\n==> echo_server 127.0.0.1:0 --shards 2 %s (RINGLOOP_DRIVER=%s)\n' "$mode" "$driver"
        echo_log="$(mktemp)"
        # shellcheck disable=SC2086 # $mode is one word or none
        RINGLOOP_DRIVER="$driver" "$bin/echo_server" 127.0.0.1:0 --shards 2 $mode >"$echo_log" 2>&1 &
        echo_pid=$!
        addr=""
        for _ in $(seq 200); do
            addr="$(sed -nE 's/^Serving on (127\.0\.0\.1:[0-9]+)$/\1/p' "$echo_log")"
            [ -n "$addr" ] && break
            sleep 0.05
        done
        if [ -z "$addr" ]; then
            fail echo_server "no 'Serving on 127.0.0.1:PORT' line (2 shards $mode)" "Serving on 127.0.0.1:<port>" "$(cat "$echo_log")"
        else
            for _ in 1 2 3 4; do
                run echo_client "$addr"
                expected='Send: "Hello World!"
Received: "Hello World!"
Close the connection'
                [ "$out" = "$expected" ] || fail echo_client "unexpected output (2 shards $mode)" "$expected" "$out"
            done
        fi
        kill "$echo_pid" 2>/dev/null || true
        status=0
        wait "$echo_pid" 2>/dev/null || status=$?
        [ "$status" -eq 0 ] ||
            fail echo_server "exit status $status after SIGTERM (2 shards $mode)" "0 (a clean stop)" "$(cat "$echo_log")"
        rm -f "$echo_log"
    done
done

run echo_bench --conns 2 --secs 0.5 --warmup 0.2 --servers ringloop,ringloop-epoll,tokio,monoio,bare-uring
for server in ringloop ringloop-epoll tokio monoio bare-uring; do
    printf '%s\n' "$out" | grep -q "^| $server | " ||
        fail echo_bench "no row for $server" "| $server | ..." "$out"
done
# Two server threads: ringloop's shards, tokio's multi-thread runtime, monoio's
# SO_REUSEPORT threads (the bare loop has one thread only).
run echo_bench --conns 4 --secs 0.5 --warmup 0.2 --server-threads 2 --servers ringloop,tokio,monoio
for server in ringloop tokio monoio; do
    printf '%s\n' "$out" | grep -q "^| $server | " ||
        fail echo_bench "no row for $server (--server-threads 2)" "| $server | ..." "$out"
done

# --- http_server (feature hyper): hyper 1.x on ringloop, checked with curl: GET /,
# POST /echo of a 3 MB file (byte for byte), a 404; on every driver, one loop and
# two shards; a clean exit on SIGTERM ---------------------------------------------------
step "cargo build --release --features hyper --example http_server"
cargo build --release --features hyper --example http_server --quiet
if ! command -v curl >/dev/null; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    printf '\n==> installing curl (Debian)\n'
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
fi
http_dir="$(mktemp -d)"
head -c 3000000 /dev/urandom >"$http_dir/body"
for driver in uring epoll; do
    for shards in 1 2; do
        printf '\n==> http_server --addr 127.0.0.1:0 --driver %s --shards %s + curl\n' "$driver" "$shards"
        "$bin/http_server" --addr 127.0.0.1:0 --driver "$driver" --shards "$shards" \
            >"$http_dir/log" 2>&1 &
        http_pid=$!
        addr=""
        for _ in $(seq 100); do
            addr="$(sed -n 's/^listening on \(127\.0\.0\.1:[0-9][0-9]*\)$/\1/p' "$http_dir/log")"
            [ -n "$addr" ] && break
            sleep 0.1
        done
        if [ -z "$addr" ]; then
            fail http_server "no 'listening on 127.0.0.1:PORT' line" "listening on 127.0.0.1:<port>" "$(cat "$http_dir/log")"
        else
            got="$(curl -sS --max-time 20 "http://$addr/" 2>&1)" || true
            [ "$got" = "Hello, world!" ] ||
                fail http_server "GET / ($driver, $shards shards)" "Hello, world!" "$got"
            rm -f "$http_dir/echoed"
            curl -sS --max-time 60 --data-binary @"$http_dir/body" -o "$http_dir/echoed" \
                "http://$addr/echo" 2>"$http_dir/curl_err" || true
            cmp -s "$http_dir/echoed" "$http_dir/body" ||
                fail http_server "POST /echo ($driver, $shards shards): the body came back different" \
                    "3000000 bytes, the same" "$(wc -c <"$http_dir/echoed" 2>/dev/null) bytes; $(cat "$http_dir/curl_err")"
            code="$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' "http://$addr/nope")" || true
            [ "$code" = 404 ] || fail http_server "GET /nope ($driver, $shards shards)" "404" "$code"
            printf 'GET /, POST /echo (3000000 bytes), GET /nope: checked\n'
        fi
        kill -TERM "$http_pid" 2>/dev/null || true
        status=0
        wait "$http_pid" 2>/dev/null || status=$?
        [ "$status" -eq 0 ] ||
            fail http_server "exit status $status after SIGTERM ($driver, $shards shards)" "0 (a clean stop)" "$(cat "$http_dir/log")"
    done
done
rm -rf "$http_dir"

# --- http_bench: hyper on ringloop (io_uring, epoll) beside hyper on tokio under wrk,
# 1 s per server and one round, to check the benchmark runs. ci/http-bench.sh
# installs wrk if it is missing and builds http_server with `--features hyper` --------
printf '\n==> ci/http-bench.sh --conns 16 --secs 1 --warmup 0 --rounds 1\n'
status=0
out="$(ci/http-bench.sh --conns 16 --secs 1 --warmup 0 --rounds 1 2>&1)" || status=$?
printf '%s\n' "$out"
[ "$status" -eq 0 ] || fail http_bench "exited with status $status" "(a zero exit status)" "$out"
for server in ringloop ringloop-epoll tokio; do
    printf '%s\n' "$out" | grep -q "^| $server | " ||
        fail http_bench "no row for $server" "| $server | ..." "$out"
done
printf '%s\n' "$out" | grep -q '^- the same response from ' ||
    fail http_bench "the servers' responses were not all the same" "- the same response from ..." "$out"

# --- bench: the comparison benchmark (ci/bench.sh), every workload and every peer
# once with tiny windows and two echo cells, to check it runs end to end: every
# peer starts, every cell is measured or N/A, the report and its goals print -------
printf '\n==> ci/bench.sh --quick --rounds 1 --secs 0.2 --warmup 0.1 --echo 2x128,2x1M --file-mib 32\n'
status=0
out="$(ci/bench.sh --quick --rounds 1 --secs 0.2 --warmup 0.1 --echo 2x128,2x1M --file-mib 32 2>&1)" || status=$?
printf '%s\n' "$out"
[ "$status" -eq 0 ] || fail bench "exited with status $status" "(a zero exit status)" "$out"
for peer in ringloop ringloop-5.10 ringloop-epoll tokio tokio-mt monoio compio tokio-uring bare-uring pread; do
    printf '%s\n' "$out" | grep -q "^| $peer | [0-9]" ||
        fail bench "no measured row for $peer" "| $peer | <figures> |" "$out"
done
printf '%s\n' "$out" | grep -q '^## Goals' ||
    fail bench "no Goals section" "## Goals" "$out"

if [ "$failed" -ne 0 ]; then
    printf '\nci/examples.sh: FAILED\n' >&2
    exit 1
fi
printf '\nci/examples.sh: all examples printed what they should\n'
