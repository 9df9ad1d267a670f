"""Shared bits for the build tests: running a built module, and the guest programs."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from toolkernel_sandbox import ToolchainMissing
from toolkernel_sandbox.build import Toolchain, find_toolchain


def toolchain_or_skip(language: str, *, path: str | None = None) -> Toolchain:
    """The toolchain for `language`, or a skip that says what to install."""
    try:
        return find_toolchain(language, path=path)
    except ToolchainMissing as exc:
        pytest.skip(f"no {language} toolchain here: {exc.install}")


def run_wasm(wasm: bytes, stdin: bytes, scratch: Path) -> tuple[int, bytes]:
    """Run a WASI command with wasmtime directly: (exit code, stdout)."""
    stdin_file, stdout_file = scratch / "stdin", scratch / "stdout"
    stdin_file.write_bytes(stdin)
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    config = wasmtime.WasiConfig()
    config.stdin_file = str(stdin_file)
    config.stdout_file = str(stdout_file)
    store.set_wasi(config)
    instance = linker.instantiate(store, wasmtime.Module(engine, wasm))
    start = instance.exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    try:
        start(store)
        code = 0
    except wasmtime.ExitTrap as exit_trap:
        code = exit_trap.code
    del instance, store  # before interpreter exit, or wasmtime may print a panic line
    return code, stdout_file.read_bytes()


PRIMES_C = r"""
#include <stdio.h>

/* {"limit": N} on stdin -> the primes up to N as a JSON array. */
int main(void) {
    int limit = 0;
    if (scanf(" { \"limit\" : %d }", &limit) != 1) {
        fprintf(stderr, "expected {\"limit\": N}\n");
        return 2;
    }
    printf("[");
    int first = 1;
    for (int n = 2; n <= limit; n++) {
        int prime = 1;
        for (int d = 2; d * d <= n; d++) {
            if (n % d == 0) { prime = 0; break; }
        }
        if (prime) { printf(first ? "%d" : ",%d", n); first = 0; }
    }
    printf("]\n");
    return 0;
}
"""

PRIMES_RS = r"""
use std::io::Read;

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let args: serde_json::Value = serde_json::from_str(&input).expect("arguments are JSON");
    let limit = args["limit"].as_u64().unwrap_or(0);
    let primes: Vec<u64> = (2..=limit)
        .filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
        .collect();
    println!("{}", serde_json::to_string(&primes).unwrap());
}
"""

# Zig's std I/O changes between releases; raw WASI calls and std.json do not.
PRIMES_ZIG = r"""
const std = @import("std");
const wasi = std.os.wasi;

fn readStdin(buf: []u8) []u8 {
    var len: usize = 0;
    while (len < buf.len) {
        const iov = [_]wasi.iovec_t{.{ .base = buf[len..].ptr, .len = buf.len - len }};
        var n: usize = 0;
        if (wasi.fd_read(0, &iov, iov.len, &n) != .SUCCESS or n == 0) break;
        len += n;
    }
    return buf[0..len];
}

pub fn main() !void {
    var memory: [65536]u8 = undefined;
    var fba = std.heap.FixedBufferAllocator.init(&memory);
    var input: [4096]u8 = undefined;
    const Args = struct { limit: u32 };
    const args = try std.json.parseFromSlice(Args, fba.allocator(), readStdin(&input), .{});
    var out: [8192]u8 = undefined;
    var len: usize = 0;
    out[len] = '[';
    len += 1;
    var n: u32 = 2;
    while (n <= args.value.limit) : (n += 1) {
        var d: u32 = 2;
        const prime = while (d * d <= n) : (d += 1) {
            if (n % d == 0) break false;
        } else true;
        if (!prime) continue;
        const sep: []const u8 = if (len > 1) "," else "";
        len += (try std.fmt.bufPrint(out[len..], "{s}{d}", .{ sep, n })).len;
    }
    out[len] = ']';
    len += 1;
    const iov = [_]wasi.ciovec_t{.{ .base = &out, .len = len }};
    var written: usize = 0;
    _ = wasi.fd_write(1, &iov, iov.len, &written);
}
"""

PRIMES_TO_20 = b"[2,3,5,7,11,13,17,19]"
