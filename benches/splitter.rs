//! The baseline of `make bench`: a minimal memchr field splitter that reads
//! a folder of log objects in 4 MiB blocks and counts space-separated fields
//! per line, on one core. It does no parsing at all: it is the practical
//! upper limit for any parser on this machine.
//!
//! Usage: `cargo bench --bench splitter -- <folder>`; prints MB/s on stdout.

use std::io::Read;
use std::time::Instant;

fn main() {
    let Some(dir) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        // `cargo test --all-targets` runs every bench once with no folder:
        // nothing to measure then.
        eprintln!("usage: splitter <folder> (no folder given: nothing measured)");
        return;
    };
    let (objects, errors) = s3logs::source::discover(&[dir]);
    if !errors.is_empty() {
        eprintln!("splitter: {} unreadable paths", errors.len());
        std::process::exit(2);
    }
    let started = Instant::now();
    let (mut bytes, mut fields, mut lines) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 4 << 20];
    for o in objects {
        let mut f = std::fs::File::open(o.local_path().expect("local")).expect("open");
        let mut carry = 0;
        loop {
            let n = f.read(&mut buf[carry..]).expect("read");
            let end = carry + n;
            if n == 0 {
                break;
            }
            let last = memchr::memrchr(b'\n', &buf[..end]).map_or(0, |i| i + 1);
            for line in buf[..last].split(|&c| c == b'\n') {
                lines += 1;
                let mut start = 0;
                for i in memchr::memchr_iter(b' ', line) {
                    fields += u64::from(i > start);
                    start = i + 1;
                }
                fields += u64::from(start < line.len());
            }
            bytes += last as u64;
            buf.copy_within(last..end, 0);
            carry = end - last;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("splitter: {lines} lines, {fields} fields");
    println!("{:.1}", bytes as f64 / 1e6 / secs);
}
