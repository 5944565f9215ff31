use std::io::IsTerminal;

use clap::Parser;
use shedu_api::settings::{Cli, Command, KeysCommand, ProjectionsCommand, Settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr, coloured only on a terminal (and never with NO_COLOR set).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("SHEDU_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::resolve(&args.common, args.listen.as_deref(), args.nats_url.as_deref())
                .and_then(|s| s.with_public_base_url(args.public_base_url.as_deref()))
                .map_err(anyhow::Error::msg)?;
            let app = shedu_api::App::build(&settings).await?;
            app.serve(settings.listen, shutdown_signal()).await
        }
        Command::Relay(args) => {
            let settings = Settings::resolve(&args.common, None, Some(&args.nats_url)).map_err(anyhow::Error::msg)?;
            shedu_api::app::run_relay(&settings, &args.nats_url, shutdown_signal()).await
        }
        Command::Scheduler(common) => {
            let settings = Settings::resolve(&common, None, None).map_err(anyhow::Error::msg)?;
            shedu_api::App::build(&settings).await?.run_scheduler(shutdown_signal()).await
        }
        Command::Migrate(common) => {
            let settings = Settings::resolve(&common, None, None).map_err(anyhow::Error::msg)?;
            let applied = shedu_api::app::migrate(&settings).await?;
            println!("applied {} migration(s): {applied:?}", applied.len());
            Ok(())
        }
        Command::Keys { command: KeysCommand::RotateKek(args) } => {
            let settings = Settings::resolve(&args.common, None, None).map_err(anyhow::Error::msg)?;
            let new_kek = args.new_kek();
            let (engine, rotation) = shedu_api::app::rotate_kek(&settings, args.engine.as_deref(), &new_kek)?;
            println!(
                "engine '{engine}': {} key file(s) re-sealed under the new KEK ({} upgraded from format 1), {} already \
                 under it; start Shedu with the new KEK configured",
                rotation.resealed, rotation.upgraded, rotation.already
            );
            Ok(())
        }
        Command::Projections { command: ProjectionsCommand::Rebuild(common) } => {
            let settings = Settings::resolve(&common, None, None).map_err(anyhow::Error::msg)?;
            let (events, elapsed) = shedu_api::app::rebuild_projections(&settings).await?;
            println!("rebuilt the views from {events} event(s) in {:.3}s", elapsed.as_secs_f64());
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
