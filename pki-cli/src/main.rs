//! `pki`: the endpoint certificate toolkit's command line. Parses flags into pki-core
//! requests, renders what comes back, and decides the exit code in one place ([`exit`]).

mod args;
mod audit;
mod ca;
mod commands;
mod exit;
mod paths;
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
        // the reader went away (`pki inspect … | head -1`): quiet, as other Unix tools are
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // one line, escaped: an error names files and ids from a store; only a policy
            // error (a file named on the command line) keeps its excerpt's lines
            let text = format!("{err:#}");
            let shown = match err.downcast_ref::<pki_core::Error>() {
                Some(pki_core::Error::Policy { .. }) => render::clean_lines(&text),
                _ => render::clean(&text),
            };
            eprintln!("pki: {shown}");
            exit::for_error(&err)
        }
    }
}
