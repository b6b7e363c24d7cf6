//! `pki`: the endpoint certificate toolkit's command line. Parses flags into pki-core
//! requests, renders what comes back, and decides the exit code in one place ([`exit`]).

mod args;
mod audit;
mod ca;
mod commands;
mod exit;
mod remote;
mod render;
mod renew;
mod repair;
mod serve;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match args::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match commands::run(cli) {
        Ok(outcome) => exit::code(outcome),
        Err(err) => {
            eprintln!("pki: {err:#}");
            exit::for_error(&err)
        }
    }
}
