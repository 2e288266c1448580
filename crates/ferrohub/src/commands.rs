//! The CLI commands. Service commands are typed clients of the REST API; only `serve`,
//! `hub connection-string`, `check` and `config default` work on the data directory itself.

pub mod c2d;
pub mod ca;
pub mod check;
pub mod context;
pub mod device;
pub mod hub;
pub mod method;
pub mod monitor;
pub mod query;
pub mod sas_token;
pub mod serve;
pub mod twin;

use crate::cli::{Cli, Command, ConfigCommand};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = context::Context::from_cli(&cli);
    match cli.command {
        Command::Serve(args) => serve::serve(&ctx, args).await,
        Command::Hub(cmd) => hub::run(&ctx, cmd).await,
        Command::Device(cmd) => device::run(&ctx, cmd).await,
        Command::Ca(cmd) => ca::run(&ctx, cmd).await,
        Command::SasToken(args) => sas_token::run(&ctx, args).await,
        Command::Monitor(args) => monitor::run(&ctx, args).await,
        Command::Method(cmd) => method::run(&ctx, cmd).await,
        Command::Twin(cmd) => twin::run(&ctx, cmd).await,
        Command::C2d(cmd) => c2d::run(&ctx, cmd).await,
        Command::Query { query, page_size } => query::run(&ctx, &query, page_size).await,
        Command::Check => check::run(&ctx),
        Command::Config(ConfigCommand::Default) => {
            print!("{}", crate::config::EXAMPLE);
            Ok(())
        }
    }
}
