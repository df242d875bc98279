//! `sf-access sync` and `sf-access demo`: argument plumbing around `sync::run`, the
//! progress display, the summary and the optional export.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::{Bars, LogLines, Progress, StoreTarget, SyncOptions, SyncReport};
use crate::cli::SyncArgs;
use crate::exit::{Exit, Failure};
use crate::salesforce::Client;
use crate::settings::{SyncSettings, process_env};
use crate::store::{ExportFormat, Output, Store, StoreError, export_to_output};

/// Resolves when the process is asked to stop (Ctrl-C, or SIGTERM on Unix), so the run can be
/// marked failed instead of left `running`.
pub(crate) async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Bars on a terminal, log lines otherwise.
fn progress_for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(LogLines)
    }
}

/// Writes an export of `run` (off the async workers).
async fn export_run(
    path: &Path,
    run: crate::store::RunId,
    format: ExportFormat,
    output: Output,
) -> Result<(), StoreError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let store = Store::open_existing(&path)?;
        export_to_output(&store, run, format, &output)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// When `path` names a c1z (by its first bytes, or a `.c1z` name for a new file), the write
/// options for it; a file of another kind with a `.c1z` name is refused before syncing.
fn c1z_target(path: &Path) -> Result<Option<crate::store::c1z::WriteOptions>, Failure> {
    use crate::store::c1z::{self, C1zError, Format};
    if !c1z::is_c1z(path) {
        return Ok(None);
    }
    match c1z::detect(path).map_err(StoreError::from)? {
        Format::V3 => Err(StoreError::from(C1zError::PebbleFormat {
            path: path.to_path_buf(),
        })
        .into()),
        Format::Other => Err(StoreError::from(C1zError::NotC1z {
            path: path.to_path_buf(),
        })
        .into()),
        Format::Empty | Format::V1 => {
            let options = c1z::WriteOptions::from_env(&process_env).map_err(|problem| {
                crate::settings::SettingsError {
                    setting: "c1z environment".to_owned(),
                    problem,
                }
            })?;
            Ok(Some(options))
        }
    }
}

/// Runs `sf-access sync`.
pub async fn run_sync(args: &SyncArgs) -> Result<Exit, Failure> {
    let mut settings = SyncSettings::resolve(args, &process_env)?;
    // `--file x.c1z` (baton's `-f`): sync into a temporary store, then add the run to the c1z
    // as one sync. The temporary store goes away with `_c1z_dir`.
    let (c1z, _c1z_dir) = match c1z_target(&settings.target.path)? {
        Some(options) => {
            let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
                operation: "cannot create a temporary store for",
                path: settings.target.path.clone(),
                source,
            })?;
            let c1z_path = std::mem::replace(&mut settings.target.path, dir.path().join("sync.db"));
            (Some((c1z_path, options)), Some(dir))
        }
        None => (None, None),
    };
    let client = Client::new(settings.connection.client)?;
    let progress = progress_for_stderr();
    let report = super::run(
        &client,
        &settings.target,
        &settings.options,
        progress.as_ref(),
        stop_requested(),
    )
    .await?;
    if std::io::stderr().is_terminal() {
        eprint!("{}", report.table());
    } else {
        report.log();
    }
    if let Some((c1z_path, options)) = c1z {
        let store_path = settings.target.path.clone();
        let run = report.run;
        let summary = tokio::task::spawn_blocking(move || {
            let store = Store::open_existing(&store_path)?;
            crate::store::c1z::write_run(&store, run, &c1z_path, &options).map_err(StoreError::from)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        tracing::info!(
            path = %args.file.display(),
            sync_id = %summary.sync_id,
            syncs_in_file = summary.syncs_in_file,
            "c1z written."
        );
    }
    if let Some(output) = &args.output {
        export_run(
            &settings.target.path,
            report.run,
            args.format,
            output.clone(),
        )
        .await?;
        if let Output::Path(path) = output {
            tracing::info!(path = %path.display(), "Export written.");
        }
    }
    Ok(Exit::Ok)
}

/// Runs `sf-access demo`: the small emulated org, synced with connected apps, then the
/// summary and three commands to try.
#[cfg(feature = "emulator")]
pub async fn run_demo(args: &crate::cli::DemoArgs) -> Result<Exit, Failure> {
    use crate::emulator::{EmulatorConfig, spawn};
    use crate::salesforce::{ClientConfig, Credentials, Instance};
    use crate::secret::Secret;

    let emulator = spawn(EmulatorConfig::small()).await?;
    let c = emulator.credentials().clone();
    let instance =
        Instance::parse(&c.instance_url).map_err(|e| crate::settings::SettingsError {
            setting: "the emulator's instance URL".to_owned(),
            problem: e.to_string(),
        })?;
    let client = Client::new(ClientConfig::new(
        instance,
        Credentials::ClientCredentials {
            client_id: c.client_id.clone(),
            client_secret: Secret::new(c.client_secret.clone()),
        },
    ))?;
    let options = SyncOptions {
        sync_connected_apps: true,
        ..SyncOptions::default()
    };
    let target = StoreTarget::new(&args.file);
    let progress = progress_for_stderr();
    let report = super::run(
        &client,
        &target,
        &options,
        progress.as_ref(),
        stop_requested(),
    )
    .await;
    emulator.shutdown().await;
    let report = report?;
    let sales_rep = find_user(&args.file, report.run, "sales.rep@").await?;
    let text = demo_text(&report, &args.file, sales_rep.as_deref(), &c);
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(Exit::Ok)
}

/// The id of the first user whose username starts with `prefix`.
#[cfg(feature = "emulator")]
async fn find_user(
    path: &Path,
    run: crate::store::RunId,
    prefix: &'static str,
) -> Result<Option<String>, StoreError> {
    use crate::model::{ResourceDetails, ResourceTypeId};
    use crate::store::PageRequest;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let store = Store::open_existing(&path)?;
        let page = store.resources(run, Some(ResourceTypeId::User), &PageRequest::first())?;
        Ok(page.items.into_iter().find_map(|r| match &r.details {
            ResourceDetails::User(u) if u.username.starts_with(prefix) => Some(r.id.to_string()),
            _ => None,
        }))
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// A path as the user should type it: relative paths as given.
fn shell_path(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// What `demo` prints: the summary, then what to try next.
#[cfg(feature = "emulator")]
fn demo_text(
    report: &SyncReport,
    file: &Path,
    sales_rep: Option<&str>,
    credentials: &crate::emulator::Credentials,
) -> String {
    let file = shell_path(file);
    let mut out = format!(
        "Synced the emulator's small demo org (with connected apps) into {file}.\n\n{}\n",
        report.table()
    );
    out.push_str("Try next:\n\n");
    match sales_rep {
        Some(user) => out.push_str(&format!(
            "  # Everything one user holds, and how: direct, through a PSG, a nested group, a role group\n  \
             sf-access show grants --file {file} --principal {user}\n\n"
        )),
        None => out.push_str(&format!(
            "  # The users and their status\n  sf-access show resources --file {file} --type user\n\n"
        )),
    }
    out.push_str(&format!(
        "  # The access review grid an auditor opens in a spreadsheet\n  \
         sf-access export --file {file} --format csv --output access-review.csv\n\n"
    ));
    out.push_str(&format!(
        "  # Preflight against a live org: start the same emulated org in another terminal\n  \
         # (sf-access emulator --listen 127.0.0.1:8080), then\n  \
         SF_ACCESS_SALESFORCE_CLIENT_SECRET={} sf-access check \\\n      \
         --instance-url http://127.0.0.1:8080 --salesforce-client-id {}\n",
        credentials.client_secret, credentials.client_id
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_only_when_needed() {
        assert_eq!(
            shell_path(Path::new("sf-access-demo.db")),
            "sf-access-demo.db"
        );
        assert_eq!(shell_path(Path::new("my dir/x.db")), "'my dir/x.db'");
        assert_eq!(shell_path(Path::new("it's.db")), "'it'\\''s.db'");
    }
}
