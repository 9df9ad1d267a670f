//! primes: {"limit": N} on stdin -> the primes up to N on stdout, with serde_json.
use std::io::Read;

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let args: serde_json::Value = serde_json::from_str(&input).expect("arguments are JSON");
    let limit = args["limit"].as_u64().unwrap_or(0) as usize;
    let mut sieve = vec![true; limit + 1];
    let mut primes = Vec::new();
    for i in 2..=limit {
        if sieve[i] {
            primes.push(i);
            let mut j = i * i;
            while j <= limit {
                sieve[j] = false;
                j += i;
            }
        }
    }
    println!("{}", serde_json::to_string(&primes).unwrap());
}
