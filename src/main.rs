//! The `croupier` command: parses arguments, opens the database, wires the crates
//! together and turns errors into exit codes. The logic lives in the crates.

#[macro_use]
mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use anyhow::Context;
use cmd::{audit, bot_admin, chat, demo, fair, ledger_demo, payments, report, serve, submit};
use store::Database;

/// Croupier: an event-sourced, double-entry ledger for Telegram gaming bots.
#[derive(Parser)]
#[command(name = "croupier", version, about)]
struct Cli {
    /// Database to use: `sqlite://PATH` (created when missing) or `postgres://...`.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "sqlite://croupier.db",
        hide_env_values = true
    )]
    database_url: String,

    /// A read replica for reports and audits, so that finance load never touches the
    /// primary. Nothing is written there: reports show the projections as the primary
    /// keeps them, and say how far behind they are.
    #[arg(long, global = true, env = "READ_DATABASE_URL", hide_env_values = true)]
    read_database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations (also done on every start).
    Migrate,
    /// Work with the ledger directly.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Measure the configured database (in a scratch database it creates and drops).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Simulated players deposit, play and take refunds through the real bot (a fake
    /// Telegram takes the replies); then a summary and an audit of the whole log.
    Demo(demo::DemoArgs),
    /// Be a player: type /start, /deposit 100, /coinflip 10 heads to the real bot (its
    /// replies go to a fake Telegram in this process); numbers press buttons, `pay` pays.
    Chat(chat::ChatArgs),
    /// The read models: their progress.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Finance reports from the read models, brought up to the head of the log first.
    Report {
        #[arg(value_enum)]
        report: report::Report,
        /// The player, for `report player`.
        id: Option<i64>,
        /// First UTC day (YYYY-MM-DD), for daily, deposits, bets and player.
        #[arg(long, value_parser = projections::report::parse_day)]
        from: Option<String>,
        /// Last UTC day (YYYY-MM-DD), included.
        #[arg(long, value_parser = projections::report::parse_day)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: report::Format,
        /// Report from the read models as they are, saying how far behind they are.
        #[arg(long)]
        no_catch_up: bool,
        /// As of a log position or an RFC 3339 time, replayed from the log (balances,
        /// liabilities, player).
        #[arg(long, value_name = "POS|RFC3339")]
        at: Option<projections::report::At>,
    },
    /// Auditors' tools: verify the log, publish its head, export it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run the Telegram bot: the webhook (or long polling, or MTProto) in, the outbox out.
    Serve {
        /// Address to listen on (webhook, /healthz, /readyz).
        #[arg(long, env = "CROUPIER_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// How updates arrive: webhook (the default), polling (getUpdates, for local
        /// development) or mtproto (needs the `mtproto` build feature).
        #[arg(long, value_enum)]
        transport: Option<serve::Transport>,
        /// The same as --transport polling.
        #[arg(long, conflicts_with = "transport")]
        polling: bool,
        /// Seconds of quiet after which a conversation session expires.
        #[arg(long, env = "CROUPIER_SESSION_TIMEOUT_S", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
        session_timeout_s: u64,
        /// Seconds after which a 🎰 spin still in flight is taken as lost (its sender
        /// stopped) and its bet voided; keep it above a send's timeout (half the lease).
        #[arg(long, env = "CROUPIER_SPIN_ORPHAN_S", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
        spin_orphan_s: u64,
        /// Seconds a claimed outbox call is this instance's: a call whose sender died
        /// between sending it and recording the send is sent again after it.
        #[arg(long, env = "CROUPIER_OUTBOX_LEASE_S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        outbox_lease_s: u64,
        /// Seconds a client has to send a request's headers (and an idle connection to
        /// start its next request) before the connection is closed.
        #[arg(long, env = "CROUPIER_HEADER_TIMEOUT_S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_timeout_s: u64,
        /// Seconds a client has to send a request's body once its headers are in (408).
        #[arg(long, env = "CROUPIER_BODY_TIMEOUT_S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        body_timeout_s: u64,
        /// Connections served at once; more wait to be accepted until one closes.
        #[arg(long, env = "CROUPIER_CONNECTIONS_MAX", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65536))]
        connections_max: u64,
        /// Seconds requests in flight may take to finish after SIGTERM or SIGINT; those
        /// still unfinished are dropped (not acknowledged: Telegram delivers them again).
        #[arg(long, env = "CROUPIER_SHUTDOWN_TIMEOUT_S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        shutdown_timeout_s: u64,
        /// Seconds after which a player who sent a burst of 8 inputs may send one more
        /// (the per-player inbound limit; payments are never limited).
        #[arg(long, env = "CROUPIER_INBOUND_REFILL_S", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=3600))]
        inbound_refill_s: u64,
        /// A payment provider token from @BotFather, for deposits in other currencies
        /// than Stars (`/deposit 5 USD`). Never printed, never stored: the dispatcher adds
        /// it to those invoices as it sends them.
        #[arg(long, env = "TELEGRAM_PROVIDER_TOKEN", hide_env_values = true)]
        provider_token: Option<String>,
        /// The currencies players may deposit through the provider.
        #[arg(
            long,
            env = "CROUPIER_PROVIDER_CURRENCIES",
            value_delimiter = ',',
            default_value = "USD,EUR"
        )]
        provider_currencies: Vec<String>,
        #[command(flatten)]
        telegram: TelegramArgs,
        #[command(flatten)]
        mtproto: MtprotoArgs,
    },
    /// Manage the bot's webhook at Telegram.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
        #[command(flatten)]
        telegram: TelegramArgs,
    },
    /// Provably fair games: recompute a bet from its revealed seed and check the ledger.
    Fair {
        #[command(subcommand)]
        command: FairCommand,
    },
    /// Payments staff: refund a Stars deposit, reconcile the ledger with Telegram.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// The outbox of Bot API calls: list, retry dead letters.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// The inbox of Telegram updates: the ones that could not be read.
    Inbox {
        #[command(subcommand)]
        command: InboxCommand,
    },
}

#[derive(clap::Args)]
struct TelegramArgs {
    /// The bot's token from @BotFather. Never printed.
    #[arg(long, env = "TELEGRAM_BOT_TOKEN", hide_env_values = true)]
    token: String,
    /// The webhook's secret token (1-256 of A-Z a-z 0-9 _ -), checked on every update.
    #[arg(long, env = "TELEGRAM_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// The Bot API server (tests point it at a local fake).
    #[arg(
        long,
        env = "TELEGRAM_API_URL",
        default_value = "https://api.telegram.org"
    )]
    api_url: String,
}

/// The MTProto transport's settings (`serve --transport mtproto`).
#[derive(clap::Args)]
struct MtprotoArgs {
    /// The api_id from my.telegram.org.
    #[arg(long, env = "TELEGRAM_API_ID")]
    api_id: Option<String>,
    /// The api_hash from my.telegram.org. Never printed.
    #[arg(long, env = "TELEGRAM_API_HASH", hide_env_values = true)]
    api_hash: Option<String>,
    /// Where the MTProto session (auth key, update state) is kept; created when missing.
    #[arg(long, env = "TELEGRAM_SESSION_FILE")]
    session_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// setWebhook with the secret token and the allowed updates (incl. pre_checkout_query).
    Set { url: String },
    /// getWebhookInfo.
    Info,
    /// deleteWebhook.
    Delete,
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Record the refund of a deposit and queue refundStarPayment. Exit 0 done, 3 refused
    /// (the reason is printed, e.g. the balance does not cover it), 2 unknown charge or
    /// one that is not a charge id.
    Refund {
        #[arg(value_parser = checked::<ledger::ExternalRef>())]
        charge_id: ledger::ExternalRef,
    },
    /// Page through getStarTransactions and compare with the ledger's Stars deposits:
    /// charges missing from the ledger, deposits unknown to Telegram, amount, player and
    /// refund mismatches. Exit 0 when all agree, 5 on discrepancies, 1 when Telegram or
    /// the database cannot be read.
    Reconcile {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Report only discrepancies dated this UTC day (YYYY-MM-DD) or later.
        #[arg(long, value_parser = projections::report::parse_day)]
        since: Option<String>,
        #[command(flatten)]
        telegram: TelegramArgs,
    },
}

#[derive(Subcommand)]
enum FairCommand {
    /// Exit 0 when the ledger's payout is what the revealed seed gives, 5 when not, 3
    /// when the seed is not revealed yet, 2 for an unknown bet.
    Verify { bet_id: String },
}

#[derive(Subcommand)]
enum InboxCommand {
    /// How many updates could not be read (inbound dead letters), and the newest 100:
    /// why, and the update as it arrived.
    Dead,
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Pending calls, or dead letters with --dead (newest 100).
    List {
        #[arg(long)]
        dead: bool,
    },
    /// Queue a dead call again, or all of them.
    Retry {
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        id: Option<i64>,
        #[arg(long)]
        all_dead: bool,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each projection's checkpoint, the head of the log, and the lag.
    Status,
    /// Rebuild projections from the log into shadow tables and swap them in atomically;
    /// readers keep the old tables until the swap. All of them when no name is given.
    Rebuild {
        /// balances, bets, deposits, finance_daily, house or sessions.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(projections::projector::PROJECTIONS))]
        names: Vec<String>,
        /// Events per transaction.
        #[arg(long, default_value_t = projections::projector::REBUILD_BATCH_SIZE,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
    },
    /// Bring every projection up to the head of the log now.
    CatchUp {
        /// Events per transaction.
        #[arg(long, default_value_t = projections::projector::BATCH_SIZE,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Replay the whole log from position 1 and check it. Exit 0 when it holds, 5 on the
    /// first finding (printed with its position and stream).
    Verify {
        /// Print the summary or the finding as JSON.
        #[arg(long)]
        json: bool,
        /// A head published earlier (`POS:HEX`, from `croupier audit head`) that must
        /// still be in the chain.
        #[arg(long, value_name = "POS:HASH")]
        expect_head: Option<projections::audit::PublishedHead>,
    },
    /// Print the newest event as `POS:HEX`, to publish somewhere outside.
    Head,
    /// Write the log in readable form, payloads decoded.
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: audit::ExportFormat,
        /// First position to write.
        #[arg(long)]
        from: Option<u64>,
        /// Last position to write.
        #[arg(long)]
        to: Option<u64>,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// A short scripted ledger session, narrated, without the bot.
    Demo,
    /// Submit commands: one with --json, else one JSON command per line on stdin.
    /// Prints one JSON outcome line per command. Exit status of the last command:
    /// 0 accepted, 3 rejected, 4 conflict, 2 bad input, 1 infrastructure error.
    Submit {
        /// A single command as JSON.
        #[arg(long)]
        json: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Committed events/s with concurrent players, against a raw multi-row INSERT.
    Append(bench::append::AppendArgs),
    /// Rebuild and audit events/s over a generated log, against a raw sequential read.
    Replay(bench::replay::ReplayArgs),
    /// Webhook updates/s end to end, against a trivial handler; p99 at 1,000 updates/s.
    Webhook(bench::webhook::WebhookArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // The reader of our output has gone (`| head`): stop quietly, as ripgrep does.
        Err(e) if e.is::<cmd::StdoutClosed>() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.is::<cmd::BadInput>() {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::from(EXIT_INFRASTRUCTURE)
            }
        }
    }
}

/// Exit status of input to correct (clap's usage errors exit 2 too).
const EXIT_BAD_INPUT: u8 = 2;
/// Exit status of a failure outside the input: the database, Telegram, the runtime.
const EXIT_INFRASTRUCTURE: u8 = 1;

impl Command {
    /// The name of a command that records what must outlast it (money, the bot's state,
    /// the schema, read models), or `None`: the demos and the benches work on throwaway
    /// data by design, and reads record nothing.
    fn records(&self) -> Option<&'static str> {
        Some(match self {
            Command::Migrate => "migrate",
            Command::Ledger {
                command: LedgerCommand::Submit { .. },
            } => "ledger submit",
            Command::Serve { .. } => "serve",
            Command::Chat(_) => "chat",
            Command::Payments {
                command: PaymentsCommand::Refund { .. },
            } => "payments refund",
            Command::Outbox {
                command: OutboxCommand::Retry { .. },
            } => "outbox retry",
            Command::Projections {
                command: ProjectionsCommand::CatchUp { .. },
            } => "projections catch-up",
            Command::Projections {
                command: ProjectionsCommand::Rebuild { .. },
            } => "projections rebuild",
            _ => return None,
        })
    }
}

/// Whether the database `url` names outlives the process. SQLite's in-memory databases
/// (`sqlite::memory:`, `sqlite://:memory:`, `file::memory:`, `?mode=memory`) and its
/// temporary one (an empty path: `sqlite://`, private to each connection and deleted when
/// it closes) do not; a file and a server do. Read as sqlx reads it: the scheme, then
/// the path up to `?`, then the parameters.
fn lasts(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return true;
    };
    let (path, parameters) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path == ":memory:"
        || path.starts_with("file::memory:")
        || parameters
            .split('&')
            .any(|parameter| parameter == "mode=memory");
    let temporary = path.is_empty() || path == "file:";
    !(in_memory || temporary)
}

/// Refuses arguments clap checks one by one but not together, before any database is
/// opened (or created).
fn check_arguments(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Report {
            report,
            id,
            from,
            to,
            at,
            ..
        } => report::check(*report, *id, from, to, at.as_ref()),
        Command::Audit {
            command: AuditCommand::Export { from, to, .. },
        } => audit::check_range(*from, *to),
        _ => Ok(()),
    }
}

/// A value parser for any `FromStr` type whose error names the input (shortened): clap's
/// own for a function echoes the whole value, a 1,000-character id included.
#[derive(Clone)]
struct Checked<T>(std::marker::PhantomData<T>);

fn checked<T>() -> Checked<T> {
    Checked(std::marker::PhantomData)
}

impl<T> clap::builder::TypedValueParser for Checked<T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg.map_or_else(|| "value".to_owned(), ToString::to_string);
        let refuse = |problem: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid {name}: {problem}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("not valid UTF-8".to_owned()))?;
        text.parse().map_err(|e: T::Err| refuse(e.to_string()))
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Webhook { command, telegram } = cli.command {
        let action = match command {
            WebhookCommand::Set { url } => bot_admin::WebhookAction::Set(url),
            WebhookCommand::Info => bot_admin::WebhookAction::Info,
            WebhookCommand::Delete => bot_admin::WebhookAction::Delete,
        };
        return bot_admin::webhook(
            &telegram.token,
            &telegram.api_url,
            telegram.webhook_secret.as_deref(),
            action,
        )
        .await;
    }
    if let Command::Bench { command } = cli.command {
        // The benches work in a scratch database of their own: the configured one is
        // only the server to create it on, and its schema is left alone.
        let server = connect(&cli.database_url).await?;
        return match command {
            BenchCommand::Append(args) => {
                bench::append::append(&server, &cli.database_url, args).await
            }
            BenchCommand::Replay(args) => {
                bench::replay::replay(&server, &cli.database_url, args).await
            }
            BenchCommand::Webhook(args) => {
                bench::webhook::webhook(&server, &cli.database_url, args).await
            }
        };
    }
    check_arguments(&cli.command)?;
    if let Some(name) = cli.command.records() {
        if !lasts(&cli.database_url) {
            return Err(cmd::bad_input(format!(
                "{} keeps nothing once croupier exits (an in-memory or temporary SQLite database): `{name}` needs a database that lasts, such as sqlite://croupier.db or postgres://...",
                store::url::redact(&cli.database_url)
            )));
        }
    }
    // Reports and audits go to the replica when there is one, and never to the primary.
    let reads_from_replica = matches!(cli.command, Command::Report { .. } | Command::Audit { .. })
        && cli.read_database_url.is_some();
    let (database, url) = match &cli.read_database_url {
        Some(replica) if reads_from_replica => (connect(replica).await?, replica.clone()),
        _ => (open(&cli.database_url).await?, cli.database_url.clone()),
    };
    match cli.command {
        Command::Migrate => {
            outln!("migrations applied to {}", database.describe())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ledger {
            command: LedgerCommand::Submit { json },
        } => submit::run(&database, json).await,
        Command::Bench { .. } | Command::Webhook { .. } => unreachable!("handled above"),
        Command::Serve {
            listen,
            transport,
            polling,
            session_timeout_s,
            spin_orphan_s,
            outbox_lease_s,
            header_timeout_s,
            body_timeout_s,
            connections_max,
            shutdown_timeout_s,
            inbound_refill_s,
            provider_token,
            provider_currencies,
            telegram,
            mtproto,
        } => {
            let transport = match (transport, polling) {
                (Some(transport), _) => transport,
                (None, true) => serve::Transport::Polling,
                (None, false) => serve::Transport::Webhook,
            };
            let settings = serve::Settings {
                database_url: url,
                listen,
                transport,
                session_timeout: std::time::Duration::from_secs(session_timeout_s),
                spin_orphan_after: std::time::Duration::from_secs(spin_orphan_s),
                outbox_lease: std::time::Duration::from_secs(outbox_lease_s),
                inbound_refill: std::time::Duration::from_secs(inbound_refill_s),
                bounds: bot_adapter::listen::Bounds {
                    header_timeout: std::time::Duration::from_secs(header_timeout_s),
                    body_timeout: std::time::Duration::from_secs(body_timeout_s),
                    connections_max: usize::try_from(connections_max)
                        .expect("at most 65536 by the flag's range"),
                    shutdown_timeout: std::time::Duration::from_secs(shutdown_timeout_s),
                },
                token: telegram.token,
                secret: telegram.webhook_secret,
                api_url: telegram.api_url,
                provider: provider_token.map(|token| serve::ProviderSettings {
                    token,
                    currencies: provider_currencies,
                }),
                mtproto: serve::MtprotoSettings {
                    api_id: mtproto.api_id,
                    api_hash: mtproto.api_hash,
                    session_file: mtproto.session_file,
                },
            };
            serve::run(&database, settings).await
        }
        Command::Fair {
            command: FairCommand::Verify { bet_id },
        } => fair::verify(&database, &bet_id).await,
        Command::Payments {
            command: PaymentsCommand::Refund { charge_id },
        } => payments::refund(&database, &url, charge_id.as_str()).await,
        Command::Payments {
            command:
                PaymentsCommand::Reconcile {
                    json,
                    since,
                    telegram,
                },
        } => {
            let report = payments::ReportAs { json, since };
            payments::reconcile(&database, &url, &telegram.token, &telegram.api_url, report).await
        }
        Command::Outbox { command } => match command {
            OutboxCommand::List { dead } => bot_admin::outbox_list(&url, dead).await,
            OutboxCommand::Retry { id, .. } => bot_admin::outbox_retry(&url, id).await,
        },
        Command::Inbox {
            command: InboxCommand::Dead,
        } => bot_admin::inbox_dead(&url).await,
        Command::Demo(args) => demo::run(&database, &url, args).await,
        Command::Chat(args) => chat::run(&database, &url, args).await,
        Command::Ledger {
            command: LedgerCommand::Demo,
        } => ledger_demo::run(&database).await,
        Command::Projections {
            command: ProjectionsCommand::Status,
        } => report::status(&database, &url).await,
        Command::Projections {
            command: ProjectionsCommand::CatchUp { batch_size },
        } => report::catch_up(&database, &url, batch_size).await,
        Command::Projections {
            command: ProjectionsCommand::Rebuild { names, batch_size },
        } => report::rebuild(&database, &url, &names, batch_size).await,
        Command::Report {
            report,
            id,
            from,
            to,
            format,
            no_catch_up,
            at,
        } => {
            let request = report::Request {
                report,
                player: id,
                days: projections::report::Days::new(from, to).map_err(cmd::bad_input)?,
                format,
                catch_up: !no_catch_up && !reads_from_replica,
                at,
            };
            report::report(&database, &url, request).await
        }
        Command::Audit { command } => match command {
            AuditCommand::Verify { json, expect_head } => {
                audit::verify(&database, &url, reads_from_replica, json, expect_head).await
            }
            AuditCommand::Head => audit::head(&database).await,
            AuditCommand::Export { format, from, to } => {
                audit::export(&database, format, from, to).await
            }
        },
    }
}

/// Connects to the database `url` names, saying which when it cannot.
async fn connect(url: &str) -> anyhow::Result<Database> {
    let shown = store::url::redact(url);
    match Database::connect(url).await {
        Err(e @ store::StoreError::UnsupportedUrl { .. }) => Err(e.into()),
        Err(e) if url.starts_with("sqlite:") => Err(e).context(format!("cannot open {shown}")),
        Err(e) => Err(e).context(format!("cannot connect to {shown}")),
        Ok(database) => Ok(database),
    }
}

/// Connects and applies the migrations.
async fn open(url: &str) -> anyhow::Result<Database> {
    let database = connect(url).await?;
    store::with_store!(&database, s => store::EventStore::migrate(s).await)
        .with_context(|| format!("cannot migrate {}", store::url::redact(url)))?;
    Ok(database)
}
