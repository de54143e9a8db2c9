//! `hmaxent`: the command-line front door of the library (its JSON contract is `docs/cli.md`).

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hmaxent::cli;
use hmaxent::Error;

#[derive(Parser)]
#[command(
    name = "hmaxent",
    version,
    about = "Hierarchical maximum entropy (JSON in, JSON out)"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Solve a tabulated hierarchy (Theorems A and B, mean constraints).
    Solve {
        /// Problem file (stdin when absent or `-`).
        path: Option<String>,
        /// Omit the marginals.
        #[arg(long)]
        summary: bool,
    },
    /// Trace the Pareto frontier over level weights.
    Pareto {
        /// Problem file (stdin when absent or `-`).
        path: Option<String>,
        /// Also draw the frontier as SVG (needs the `plot` feature).
        #[arg(long)]
        svg: Option<String>,
    },
    /// Parameter flows of the built-in families (chain, quadratic, log-cascade).
    Flow {
        /// Problem file (stdin when absent or `-`).
        path: Option<String>,
        /// Omit the large per-level tables (`eigenvalue_flow`).
        #[arg(long)]
        summary: bool,
    },
}

fn read(path: Option<&str>) -> Result<String, Error> {
    let mut s = String::new();
    match path {
        None | Some("-") => std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::Io(format!("cannot read stdin: {e}")))?,
        Some(p) => std::fs::File::open(p)
            .and_then(|mut f| f.read_to_string(&mut s))
            .map_err(|e| Error::Io(format!("cannot read {p}: {e}")))?,
    };
    Ok(s)
}

fn run(args: Args) -> Result<String, Error> {
    let value = match args.command {
        Command::Solve { path, summary } => {
            let input = cli::parse(&read(path.as_deref())?)?;
            cli::solve::run(&input, summary)?
        }
        Command::Pareto { path, svg } => {
            let input = cli::parse(&read(path.as_deref())?)?;
            cli::pareto::run(&input, svg.as_deref())?
        }
        Command::Flow { path, summary } => {
            let input = cli::parse(&read(path.as_deref())?)?;
            cli::flow::run(&input, summary)?
        }
    };
    serde_json::to_string(&value).map_err(|e| Error::Numerical(format!("cannot print: {e}")))
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", cli::error_line(&e));
            ExitCode::from(2)
        }
    }
}
