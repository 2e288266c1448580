//! `ferrohub-bench`: parse the command line, run the scenario, print the report, and exit
//! non-zero when any connection or operation failed, so scripts notice a bad run.

#![forbid(unsafe_code)]

use clap::Parser;
use ferrohub_bench::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.validate() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::from(2);
    }
    let json = cli.common().json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(ferrohub_bench::run(cli)) {
        Ok(report) => {
            // With --json, stdout carries only the JSON line so scripts can collect it.
            if json {
                eprint!("{}", report.human());
                println!("{}", report.to_json());
            } else {
                print!("{}", report.human());
            }
            if report.errors.total() > 0 {
                eprintln!(
                    "error: {} connection(s) or operation(s) failed",
                    report.errors.total()
                );
                std::process::ExitCode::FAILURE
            } else {
                std::process::ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
