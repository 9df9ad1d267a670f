// primes: prints the primes below 30 as a JSON array, whatever the arguments.
const std = @import("std");

pub fn main() !void {
    var buffer: [256]u8 = undefined;
    var length: usize = 0;
    buffer[length] = '[';
    length += 1;
    var n: u32 = 2;
    var first = true;
    while (n < 30) : (n += 1) {
        var d: u32 = 2;
        var prime = true;
        while (d * d <= n) : (d += 1) {
            if (n % d == 0) prime = false;
        }
        if (!prime) continue;
        const written = try std.fmt.bufPrint(buffer[length..], "{s}{d}", .{ if (first) "" else ",", n });
        length += written.len;
        first = false;
    }
    buffer[length] = ']';
    length += 1;
    // Raw WASI: the std I/O interfaces change between Zig releases, this call does not.
    const out = [_]std.os.wasi.ciovec_t{.{ .base = &buffer, .len = length }};
    var written_bytes: usize = 0;
    _ = std.os.wasi.fd_write(1, &out, out.len, &written_bytes);
}
