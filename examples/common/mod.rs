//! Printing for the examples. `#[macro_use] mod common;` at the top of an example replaces
//! `print!` and `println!` there by the two below, which end the example quietly with status
//! 141 (what a shell reports for `SIGPIPE`, as the `hmaxent` binary does) when the reader
//! of stdout has gone away, as in `cargo run --release --example quickstart | head -1`,
//! instead of the standard macros' panic (status 101). Any other write error is one line on
//! stderr and status 2.

/// `print!` that ends the process quietly on a closed stdout (module docs).
#[allow(unused_macros)]
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            eprintln!("error: io: cannot write to stdout: {e}");
            std::process::exit(2);
        }
    }};
}

/// `println!` through the `print!` above.
#[allow(unused_macros)]
macro_rules! println {
    () => {
        print!("\n")
    };
    ($($arg:tt)*) => {
        print!("{}\n", format_args!($($arg)*))
    };
}
