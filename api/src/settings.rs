//! Command line and configuration: flags override environment variables, which override the
//! TOML file given by `--config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use shedu_domain::ca::SecurityPolicy;
use shedu_infra::config::{CrlSettings, EngineConfig, FileConfig, KekSource, Limits, http_url};
use shedu_infra::relay::RelaySettings;

#[derive(Debug, Parser)]
#[command(name = "shedu", version, about = "Shedu: an event-sourced Certificate Authority service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API, the projector, the reactors and (with a NATS URL) the relay in one process.
    Serve(ServeArgs),
    /// Publish the event log to NATS JetStream and nothing else: the relay of `serve`, on its
    /// own. Several may run against one PostgreSQL log; one publishes at a time.
    Relay(RelayArgs),
    /// Record expiration warnings and expiries as they fall due, and nothing else: the scheduler
    /// of `serve` (with the projector that keeps its index), on its own. Several may run against
    /// one PostgreSQL log; each warning and expiry is recorded once.
    Scheduler(CommonArgs),
    /// Apply pending database migrations and exit.
    Migrate(CommonArgs),
    /// Manage the query views.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Manage the software engine's keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-seal every key file of a software engine under a new KEK, one atomic rename per file.
    /// Stop Shedu first; run it again to finish an interrupted rotation. The current KEK is the one
    /// the configuration names.
    RotateKek(RotateKekArgs),
}

#[derive(Debug, Args)]
pub struct RotateKekArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The software engine whose keys to re-seal; needed when several are configured.
    #[arg(long)]
    pub engine: Option<String>,
    /// Environment variable holding the new KEK (64 hex digits).
    #[arg(long, default_value = "SHEDU_NEW_KEK", conflicts_with = "new_kek_file")]
    pub new_kek_env: String,
    /// File holding the new KEK (64 hex digits, mode 0600), instead of an environment variable.
    #[arg(long)]
    pub new_kek_file: Option<PathBuf>,
}

impl RotateKekArgs {
    pub fn new_kek(&self) -> KekSource {
        match &self.new_kek_file {
            Some(path) => KekSource::File(path.clone()),
            None => KekSource::Env(self.new_kek_env.clone()),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Drop every query view and rebuild it from the event log.
    Rebuild(CommonArgs),
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Directory for the SQLite log and views and the software engine's keys.
    #[arg(long, env = "SHEDU_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; default: SQLite in the data directory.
    #[arg(long, env = "SHEDU_DATABASE_URL")]
    pub database_url: Option<String>,
    /// A TOML file for engines and the other settings.
    #[arg(long, env = "SHEDU_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on.
    #[arg(long, env = "SHEDU_LISTEN")]
    pub listen: Option<String>,
    /// NATS server for the event relay (off when absent).
    #[arg(long, env = "SHEDU_NATS_URL")]
    pub nats_url: Option<String>,
    /// The URL relying parties reach Shedu at (`https://pki.example.com`): certificates issued
    /// from then on name their issuer's CRL and certificate below it.
    #[arg(long, env = "SHEDU_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// NATS server to publish to.
    #[arg(long, env = "SHEDU_NATS_URL")]
    pub nats_url: String,
}

/// Resolved settings.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub nats_url: Option<String>,
    pub engines: Vec<EngineConfig>,
    pub limits: Limits,
    pub relay: RelaySettings,
    pub policy: SecurityPolicy,
    pub crl: CrlSettings,
    pub public_base_url: Option<String>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Settings {
    pub fn resolve(common: &CommonArgs, listen: Option<&str>, nats_url: Option<&str>) -> Result<Self, String> {
        let file = match &common.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let data_dir = common.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("./shedu-data"));
        let database_url = common
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("shedu.db").display()));
        let listen = listen.map(str::to_owned).or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        file.limits.check()?;
        file.relay.check()?;
        file.crl.check()?;
        let listen =
            listen.parse().map_err(|_| format!("--listen: '{listen}' is not an address like 127.0.0.1:8080"))?;
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            nats_url: nats_url.map(str::to_owned).or(file.nats_url),
            engines: file.engines,
            limits: file.limits,
            relay: file.relay,
            policy: file.policy,
            crl: file.crl,
            public_base_url: file.public_base_url.map(|url| http_url("public_base_url", &url)).transpose()?,
        })
    }

    /// `--public-base-url` over the file's `public_base_url`.
    pub fn with_public_base_url(mut self, url: Option<&str>) -> Result<Self, String> {
        if let Some(url) = url {
            self.public_base_url = Some(http_url("public_base_url", url)?);
        }
        Ok(self)
    }
}
