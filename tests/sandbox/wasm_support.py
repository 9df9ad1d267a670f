"""Guest modules for the WASM runner tests: WAT written inline, and one small C program.

The C program is compiled once per test session with Debian's `clang-14 --target=wasm32-wasi`;
tests that need it are skipped, saying what to install, where clang-14 is missing.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import wasmtime

_WASI = "wasi_snapshot_preview1"


def _wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


# Reads all of stdin (in 4 KiB chunks) and writes each chunk straight to stdout.
ECHO = _wat(f"""
(module
  (import "{_WASI}" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "{_WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (loop $more
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.gt_u (local.get $n) (i32.const 0)) (then
        (i32.store (i32.const 4) (local.get $n))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
        (br $more))))))
""")

# Writes the JSON value {"ok":true} and returns.
CONSTANT = _wat(f"""
(module
  (import "{_WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{{\\"ok\\":true}}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 11))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
""")

EXIT_7 = _wat(f"""
(module
  (import "{_WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))
""")

# Polls stdin for reading, then exits with nevents*100 + event type*10 + (userdata == 42).
POLL_STDIN = _wat(f"""
(module
  (import "{_WASI}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "{_WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i64.store (i32.const 0) (i64.const 42))
    (i32.store8 (i32.const 8) (i32.const 1))
    (i32.store (i32.const 16) (i32.const 0))
    (if (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200))
      (then (call $exit (i32.const 1))))
    (call $exit
      (i32.add
        (i32.add
          (i32.mul (i32.load (i32.const 200)) (i32.const 100))
          (i32.mul (i32.load8_u (i32.const 110)) (i32.const 10)))
        (i64.eq (i64.load (i32.const 100)) (i64.const 42))))))
""")

SPIN = _wat('(module (func (export "_start") (loop (br 0))))')

# Counts its calls in a mutable global and in a memory byte, notes its memory size, then
# grows its memory and its table, and writes [calls, byte, pages, table size]: always
# [1,1,1,1] from a fresh instance, higher from one that kept anything of an earlier call.
COUNTER = _wat(f"""
(module
  (import "{_WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table 1 funcref)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 64) "[0,0,0,0]")
  (func $digit (param $at i32) (param $n i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (local.get $n))))
  (func (export "_start")
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store8 (i32.const 200) (i32.add (i32.load8_u (i32.const 200)) (i32.const 1)))
    (call $digit (i32.const 65) (global.get $calls))
    (call $digit (i32.const 67) (i32.load8_u (i32.const 200)))
    (call $digit (i32.const 69) (memory.size))
    (call $digit (i32.const 71) (table.size))
    (drop (memory.grow (i32.const 1)))
    (drop (table.grow (ref.null func) (i32.const 1)))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 9))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
""")

# Asks random_get for 16 bytes (stdin `s`), 2 MiB (`b`) or a buffer past the end of its
# memory (`f`), writes the first 16 bytes it got to stdout and exits with the errno.
RANDOM = _wat(f"""
(module
  (import "{_WASI}" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "{_WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "{_WASI}" "random_get" (func $random (param i32 i32) (result i32)))
  (import "{_WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 48)
  (func (export "_start") (local $mode i32) (local $errno i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $mode (i32.load8_u (i32.const 100)))
    (local.set $errno
      (call $random
        (select (i32.const 0x7FFFFFF0) (i32.const 4096) (i32.eq (local.get $mode) (i32.const 102)))
        (select (i32.const 2097152) (i32.const 16) (i32.eq (local.get $mode) (i32.const 98)))))
    (i32.store (i32.const 16) (i32.const 4096))
    (i32.store (i32.const 20) (i32.const 16))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
    (call $exit (local.get $errno))))
""")

# Writes one byte "x" through fd_write and exits with the errno it got. Its stdin says
# how: the descriptor as a digit, then `o` (a good buffer), `f` (a buffer past the end
# of memory) or `n` (5,000 buffers).
WRITE_TO = _wat(f"""
(module
  (import "{_WASI}" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "{_WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "{_WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $mode i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $mode (i32.load8_u (i32.const 101)))
    (i32.store8 (i32.const 200) (i32.const 120))
    (i32.store (i32.const 16) (i32.const 200))
    (i32.store (i32.const 20) (i32.const 1))
    (if (i32.eq (local.get $mode) (i32.const 102))
      (then (i32.store (i32.const 16) (i32.const 0xFFFF0000))))
    (call $exit
      (call $write
        (i32.sub (i32.load8_u (i32.const 100)) (i32.const 48))
        (i32.const 16)
        (select (i32.const 5000) (i32.const 1) (i32.eq (local.get $mode) (i32.const 110)))
        (i32.const 24)))))
""")

# Grows memory a page at a time until growth fails, then traps.
GROW = _wat("""
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
""")

BIG_START = _wat('(module (memory (export "memory") 100) (func (export "_start")))')

UNREACHABLE = _wat('(module (func $boom unreachable) (func (export "_start") call $boom))')

NO_START = _wat('(module (func (export "main")))')

FOREIGN_IMPORT = _wat("""
(module
  (import "env" "host_secret" (func (result i32)))
  (func (export "_start")))
""")

PROBE_C = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int cat_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "open %s: %s\n", path, strerror(errno)); return 2; }
    int c;
    while ((c = fgetc(f)) != EOF) putchar(c);
    fclose(f);
    return 0;
}

static int write_file(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "open %s: %s\n", path, strerror(errno)); return 3; }
    fputs("written by wasm", f);
    return fclose(f) == 0 ? 0 : 4;
}

static int eat_memory(void) {
    for (size_t total = 0;; total += 1 << 20) {
        volatile char *p = malloc(1 << 20);
        if (!p) { fprintf(stderr, "out of memory after %zu bytes\n", total); return 1; }
        for (size_t i = 0; i < (1 << 20); i += 4096) p[i] = 1;
    }
}

static int nap_until(void) {
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_nsec += 20 * 1000 * 1000;
    if (at.tv_nsec >= 1000000000) { at.tv_sec += 1; at.tv_nsec -= 1000000000; }
    return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "fail")) { fputs("bad input: expected n\n", stderr); return 3; }
    if (!strcmp(mode, "cat") && argc > 2) return cat_file(argv[2]);
    if (!strcmp(mode, "write") && argc > 2) return write_file(argv[2]);
    if (!strcmp(mode, "env")) { for (char **e = environ; *e; e++) puts(*e); return 0; }
    if (!strcmp(mode, "argv")) { for (int i = 0; i < argc; i++) puts(argv[i]); return 0; }
    if (!strcmp(mode, "eat")) return eat_memory();
    if (!strcmp(mode, "nap")) return usleep(20 * 1000);
    if (!strcmp(mode, "nap-until")) return nap_until();
    if (!strcmp(mode, "sleep")) return sleep(3600);
    if (!strcmp(mode, "flood")) for (;;) fputs("flood flood flood flood flood flood\n", stdout);
    if (!strcmp(mode, "shout")) for (;;) fputs("shout shout shout shout shout shout\n", stderr);
    fprintf(stderr, "unknown mode %s\n", mode);
    return 64;
}
"""


@functools.cache
def probe_wasm() -> bytes:
    """The C probe compiled to WASI; skips the calling test where clang-14 is missing."""
    clang = shutil.which("clang-14")
    if clang is None:
        pytest.skip(
            "clang-14 is not installed; install it with "
            "`apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32`"
        )
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "probe.c", Path(tmp) / "probe.wasm"
        source.write_text(PROBE_C)
        done = subprocess.run(
            [clang, "--target=wasm32-wasi", "-O2", str(source), "-o", str(output)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"clang-14 could not build the probe:\n{done.stderr}"
        return output.read_bytes()
