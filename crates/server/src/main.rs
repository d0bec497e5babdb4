//! `wharf`: the binary's entry point. Parses the command line and runs the command; the
//! commands live in the `wharf_server` library beside it.
//!
//! Errors reach the user as one line on stderr and a non-zero exit code, never a panic.

use std::process::ExitCode;

use clap::Parser;
use wharf_server::{
    admin,
    cli::{self, Cli, Command, DatabaseArgs},
    database::Database,
    serve, telemetry,
};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                err.print().ok();
                return ExitCode::from(
                    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        2
                    } else {
                        0
                    },
                );
            }
            // One line: clap's first line names the flag, its environment variable and the reason.
            let text = err.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("wharf: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    // Operator commands print what they did; their logs are for trouble only.
    let default_logs = match cli.command {
        Command::Admin(_) | Command::Export(_) | Command::SigningKey(_) => "warn",
        _ => telemetry::DEFAULT_FILTER,
    };
    telemetry::init(cli.log_format, default_logs);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("wharf: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::debug!("exiting: {err:?}");
            eprintln!("wharf: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Gc(args) => gc(*args).await,
        Command::EmbeddedPostgres(args) => embedded_postgres(args).await,
        Command::Admin(args) => admin::run(args.command).await,
        Command::Export(args) => export(*args).await,
        Command::SigningKey(args) => match args.command {
            cli::SigningKeyCommand::Rotate(args) => rotate_signing_key(args).await,
        },
    }
}

/// `wharf signing-key rotate`: a new active key, the old one retired (and audited).
async fn rotate_signing_key(args: cli::RotateArgs) -> anyhow::Result<()> {
    let database = Database::open(&args.database).await?;
    let lifetime = std::time::Duration::from_secs(args.token_lifetime);
    database
        .run(|pool| async move {
            wharf_db::migrate(&pool).await?;
            let rotated = wharf_app::credentials::keys::rotate(&pool).await?;
            let entry = wharf_db::audit::NewAuditEntry {
                actor_name: Some(wharf_app::audit::OPERATOR.to_owned()),
                ..wharf_db::audit::NewAuditEntry::success(
                    None,
                    "operator",
                    None,
                    "signing_key.rotate",
                    format!("signing_key:{}", rotated.kid),
                    None,
                    serde_json::json!({ "retired": rotated.retired }),
                )
            };
            wharf_db::audit::append(&pool, &[entry]).await?;
            let until =
                time::OffsetDateTime::now_utc() + wharf_app::credentials::keys::overlap(lifetime);
            println!("signing key: {}", rotated.kid);
            match rotated.retired {
                Some(old) => println!(
                    "retired: {old} (it verifies tokens until about {}, then no longer)",
                    until.format(&time::format_description::well_known::Rfc3339)?
                ),
                None => println!("retired: none (there was no active key)"),
            }
            Ok(())
        })
        .await
}

async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let database = Database::open(&args).await?;
    database
        .run(|pool| async move {
            wharf_db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        })
        .await
}

async fn export(args: cli::ExportArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let name = args.out.to_string_lossy().into_owned();
    let zstd = name.ends_with(".tar.zst");
    if !zstd && (name.ends_with(".zst") || name.ends_with(".gz") || name.ends_with(".tgz")) {
        anyhow::bail!(
            "{name}: a bundle is written as .tar, or as .tar.zst (zstd); gzip is not offered"
        );
    }
    let since = match &args.since_bundle {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let config = args.storage.config(&args.database.data_dir).map_err(anyhow::Error::msg)?;
    let blobs = wharf_storage::open(config).await?;
    let database = Database::open(&args.database).await?;
    let selection = wharf_app::export::Selection {
        repositories: args.repositories.clone(),
        tags: args.tags.clone(),
        since,
        registry: args.registry.clone(),
        compression: if zstd {
            wharf_app::export::Compression::Zstd
        } else {
            wharf_app::export::Compression::None
        },
    };
    database
        .run(|pool| async move {
            wharf_db::migrate(&pool).await?;
            let org = wharf_db::accounts::find_organization(&pool, &args.org)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no organization {}", args.org))?;
            let customer = match args.customer.parse::<uuid::Uuid>() {
                Ok(id) => wharf_db::customers::get(&pool, org.id, id).await?,
                Err(_) => wharf_db::customers::find_by_name(&pool, org.id, &args.customer).await?,
            }
            .ok_or_else(|| anyhow::anyhow!("no customer {} in {}", args.customer, org.slug))?;
            let plan = wharf_app::export::plan(&pool, &org, &customer, selection).await?;
            // Written beside the target and renamed at the end: a failed export leaves no
            // partial bundle under the name asked for.
            let partial = args.out.with_extension("partial");
            let file = tokio::fs::File::create(&partial)
                .await
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
            let file = tokio::io::BufWriter::with_capacity(1 << 20, file);
            let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if zstd {
                Box::new(async_compression::tokio::write::ZstdEncoder::new(file))
            } else {
                Box::new(file)
            };
            let terminal = std::io::stderr().is_terminal();
            let mut last = 0;
            let blobs = wharf_server::blobs::StoreBlobs(blobs);
            let result = plan
                .write(&pool, &blobs, &mut out, |done, total, bytes| {
                    let percent = (done * 100).checked_div(total).unwrap_or(100);
                    if terminal {
                        eprint!("\r{done}/{total} blobs, {} MB", bytes / 1_000_000);
                    } else if percent >= last + 10 || done == total {
                        last = percent;
                        eprintln!("{done}/{total} blobs, {} MB", bytes / 1_000_000);
                    }
                })
                .await;
            if terminal {
                eprintln!();
            }
            let summary = match result {
                Ok(summary) => summary,
                Err(err) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(err.into());
                }
            };
            // Ends the zstd frame and flushes every buffer; then the file reaches the disk.
            tokio::io::AsyncWriteExt::shutdown(&mut out).await?;
            drop(out);
            tokio::fs::File::open(&partial).await?.sync_all().await?;
            tokio::fs::rename(&partial, &args.out).await?;
            let operator = wharf_app::export::Exporter {
                kind: "operator",
                id: None,
                name: Some(wharf_app::audit::OPERATOR.to_owned()),
                client_addr: None,
                user_agent: None,
                request_id: None,
            };
            wharf_app::export::record(&pool, &operator, &plan, &summary).await;
            eprintln!(
                "{} tags, {} blobs, {} bytes; wharf-bundle.json {}",
                summary.tags, summary.blobs, summary.bytes, summary.bundle_digest
            );
            Ok(())
        })
        .await
}

async fn gc(args: cli::GcArgs) -> anyhow::Result<()> {
    let config = args.storage.config(&args.database.data_dir).map_err(anyhow::Error::msg)?;
    let blobs = wharf_storage::open(config).await?;
    let database = Database::open(&args.database).await?;
    let grace = std::time::Duration::from_secs(args.gc_grace_minutes * 60);
    let retention = args.retention.retention();
    database
        .run(|pool| async move {
            wharf_db::migrate(&pool).await?;
            let config = wharf_registry::gc::GcConfig { grace, ..Default::default() };
            let report = wharf_registry::gc::collect_garbage(&pool, blobs.as_ref(), &config).await?;
            println!(
                "expired uploads: {}, blobs deleted: {}, orphan blobs deleted: {}, orphan upload data discarded: {}, failures: {}",
                report.uploads_expired,
                report.blobs_deleted,
                report.orphan_blobs_deleted,
                report.orphan_uploads_discarded,
                report.failures
            );
            let pruned = wharf_db::retention::prune(
                &pool,
                &retention,
                time::OffsetDateTime::now_utc(),
            )
            .await?;
            println!(
                "pruned: expired portal sessions: {}, ended password resets: {}, audit entries: {}, tag history entries: {}, deleted token ids: {}, pull events: {}, ended invitations: {}",
                pruned.sessions,
                pruned.password_resets,
                pruned.audit_entries,
                pruned.tag_history,
                pruned.deleted_tokens,
                pruned.pull_events,
                pruned.invitations
            );
            if report.failures > 0 {
                anyhow::bail!("{} storage deletes failed (see the log); the next pass retries them", report.failures);
            }
            Ok(())
        })
        .await
}

async fn embedded_postgres(args: DatabaseArgs) -> anyhow::Result<()> {
    if args.database_url.is_some() {
        anyhow::bail!("embedded-postgres runs Wharf's own cluster; unset DATABASE_URL");
    }
    let database = Database::open(&args).await?;
    if let Some(cluster) = database.embedded() {
        println!("DATABASE_URL={}", cluster.url());
    }
    database
        .run(|_| async {
            serve::shutdown_signal().await;
            Ok(())
        })
        .await
}
